//! Git credentials from a GitRepository's `spec.secretRef`, in Flux's Secret
//! format: `username`/`password`, `bearerToken`, `ca.crt` and a client
//! certificate (`tls.crt` + `tls.key`) for HTTPS, or `identity` (+ `password`
//! as its passphrase) with a mandatory `known_hosts` for SSH.

use std::collections::BTreeMap;

use super::http::{ClientIdentity, HttpOptions};
use super::known_hosts::KnownHosts;
use crate::{Error, Result};

/// SSH key authentication.
#[derive(Clone)]
pub struct SshKey {
    /// Private key (OpenSSH or PEM).
    pub identity: String,
    /// Passphrase of the key, if encrypted.
    pub passphrase: Option<String>,
}

/// Everything a fetch may authenticate with. Never logged: `Debug` is redacted.
#[derive(Clone, Default)]
pub struct GitAuth {
    /// HTTP basic auth.
    pub basic: Option<(String, String)>,
    /// HTTP bearer token.
    pub bearer_token: Option<String>,
    /// SSH private key.
    pub ssh_key: Option<SshKey>,
    /// Accepted SSH host keys.
    pub known_hosts: Option<KnownHosts>,
    /// PEM CA certificate(s) trusted for HTTPS on top of the system roots.
    pub ca_cert: Option<Vec<u8>>,
    /// TLS client certificate for HTTPS.
    pub client_identity: Option<ClientIdentity>,
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAuth")
            .field("basic", &self.basic.as_ref().map(|_| "<redacted>"))
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("ssh_key", &self.ssh_key.as_ref().map(|_| "<redacted>"))
            .field("known_hosts", &self.known_hosts.is_some())
            .field("ca_cert", &self.ca_cert.is_some())
            .field("client_identity", &self.client_identity.is_some())
            .finish()
    }
}

impl GitAuth {
    /// Reads credentials from Secret data for a repository reached over
    /// `scheme` (`https`, `http` or `ssh`). An SSH Secret without `identity` or
    /// `known_hosts` is refused, as upstream does.
    pub fn from_secret(scheme: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<Self> {
        let text = |key: &str| -> Result<Option<String>> {
            data.get(key)
                .map(|v| {
                    String::from_utf8(v.clone()).map_err(|_| {
                        Error::InvalidSecret(format!("key '{key}' is not valid UTF-8"))
                    })
                })
                .transpose()
        };
        let mut auth = GitAuth::default();
        if scheme == "ssh" {
            let identity = text("identity")?.ok_or_else(|| {
                Error::InvalidSecret("SSH authentication requires the key 'identity'".into())
            })?;
            let known_hosts = text("known_hosts")?.ok_or_else(|| {
                Error::InvalidSecret("SSH authentication requires the key 'known_hosts'".into())
            })?;
            let known_hosts = KnownHosts::parse(&known_hosts);
            if known_hosts.is_empty() {
                return Err(Error::InvalidSecret(
                    "'known_hosts' has no valid entry".into(),
                ));
            }
            auth.ssh_key = Some(SshKey {
                identity,
                passphrase: text("password")?,
            });
            auth.known_hosts = Some(known_hosts);
            return Ok(auth);
        }
        auth.ca_cert = data.get("ca.crt").or_else(|| data.get("caFile")).cloned();
        auth.bearer_token = text("bearerToken")?;
        auth.client_identity = match (data.get("tls.crt"), data.get("tls.key")) {
            (Some(cert), Some(key)) => Some(ClientIdentity {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None) => None,
            _ => {
                return Err(Error::InvalidSecret(
                    "a TLS client certificate needs both 'tls.crt' and 'tls.key'".into(),
                ));
            }
        };
        match (text("username")?, text("password")?) {
            (Some(username), Some(password)) => auth.basic = Some((username, password)),
            (Some(_), None) | (None, Some(_)) if auth.bearer_token.is_none() => {
                return Err(Error::InvalidSecret(
                    "basic authentication requires both 'username' and 'password'".into(),
                ));
            }
            _ => {}
        }
        Ok(auth)
    }

    /// The HTTP(S) part of these credentials, for the Git HTTP transport.
    pub fn http_options(&self) -> HttpOptions {
        HttpOptions {
            ca_cert: self.ca_cert.clone(),
            client_identity: self.client_identity.clone(),
            basic: self.basic.clone(),
            bearer_token: self.bearer_token.clone(),
            proxy: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn https_basic_and_bearer() {
        let auth =
            GitAuth::from_secret("https", &data(&[("username", "u"), ("password", "p")])).unwrap();
        assert_eq!(auth.basic, Some(("u".into(), "p".into())));
        let auth = GitAuth::from_secret("https", &data(&[("bearerToken", "t")])).unwrap();
        assert_eq!(auth.bearer_token.as_deref(), Some("t"));
        assert!(GitAuth::from_secret("https", &data(&[("username", "u")])).is_err());
    }

    #[test]
    fn client_certificates_need_both_halves() {
        let auth =
            GitAuth::from_secret("https", &data(&[("tls.crt", "c"), ("tls.key", "k")])).unwrap();
        assert!(auth.client_identity.is_some());
        let err = GitAuth::from_secret("https", &data(&[("tls.crt", "c")])).unwrap_err();
        assert!(err.to_string().contains("'tls.key'"), "{err}");
    }

    #[test]
    fn ssh_requires_identity_and_known_hosts() {
        let err = GitAuth::from_secret("ssh", &data(&[("identity", "k")])).unwrap_err();
        assert!(err.to_string().contains("known_hosts"), "{err}");
        let err = GitAuth::from_secret("ssh", &data(&[("known_hosts", "x")])).unwrap_err();
        assert!(err.to_string().contains("identity"), "{err}");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let auth = GitAuth::from_secret(
            "https",
            &data(&[("username", "user"), ("password", "hunter2")]),
        )
        .unwrap();
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}
