//! YAML in and out, byte-compatible with kustomize: reading follows kyaml
//! (go-yaml v3) and writing follows `sigs.k8s.io/yaml` (go-yaml v2).

mod emit;
mod parse;
mod resolve;

pub use emit::{go_yaml_key_cmp, to_yaml_document};
pub use parse::{ParseError, parse_documents};
