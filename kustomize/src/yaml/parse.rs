//! Reading YAML (and JSON) streams into JSON values the way kustomize's
//! kyaml does: go-yaml v3 scalar resolution, anchors, aliases and `<<`
//! merge keys, one value per non-empty document.

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::resolve::{Resolved, resolve_v3, to_json};

/// Why a YAML stream could not be read; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Line of the problem (1-based).
    pub line: usize,
    /// Column of the problem (1-based).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {} column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses every document of a YAML stream; empty (null) documents are
/// dropped, as kustomize drops them.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, ParseError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| ParseError {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.docs.into_iter().filter(|d| !d.is_null()).collect())
}

enum Frame {
    Seq(Vec<Value>, usize),
    Map {
        map: Map<String, Value>,
        merges: Vec<Value>,
        key: Option<(String, bool)>,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    docs: Vec<Value>,
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, Value>,
    error: Option<ParseError>,
}

impl Builder {
    fn fail(&mut self, mark: Marker, message: String) {
        if self.error.is_none() {
            self.error = Some(ParseError {
                line: mark.line(),
                column: mark.col() + 1,
                message,
            });
        }
    }

    fn push_value(&mut self, value: Value, anchor: usize, mark: Marker, is_merge_key: bool) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(value),
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map {
                map, merges, key, ..
            }) => match key.take() {
                None => match value {
                    Value::String(s) => *key = Some((s, is_merge_key)),
                    other => {
                        let msg = format!(
                            "mapping key {other} is not a string; kustomize only accepts string keys"
                        );
                        self.fail(mark, msg);
                    }
                },
                Some((_, true)) => merges.push(value),
                Some((k, false)) => {
                    if map.contains_key(&k) {
                        self.fail(mark, format!("mapping key \"{k}\" already defined"));
                    } else {
                        map.insert(k, value);
                    }
                }
            },
        }
    }

    fn scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        tag: Option<Tag>,
        mark: Marker,
    ) -> Option<(Value, bool)> {
        if style != TScalarStyle::Plain {
            let explicit = tag.as_ref().map(|t| t.suffix.as_str());
            return match explicit {
                Some("int") | Some("float") | Some("bool") | Some("null") => {
                    self.resolved(&text, mark).map(|v| (v, false))
                }
                _ => Some((Value::String(text), false)),
            };
        }
        if let Some(t) = &tag
            && t.handle == "!!"
            && t.suffix == "str"
        {
            return Some((Value::String(text), false));
        }
        if text == "<<" && tag.is_none() {
            return Some((Value::String(text), true));
        }
        self.resolved(&text, mark).map(|v| (v, false))
    }

    fn resolved(&mut self, text: &str, mark: Marker) -> Option<Value> {
        let resolved = resolve_v3(text);
        let non_finite = resolved == Resolved::NonFinite;
        match to_json(text, resolved) {
            Some(v) => Some(v),
            None => {
                let why = if non_finite {
                    "is not representable in JSON"
                } else {
                    "is out of range"
                };
                self.fail(mark, format!("value {text:?} {why}"));
                None
            }
        }
    }
}

fn apply_merges(map: &mut Map<String, Value>, merges: Vec<Value>) -> Result<(), String> {
    for merge in merges {
        let sources = match merge {
            Value::Array(items) => items,
            other => vec![other],
        };
        for source in sources {
            let Value::Object(source) = source else {
                return Err("map merge requires map or sequence of maps as the value".into());
            };
            for (k, v) in source {
                map.entry(k).or_insert(v);
            }
        }
    }
    Ok(())
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::DocumentStart => self.anchors.clear(),
            Event::Scalar(text, style, anchor, tag) => {
                if let Some((v, merge)) = self.scalar(text, style, tag, mark) {
                    self.push_value(v, anchor, mark, merge);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(v) => self.push_value(v, 0, mark, false),
                None => self.fail(mark, "unknown anchor".into()),
            },
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(Vec::new(), anchor)),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                map: Map::new(),
                merges: Vec::new(),
                key: None,
                anchor,
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, anchor)) = self.stack.pop() {
                    self.push_value(Value::Array(items), anchor, mark, false);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    mut map,
                    merges,
                    anchor,
                    ..
                }) = self.stack.pop()
                {
                    match apply_merges(&mut map, merges) {
                        Ok(()) => self.push_value(Value::Object(map), anchor, mark, false),
                        Err(e) => self.fail(mark, e),
                    }
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn multi_document_streams_skip_empty_documents() {
        let docs = parse_documents("a: 1\n---\n---\nb: [x, 'y', 0755]\n").unwrap();
        assert_eq!(docs, vec![json!({"a": 1}), json!({"b": ["x", "y", 493]})]);
    }

    #[test]
    fn anchors_and_merge_keys_expand() {
        let docs = parse_documents("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n").unwrap();
        assert_eq!(docs[0]["c"], json!({"x": 1, "y": 3}));
    }

    #[test]
    fn errors_carry_the_line() {
        let err = parse_documents("a: 1\nb: [\n").unwrap_err();
        assert!(err.line >= 2, "{err}");
    }
}
