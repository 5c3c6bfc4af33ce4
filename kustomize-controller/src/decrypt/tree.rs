//! SOPS documents in memory: an order-preserving tree (the MAC covers values
//! in document order), read from and written to the formats `sops` uses.
//!
//! Writing JSON reproduces Go's `encoding/json` plus `json.Indent` with a
//! tab, byte for byte, as `sops --decrypt` prints it; dotenv and binary are
//! exact as well. YAML is written by `serde_yaml_ng`: the same data, not the
//! same bytes as go-yaml v3 would write.

use serde_json::Value;

use super::{DecryptError, Format};

/// A value of a SOPS tree.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A decrypted string that is not UTF-8 (binary files).
    Bytes(Vec<u8>),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A mapping entry; only dotenv files keep comments (YAML comments are
/// dropped when reading, which the MAC allows as it never covers them).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Entry {
    Pair(String, Node),
    Comment(String),
}

/// One parsed file: a branch per document (YAML streams have several).
pub(super) type Branches = Vec<Vec<Entry>>;

fn parse_error(format: Format, message: impl Into<String>) -> DecryptError {
    DecryptError::Load {
        format: format.name(),
        message: message.into(),
    }
}

/// Reads `data` in `format` (binary files are a JSON envelope once
/// encrypted, so [`Format::Binary`] reads JSON).
pub(super) fn load(format: Format, data: &[u8]) -> Result<Branches, DecryptError> {
    match format {
        Format::Yaml => load_yaml(data),
        Format::Json | Format::Binary => {
            let value: serde_yaml_ng::Value =
                serde_json::from_slice(data).map_err(|e| parse_error(format, e.to_string()))?;
            match from_yaml_value(value, format)? {
                Node::Map(entries) => Ok(vec![entries]),
                _ => Err(parse_error(format, "the document is not a JSON object")),
            }
        }
        Format::Dotenv => load_dotenv(data).map(|entries| vec![entries]),
        Format::Ini => Err(DecryptError::UnsupportedFormat("INI")),
    }
}

fn load_yaml(data: &[u8]) -> Result<Branches, DecryptError> {
    let text =
        std::str::from_utf8(data).map_err(|_| parse_error(Format::Yaml, "not valid UTF-8"))?;
    let mut branches = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = <serde_yaml_ng::Value as serde::Deserialize>::deserialize(document)
            .map_err(|e| parse_error(Format::Yaml, e.to_string()))?;
        match from_yaml_value(value, Format::Yaml)? {
            Node::Map(entries) => branches.push(entries),
            Node::Null => branches.push(Vec::new()),
            _ => return Err(parse_error(Format::Yaml, "a document is not a mapping")),
        }
    }
    Ok(branches)
}

fn from_yaml_value(value: serde_yaml_ng::Value, format: Format) -> Result<Node, DecryptError> {
    use serde_yaml_ng::Value as Y;
    Ok(match value {
        Y::Null => Node::Null,
        Y::Bool(b) => Node::Bool(b),
        Y::Number(n) => match n.as_i64() {
            Some(i) => Node::Int(i),
            None => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Y::String(s) => Node::Str(s),
        Y::Sequence(items) => Node::Seq(
            items
                .into_iter()
                .map(|v| from_yaml_value(v, format))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let Y::String(key) = k else {
                    return Err(parse_error(format, "only string keys are supported"));
                };
                entries.push(Entry::Pair(key, from_yaml_value(v, format)?));
            }
            Node::Map(entries)
        }
        Y::Tagged(tagged) => from_yaml_value(tagged.value, format)?,
    })
}

/// sops' dotenv reader: one `KEY=value` per line (`\n` escapes a newline),
/// `#` starts a comment line, blank lines are skipped.
fn load_dotenv(data: &[u8]) -> Result<Vec<Entry>, DecryptError> {
    let text =
        std::str::from_utf8(data).map_err(|_| parse_error(Format::Dotenv, "not valid UTF-8"))?;
    let mut entries = Vec::new();
    for (number, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            entries.push(Entry::Comment(comment.to_string()));
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(parse_error(
                Format::Dotenv,
                format!("line {} has no '='", number + 1),
            ));
        };
        entries.push(Entry::Pair(
            key.to_string(),
            Node::Str(value.replace("\\n", "\n")),
        ));
    }
    Ok(entries)
}

/// A built Kubernetes object as a tree, in `serde_json`'s key order.
pub(super) fn from_json_value(value: &Value) -> Node {
    match value {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Node::Int(i),
            None => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Node::Str(s.clone()),
        Value::Array(items) => Node::Seq(items.iter().map(from_json_value).collect()),
        Value::Object(map) => Node::Map(
            map.iter()
                .map(|(k, v)| Entry::Pair(k.clone(), from_json_value(v)))
                .collect(),
        ),
    }
}

