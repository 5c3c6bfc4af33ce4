//! SOPS decryption (`spec.decryption.provider: sops`) of built objects and
//! of kustomize generator inputs, with age keys. Pure functions: the
//! controller reads the decryption Secret and hands its data to
//! [`Keys::from_secret_data`].
//!
//! Files are decrypted exactly as `sops --decrypt` does: the data key is
//! recovered from an age stanza, each encrypted value is opened with
//! AES-256-GCM (its path is the associated data) and the document MAC is
//! recomputed and compared; any difference is refused.
//!
//! # Built objects and the MAC
//!
//! An encrypted manifest reaches [`decrypt_object`] after kustomize built
//! it: keys re-ordered, `namespace`, labels and name prefixes possibly
//! added. The MAC covers every value in the original order, so it cannot be
//! recomputed there, and Flux does not check it either. Every encrypted
//! value is still authenticated by AES-GCM, bound to its path, so a value
//! cannot be altered or moved to another key. A caller that wants the full
//! MAC check on manifests decrypts the files before the build with
//! [`decrypt_file`].
//!
//! # Secrecy
//!
//! Nothing here logs, and no error carries a decrypted value, a ciphertext
//! or a private key: errors name objects, keys, paths of keys and
//! recipients only.

mod keys;
mod sops;
mod sources;
mod tree;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

pub use keys::{AGE_KEY_EXTENSION, Keys, PGP_KEY_EXTENSION};
pub use sources::decrypt_generator_sources;

use crate::substitute::object_ref;
use tree::{Entry, Node};

/// Annotation that opts an object out of decryption (`Disabled`).
pub const DECRYPT_KEY: &str = "kustomize.toolkit.fluxcd.io/decrypt";

/// Everything that can make decryption fail.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// An encrypted Secret reached the apply step without decryption
    /// configured (the upstream message).
    #[error(
        "{object} is SOPS encrypted, configuring decryption is required for this secret to be reconciled"
    )]
    DecryptionRequired {
        /// `Kind/namespace/name` of the Secret.
        object: String,
    },
    /// An entry of the decryption Secret holds no usable key.
    #[error("failed to import '{entry}' data from sops decryption Secret '{secret}': {reason}")]
    ImportKey {
        /// The Secret data key (e.g. `identity.agekey`).
        entry: String,
        /// The Secret, as the caller named it.
        secret: String,
        /// What is wrong, without the key material.
        reason: String,
    },
    /// Decryption of an object failed; `reason` says why.
    #[error("failed to decrypt {object}: {reason}")]
    Object {
        /// `Kind/namespace/name` of the object.
        object: String,
        /// The failure.
        reason: Box<DecryptError>,
    },
    /// Decryption of a SOPS file held in a Secret's `data` entry failed.
    #[error("failed to decrypt {object} field '{field}': {reason}")]
    SecretField {
        /// `Kind/namespace/name` of the Secret.
        object: String,
        /// The data key.
        field: String,
        /// The failure.
        reason: Box<DecryptError>,
    },
    /// The encrypted file is not valid in its format.
    #[error("failed to load encrypted {format} data: {message}")]
    Load {
        /// `YAML`, `JSON`, `dotenv` or `binary`.
        format: &'static str,
        /// The parser's message.
        message: String,
    },
    /// A `secretGenerator` input file failed to decrypt.
    #[error("failed to decrypt generator input '{path}': {reason}")]
    Source {
        /// The file, relative to the artifact root.
        path: String,
        /// Why.
        reason: Box<DecryptError>,
    },
    /// The `sops` metadata is malformed.
    #[error("invalid sops metadata: {0}")]
    Metadata(String),
    /// A sops feature flux-rs does not implement.
    #[error("sops files using {0} are not supported")]
    UnsupportedRule(&'static str),
    /// A sops file format flux-rs does not implement.
    #[error("sops {0} files are not supported")]
    UnsupportedFormat(&'static str),
    /// No key could recover the data key.
    #[error("cannot get sops data key: {0}")]
    DataKey(String),
    /// A value that should be encrypted is not a sops value.
    #[error("the value at '{path}' is not a valid sops encrypted value")]
    MalformedValue {
        /// The value's path (`stringData:password:`).
        path: String,
    },
    /// AES-GCM refused a value: it was modified, moved to another key, or
    /// encrypted with another data key.
    #[error("the value at '{path}' failed authentication: it was modified or moved")]
    ValueAuthentication {
        /// The value's path.
        path: String,
    },
    /// A decrypted value does not parse as its declared type.
    #[error("the value at '{path}' does not match its declared type")]
    ValueType {
        /// The value's path.
        path: String,
    },
    /// The recomputed MAC differs from the stored one.
    #[error(
        "failed to verify sops data integrity: MAC mismatch (the file was modified after encryption)"
    )]
    MacMismatch,
    /// A decrypted value is binary but the output format needs text.
    #[error("the value at '{path}' is not valid UTF-8")]
    NotUtf8 {
        /// The value's path.
        path: String,
    },
    /// The decrypted tree cannot be written in the requested format.
    #[error("failed to emit decrypted {format} data: {message}")]
    Emit {
        /// The output format.
        format: &'static str,
        /// Why.
        message: String,
    },
}

