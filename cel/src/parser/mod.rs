//! Recursive-descent parser for the CEL grammar.
//!
//! One function per precedence level of the CEL language definition, from
//! loosest to tightest: `?:`, `||`, `&&`, relations (`< <= > >= == != in`,
//! all one level), `+ -`, `* / %`, unary `! -`, then member access
//! (`.f`, `.f()`, `[i]`) and primaries. Binary levels are
//! left-associative; `?:` is right-associative. Macros (`has`, `all`,
//! `exists`, `exists_one`, `map`, `filter`) are expanded here, as in
//! cel-go, so a misuse such as `has(x)` is a compile error. Optional
//! selection and indexing (`a.?b`, `a[?k]`) are parsed as cel-go's
//! `OptionalTypes()` option, enabled in Flux, allows; functions of the
//! `optional` and `sets` namespaces (`optional.of(x)`) become calls of
//! the qualified name.
//!
//! Nesting is capped so a hostile expression cannot overflow the stack of
//! the parser or, later, of the evaluator.

pub(crate) mod ast;
pub(crate) mod check;
mod lexer;

use crate::error::{CelError, Result};
use crate::value::Value;
use ast::{BinaryOp, Comprehension, Expr, MacroKind, UnaryOp};
use lexer::{Tok, Token};

/// Deepest nesting accepted, counting parentheses, operands of chained
/// operators and member accesses.
const MAX_DEPTH: usize = 100;

/// Parses a whole expression.
pub(crate) fn parse(source: &str) -> Result<Expr> {
    let tokens = lexer::tokenize(source)?;
    let mut parser = Parser {
        source,
        tokens,
        next: 0,
        depth: 0,
    };
    let expr = parser.expr()?;
    match parser.peek() {
        Tok::Eof => Ok(expr),
        other => Err(parser.error(format!("unexpected {}", describe(other)))),
    }
}

