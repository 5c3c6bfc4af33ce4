//! Post-build variable substitution (`spec.postBuild`): pure functions, no
//! cluster access.
//!
//! The controller fetches the `substituteFrom` ConfigMaps and Secrets and
//! merges them with the inline `substitute` map through [`vars_from`], then
//! runs [`substitute_objects`] on the built (and decrypted) objects. Each
//! object is written as YAML exactly like kustomize-controller does
//! (`sigs.k8s.io/yaml`), its `${var}` expressions are expanded by
//! [`substitute`], and the result is read back, so it must still be YAML.
//!
//! # Syntax
//!
//! fluxcd/pkg `envsubst`, bash-like: `${var}`, `${var:=default}`,
//! `${var=default}`, `${var:-default}`, `${var-default}`, `${#var}`,
//! `${var^}`, `${var^^}`, `${var,}`, `${var,,}`, `${var:pos}`,
//! `${var:pos:len}`, `${var#pat}`, `${var##pat}`, `${var%pat}`,
//! `${var%%pat}`, `${var/pat/rep}`, `${var//pat/rep}`, `${var/#pat/rep}`,
//! `${var/%pat/rep}` with glob patterns. `$var` is left untouched and
//! `$${var}` renders a literal `${var}`. `${var+x}`, `${var:+x}`,
//! `${var?x}` and `${var:?x}` are refused.
//!
//! # Errors never quote the document
//!
//! Substitution runs after SOPS decryption, so the YAML may hold secrets:
//! errors give the object, a line and column and the variable involved, never
//! the surrounding text.

mod envsubst;
mod glob;

use std::collections::BTreeMap;

use fluxrs_api::kustomize::{SubstituteKind, SubstituteReference, SubstituteStrategy};
use fluxrs_kustomize::yaml::{parse_documents, to_yaml_document};
use serde_json::Value;

pub use envsubst::SyntaxError;

/// Label or annotation that opts an object out of substitution.
pub const SUBSTITUTE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// What variable names must look like (POSIX classes, ASCII only).
pub const VAR_NAME_PATTERN: &str = "^[_[:alpha:]][_[:alpha:][:digit:]]*$";

/// Everything that can make post-build substitution fail.
#[derive(Debug, thiserror::Error)]
pub enum SubstituteError {
    /// A variable name does not match [`VAR_NAME_PATTERN`].
    #[error("'{name}' var name is invalid, must match '{VAR_NAME_PATTERN}'")]
    InvalidVarName {
        /// The offending name.
        name: String,
    },
    /// A `substituteFrom` object that is not optional does not exist.
    #[error("substitute from '{kind}/{name}' error: not found")]
    SourceNotFound {
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// Its name, in the Kustomization's namespace.
        name: String,
    },
    /// A Secret value is not text, so it cannot be put into YAML.
    #[error("substitute from 'Secret/{name}' error: the value of key '{key}' is not valid UTF-8")]
    NotUtf8 {
        /// The Secret.
        name: String,
        /// The data key.
        key: String,
    },
    /// Strict mode: an expression reads a variable that is not defined.
    #[error("variable not set (strict mode): \"{name}\"")]
    VariableNotSet {
        /// The undefined variable.
        name: String,
    },
    /// A `${...}` expression is malformed.
    #[error("invalid expression at line {line}, column {column}: {kind}")]
    Syntax {
        /// 1-based line of the `${` in the object's YAML.
        line: usize,
        /// 1-based column of the `${`.
        column: usize,
        /// What is wrong.
        kind: SyntaxError,
    },
    /// The offset or length of `${var:offset:length}` is not an integer.
    #[error(
        "the {what} of the substring of '{name}' at line {line}, column {column} is not an integer"
    )]
    NotAnInteger {
        /// The variable.
        name: String,
        /// `offset` or `length`.
        what: &'static str,
        /// 1-based line of the expression.
        line: usize,
        /// 1-based column of the expression.
        column: usize,
    },
    /// `${var:offset:-n}` ends before it starts (bash: "substring
    /// expression < 0").
    #[error("the substring of '{name}' at line {line}, column {column} ends before its offset")]
    NegativeSubstring {
        /// The variable.
        name: String,
        /// 1-based line of the expression.
        line: usize,
        /// 1-based column of the expression.
        column: usize,
    },
    /// Substitution of one object failed; `reason` says why.
    #[error("variable substitution failed for {object}: {reason}")]
    Object {
        /// `Kind/namespace/name` of the object.
        object: String,
        /// The failure.
        reason: Box<SubstituteError>,
    },
    /// The substituted object is no longer a single YAML document.
    #[error("{object}: the substituted YAML is invalid: {message}")]
    InvalidYaml {
        /// `Kind/namespace/name` of the object.
        object: String,
        /// The parser's message (position and reason).
        message: String,
    },
}