/// The file formats `sops` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML, possibly several documents.
    Yaml,
    /// A JSON object.
    Json,
    /// `KEY=value` lines.
    Dotenv,
    /// Any bytes; encrypted, a JSON object with a single `data` value.
    Binary,
    /// INI, recognised so that an encrypted INI file is refused rather than
    /// passed through encrypted; not decrypted.
    Ini,
}

impl Format {
    /// The format `sops` picks for a file name (`.yaml`/`.yml`, `.json`,
    /// `.env`, `.ini`, anything else binary), plus Flux's rule that a
    /// `.dockerconfigjson` key is JSON. Flux reads a generator's `envs`
    /// files as dotenv when this says binary.
    pub fn for_path(path: &str) -> Self {
        if path.ends_with(".yaml") || path.ends_with(".yml") {
            Format::Yaml
        } else if path.ends_with(".json") || path.ends_with(".dockerconfigjson") {
            Format::Json
        } else if path.ends_with(".env") {
            Format::Dotenv
        } else if path.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
            Format::Binary => "binary",
            Format::Ini => "INI",
        }
    }

    /// Bytes only an encrypted file of this format contains (Flux's
    /// detection).
    fn marker(self) -> &'static [u8] {
        match self {
            Format::Yaml => b"mac: ENC[",
            Format::Json | Format::Binary => b"\"mac\": \"ENC[",
            Format::Dotenv => b"sops_mac=ENC[",
            Format::Ini => b"[sops]",
        }
    }

    fn detect(data: &[u8]) -> Option<Self> {
        [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini]
            .into_iter()
            .find(|f| contains(data, f.marker()))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Decrypts one file in `input` format and writes it in `output` format,
/// verifying the MAC.
fn decrypt_bytes(
    input: Format,
    output: Format,
    data: &[u8],
    keys: &Keys,
) -> Result<Vec<u8>, DecryptError> {
    let mut branches = tree::load(input, data)?;
    let meta = sops::extract_metadata(&mut branches, input == Format::Dotenv)?
        .ok_or_else(|| DecryptError::Metadata("sops metadata not found".to_string()))?;
    let key = keys.data_key(&meta)?;
    let mac = sops::decrypt_branches(&mut branches, &meta, &key)?;
    sops::verify_mac(&meta, &key, &mac)?;
    tree::emit(output, branches)
}

/// Decrypts a file written by `sops` (a kustomize generator input, or any
/// manifest before the build), in the same format, MAC verified. A file
/// without the format's encryption marker (`mac: ENC[` for YAML, ...) is
/// returned unchanged, as Flux leaves unencrypted files alone.
///
/// JSON, dotenv and binary output is byte for byte what
/// `sops --decrypt` prints; YAML output is the same data, formatted by
/// `serde_yaml_ng` and without comments.
///
/// # Errors
///
/// Malformed files, unsupported sops features (INI, Shamir key groups,
/// comment-based rules), no usable key, a value that fails authentication,
/// or a MAC mismatch.
pub fn decrypt_file(format: Format, data: &[u8], keys: &Keys) -> Result<Vec<u8>, DecryptError> {
    if !contains(data, format.marker()) {
        return Ok(data.to_vec());
    }
    decrypt_bytes(format, format, data, keys)
}

/// Whether `obj` opts out of decryption with the label or annotation
/// `kustomize.toolkit.fluxcd.io/decrypt: Disabled` (case-insensitive).
pub fn is_disabled(obj: &Value) -> bool {
    ["labels", "annotations"].iter().any(|field| {
        obj.pointer(&format!("/metadata/{field}"))
            .and_then(|m| m.get(DECRYPT_KEY))
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
    })
}

/// Whether `obj` carries SOPS metadata with a MAC at its top level.
fn is_encrypted(obj: &Value) -> bool {
    obj.get(sops::METADATA_KEY)
        .and_then(|m| m.get("mac"))
        .and_then(Value::as_str)
        .is_some_and(|mac| !mac.is_empty())
}

/// Decrypts a built object, as Flux's decryptor does:
///
/// - an object (of any kind) with top-level `sops` metadata has its
///   encrypted values decrypted and the `sops` key removed; the document MAC
///   is not checked (see the module documentation), each value is
///   authenticated;
/// - a Secret without it has each `data` entry that is a base64-encoded SOPS
///   file (from a `secretGenerator` over an encrypted file) decrypted, MAC
///   verified, and written in the format its key name implies;
/// - anything else, and objects for which [`is_disabled`] holds, is
///   returned unchanged.
///
/// # Errors
///
/// As [`decrypt_file`], wrapped with the object's `Kind/namespace/name`.
pub fn decrypt_object(obj: Value, keys: &Keys) -> Result<Value, DecryptError> {
    if is_disabled(&obj) {
        return Ok(obj);
    }
    let object = object_ref(&obj);
    if is_encrypted(&obj) {
        return decrypt_document(&obj, keys).map_err(|reason| DecryptError::Object {
            object,
            reason: Box::new(reason),
        });
    }
    if obj.get("kind").and_then(Value::as_str) != Some("Secret") {
        return Ok(obj);
    }
    let mut obj = obj;
    if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
        for (field, value) in data.iter_mut() {
            let Some(decoded) = value.as_str().and_then(|v| STANDARD.decode(v).ok()) else {
                continue;
            };
            let Some(input) = Format::detect(&decoded) else {
                continue;
            };
            let plain = decrypt_bytes(input, Format::for_path(field), &decoded, keys).map_err(
                |reason| DecryptError::SecretField {
                    object: object.clone(),
                    field: field.clone(),
                    reason: Box::new(reason),
                },
            )?;
            *value = Value::String(STANDARD.encode(plain));
        }
    }
    Ok(obj)
}