/// The tree back as a JSON value.
pub(super) fn to_json_value(node: Node, path: &mut Vec<String>) -> Result<Value, DecryptError> {
    Ok(match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::from(i),
        Node::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| emit_error(Format::Json, "a number is not finite"))?,
        Node::Str(s) => Value::String(s),
        Node::Bytes(_) => {
            return Err(DecryptError::NotUtf8 {
                path: path_string(path),
            });
        }
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .map(|n| to_json_value(n, path))
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => {
            let mut map = serde_json::Map::new();
            for entry in entries {
                if let Entry::Pair(k, v) = entry {
                    path.push(k);
                    let value = to_json_value(v, path)?;
                    let k = path.pop().unwrap_or_default();
                    map.insert(k, value);
                }
            }
            Value::Object(map)
        }
    })
}

/// `a:b:` — how sops names a value (its associated data).
pub(super) fn path_string(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

fn emit_error(format: Format, message: impl Into<String>) -> DecryptError {
    DecryptError::Emit {
        format: format.name(),
        message: message.into(),
    }
}

/// Writes decrypted branches in `format`, as sops' stores do.
pub(super) fn emit(format: Format, branches: Branches) -> Result<Vec<u8>, DecryptError> {
    match format {
        Format::Yaml => emit_yaml(branches),
        Format::Json => {
            let mut out = String::new();
            let first = branches.into_iter().next().unwrap_or_default();
            go_json(&Node::Map(first), 0, &mut out);
            out.push('\n');
            Ok(out.into_bytes())
        }
        Format::Dotenv => emit_dotenv(branches),
        Format::Binary => emit_binary(branches),
        Format::Ini => Err(DecryptError::UnsupportedFormat("INI")),
    }
}

fn emit_yaml(branches: Branches) -> Result<Vec<u8>, DecryptError> {
    let mut out = String::new();
    let mut path = Vec::new();
    for (i, branch) in branches.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let value = to_yaml_value(Node::Map(branch), &mut path)?;
        out.push_str(
            &serde_yaml_ng::to_string(&value)
                .map_err(|e| emit_error(Format::Yaml, e.to_string()))?,
        );
    }
    Ok(out.into_bytes())
}

