//! The one error type of the crate.
//!
//! Messages end up verbatim in Kubernetes condition messages and HTTP
//! responses, so each one names the offending function, key or type the
//! way cel-go does (`no such key: foo`, `no such overload: size(int)`),
//! which keeps them recognisable to Flux users.

use thiserror::Error;

/// Why an expression could not be compiled or evaluated.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CelError {
    /// The expression text is not valid CEL (or uses syntax this crate
    /// refuses, such as bytes literals); positions are 1-based.
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// Line of the offending token.
        line: usize,
        /// Column (in characters) of the offending token.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// An identifier that is neither a declared variable nor a
    /// comprehension variable, found by [`crate::Program::check_variables`]
    /// before evaluation.
    #[error("undeclared reference to '{0}'")]
    UndeclaredReference(String),
    /// An identifier with no value in the activation at evaluation time
    /// (a health-check expression naming a top-level field the object
    /// lacks, say).
    #[error("no such attribute: {0}")]
    NoSuchAttribute(String),
    /// A map lookup or field selection on a key that is absent.
    #[error("no such key: {0}")]
    NoSuchKey(String),
    /// A function or operator applied to argument types it does not
    /// accept, e.g. `1 + 'a'`.
    #[error("no such overload: {0}")]
    NoSuchOverload(String),
    /// A function name CEL (or this implementation) does not know.
    #[error("unsupported function: {0}")]
    UnsupportedFunction(String),
    /// A list index outside `0..size`.
    #[error("index out of range: {index} (list size {size})")]
    IndexOutOfRange {
        /// The index used.
        index: i128,
        /// The list size.
        size: usize,
    },
    /// Integer division or modulus by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// Integer arithmetic or conversion outside the 64-bit range.
    #[error("integer overflow")]
    Overflow,
    /// A conversion or literal parse that failed, e.g. `int('x')` or
    /// `timestamp('yesterday')`.
    #[error("invalid argument to {function}: {message}")]
    InvalidArgument {
        /// The function that refused the argument.
        function: &'static str,
        /// Why.
        message: String,
    },
    /// A map literal with the same key twice.
    #[error("duplicate map key: {0}")]
    DuplicateKey(String),
    /// A `matches` pattern that is not a valid RE2 regular expression.
    #[error("invalid regular expression '{pattern}': {message}")]
    InvalidRegex {
        /// The pattern.
        pattern: String,
        /// The regex compiler's message.
        message: String,
    },
    /// [`crate::Program::evaluate_bool`] on an expression whose value is
    /// not a bool.
    #[error("expression must evaluate to a bool, got {0}")]
    NotBool(&'static str),
}

/// Result alias for this crate.
pub type Result<T, E = CelError> = std::result::Result<T, E>;

impl CelError {
    /// A syntax error at byte offset `pos` of `source`.
    pub(crate) fn syntax(source: &str, pos: usize, message: impl Into<String>) -> Self {
        let before = &source[..pos.min(source.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        CelError::Syntax {
            line,
            column,
            message: message.into(),
        }
    }

    /// A `no such overload` error for `function` applied to `types`.
    pub(crate) fn overload(function: &str, types: &[&str]) -> Self {
        CelError::NoSuchOverload(format!("{function}({})", types.join(", ")))
    }

    /// An [`CelError::InvalidArgument`] for `function`.
    pub(crate) fn invalid(function: &'static str, message: impl Into<String>) -> Self {
        CelError::InvalidArgument {
            function,
            message: message.into(),
        }
    }
}
