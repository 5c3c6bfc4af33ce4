//! The SOPS file format: its metadata, which values are encrypted, how each
//! value is decrypted (AES-256-GCM, the value's path as associated data) and
//! how the MAC is computed (SHA-512 over the cleartext values in document
//! order, stored encrypted with `lastmodified` as associated data).
//!
//! Follows getsops/sops v3.13 (`sops.go`, `aes/cipher.go`,
//! `stores/stores.go`, `stores/metadata.go`).

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use regex::Regex;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use super::DecryptError;
use super::tree::{Branches, Entry, Node, go_format_float_f, path_string};

/// The top-level key holding the metadata in YAML and JSON files.
pub(super) const METADATA_KEY: &str = "sops";

/// The prefix of the flattened metadata keys of dotenv files.
const FLAT_PREFIX: &str = "sops_";

/// Bytes hashed first when `mac_only_encrypted` is set, so such a MAC never
/// equals the MAC over all values (sha256 of "sops").
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// AES-256-GCM with sops' 32-byte nonces.
type Cipher = AesGcm<Aes256, U32>;

/// An age recipient of the data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AgeStanza {
    pub(super) recipient: String,
    /// The data key, encrypted to `recipient`, as an armored age file.
    pub(super) enc: String,
}

/// Which values of a document are encrypted (sops allows one rule per file).
#[derive(Debug, Clone)]
enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
}

/// What the controller needs from a file's `sops` metadata.
#[derive(Debug, Clone)]
pub(super) struct Metadata {
    pub(super) age: Vec<AgeStanza>,
    /// Master key types present that flux-rs cannot use (`pgp`, `kms`...).
    pub(super) other_key_types: Vec<&'static str>,
    last_modified: String,
    mac: String,
    rule: Rule,
    mac_only_encrypted: bool,
}

fn metadata_error(message: impl Into<String>) -> DecryptError {
    DecryptError::Metadata(message.into())
}

const OTHER_KEY_TYPES: [(&str, &str); 6] = [
    ("pgp", "pgp"),
    ("kms", "AWS KMS"),
    ("gcp_kms", "GCP KMS"),
    ("azure_kv", "Azure Key Vault"),
    ("hc_vault", "HashiCorp Vault"),
    ("hckms", "HuaweiCloud KMS"),
];

fn get<'a>(entries: &'a [Entry], key: &str) -> Option<&'a Node> {
    entries.iter().find_map(|e| match e {
        Entry::Pair(k, v) if k == key => Some(v),
        _ => None,
    })
}

fn get_str(entries: &[Entry], key: &str) -> Option<String> {
    match get(entries, key)? {
        Node::Str(s) => Some(s.clone()),
        Node::Int(i) => Some(i.to_string()),
        Node::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn is_set(entries: &[Entry], key: &str) -> bool {
    match get(entries, key) {
        Some(Node::Seq(items)) => !items.is_empty(),
        Some(Node::Null) | None => false,
        Some(_) => true,
    }
}

/// Go's `strconv.ParseBool`, as mapstructure's weak decoding uses it.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn age_stanzas(node: Option<&Node>) -> Result<Vec<AgeStanza>, DecryptError> {
    let Some(Node::Seq(items)) = node else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|item| {
            let Node::Map(entries) = item else {
                return Err(metadata_error("an age entry is not a mapping"));
            };
            Ok(AgeStanza {
                recipient: get_str(entries, "recipient").unwrap_or_default(),
                enc: get_str(entries, "enc")
                    .ok_or_else(|| metadata_error("an age entry has no 'enc'"))?,
            })
        })
        .collect()
}

fn compile(name: &str, pattern: &str) -> Result<Regex, DecryptError> {
    Regex::new(pattern).map_err(|_| metadata_error(format!("invalid {name} '{pattern}'")))
}