struct Parser<'s> {
    source: &'s str,
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.next.min(self.tokens.len() - 1)].tok
    }

    fn advance(&mut self) -> Tok {
        let tok = self.peek().clone();
        if self.next < self.tokens.len() - 1 {
            self.next += 1;
        }
        tok
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let found = self.peek() == tok;
        if found {
            self.advance();
        }
        found
    }

    fn expect(&mut self, tok: &Tok) -> Result<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.error(format!(
                "expected {}, found {}",
                describe(tok),
                describe(self.peek())
            )))
        }
    }

    /// A syntax error at the next token.
    fn error(&self, message: impl Into<String>) -> CelError {
        let pos = self.tokens[self.next.min(self.tokens.len() - 1)].pos;
        CelError::syntax(self.source, pos, message)
    }

    /// Enters `levels` more levels of nesting, failing past [`MAX_DEPTH`].
    fn enter(&mut self, levels: usize) -> Result<()> {
        self.depth += levels;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!(
                "expression nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr> {
        self.enter(1)?;
        let condition = self.or()?;
        let expr = if self.eat(&Tok::Question) {
            let then = self.or()?;
            self.expect(&Tok::Colon)?;
            let otherwise = self.expr()?;
            Expr::Conditional(Box::new(condition), Box::new(then), Box::new(otherwise))
        } else {
            condition
        };
        self.depth -= 1;
        Ok(expr)
    }

    /// Parses `operand (op operand)*` left-associatively, where `op` is
    /// recognised by `op_of` and nodes are built by `combine`.
    fn left_assoc<Op>(
        &mut self,
        operand: fn(&mut Self) -> Result<Expr>,
        op_of: fn(&Tok) -> Option<Op>,
        combine: fn(Op, Expr, Expr) -> Expr,
    ) -> Result<Expr> {
        let mut lhs = operand(self)?;
        let mut chained = 0;
        while let Some(op) = op_of(self.peek()) {
            self.advance();
            self.enter(1)?;
            chained += 1;
            let rhs = operand(self)?;
            lhs = combine(op, lhs, rhs);
        }
        self.depth -= chained;
        Ok(lhs)
    }

    fn or(&mut self) -> Result<Expr> {
        self.left_assoc(
            Self::and,
            |t| (*t == Tok::OrOr).then_some(()),
            |(), l, r| Expr::Or(Box::new(l), Box::new(r)),
        )
    }

    fn and(&mut self) -> Result<Expr> {
        self.left_assoc(
            Self::relation,
            |t| (*t == Tok::AndAnd).then_some(()),
            |(), l, r| Expr::And(Box::new(l), Box::new(r)),
        )
    }

    fn relation(&mut self) -> Result<Expr> {
        self.left_assoc(
            Self::addition,
            |t| match t {
                Tok::Lt => Some(BinaryOp::Lt),
                Tok::Le => Some(BinaryOp::Le),
                Tok::Gt => Some(BinaryOp::Gt),
                Tok::Ge => Some(BinaryOp::Ge),
                Tok::EqEq => Some(BinaryOp::Eq),
                Tok::Ne => Some(BinaryOp::Ne),
                Tok::In => Some(BinaryOp::In),
                _ => None,
            },
            binary,
        )
    }

    fn addition(&mut self) -> Result<Expr> {
        self.left_assoc(
            Self::multiplication,
            |t| match t {
                Tok::Plus => Some(BinaryOp::Add),
                Tok::Minus => Some(BinaryOp::Sub),
                _ => None,
            },
            binary,
        )
    }

    fn multiplication(&mut self) -> Result<Expr> {
        self.left_assoc(
            Self::unary,
            |t| match t {
                Tok::Star => Some(BinaryOp::Mul),
                Tok::Slash => Some(BinaryOp::Div),
                Tok::Percent => Some(BinaryOp::Rem),
                _ => None,
            },
            binary,
        )
    }

    fn unary(&mut self) -> Result<Expr> {
        let mut ops = Vec::new();
        while let Some(op) = match self.peek() {
            Tok::Not => Some(UnaryOp::Not),
            Tok::Minus => Some(UnaryOp::Negate),
            _ => None,
        } {
            self.advance();
            ops.push(op);
        }
        self.enter(ops.len())?;
        // `-9223372036854775808` is only representable with its sign.
        let operand = if ops.last() == Some(&UnaryOp::Negate) && *self.peek() == Tok::Int(1 << 63) {
            self.advance();
            ops.pop();
            self.member_suffixes(Expr::Literal(Value::Int(i64::MIN)))?
        } else {
            self.member()?
        };
        self.depth -= ops.len();
        Ok(ops
            .into_iter()
            .rev()
            .fold(operand, |expr, op| Expr::Unary(op, Box::new(expr))))
    }

    fn member(&mut self) -> Result<Expr> {
        let primary = self.primary()?;
        self.member_suffixes(primary)
    }

    /// Applies `.field`, `.method(args)` and `[index]` suffixes.
    fn member_suffixes(&mut self, mut expr: Expr) -> Result<Expr> {
        let mut chained = 0;
        loop {
            if self.eat(&Tok::Dot) {
                let optional = self.eat(&Tok::Question);
                let field = match self.peek() {
                    Tok::Ident(name) | Tok::QuotedIdent(name) => name.clone(),
                    other => {
                        return Err(self.error(format!(
                            "expected a field name after '.', found {}",
                            describe(other)
                        )));
                    }
                };
                self.advance();
                if optional {
                    expr = Expr::OptSelect(Box::new(expr), field);
                } else if *self.peek() == Tok::LParen {
                    self.advance();
                    let args = self.list_until(Tok::RParen)?;
                    expr = self.receiver_call(expr, field, args)?;
                } else {
                    expr = Expr::Select(Box::new(expr), field);
                }
            } else if self.eat(&Tok::LBracket) {
                let optional = self.eat(&Tok::Question);
                let index = self.expr()?;
                self.expect(&Tok::RBracket)?;
                expr = if optional {
                    Expr::OptIndex(Box::new(expr), Box::new(index))
                } else {
                    Expr::Index(Box::new(expr), Box::new(index))
                };
            } else {
                self.depth -= chained;
                return Ok(expr);
            }
            self.enter(1)?;
            chained += 1;
        }
    }

    fn primary(&mut self) -> Result<Expr> {
        let pos = self.next;
        Ok(match self.advance() {
            Tok::Int(i) => Expr::Literal(Value::Int(i64::try_from(i).map_err(|_| {
                self.next = pos;
                self.error("integer literal out of range")
            })?)),
            Tok::Uint(u) => Expr::Literal(Value::Uint(u)),
            Tok::Double(d) => Expr::Literal(Value::Double(d)),
            Tok::String(s) => Expr::Literal(Value::string(s)),
            Tok::True => Expr::Literal(Value::Bool(true)),
            Tok::False => Expr::Literal(Value::Bool(false)),
            Tok::Null => Expr::Literal(Value::Null),
            Tok::LParen => {
                let expr = self.expr()?;
                self.expect(&Tok::RParen)?;
                expr
            }
            Tok::LBracket => Expr::List(self.list_until(Tok::RBracket)?),
            Tok::LBrace => self.map_literal()?,
            Tok::Dot => match self.peek().clone() {
                Tok::Ident(name) => {
                    self.advance();
                    self.ident_or_call(name)?
                }
                other => {
                    return Err(self.error(format!(
                        "expected an identifier after '.', found {}",
                        describe(&other)
                    )));
                }
            },
            Tok::Ident(name) => self.ident_or_call(name)?,
            other => {
                self.next = pos;
                return Err(self.error(format!("unexpected {}", describe(&other))));
            }
        })
    }

    fn ident_or_call(&mut self, name: String) -> Result<Expr> {
        match self.peek() {
            Tok::LParen => {
                self.advance();
                let args = self.list_until(Tok::RParen)?;
                if name == "has" {
                    return self.has_macro(args);
                }
                Ok(Expr::Call {
                    target: None,
                    function: name,
                    args,
                })
            }
            Tok::LBrace => Err(self.error("message construction is not supported")),
            _ => Ok(Expr::Ident(name)),
        }
    }

    /// Comma-separated expressions up to `close`, trailing comma allowed.
    fn list_until(&mut self, close: Tok) -> Result<Vec<Expr>> {
        let mut items = Vec::new();
        while !self.eat(&close) {
            items.push(self.expr()?);
            if !self.eat(&Tok::Comma) {
                self.expect(&close)?;
                break;
            }
        }
        Ok(items)
    }

    fn map_literal(&mut self) -> Result<Expr> {
        let mut entries = Vec::new();
        while !self.eat(&Tok::RBrace) {
            let key = self.expr()?;
            self.expect(&Tok::Colon)?;
            let value = self.expr()?;
            entries.push((key, value));
            if !self.eat(&Tok::Comma) {
                self.expect(&Tok::RBrace)?;
                break;
            }
        }
        Ok(Expr::Map(entries))
    }

    fn has_macro(&self, mut args: Vec<Expr>) -> Result<Expr> {
        match (args.pop(), args.is_empty()) {
            (Some(Expr::Select(operand, field)), true) => Ok(Expr::Has(operand, field)),
            _ => Err(self.error(
                "invalid argument to has() macro: expected a field selection such as has(a.b)",
            )),
        }
    }

    /// `target.function(args)`, expanding comprehension macros.
    fn receiver_call(&self, target: Expr, function: String, args: Vec<Expr>) -> Result<Expr> {
        let (var, kind) = match (function.as_str(), args.as_slice()) {
            ("all", [var, p]) => (var, MacroKind::All(p.clone())),
            ("exists", [var, p]) => (var, MacroKind::Exists(p.clone())),
            ("exists_one", [var, p]) => (var, MacroKind::ExistsOne(p.clone())),
            ("filter", [var, p]) => (var, MacroKind::Filter(p.clone())),
            ("map", [var, t]) => (
                var,
                MacroKind::Map {
                    predicate: None,
                    transform: t.clone(),
                },
            ),
            ("map", [var, p, t]) => (
                var,
                MacroKind::Map {
                    predicate: Some(p.clone()),
                    transform: t.clone(),
                },
            ),
            _ => return Ok(method_call(target, function, args)),
        };
        let Expr::Ident(var) = var else {
            return Err(self.error(format!(
                "{function}() macro: the first argument must be a simple name"
            )));
        };
        Ok(Expr::Comprehension(Box::new(Comprehension {
            range: target,
            var: var.clone(),
            kind,
        })))
    }
}

