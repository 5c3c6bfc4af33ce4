//! Dotted field paths as used by `vars` and `replacements`
//! (`spec.containers.[name=app].image`, `spec.ports.0.port`, `*`), with
//! kyaml's lookup and create semantics.

use regex::Regex;
use serde_json::{Map, Value};

/// Splits on `.` outside of `[...]`.
pub fn split(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

/// `[name=value]` list selectors.
fn list_match(part: &str) -> Option<(&str, &str)> {
    part.strip_prefix('[')?.strip_suffix(']')?.split_once('=')
}

/// Field names written in brackets (`[app.kubernetes.io/name]`).
fn bare_key(part: &str) -> &str {
    part.strip_prefix('[')
        .and_then(|p| p.strip_suffix(']'))
        .filter(|p| !p.contains('='))
        .unwrap_or(part)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The node at `parts`, if any (the first match for list selectors).
pub fn lookup<'a>(v: &'a Value, parts: &[String]) -> Option<&'a Value> {
    let Some((first, rest)) = parts.split_first() else {
        return Some(v);
    };
    match v {
        Value::Array(items) => {
            if let Some((field, want)) = list_match(first) {
                let item = items.iter().find(|i| {
                    if field.is_empty() {
                        scalar_text(i).as_deref() == Some(want)
                    } else {
                        i.get(field).and_then(scalar_text).as_deref() == Some(want)
                    }
                })?;
                lookup(item, rest)
            } else if first == "-" {
                lookup(items.last()?, rest)
            } else {
                lookup(items.get(first.parse::<usize>().ok()?)?, rest)
            }
        }
        Value::Object(m) => lookup(m.get(bare_key(first))?, rest),
        _ => None,
    }
}

/// Visits every node matching `parts` (list selectors and `*` may match
/// several; like kyaml's `PathMatcher`, `[field=value]` treats `value` as an
/// unanchored regular expression); with `create`, missing map fields and
/// selected list items are created, the last one as `leaf`.
pub fn visit_matches(
    v: &mut Value,
    parts: &[String],
    create: Option<&Value>,
    f: &mut dyn FnMut(&mut Value),
) {
    let Some((first, rest)) = parts.split_first() else {
        f(v);
        return;
    };
    let fresh = |rest: &[String]| match (rest.first(), create) {
        (None, Some(leaf)) => leaf.clone(),
        (Some(next), _)
            if list_match(next).is_some() || next == "*" || next.parse::<usize>().is_ok() =>
        {
            Value::Array(Vec::new())
        }
        _ => Value::Object(Map::new()),
    };
    match v {
        Value::Array(items) => {
            if first == "*" {
                for item in items.iter_mut() {
                    visit_matches(item, rest, create, f);
                }
            } else if let Some((field, want)) = list_match(first) {
                let Ok(pattern) = Regex::new(want) else {
                    return;
                };
                let mut matched = false;
                for item in items.iter_mut() {
                    let text = if field.is_empty() {
                        scalar_text(item)
                    } else {
                        item.get(field).and_then(scalar_text)
                    };
                    let hit = text.is_some_and(|t| pattern.is_match(&t));
                    if hit {
                        matched = true;
                        visit_matches(item, rest, create, f);
                    }
                }
                if !matched && create.is_some() && !field.is_empty() {
                    let mut item = Map::new();
                    item.insert(field.to_string(), Value::String(want.to_string()));
                    items.push(Value::Object(item));
                    if let Some(last) = items.last_mut() {
                        visit_matches(last, rest, create, f);
                    }
                }
            } else if first == "-" {
                if let Some(last) = items.last_mut() {
                    visit_matches(last, rest, create, f);
                }
            } else if let Some(item) = first.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                visit_matches(item, rest, create, f);
            }
        }
        Value::Object(m) => {
            let key = bare_key(first);
            if !m.contains_key(key) {
                if create.is_none() {
                    return;
                }
                m.insert(key.to_string(), fresh(rest));
            }
            if let Some(next) = m.get_mut(key) {
                if next.is_null() && create.is_some() && !rest.is_empty() {
                    *next = fresh(rest);
                }
                visit_matches(next, rest, create, f);
            }
        }
        Value::Null if create.is_some() => {
            *v = Value::Object(Map::new());
            visit_matches(v, parts, create, f);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn brackets_keep_their_dots() {
        assert_eq!(split("a.[name=x.y].b"), vec!["a", "[name=x.y]", "b"]);
    }

    #[test]
    fn lookup_and_create() {
        let mut v = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}});
        assert_eq!(
            lookup(&v, &split("spec.containers.[name=a].image")),
            Some(&json!("x"))
        );
        assert_eq!(
            lookup(&v, &split("spec.containers.1.name")),
            Some(&json!("b"))
        );
        let mut n = 0;
        visit_matches(
            &mut v,
            &split("spec.containers.*.image"),
            Some(&json!("z")),
            &mut |x| {
                *x = json!("z");
                n += 1;
            },
        );
        assert_eq!(n, 2);
        assert_eq!(v["spec"]["containers"][1]["image"], "z");
    }
}
