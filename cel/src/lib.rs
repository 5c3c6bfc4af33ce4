//! `fluxrs-cel`: a small evaluator for the Common Expression Language
//! (CEL, github.com/google/cel-spec) over JSON values, for Flux's CEL
//! fields: Kustomization `spec.healthCheckExprs` and
//! `spec.dependsOn[].readyExpr`, and Receiver `spec.resourceFilter`.
//!
//! It covers the dynamically typed core of CEL that those fields use —
//! literals, lists and maps, field selection and indexing, the operators
//! with CEL's precedence and error-absorbing `&&`/`||`, `has()` and the
//! comprehension macros, string functions, conversions, timestamps and
//! durations, and the cel-go extensions Flux enables that make sense
//! without bytes (optional values `a.?b.orValue(x)`, string and set
//! functions) — without a type checker, protobuf messages or bytes. The
//! `cel` crate would add an ANTLR runtime and a large generated parser for
//! features Flux does not need.
//!
//! ```
//! use fluxrs_cel::{Activation, Program};
//! use serde_json::json;
//!
//! let program = Program::compile(
//!     "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')",
//! )
//! .unwrap();
//! let object = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
//! let vars = Activation::from_object(&object);
//! assert!(program.evaluate_bool(&vars).unwrap());
//! ```
#![warn(missing_docs)]

pub mod error;
mod eval;
mod parser;
pub mod time;
pub mod value;

use std::collections::BTreeMap;

pub use error::{CelError, Result};
pub use value::Value;

/// A compiled expression, ready to be evaluated any number of times.
///
/// Compiling checks syntax and expands macros only: names are resolved
/// when evaluating, since CEL fields in Flux are dynamically typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    source: String,
    expr: parser::ast::Expr,
}

impl Program {
    /// Parses `source`; a syntax error names the line and column.
    pub fn compile(source: &str) -> Result<Program> {
        Ok(Program {
            source: source.to_string(),
            expr: parser::parse(source)?,
        })
    }

    /// The expression text, for messages that quote it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Fails with [`CelError::UndeclaredReference`] if the expression uses
    /// a variable outside `declared` (comprehension variables aside), the
    /// check cel-go makes when compiling against declared variables.
    pub fn check_variables(&self, declared: &[&str]) -> Result<()> {
        match parser::check::first_undeclared(&self.expr, declared) {
            Some(name) => Err(CelError::UndeclaredReference(name.to_string())),
            None => Ok(()),
        }
    }

    /// Evaluates the expression with the variables of `vars`.
    pub fn evaluate(&self, vars: &Activation) -> Result<Value> {
        eval::Evaluator::new(vars).eval(&self.expr)
    }

    /// Evaluates an expression that must yield a bool (health checks,
    /// filters); any other result is [`CelError::NotBool`].
    pub fn evaluate_bool(&self, vars: &Activation) -> Result<bool> {
        match self.evaluate(vars)? {
            Value::Bool(b) => Ok(b),
            other => Err(CelError::NotBool(other.type_name())),
        }
    }
}

/// The variables an expression is evaluated with.
///
/// Values are converted from JSON once, when added, so evaluating several
/// programs against one activation does not convert again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activation {
    vars: BTreeMap<String, Value>,
}

impl Activation {
    /// An activation without variables.
    pub fn new() -> Self {
        Activation::default()
    }

    /// Binds each top-level field of a JSON object as a variable, the way
    /// Flux evaluates `healthCheckExprs` (`status`, `metadata`, ...);
    /// anything but an object binds nothing.
    pub fn from_object(object: &serde_json::Value) -> Self {
        object
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }

    /// Adds (or replaces) the variable `name`.
    pub fn with(mut self, name: impl Into<String>, value: &serde_json::Value) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds (or replaces) the variable `name`.
    pub fn insert(&mut self, name: impl Into<String>, value: &serde_json::Value) {
        self.vars.insert(name.into(), Value::from(value));
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }
}

impl<N: Into<String>> FromIterator<(N, serde_json::Value)> for Activation {
    fn from_iter<I: IntoIterator<Item = (N, serde_json::Value)>>(iter: I) -> Self {
        let vars = iter
            .into_iter()
            .map(|(n, v)| (n.into(), Value::from(&v)))
            .collect();
        Activation { vars }
    }
}