/// Namespaces whose functions are called as `namespace.function(args)`.
const NAMESPACES: &[&str] = &["optional", "sets"];

/// `target.function(args)`, or the global call `ns.function(args)` when
/// the target is one of the function [`NAMESPACES`].
fn method_call(target: Expr, function: String, args: Vec<Expr>) -> Expr {
    match target {
        Expr::Ident(namespace) if NAMESPACES.contains(&namespace.as_str()) => Expr::Call {
            target: None,
            function: format!("{namespace}.{function}"),
            args,
        },
        target => Expr::Call {
            target: Some(Box::new(target)),
            function,
            args,
        },
    }
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    Expr::Binary(op, Box::new(lhs), Box::new(rhs))
}

/// A token as it reads in an error message.
fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Int(i) => format!("'{i}'"),
        Tok::Uint(u) => format!("'{u}u'"),
        Tok::Double(d) => format!("'{d}'"),
        Tok::String(s) => format!("string '{s}'"),
        Tok::Ident(name) => format!("'{name}'"),
        Tok::QuotedIdent(name) => format!("'`{name}`'"),
        Tok::Eof => "end of expression".to_string(),
        other => format!("'{}'", symbol(other)),
    }
}

fn symbol(tok: &Tok) -> &'static str {
    match tok {
        Tok::True => "true",
        Tok::False => "false",
        Tok::Null => "null",
        Tok::In => "in",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::Comma => ",",
        Tok::Dot => ".",
        Tok::Colon => ":",
        Tok::Question => "?",
        Tok::Not => "!",
        Tok::Minus => "-",
        Tok::Plus => "+",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Percent => "%",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::EqEq => "==",
        Tok::Ne => "!=",
        Tok::AndAnd => "&&",
        Tok::OrOr => "||",
        _ => "token",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(name: &str) -> Box<Expr> {
        Box::new(Expr::Ident(name.into()))
    }

    fn int(i: i64) -> Box<Expr> {
        Box::new(Expr::Literal(Value::Int(i)))
    }

    #[test]
    fn multiplication_binds_tighter_than_addition() {
        let sum = parse("1 + 2 * 3").unwrap();
        let product = Expr::Binary(BinaryOp::Mul, int(2), int(3));
        assert_eq!(sum, Expr::Binary(BinaryOp::Add, int(1), Box::new(product)));
    }

    #[test]
    fn binary_operators_are_left_associative() {
        let diff = parse("a - b - c").unwrap();
        let inner = Expr::Binary(BinaryOp::Sub, ident("a"), ident("b"));
        assert_eq!(
            diff,
            Expr::Binary(BinaryOp::Sub, Box::new(inner), ident("c"))
        );
    }

    #[test]
    fn relations_share_one_level() {
        let expr = parse("a < b == c").unwrap();
        let lt = Expr::Binary(BinaryOp::Lt, ident("a"), ident("b"));
        assert_eq!(expr, Expr::Binary(BinaryOp::Eq, Box::new(lt), ident("c")));
    }

    #[test]
    fn and_binds_tighter_than_or_and_ternary_is_loosest() {
        let expr = parse("a || b && c ? d : e ? f : g").unwrap();
        let and = Expr::And(ident("b"), ident("c"));
        let or = Expr::Or(ident("a"), Box::new(and));
        let inner = Expr::Conditional(ident("e"), ident("f"), ident("g"));
        assert_eq!(
            expr,
            Expr::Conditional(Box::new(or), ident("d"), Box::new(inner))
        );
    }

    #[test]
    fn unary_minus_applies_to_the_member() {
        let expr = parse("-a.b").unwrap();
        let select = Expr::Select(ident("a"), "b".into());
        assert_eq!(expr, Expr::Unary(UnaryOp::Negate, Box::new(select)));
        assert_eq!(parse("-9223372036854775808").unwrap(), *int(i64::MIN));
        assert!(parse("9223372036854775808").is_err());
    }

    #[test]
    fn macros_are_expanded() {
        assert_eq!(
            parse("has(a.b)").unwrap(),
            Expr::Has(ident("a"), "b".into())
        );
        let Expr::Comprehension(c) = parse("l.map(x, x > 1, x * 2)").unwrap() else {
            panic!("not a comprehension");
        };
        assert_eq!(c.var, "x");
        assert!(matches!(
            c.kind,
            MacroKind::Map {
                predicate: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let cases = [
            (
                "a +",
                "syntax error at line 1, column 4: unexpected end of expression",
            ),
            (
                "(a",
                "syntax error at line 1, column 3: expected ')', found end of expression",
            ),
            ("a b", "syntax error at line 1, column 3: unexpected 'b'"),
            (
                "has(a)",
                "syntax error at line 1, column 7: invalid argument to has() macro: expected a field selection such as has(a.b)",
            ),
            (
                "l.all(x.y, true)",
                "syntax error at line 1, column 17: all() macro: the first argument must be a simple name",
            ),
            (
                "a.(b)",
                "syntax error at line 1, column 3: expected a field name after '.', found '('",
            ),
            (
                "Msg{a: 1}",
                "syntax error at line 1, column 4: message construction is not supported",
            ),
        ];
        for (source, message) in cases {
            assert_eq!(parse(source).unwrap_err().to_string(), message, "{source}");
        }
    }

    #[test]
    fn trailing_commas_are_allowed() {
        assert!(parse("[1, 2,]").is_ok());
        assert!(parse("{'a': 1,}").is_ok());
        assert!(parse("[,]").is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(
            parse(&deep)
                .unwrap_err()
                .to_string()
                .contains("nested more than")
        );
        let long = vec!["a"; 500].join(" + ");
        assert!(parse(&long).is_err());
        assert!(parse(&vec!["a"; 50].join(" + ")).is_ok());
    }
}
