//! The content hash kustomize appends to generated names: SHA-256 over a
//! Go `json.Marshal` encoding of the object's kind and data, first ten hex
//! digits with some characters swapped (kubectl's `hash.go`).
//!
//! kustomize v5 means to hash the name too, but looks it up as a single
//! field called `metadata/name`, which never exists: the name is always
//! hashed as `""`. We reproduce that, since the suffixes must match.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::resource::Resource;

/// The suffix for `res` (a ConfigMap, a Secret, or any other object).
pub fn hash_suffix(res: &Resource) -> String {
    let obj = res.value();
    let field = |name: &str| {
        obj.get(name)
            .cloned()
            .unwrap_or(Value::String(String::new()))
    };
    let mut m = Map::new();
    m.insert("name".into(), Value::String(String::new()));
    match res.kind() {
        "ConfigMap" => {
            m.insert("kind".into(), "ConfigMap".into());
            m.insert("data".into(), field("data"));
            if obj.get("binaryData").is_some_and(Value::is_object) {
                m.insert("binaryData".into(), field("binaryData"));
            }
        }
        "Secret" => {
            m.insert("kind".into(), "Secret".into());
            m.insert("type".into(), field("type"));
            m.insert("data".into(), field("data"));
            if obj.get("stringData").is_some_and(Value::is_object) {
                m.insert("stringData".into(), field("stringData"));
            }
        }
        _ => return encode(&go_json(obj)),
    }
    encode(&go_json(&Value::Object(m)))
}

fn encode(json: &str) -> String {
    let digest = Sha256::digest(json.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            other => other,
        })
        .collect()
}

/// Go's `json.Marshal` of a decoded value: map keys sorted bytewise, HTML
/// characters and U+2028/U+2029 escaped.
pub fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_json(&map[k], out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_kubectl_for_a_prefixed_configmap() {
        let cm = Resource::new(
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "p-cfg", "namespace": "prod", "labels": {"app": "web"}},
                   "data": {"a": "1", "b": "2"}}),
            "test",
        );
        assert_eq!(hash_suffix(&cm), "7gdc49gk6d");
    }

    #[test]
    fn matches_kubectl_for_a_secret_with_html_characters() {
        let s = Resource::new(
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "p-sec"}, "data": {"pw": "eDx5"}}),
            "test",
        );
        assert_eq!(hash_suffix(&s), "466gkg5584");
    }

    #[test]
    fn go_json_escapes_like_go() {
        assert_eq!(
            go_json(&json!({"b": "<&>", "a": "\u{1}\n"})),
            r#"{"a":"\u0001\n","b":"\u003c\u0026\u003e"}"#
        );
    }
}