impl Metadata {
    fn from_entries(entries: &[Entry]) -> Result<Self, DecryptError> {
        let last_modified = get_str(entries, "lastmodified")
            .ok_or_else(|| metadata_error("'lastmodified' is missing"))?;
        let mac = get_str(entries, "mac").unwrap_or_default();
        let mac_only_encrypted = match get(entries, "mac_only_encrypted") {
            None | Some(Node::Null) => false,
            Some(Node::Bool(b)) => *b,
            Some(Node::Str(s)) => parse_go_bool(s)
                .ok_or_else(|| metadata_error("'mac_only_encrypted' is not a boolean"))?,
            Some(_) => return Err(metadata_error("'mac_only_encrypted' is not a boolean")),
        };

        let text = |key| get_str(entries, key).filter(|s| !s.is_empty());
        let mut rules = Vec::new();
        if let Some(s) = text("unencrypted_suffix") {
            rules.push(Rule::UnencryptedSuffix(s));
        }
        if let Some(s) = text("encrypted_suffix") {
            rules.push(Rule::EncryptedSuffix(s));
        }
        if let Some(s) = text("unencrypted_regex") {
            rules.push(Rule::UnencryptedRegex(compile("unencrypted_regex", &s)?));
        }
        if let Some(s) = text("encrypted_regex") {
            rules.push(Rule::EncryptedRegex(compile("encrypted_regex", &s)?));
        }
        for rule in ["unencrypted_comment_regex", "encrypted_comment_regex"] {
            if text(rule).is_some() {
                return Err(DecryptError::UnsupportedRule(rule));
            }
        }
        let rule = match rules.len() {
            0 => Rule::UnencryptedSuffix("_unencrypted".to_string()),
            1 => rules.remove(0),
            _ => {
                return Err(metadata_error(
                    "cannot use more than one of encrypted_suffix, unencrypted_suffix, \
                     encrypted_regex, unencrypted_regex, encrypted_comment_regex, or \
                     unencrypted_comment_regex in the same file",
                ));
            }
        };

        let flat_keys =
            OTHER_KEY_TYPES.iter().any(|(k, _)| is_set(entries, k)) || is_set(entries, "age");
        let group = if flat_keys {
            entries
        } else {
            match get(entries, "key_groups") {
                Some(Node::Seq(groups)) if groups.len() == 1 => match &groups[0] {
                    Node::Map(group) => group.as_slice(),
                    _ => return Err(metadata_error("a key group is not a mapping")),
                },
                Some(Node::Seq(groups)) if groups.len() > 1 => {
                    return Err(DecryptError::UnsupportedRule(
                        "key_groups (Shamir secret sharing)",
                    ));
                }
                _ => return Err(metadata_error("no keys found in file")),
            }
        };
        Ok(Self {
            age: age_stanzas(get(group, "age"))?,
            other_key_types: OTHER_KEY_TYPES
                .iter()
                .filter(|(k, _)| is_set(group, k))
                .map(|(_, name)| *name)
                .collect(),
            last_modified,
            mac,
            rule,
            mac_only_encrypted,
        })
    }

    /// sops' `shouldBeEncrypted` for a value at `path`.
    fn should_encrypt(&self, path: &[String]) -> bool {
        match &self.rule {
            Rule::UnencryptedSuffix(s) => !path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::UnencryptedRegex(r) => !path.iter().any(|p| r.is_match(p)),
            Rule::EncryptedRegex(r) => path.iter().any(|p| r.is_match(p)),
        }
    }
}

/// Removes the metadata from `branches` (YAML and JSON: the `sops` key, read
/// from the first document and dropped from all; dotenv: the flattened
/// `sops_*` keys) and parses it. `None` when the file is not encrypted.
pub(super) fn extract_metadata(
    branches: &mut Branches,
    flattened: bool,
) -> Result<Option<Metadata>, DecryptError> {
    let Some(first) = branches.first_mut() else {
        return Ok(None);
    };
    if flattened {
        let mut flat = Vec::new();
        first.retain(|entry| match entry {
            Entry::Pair(k, v) if k.starts_with(FLAT_PREFIX) => {
                flat.push((k[FLAT_PREFIX.len()..].to_string(), v.clone()));
                false
            }
            _ => true,
        });
        if flat.is_empty() {
            return Ok(None);
        }
        return Metadata::from_entries(&unflatten(flat)?).map(Some);
    }
    let mut found = None;
    for (index, branch) in branches.iter_mut().enumerate() {
        let mut result = Ok(());
        branch.retain(|entry| match entry {
            Entry::Pair(k, v) if k == METADATA_KEY => {
                if index == 0 {
                    result = match (v, &found) {
                        (_, Some(_)) => Err(metadata_error("found duplicate sops entry")),
                        (Node::Map(meta), None) => {
                            found = Some(meta.clone());
                            Ok(())
                        }
                        _ => Err(metadata_error("found sops entry that is not a mapping")),
                    };
                }
                false
            }
            _ => true,
        });
        result?;
    }
    found.map(|meta| Metadata::from_entries(&meta)).transpose()
}

