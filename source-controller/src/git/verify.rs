//! `spec.verify`: OpenPGP signatures of the checked-out commit and/or tag,
//! checked against the public keys of the Secret in `verify.secretRef` (every
//! `*.asc` key, each may hold several armored keys), like upstream.

use std::collections::BTreeMap;
use std::path::Path;

use fluxrs_api::source::GitVerificationMode;
use git2::{ObjectType, Oid, Repository};
use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;

use crate::{Error, Result};

/// Reasons of a False `SourceVerified` condition, as upstream.
pub mod reasons {
    /// The commit's signature is missing or made by no trusted key.
    pub const INVALID_COMMIT_SIGNATURE: &str = "InvalidCommitSignature";
    /// The tag's signature is missing or made by no trusted key.
    pub const INVALID_TAG_SIGNATURE: &str = "InvalidTagSignature";
    /// The verification cannot run (Secret, mode).
    pub const VERIFICATION_ERROR: &str = "VerificationError";
}

/// Why a verification failed: the condition reason and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationFailure {
    /// One of [`reasons`].
    pub reason: &'static str,
    /// What to tell the user.
    pub message: String,
}

/// The trusted public keys.
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Reads every `*.asc` entry of the Secret. SSH signing keys (`*.sshpub`)
    /// are not supported yet and are refused when they are all there is.
    pub fn from_secret(name: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<Self> {
        let mut keys = Vec::new();
        for (entry, value) in data.iter().filter(|(k, _)| k.ends_with(".asc")) {
            let text = std::str::from_utf8(value)
                .map_err(|_| Error::InvalidSecret(format!("'{entry}' is not valid UTF-8")))?;
            for block in armor_blocks(text) {
                let (parsed, _) = SignedPublicKey::from_string_many(block).map_err(|e| {
                    Error::InvalidSecret(format!("'{entry}' holds no valid PGP public key: {e}"))
                })?;
                for key in parsed {
                    keys.push(key.map_err(|e| {
                        Error::InvalidSecret(format!(
                            "'{entry}' holds an invalid PGP public key: {e}"
                        ))
                    })?);
                }
            }
        }
        if keys.is_empty() {
            let ssh = data.keys().any(|k| k.ends_with(".sshpub"));
            return Err(Error::InvalidSecret(if ssh {
                format!(
                    "secret '{name}': SSH signature verification ('*.sshpub') is not supported yet"
                )
            } else {
                format!("secret '{name}' has no PGP public keys ('*.asc')")
            }));
        }
        Ok(Self { keys })
    }

    /// The key ID (upper-case hex, as upstream) of the trusted key whose
    /// primary key or a subkey made `signature` over `data`.
    fn signer(&self, signature: &str, data: &[u8]) -> Option<String> {
        let (signature, _) = DetachedSignature::from_string(signature).ok()?;
        self.keys.iter().find_map(|key| {
            let primary = signature.verify(&key.primary_key, data).is_ok();
            let subkey = || {
                key.public_subkeys.iter().any(|sub| {
                    sub.verify_bindings(&key.primary_key).is_ok()
                        && signature.verify(&sub.key, data).is_ok()
                })
            };
            (primary || subkey()).then(|| hex::encode_upper(key.primary_key.legacy_key_id()))
        })
    }
}

/// The armored blocks of `text`: `gpg --export --armor` of several keys, or
/// several exports pasted together, which the parser reads one at a time.
fn armor_blocks(text: &str) -> Vec<&str> {
    const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
    let starts: Vec<usize> = text.match_indices(BEGIN).map(|(i, _)| i).collect();
    if starts.is_empty() {
        return vec![text];
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| &text[start..starts.get(n + 1).copied().unwrap_or(text.len())])
        .collect()
}

/// Verifies the checkout in `dir` (commit `commit`, reached through tag `tag`
/// when the ref is a tag or semver range) in `mode`, and returns the
/// `SourceVerified` message.
pub fn verify_checkout(
    dir: &Path,
    commit: &str,
    tag: Option<&str>,
    mode: GitVerificationMode,
    keyring: &Keyring,
) -> std::result::Result<String, VerificationFailure> {
    let repo = Repository::open(dir).map_err(|e| error(format!("opening the checkout: {e}")))?;
    let (verify_tag, verify_head) = match mode {
        GitVerificationMode::Head | GitVerificationMode::LegacyHead => (false, true),
        GitVerificationMode::Tag => (true, false),
        GitVerificationMode::TagAndHEAD => (true, true),
    };
    let mut verified = Vec::new();
    if verify_tag {
        let tag = tag.ok_or_else(|| {
            error("cannot verify tag object's signature if a tag reference is not specified".into())
        })?;
        let signer = tag_signer(&repo, tag, keyring).map_err(|why| VerificationFailure {
            reason: reasons::INVALID_TAG_SIGNATURE,
            message: format!("signature verification of tag '{tag}' failed: {why}"),
        })?;
        verified.push(format!("tag '{tag}' with key '{signer}'"));
    }
    if verify_head {
        let signer = commit_signer(&repo, commit, keyring).map_err(|why| VerificationFailure {
            reason: reasons::INVALID_COMMIT_SIGNATURE,
            message: format!("signature verification of commit '{commit}' failed: {why}"),
        })?;
        verified.push(format!("commit '{commit}' with key '{signer}'"));
    }
    Ok(format!(
        "verified signature of\n\t- {}",
        verified.join("\n\t- ")
    ))
}

fn error(message: String) -> VerificationFailure {
    VerificationFailure {
        reason: reasons::VERIFICATION_ERROR,
        message,
    }
}

fn commit_signer(repo: &Repository, commit: &str, keyring: &Keyring) -> Result<String, String> {
    let oid = Oid::from_str(commit).map_err(|e| e.message().to_string())?;
    let (signature, data) = repo
        .extract_signature(&oid, None)
        .map_err(|_| "the commit is not signed".to_string())?;
    let signature = signature
        .as_str()
        .map_err(|_| "the signature is not text".to_string())?;
    keyring
        .signer(signature, &data)
        .ok_or_else(|| "no trusted key made the signature".to_string())
}

/// Annotated tags carry their PGP signature at the end of the message; the
/// signed data is the tag object up to it.
fn tag_signer(repo: &Repository, tag: &str, keyring: &Keyring) -> Result<String, String> {
    const BEGIN: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
    let reference = repo
        .find_reference(&format!("refs/tags/{tag}"))
        .map_err(|e| e.message().to_string())?;
    let target = reference
        .target()
        .ok_or_else(|| "the tag reference is symbolic".to_string())?;
    let odb = repo.odb().map_err(|e| e.message().to_string())?;
    let object = odb.read(target).map_err(|e| e.message().to_string())?;
    if object.kind() != ObjectType::Tag {
        return Err("it is a lightweight tag, which cannot be signed".into());
    }
    let raw = object.data();
    let start = raw
        .windows(BEGIN.len())
        .rposition(|w| w == BEGIN)
        .ok_or_else(|| "the tag is not signed".to_string())?;
    let signature =
        std::str::from_utf8(&raw[start..]).map_err(|_| "the signature is not text".to_string())?;
    keyring
        .signer(signature, &raw[..start])
        .ok_or_else(|| "no trusted key made the signature".to_string())
}