fn decrypt_document(obj: &Value, keys: &Keys) -> Result<Value, DecryptError> {
    let Node::Map(entries) = tree::from_json_value(obj) else {
        return Err(DecryptError::Metadata(
            "the object is not a mapping".to_string(),
        ));
    };
    let mut branches = vec![entries];
    let meta = sops::extract_metadata(&mut branches, false)?
        .ok_or_else(|| DecryptError::Metadata("sops metadata not found".to_string()))?;
    let key = keys.data_key(&meta)?;
    sops::decrypt_branches(&mut branches, &meta, &key)?;
    let entries: Vec<Entry> = branches.into_iter().next().unwrap_or_default();
    tree::to_json_value(Node::Map(entries), &mut Vec::new())
}

/// [`decrypt_object`] over every object, in order.
///
/// # Errors
///
/// The first object that fails.
pub fn decrypt_objects(objects: Vec<Value>, keys: &Keys) -> Result<Vec<Value>, DecryptError> {
    objects
        .into_iter()
        .map(|obj| decrypt_object(obj, keys))
        .collect()
}

/// The check Flux makes before applying: a `v1` Secret that still carries
/// `sops` metadata (decryption not configured) is refused, unless it opts
/// out with [`DECRYPT_KEY`].
///
/// # Errors
///
/// [`DecryptError::DecryptionRequired`] naming the Secret.
pub fn require_decrypted(obj: &Value) -> Result<(), DecryptError> {
    let is_secret = obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1");
    if is_secret && obj.get(sops::METADATA_KEY).is_some() && !is_disabled(obj) {
        return Err(DecryptError::DecryptionRequired {
            object: object_ref(obj),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