/// One step of a flattened dotenv metadata key (`age__list_0__map_enc`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Key(String),
    Index(usize),
}

fn tokenize(key: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut rest = key;
    let mut is_index = false;
    loop {
        let separator = [("__map_", false), ("__list_", true)]
            .into_iter()
            .filter_map(|(sep, index)| rest.find(sep).map(|at| (at, sep.len(), index)))
            .min();
        let token = separator.map_or(rest, |(at, _, _)| &rest[..at]);
        // Like sops (`strconv.Atoi` with the error ignored), a bad index is 0.
        steps.push(if is_index {
            Step::Index(token.parse().unwrap_or(0))
        } else {
            Step::Key(token.to_string())
        });
        let Some((at, len, index)) = separator else {
            return steps;
        };
        rest = &rest[at + len..];
        is_index = index;
    }
}

/// Rebuilds the nested metadata from sops' flattened keys.
fn unflatten(flat: Vec<(String, Node)>) -> Result<Vec<Entry>, DecryptError> {
    #[derive(Default)]
    struct Tree {
        value: Option<Node>,
        children: std::collections::BTreeMap<Step, Tree>,
    }
    fn build(tree: Tree) -> Result<Node, DecryptError> {
        if let Some(v) = tree.value {
            return if tree.children.is_empty() {
                Ok(v)
            } else {
                Err(metadata_error("type mismatch in flattened metadata"))
            };
        }
        let lists = tree
            .children
            .keys()
            .filter(|k| matches!(k, Step::Index(_)))
            .count();
        if lists > 0 && lists != tree.children.len() {
            return Err(metadata_error("type mismatch in flattened metadata"));
        }
        let mut entries = Vec::new();
        let mut items = Vec::new();
        for (step, child) in tree.children {
            let node = build(child)?;
            match step {
                Step::Key(k) => entries.push(Entry::Pair(k, node)),
                Step::Index(_) => items.push(node),
            }
        }
        Ok(if lists > 0 {
            Node::Seq(items)
        } else {
            Node::Map(entries)
        })
    }
    let mut root = Tree::default();
    for (key, value) in flat {
        let mut node = &mut root;
        for step in tokenize(&key) {
            node = node.children.entry(step).or_default();
        }
        if node.value.replace(value).is_some() {
            return Err(metadata_error("duplicate value in flattened metadata"));
        }
    }
    match build(root)? {
        Node::Map(entries) => Ok(entries),
        _ => Err(metadata_error("flattened metadata is not a mapping")),
    }
}

/// The data key (32 bytes), wiped from memory when dropped.
pub(super) type DataKey = Zeroizing<Vec<u8>>;

/// Decrypts one `ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]` value;
/// returns its type and cleartext bytes. An empty string is an empty string
/// (sops does not encrypt empty values).
fn decrypt_value(
    value: &str,
    key: &DataKey,
    aad: &str,
) -> Result<(String, Zeroizing<Vec<u8>>), ValueError> {
    if value.is_empty() {
        return Ok(("str".to_string(), Zeroizing::new(Vec::new())));
    }
    let body = value
        .strip_prefix("ENC[AES256_GCM,data:")
        .and_then(|s| s.strip_suffix(']'))
        .ok_or(ValueError::Malformed)?;
    let (data, rest) = body.split_once(",iv:").ok_or(ValueError::Malformed)?;
    let (iv, rest) = rest.split_once(",tag:").ok_or(ValueError::Malformed)?;
    let (tag, kind) = rest.split_once(",type:").ok_or(ValueError::Malformed)?;
    let decode = |s: &str| STANDARD.decode(s).map_err(|_| ValueError::Malformed);
    let mut ciphertext = decode(data)?;
    let iv = decode(iv)?;
    ciphertext.extend(decode(tag)?);
    if iv.len() != 32 || key.len() != 32 {
        return Err(ValueError::Malformed);
    }
    let cipher = Cipher::new_from_slice(key).map_err(|_| ValueError::Malformed)?;
    let plaintext = cipher
        .decrypt(
            Nonce::<U32>::from_slice(&iv),
            Payload {
                msg: &ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| ValueError::Authentication)?;
    Ok((kind.to_string(), Zeroizing::new(plaintext)))
}

/// Why one value could not be decrypted (never its content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueError {
    Malformed,
    Authentication,
    Type,
}