/// The data of one `postBuild.substituteFrom` entry, as the controller
/// fetched it. Its `Debug` output lists keys, never values.
#[derive(Clone, PartialEq, Eq)]
pub struct VarSource {
    /// `ConfigMap` or `Secret`.
    pub kind: SubstituteKind,
    /// The object's name, in the Kustomization's namespace.
    pub name: String,
    /// Whether a missing object is tolerated (treated as empty).
    pub optional: bool,
    /// The object's `data` (a ConfigMap's strings as bytes, a Secret's
    /// decoded bytes); `None` when the object does not exist.
    pub data: Option<BTreeMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for VarSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VarSource")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("optional", &self.optional)
            .field(
                "keys",
                &self.data.as_ref().map(|d| d.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

impl VarSource {
    /// Pairs a `substituteFrom` reference with the data fetched for it.
    pub fn new(reference: &SubstituteReference, data: Option<BTreeMap<String, Vec<u8>>>) -> Self {
        Self {
            kind: reference.kind,
            name: reference.name.clone(),
            optional: reference.optional.unwrap_or(false),
            data,
        }
    }
}

fn kind_name(kind: SubstituteKind) -> &'static str {
    match kind {
        SubstituteKind::ConfigMap => "ConfigMap",
        SubstituteKind::Secret => "Secret",
    }
}

/// Merges the variables of `postBuild`: `sources` in order (a later source
/// overrides an earlier one), then the inline `substitute` map, which wins.
/// Newlines are removed from every value, as upstream does.
///
/// # Errors
///
/// A missing source that is not optional, a Secret value that is not UTF-8,
/// or a variable name not matching [`VAR_NAME_PATTERN`] (ConfigMap keys such
/// as `app.name` are refused, as upstream refuses them).
pub fn vars_from(
    substitute: &BTreeMap<String, String>,
    sources: Vec<VarSource>,
) -> Result<BTreeMap<String, String>, SubstituteError> {
    let mut vars = BTreeMap::new();
    for source in sources {
        let Some(data) = source.data else {
            if source.optional {
                continue;
            }
            return Err(SubstituteError::SourceNotFound {
                kind: kind_name(source.kind),
                name: source.name,
            });
        };
        for (key, value) in data {
            let value = String::from_utf8(value).map_err(|_| SubstituteError::NotUtf8 {
                name: source.name.clone(),
                key: key.clone(),
            })?;
            vars.insert(key, value.replace('\n', ""));
        }
    }
    for (key, value) in substitute {
        vars.insert(key.clone(), value.replace('\n', ""));
    }
    validate_names(&vars)?;
    Ok(vars)
}

fn validate_names(vars: &BTreeMap<String, String>) -> Result<(), SubstituteError> {
    for name in vars.keys() {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic());
        if !first_ok || !chars.all(|c| c == '_' || c.is_ascii_alphanumeric()) {
            return Err(SubstituteError::InvalidVarName { name: name.clone() });
        }
    }
    Ok(())
}

/// Expands the `${var}` expressions of one YAML document (see the module
/// documentation for the syntax). An undefined variable without a default
/// renders empty, or is an error when `strict`, which kustomize-controller
/// v1.9 enables by default (`StrictPostBuildSubstitutions`).
///
/// # Errors
///
/// An invalid variable name, a malformed expression, or (strict) an
/// undefined variable.
pub fn substitute(
    yaml_doc: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, SubstituteError> {
    validate_names(vars)?;
    envsubst::render(yaml_doc, vars, strict)
}

/// Whether `obj` opts out of substitution with the label or annotation
/// `kustomize.toolkit.fluxcd.io/substitute: disabled` (case-insensitive).
/// All Flux CRDs carry that annotation, so a Kustomization that ships Flux
/// objects does not expand their `${var}`s.
pub fn is_disabled(obj: &Value) -> bool {
    ["labels", "annotations"].iter().any(|field| {
        obj.pointer(&format!("/metadata/{field}"))
            .and_then(|m| m.get(SUBSTITUTE_KEY))
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
    })
}

/// Runs substitution over built objects, in order.
///
/// With [`SubstituteStrategy::WithVariables`] (the default) nothing happens
/// when `vars` is empty, whatever the objects contain, as upstream skips
/// substitution when no variable was resolved; [`SubstituteStrategy::Always`]
/// substitutes anyway, so defaults (`${var:=x}`) apply and, in strict mode,
/// undefined variables are reported. Objects for which [`is_disabled`] holds
/// are returned unchanged.
///
/// # Errors
///
/// The first failing object, named as `Kind/namespace/name`: an invalid
/// variable name, a malformed expression, an undefined variable (strict),
/// or a result that is not exactly one YAML document.
pub fn substitute_objects(
    objects: Vec<Value>,
    vars: &BTreeMap<String, String>,
    strict: bool,
    strategy: SubstituteStrategy,
) -> Result<Vec<Value>, SubstituteError> {
    if vars.is_empty() && strategy == SubstituteStrategy::WithVariables {
        return Ok(objects);
    }
    validate_names(vars)?;
    objects
        .into_iter()
        .map(|obj| {
            if is_disabled(&obj) {
                return Ok(obj);
            }
            let object = object_ref(&obj);
            let rendered =
                envsubst::render(&to_yaml_document(&obj), vars, strict).map_err(|reason| {
                    SubstituteError::Object {
                        object: object.clone(),
                        reason: Box::new(reason),
                    }
                })?;
            let mut docs =
                parse_documents(&rendered).map_err(|e| SubstituteError::InvalidYaml {
                    object: object.clone(),
                    message: e.to_string(),
                })?;
            match (docs.pop(), docs.is_empty()) {
                (Some(doc), true) => Ok(doc),
                (None, _) => Err(SubstituteError::InvalidYaml {
                    object,
                    message: "the document is empty".to_string(),
                }),
                (Some(_), false) => Err(SubstituteError::InvalidYaml {
                    object,
                    message: "it holds more than one document".to_string(),
                }),
            }
        })
        .collect()
}

/// `Kind/namespace/name` (or `Kind/name` without a namespace), the way
/// Flux names objects in messages.
pub(crate) fn object_ref(obj: &Value) -> String {
    let field = |path: &str| obj.pointer(path).and_then(Value::as_str).unwrap_or("");
    let kind = field("/kind");
    let name = field("/metadata/name");
    match field("/metadata/namespace") {
        "" => format!("{kind}/{name}"),
        ns => format!("{kind}/{ns}/{name}"),
    }
}

#[cfg(test)]
mod tests;
