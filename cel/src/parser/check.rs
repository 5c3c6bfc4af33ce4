//! Static check that an expression names only declared variables.
//!
//! cel-go reports an undeclared variable when compiling an expression for
//! an environment with declared variables (Receiver `resourceFilter`
//! declares `res` and `req`), so a typo stalls the object at reconcile time
//! instead of failing every webhook call.

use super::ast::{Expr, MacroKind};

/// The first identifier in `expr` that is neither in `declared` nor bound
/// by an enclosing comprehension.
pub(crate) fn first_undeclared<'e>(expr: &'e Expr, declared: &[&'e str]) -> Option<&'e str> {
    let mut scope: Vec<&str> = declared.to_vec();
    walk(expr, &mut scope)
}

fn walk<'e>(expr: &'e Expr, scope: &mut Vec<&'e str>) -> Option<&'e str> {
    match expr {
        Expr::Literal(_) => None,
        Expr::Ident(name) => (!scope.contains(&name.as_str())).then_some(name.as_str()),
        Expr::Select(operand, _)
        | Expr::OptSelect(operand, _)
        | Expr::Has(operand, _)
        | Expr::Unary(_, operand) => walk(operand, scope),
        Expr::Index(a, b)
        | Expr::OptIndex(a, b)
        | Expr::Binary(_, a, b)
        | Expr::And(a, b)
        | Expr::Or(a, b) => walk(a, scope).or_else(|| walk(b, scope)),
        Expr::Conditional(a, b, c) => walk(a, scope)
            .or_else(|| walk(b, scope))
            .or_else(|| walk(c, scope)),
        Expr::Call { target, args, .. } => target
            .as_deref()
            .and_then(|t| walk(t, scope))
            .or_else(|| args.iter().find_map(|a| walk(a, scope))),
        Expr::List(items) => items.iter().find_map(|i| walk(i, scope)),
        Expr::Map(entries) => entries
            .iter()
            .find_map(|(k, v)| walk(k, scope).or_else(|| walk(v, scope))),
        Expr::Comprehension(c) => {
            if let Some(name) = walk(&c.range, scope) {
                return Some(name);
            }
            scope.push(&c.var);
            let found = match &c.kind {
                MacroKind::All(p)
                | MacroKind::Exists(p)
                | MacroKind::ExistsOne(p)
                | MacroKind::Filter(p) => walk(p, scope),
                MacroKind::Map {
                    predicate,
                    transform,
                } => predicate
                    .as_ref()
                    .and_then(|p| walk(p, scope))
                    .or_else(|| walk(transform, scope)),
            };
            scope.pop();
            found
        }
    }
}
