//! The parsed form of an expression, with macros already expanded.

use crate::value::Value;

/// An expression node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Literal(Value),
    Ident(String),
    /// `operand.field`.
    Select(Box<Expr>, String),
    /// `operand.?field`: an optional, empty when the field is absent.
    OptSelect(Box<Expr>, String),
    /// `has(operand.field)`: presence test, no error when absent.
    Has(Box<Expr>, String),
    /// `operand[index]`.
    Index(Box<Expr>, Box<Expr>),
    /// `operand[?index]`: an optional, empty when the key or index is
    /// absent.
    OptIndex(Box<Expr>, Box<Expr>),
    /// `function(args)` or, with a target, `target.function(args)`.
    Call {
        target: Option<Box<Expr>>,
        function: String,
        args: Vec<Expr>,
    },
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `&&`, kept apart from [`Expr::Binary`] for its error-absorbing
    /// evaluation.
    And(Box<Expr>, Box<Expr>),
    /// `||`, likewise.
    Or(Box<Expr>, Box<Expr>),
    Conditional(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `range.all(var, ...)` and the other comprehension macros.
    Comprehension(Box<Comprehension>),
}

/// A comprehension macro: iterates `range` binding `var`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Comprehension {
    pub(crate) range: Expr,
    pub(crate) var: String,
    pub(crate) kind: MacroKind,
}

/// Which comprehension macro, with its argument expressions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MacroKind {
    All(Expr),
    Exists(Expr),
    ExistsOne(Expr),
    Filter(Expr),
    /// `map(x, t)` or, with a predicate, `map(x, p, t)`.
    Map {
        predicate: Option<Expr>,
        transform: Expr,
    },
}

impl MacroKind {
    /// The macro's name, for error messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            MacroKind::All(_) => "all",
            MacroKind::Exists(_) => "exists",
            MacroKind::ExistsOne(_) => "exists_one",
            MacroKind::Filter(_) => "filter",
            MacroKind::Map { .. } => "map",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnaryOp {
    Not,
    Negate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Mul,
    Div,
    Rem,
    Add,
    Sub,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    In,
}

impl BinaryOp {
    /// The operator as written, for error messages.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::In => "in",
        }
    }
}
