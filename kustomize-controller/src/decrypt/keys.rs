//! Decryption keys from a Kustomization's `spec.decryption.secretRef`, and
//! recovery of a file's data key with them.

use std::collections::BTreeMap;
use std::io::Read;
use std::str::FromStr;

use age::armor::ArmoredReader;
use zeroize::Zeroizing;

use super::DecryptError;
use super::sops::{DataKey, Metadata};

/// The Secret data keys whose extension holds age identities.
pub const AGE_KEY_EXTENSION: &str = ".agekey";

/// The Secret data keys whose extension holds armored OpenPGP keys.
pub const PGP_KEY_EXTENSION: &str = ".asc";

/// The fixed Secret data keys of cloud KMS and Vault credentials.
const CLOUD_CREDENTIAL_KEYS: [&str; 4] = [
    "sops.aws-kms",
    "sops.azure-kv",
    "sops.gcp-kms",
    "sops.vault-token",
];

/// The private keys a Kustomization may decrypt with.
///
/// Only age X25519 identities are used. OpenPGP keys and cloud credentials
/// are recognised so that a failure can say they are not supported, but
/// never read.
pub struct Keys {
    identities: Vec<age::x25519::Identity>,
    unsupported: Vec<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("age_identities", &self.identities.len())
            .field("unsupported", &self.unsupported)
            .finish()
    }
}

/// Go's `filepath.Ext`: the suffix from the last `.` of the last element.
fn extension(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.rfind('.').map_or("", |i| &base[i..])
}

impl Keys {
    /// Reads the data of a decryption Secret (`secret` names it in errors):
    /// every entry with the `.agekey` extension holds age identities, one
    /// per line, blank lines and `#` comments ignored, as `age-keygen`
    /// writes them.
    ///
    /// # Errors
    ///
    /// An `.agekey` entry with a line that is not an age X25519 identity
    /// (plugin and post-quantum identities are not supported). The error
    /// names the entry and line, never the key.
    pub fn from_secret_data(
        secret: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, DecryptError> {
        let mut keys = Keys {
            identities: Vec::new(),
            unsupported: Vec::new(),
        };
        for (entry, value) in data {
            match extension(entry) {
                AGE_KEY_EXTENSION => {
                    let import_error = |reason: String| DecryptError::ImportKey {
                        entry: entry.clone(),
                        secret: secret.to_string(),
                        reason,
                    };
                    let text = Zeroizing::new(
                        String::from_utf8(value.clone())
                            .map_err(|_| import_error("not valid UTF-8".to_string()))?,
                    );
                    for (number, line) in text.lines().enumerate() {
                        let line = line.strip_suffix('\r').unwrap_or(line);
                        if line.is_empty() || line.starts_with('#') {
                            continue;
                        }
                        let identity = if line.starts_with("AGE-SECRET-KEY-1") {
                            age::x25519::Identity::from_str(line).map_err(|_| {
                                import_error(format!(
                                    "line {} is not a valid age identity",
                                    number + 1
                                ))
                            })?
                        } else if line.starts_with("AGE-PLUGIN-")
                            || line.starts_with("AGE-SECRET-KEY-PQ-1")
                        {
                            return Err(import_error(format!(
                                "line {}: age plugin and post-quantum identities are not supported",
                                number + 1
                            )));
                        } else {
                            return Err(import_error(format!(
                                "line {}: unknown identity type",
                                number + 1
                            )));
                        };
                        keys.identities.push(identity);
                    }
                }
                PGP_KEY_EXTENSION => keys.unsupported.push(format!("OpenPGP keys ('{entry}')")),
                _ if CLOUD_CREDENTIAL_KEYS.contains(&entry.as_str()) => {
                    keys.unsupported.push(format!("'{entry}' credentials"))
                }
                _ => {}
            }
        }
        Ok(keys)
    }

    /// Whether no age identity was found.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// The file's data key, from the first age stanza one of the identities
    /// opens (sops tries age before any other key type too).
    pub(super) fn data_key(&self, meta: &Metadata) -> Result<DataKey, DecryptError> {
        let identities = || {
            self.identities
                .iter()
                .map(|identity| identity as &dyn age::Identity)
        };
        let mut failures = Vec::new();
        for stanza in &meta.age {
            let reader = ArmoredReader::new(stanza.enc.as_bytes());
            let decrypted =
                age::Decryptor::new(reader).and_then(|decryptor| decryptor.decrypt(identities()));
            match decrypted {
                Ok(mut plaintext) => {
                    let mut key = Zeroizing::new(Vec::new());
                    plaintext.read_to_end(&mut key).map_err(|e| {
                        DecryptError::DataKey(format!(
                            "reading the data key encrypted to {}: {e}",
                            stanza.recipient
                        ))
                    })?;
                    if key.len() != 32 {
                        return Err(DecryptError::DataKey(format!(
                            "the data key encrypted to {} is not 32 bytes long",
                            stanza.recipient
                        )));
                    }
                    return Ok(key);
                }
                Err(age::DecryptError::NoMatchingKeys) => {}
                Err(e) => failures.push(format!("{}: {e}", stanza.recipient)),
            }
        }
        let recipients: Vec<&str> = meta.age.iter().map(|s| s.recipient.as_str()).collect();
        let mut reason = if meta.age.is_empty() {
            "the file has no age recipient".to_string()
        } else if failures.is_empty() {
            format!(
                "none of the {} age identities matches the file's recipients ({})",
                self.identities.len(),
                recipients.join(", ")
            )
        } else {
            format!("age decryption failed: {}", failures.join("; "))
        };
        if !meta.other_key_types.is_empty() {
            reason.push_str(&format!(
                "; the file's {} keys are not supported by flux-rs",
                meta.other_key_types.join(", ")
            ));
        }
        if !self.unsupported.is_empty() {
            reason.push_str(&format!(
                "; the decryption Secret's {} are not supported by flux-rs",
                self.unsupported.join(", ")
            ));
        }
        Err(DecryptError::DataKey(reason))
    }
}
