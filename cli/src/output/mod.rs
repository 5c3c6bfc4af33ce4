//! Everything the CLI prints: tables and documents on stdout, progress lines
//! on stderr. Styles are always written and stripped by `anstream` when the
//! stream is not a terminal (or `NO_COLOR` is set), so pipes get plain text.

pub mod log;
pub mod table;
pub mod text;

use serde::Serialize;

use crate::error::{Error, Result};

/// How `get`-like commands print their result (`-o`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, like `flux get`.
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// One YAML document.
    Yaml,
}

/// Encodes `value` as pretty JSON or as YAML; `Format::Table` is the caller's
/// business and encodes as YAML.
pub fn encode<T: Serialize>(value: &T, format: Format) -> Result<String> {
    match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| Error::Encode(e.to_string())),
        Format::Table | Format::Yaml => to_yaml(value),
    }
}

/// YAML of one value, without a leading `---`.
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String> {
    serde_yaml_ng::to_string(value).map_err(|e| Error::Encode(e.to_string()))
}

/// Multi-document YAML: every value preceded by `---`, as `flux export` prints.
pub fn to_yaml_documents<T: Serialize>(values: &[T]) -> Result<String> {
    let mut out = String::new();
    for value in values {
        out.push_str("---\n");
        out.push_str(&to_yaml(value)?);
    }
    Ok(out)
}

/// Writes to stdout through `anstream` (styles stripped when not a terminal).
pub fn print(text: &str) {
    use std::io::Write;
    let mut out = anstream::stdout();
    // A closed pipe (`fluxrs get ... | head`) is not an error worth reporting.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_separated_like_flux_export() {
        let docs = [json!({"a": 1}), json!({"b": 2})];
        assert_eq!(to_yaml_documents(&docs).unwrap(), "---\na: 1\n---\nb: 2\n");
    }

    #[test]
    fn json_is_pretty_and_ends_with_newline() {
        assert_eq!(
            encode(&json!({"a": [1]}), Format::Json).unwrap(),
            "{\n  \"a\": [\n    1\n  ]\n}\n"
        );
    }
}