fn to_yaml_value(node: Node, path: &mut Vec<String>) -> Result<serde_yaml_ng::Value, DecryptError> {
    use serde_yaml_ng::Value as Y;
    Ok(match node {
        Node::Null => Y::Null,
        Node::Bool(b) => Y::Bool(b),
        Node::Int(i) => Y::Number(i.into()),
        Node::Float(f) => Y::Number(f.into()),
        Node::Str(s) => Y::String(s),
        Node::Bytes(_) => {
            return Err(DecryptError::NotUtf8 {
                path: path_string(path),
            });
        }
        Node::Seq(items) => Y::Sequence(
            items
                .into_iter()
                .map(|n| to_yaml_value(n, path))
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => {
            let mut map = serde_yaml_ng::Mapping::new();
            for entry in entries {
                if let Entry::Pair(k, v) = entry {
                    path.push(k);
                    let value = to_yaml_value(v, path)?;
                    let k = path.pop().unwrap_or_default();
                    map.insert(Y::String(k), value);
                }
            }
            Y::Mapping(map)
        }
    })
}

fn emit_dotenv(branches: Branches) -> Result<Vec<u8>, DecryptError> {
    let mut out = Vec::new();
    for entry in branches.into_iter().next().unwrap_or_default() {
        match entry {
            Entry::Comment(c) => {
                out.push(b'#');
                out.extend_from_slice(c.as_bytes());
            }
            Entry::Pair(key, value) => {
                out.extend_from_slice(key.as_bytes());
                out.push(b'=');
                match value {
                    Node::Str(s) => out.extend_from_slice(s.replace('\n', "\\n").as_bytes()),
                    Node::Bytes(b) => out.extend_from_slice(&b),
                    Node::Seq(_) | Node::Map(_) => {
                        return Err(emit_error(
                            Format::Dotenv,
                            format!("cannot use complex value in dotenv file; offending key {key}"),
                        ));
                    }
                    scalar => out.extend_from_slice(go_val_to_string(&scalar).as_bytes()),
                }
            }
        }
        out.push(b'\n');
    }
    Ok(out)
}

fn emit_binary(branches: Branches) -> Result<Vec<u8>, DecryptError> {
    let [branch] = <[Vec<Entry>; 1]>::try_from(branches)
        .map_err(|_| emit_error(Format::Binary, "there must be exactly one tree branch"))?;
    for entry in branch {
        if let Entry::Pair(key, value) = entry
            && key == "data"
        {
            return match value {
                Node::Str(s) => Ok(s.into_bytes()),
                Node::Bytes(b) => Ok(b),
                _ => Err(emit_error(
                    Format::Binary,
                    "'data' key in tree does not have a string value",
                )),
            };
        }
    }
    Err(emit_error(Format::Binary, "no binary data found in tree"))
}

/// sops' `stores.ValToString` for a non-string scalar in a dotenv file.
fn go_val_to_string(node: &Node) -> String {
    match node {
        Node::Null => "<nil>".to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Float(f) => {
            let s = go_format_float_g(*f);
            if s.contains('.') || s.contains('E') || !f.is_finite() {
                s
            } else {
                format!("{f:.1}")
            }
        }
        Node::Str(s) => s.clone(),
        Node::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Node::Seq(_) | Node::Map(_) => String::new(),
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal that
/// reads back as `f`, never in exponent form. This is how sops hashes and
/// encrypts floats.
pub(super) fn go_format_float_f(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    format!("{f}")
}

/// Shortest digits and decimal exponent of `f` (`d.ddd × 10^exp`).
fn shortest_exponent_form(f: f64) -> (String, i32) {
    let s = format!("{f:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    (mantissa.to_string(), exp.parse().unwrap_or(0))
}

/// Go's `strconv.FormatFloat(f, 'G', -1, 64)`.
fn go_format_float_g(f: f64) -> String {
    if !f.is_finite() {
        return go_format_float_f(f);
    }
    let (mantissa, exp) = shortest_exponent_form(f);
    if f != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}E{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// Go's `encoding/json` encoding of a float64.
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (mantissa, exp) = shortest_exponent_form(f);
        if exp < 0 {
            format!("{mantissa}e-{}", -exp)
        } else {
            format!("{mantissa}e+{exp:02}")
        }
    } else {
        format!("{f}")
    }
}

/// Go's `encoding/json` string quoting, HTML-safe (`<`, `>`, `&` escaped).
fn go_json_quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn indent(level: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..level {
        out.push('\t');
    }
}

/// sops' JSON writer: `{"k": v}` re-indented by `json.Indent` with a tab;
/// empty objects and arrays stay `{}` and `[]`.
fn go_json(node: &Node, level: usize, out: &mut String) {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(i) => out.push_str(&i.to_string()),
        Node::Float(f) => out.push_str(&go_json_float(*f)),
        Node::Str(s) => go_json_quote(s, out),
        Node::Bytes(b) => go_json_quote(&String::from_utf8_lossy(b), out),
        Node::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(level + 1, out);
                go_json(item, level + 1, out);
            }
            if !items.is_empty() {
                indent(level, out);
            }
            out.push(']');
        }
        Node::Map(entries) => {
            out.push('{');
            let mut first = true;
            for entry in entries {
                let Entry::Pair(key, value) = entry else {
                    continue;
                };
                if !first {
                    out.push(',');
                }
                first = false;
                indent(level + 1, out);
                go_json_quote(key, out);
                out.push_str(": ");
                go_json(value, level + 1, out);
            }
            if !first {
                indent(level, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_like_go() {
        assert_eq!(go_format_float_f(1e21), "1000000000000000000000");
        assert_eq!(go_format_float_f(0.25), "0.25");
        assert_eq!(go_format_float_f(3.0), "3");
        assert_eq!(go_format_float_f(1e-7), "0.0000001");
        assert_eq!(go_format_float_f(f64::INFINITY), "+Inf");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(1.5e-10), "1.5e-10");
        assert_eq!(go_json_float(0.25), "0.25");
        assert_eq!(go_json_float(0.0), "0");
        assert_eq!(go_format_float_g(1234567.0), "1.234567E+06");
        assert_eq!(go_format_float_g(0.5), "0.5");
        assert_eq!(go_val_to_string(&Node::Float(3.0)), "3.0");
        assert_eq!(go_val_to_string(&Node::Float(1e21)), "1E+21");
    }

    #[test]
    fn strings_quote_like_go() {
        let mut out = String::new();
        go_json_quote("<a>&\"\\\u{1}\u{8}\u{2028}é", &mut out);
        assert_eq!(out, r#""\u003ca\u003e\u0026\"\\\u0001\b\u2028é""#);
    }

    #[test]
    fn dotenv_round_trips_comments_and_newlines() {
        let text = b"#c\nA=1\nB=x\\ny\n\nC=\n";
        let branches = vec![load_dotenv(text).unwrap()];
        assert_eq!(
            emit(Format::Dotenv, branches).unwrap(),
            b"#c\nA=1\nB=x\\ny\nC=\n"
        );
    }
}
