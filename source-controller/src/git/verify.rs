//! `spec.verify`: signatures of the fetched commit and/or tag, checked
//! against the public keys of the Secret in `verify.secretRef`, like upstream:
//! OpenPGP keys in every `*.asc` entry (each may hold several armored keys)
//! and SSH keys in every `*.sshpub` entry (`authorized_keys` lines), for
//! commits and tags signed with `gpg.format=ssh` (SSHSIG, namespace `git`).

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

/// First line of an SSH signature (`ssh-keygen -Y sign`, `git -c gpg.format=ssh`).
const SSH_SIGNATURE: &str = "-----BEGIN SSH SIGNATURE-----";
/// First line of an armored OpenPGP signature.
const PGP_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
/// The SSHSIG namespace Git signs commits and tags in.
const GIT_NAMESPACE: &str = "git";

/// The trusted public keys.
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    ssh_keys: Vec<ssh_key::PublicKey>,
}

impl Keyring {
    /// Reads every `*.asc` (OpenPGP) and `*.sshpub` (SSH) entry of the
    /// Secret; a Secret with neither is refused.
    pub fn from_secret(name: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<Self> {
        let keys = pgp_keys(data)?;
        let ssh_keys = ssh_keys(data)?;
        if keys.is_empty() && ssh_keys.is_empty() {
            return Err(Error::InvalidSecret(format!(
                "secret '{name}' has no PGP ('*.asc') or SSH ('*.sshpub') public keys"
            )));
        }
        Ok(Self { keys, ssh_keys })
    }

    /// The ID of the trusted key that made `signature` over `data`: the key ID
    /// (upper-case hex) of an OpenPGP key, the `SHA256:` fingerprint of an
    /// SSH key, as upstream reports them.
    fn signer(&self, signature: &str, data: &[u8]) -> Option<String> {
        if signature.trim_start().starts_with(SSH_SIGNATURE) {
            self.ssh_signer(signature, data)
        } else {
            self.pgp_signer(signature, data)
        }
    }

    fn ssh_signer(&self, signature: &str, data: &[u8]) -> Option<String> {
        let signature = ssh_key::SshSig::from_pem(signature.trim()).ok()?;
        self.ssh_keys
            .iter()
            .find(|key| key.verify(GIT_NAMESPACE, data, &signature).is_ok())
            .map(|key| key.fingerprint(ssh_key::HashAlg::Sha256).to_string())
    }

    /// The key ID (upper-case hex, as upstream) of the trusted OpenPGP key
    /// whose primary key or a subkey made `signature` over `data`.
    fn pgp_signer(&self, signature: &str, data: &[u8]) -> Option<String> {
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

/// The OpenPGP keys of every `*.asc` entry.
fn pgp_keys(data: &BTreeMap<String, Vec<u8>>) -> Result<Vec<SignedPublicKey>> {
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
                    Error::InvalidSecret(format!("'{entry}' holds an invalid PGP public key: {e}"))
                })?);
            }
        }
    }
    Ok(keys)
}

/// The SSH keys of every `*.sshpub` entry, in `authorized_keys` format (one
/// key a line; comments, blank lines and options allowed).
fn ssh_keys(data: &BTreeMap<String, Vec<u8>>) -> Result<Vec<ssh_key::PublicKey>> {
    let mut keys = Vec::new();
    for (entry, value) in data.iter().filter(|(k, _)| k.ends_with(".sshpub")) {
        let text = std::str::from_utf8(value)
            .map_err(|_| Error::InvalidSecret(format!("'{entry}' is not valid UTF-8")))?;
        for line in ssh_key::AuthorizedKeys::new(text) {
            let line = line.map_err(|e| {
                Error::InvalidSecret(format!("'{entry}' holds an invalid SSH public key: {e}"))
            })?;
            keys.push(line.public_key().clone());
        }
    }
    Ok(keys)
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

/// Annotated tags carry their signature (OpenPGP or SSH) at the end of the
/// message; the signed data is the tag object up to it.
fn tag_signer(repo: &Repository, tag: &str, keyring: &Keyring) -> Result<String, String> {
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
    let start = [PGP_SIGNATURE, SSH_SIGNATURE]
        .iter()
        .filter_map(|begin| {
            let begin = begin.as_bytes();
            raw.windows(begin.len()).rposition(|w| w == begin)
        })
        .max()
        .ok_or_else(|| "the tag is not signed".to_string())?;
    let signature =
        std::str::from_utf8(&raw[start..]).map_err(|_| "the signature is not text".to_string())?;
    keyring
        .signer(signature, &raw[..start])
        .ok_or_else(|| "no trusted key made the signature".to_string())
}