impl ValueError {
    fn at(self, path: &[String]) -> DecryptError {
        let path = path_string(path);
        match self {
            ValueError::Malformed => DecryptError::MalformedValue { path },
            ValueError::Authentication => DecryptError::ValueAuthentication { path },
            ValueError::Type => DecryptError::ValueType { path },
        }
    }
}

/// The typed value of decrypted bytes (`aes/cipher.go` `Decrypt`).
fn typed(kind: &str, plaintext: &[u8]) -> Result<Node, ValueError> {
    let text = || std::str::from_utf8(plaintext).map_err(|_| ValueError::Type);
    Ok(match kind {
        "str" => match std::str::from_utf8(plaintext) {
            Ok(s) => Node::Str(s.to_string()),
            Err(_) => Node::Bytes(plaintext.to_vec()),
        },
        "int" => Node::Int(text()?.parse().map_err(|_| ValueError::Type)?),
        "float" => Node::Float(text()?.parse().map_err(|_| ValueError::Type)?),
        "bool" => Node::Bool(parse_go_bool(text()?).ok_or(ValueError::Type)?),
        "bytes" => Node::Bytes(plaintext.to_vec()),
        "time" => Node::Str(text()?.to_string()),
        _ => return Err(ValueError::Type),
    })
}

/// sops' `ToBytes`: what the MAC hashes for a value.
fn mac_bytes(node: &Node) -> Option<Vec<u8>> {
    Some(match node {
        Node::Str(s) => s.as_bytes().to_vec(),
        Node::Bytes(b) => b.clone(),
        Node::Int(i) => i.to_string().into_bytes(),
        Node::Float(f) => go_format_float_f(*f).into_bytes(),
        Node::Bool(true) => b"True".to_vec(),
        Node::Bool(false) => b"False".to_vec(),
        Node::Null | Node::Seq(_) | Node::Map(_) => return None,
    })
}

struct Walker<'a> {
    meta: &'a Metadata,
    key: &'a DataKey,
    hash: Sha512,
}

impl Walker<'_> {
    fn node(&mut self, node: &mut Node, path: &mut Vec<String>) -> Result<(), DecryptError> {
        match node {
            Node::Map(entries) => self.entries(entries, path),
            Node::Seq(items) => items.iter_mut().try_for_each(|n| self.node(n, path)),
            Node::Null => Ok(()),
            leaf => {
                let encrypted = self.meta.should_encrypt(path);
                if encrypted {
                    let Node::Str(value) = &*leaf else {
                        return Err(ValueError::Malformed.at(path));
                    };
                    let (kind, plaintext) = decrypt_value(value, self.key, &path_string(path))
                        .map_err(|e| e.at(path))?;
                    *leaf = typed(&kind, &plaintext).map_err(|e| e.at(path))?;
                }
                if (!self.meta.mac_only_encrypted || encrypted)
                    && let Some(bytes) = mac_bytes(leaf)
                {
                    self.hash.update(Zeroizing::new(bytes).as_slice());
                }
                Ok(())
            }
        }
    }

    fn entries(
        &mut self,
        entries: &mut [Entry],
        path: &mut Vec<String>,
    ) -> Result<(), DecryptError> {
        for entry in entries {
            match entry {
                Entry::Pair(key, value) => {
                    path.push(key.clone());
                    self.node(value, path)?;
                    path.pop();
                }
                Entry::Comment(comment) => {
                    // Comments are not in the MAC; one that does not decrypt
                    // was not encrypted (older sops), as sops assumes.
                    if self.meta.should_encrypt(path)
                        && let Ok((kind, plaintext)) =
                            decrypt_value(comment, self.key, &path_string(path))
                        && kind == "comment"
                        && let Ok(text) = std::str::from_utf8(&plaintext)
                    {
                        *comment = text.to_string();
                    }
                }
            }
        }
        Ok(())
    }
}

/// Go's `time.Time.Format(time.RFC3339)` of a parsed RFC 3339 timestamp:
/// fractional seconds dropped, a zero offset written `Z`. The MAC's
/// associated data is this re-formatted `lastmodified`.
fn normalize_rfc3339(s: &str) -> String {
    let Some(t) = s.find(['T', 't']) else {
        return s.to_string();
    };
    let (date, time) = s.split_at(t + 1);
    let zone_at = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let clock = clock.split('.').next().unwrap_or(clock);
    let zone = match zone {
        "z" | "+00:00" | "-00:00" => "Z",
        other => other,
    };
    format!("{}T{clock}{zone}", &date[..date.len() - 1])
}

/// Decrypts every encrypted value of `branches` in place and returns the
/// MAC sops would compute over them (uppercase hex SHA-512).
pub(super) fn decrypt_branches(
    branches: &mut Branches,
    meta: &Metadata,
    key: &DataKey,
) -> Result<String, DecryptError> {
    let mut walker = Walker {
        meta,
        key,
        hash: Sha512::new(),
    };
    if meta.mac_only_encrypted {
        walker.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mut path = Vec::new();
    for branch in branches.iter_mut() {
        walker.entries(branch, &mut path)?;
    }
    Ok(hex::encode_upper(walker.hash.finalize()))
}

/// Compares the document's stored MAC with `computed`, as `sops --decrypt`
/// does; refuses on any difference.
pub(super) fn verify_mac(
    meta: &Metadata,
    key: &DataKey,
    computed: &str,
) -> Result<(), DecryptError> {
    if meta.mac.is_empty() {
        return Err(DecryptError::MacMismatch);
    }
    let aad = normalize_rfc3339(&meta.last_modified);
    let (_, stored) = decrypt_value(&meta.mac, key, &aad).map_err(|e| match e {
        ValueError::Authentication => DecryptError::MacMismatch,
        other => other.at(&["sops".to_string(), "mac".to_string()]),
    })?;
    if stored.as_slice() == computed.as_bytes() {
        Ok(())
    } else {
        Err(DecryptError::MacMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattened_dotenv_metadata_unflattens() {
        let flat = vec![
            (
                "age__list_0__map_recipient".to_string(),
                Node::Str("age1x".into()),
            ),
            ("age__list_0__map_enc".to_string(), Node::Str("ENC".into())),
            ("age__list_1__map_enc".to_string(), Node::Str("ENC2".into())),
            (
                "lastmodified".to_string(),
                Node::Str("2024-01-01T00:00:00Z".into()),
            ),
        ];
        let entries = unflatten(flat).unwrap();
        let meta = Metadata::from_entries(&entries).unwrap();
        assert_eq!(meta.age.len(), 2);
        assert_eq!(meta.age[0].recipient, "age1x");
        assert_eq!(meta.age[1].enc, "ENC2");
    }

    #[test]
    fn flattened_keys_tokenize_like_sops() {
        assert_eq!(
            tokenize("key_groups__list_0__map_age__list_12__map_enc"),
            vec![
                Step::Key("key_groups".into()),
                Step::Index(0),
                Step::Key("age".into()),
                Step::Index(12),
                Step::Key("enc".into()),
            ]
        );
        assert_eq!(tokenize("mac"), vec![Step::Key("mac".into())]);
    }

    #[test]
    fn lastmodified_is_reformatted_like_go() {
        assert_eq!(
            normalize_rfc3339("2024-05-01T10:00:00Z"),
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(
            normalize_rfc3339("2024-05-01T10:00:00.123Z"),
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(
            normalize_rfc3339("2024-05-01T10:00:00+00:00"),
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(
            normalize_rfc3339("2024-05-01T10:00:00.5+02:00"),
            "2024-05-01T10:00:00+02:00"
        );
    }

    #[test]
    fn malformed_values_are_refused_without_echoing_them() {
        let key = Zeroizing::new(vec![0u8; 32]);
        for value in ["plain", "ENC[AES256_GCM,data:%%,iv:x,tag:y,type:str]"] {
            assert_eq!(decrypt_value(value, &key, "a:"), Err(ValueError::Malformed));
        }
    }

    #[test]
    fn typed_values_follow_sops_cipher() {
        assert_eq!(typed("int", b"42"), Ok(Node::Int(42)));
        assert_eq!(typed("bool", b"True"), Ok(Node::Bool(true)));
        assert_eq!(typed("float", b"0.25"), Ok(Node::Float(0.25)));
        assert_eq!(typed("str", &[0xff]), Ok(Node::Bytes(vec![0xff])));
        assert_eq!(typed("comment", b"x"), Err(ValueError::Type));
    }
}
