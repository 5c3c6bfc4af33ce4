//! `spec.proxySecretRef`: the HTTP(S) proxy a source is fetched through, in
//! Flux's Secret format (`address`, optional `username` and `password`).

use std::collections::BTreeMap;

use crate::{Error, Result};

/// A proxy read from a Secret. Never logged: `Debug` redacts the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// `http://host:port` or `https://host:port`.
    pub address: String,
    /// Basic credentials for the proxy (`Proxy-Authorization`).
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("address", &self.address)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(user, _)| user),
            )
            .finish()
    }
}

impl ProxyConfig {
    /// Reads the proxy from Secret data. `address` is required; `username`
    /// and `password` go together. SOCKS5 proxies, which upstream also
    /// accepts, are refused with a clear message: the HTTP client here speaks
    /// only HTTP CONNECT.
    pub fn from_secret(data: &BTreeMap<String, Vec<u8>>) -> Result<Self> {
        let text = |key: &str| -> Result<Option<String>> {
            data.get(key)
                .map(|v| {
                    String::from_utf8(v.clone()).map_err(|_| {
                        Error::InvalidSecret(format!("proxy key '{key}' is not valid UTF-8"))
                    })
                })
                .transpose()
        };
        let address = text("address")?
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| {
                Error::InvalidSecret("invalid proxy secret: key 'address' is missing".into())
            })?;
        let address = address.trim().to_string();
        let scheme = url::Url::parse(&address)
            .map_err(|e| Error::InvalidSecret(format!("invalid proxy address '{address}': {e}")))?
            .scheme()
            .to_string();
        if !matches!(scheme.as_str(), "http" | "https") {
            return Err(Error::InvalidSecret(format!(
                "proxy scheme '{scheme}' is not supported, use an http:// or https:// proxy address"
            )));
        }
        let credentials = match (text("username")?, text("password")?) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            _ => {
                return Err(Error::InvalidSecret(
                    "invalid proxy secret: 'username' and 'password' must be set together".into(),
                ));
            }
        };
        Ok(Self {
            address,
            credentials,
        })
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
    fn reads_address_and_credentials() {
        let proxy = ProxyConfig::from_secret(&data(&[
            ("address", "http://proxy:3128"),
            ("username", "u"),
            ("password", "hunter2"),
        ]))
        .unwrap();
        assert_eq!(proxy.address, "http://proxy:3128");
        assert_eq!(proxy.credentials, Some(("u".into(), "hunter2".into())));
        assert!(!format!("{proxy:?}").contains("hunter2"));
    }

    #[test]
    fn refuses_incomplete_or_unsupported_secrets() {
        let missing = ProxyConfig::from_secret(&data(&[])).unwrap_err();
        assert!(missing.to_string().contains("'address'"), "{missing}");
        let half = ProxyConfig::from_secret(&data(&[("address", "http://p:1"), ("username", "u")]))
            .unwrap_err();
        assert!(half.to_string().contains("together"), "{half}");
        let socks = ProxyConfig::from_secret(&data(&[("address", "socks5://p:1")])).unwrap_err();
        assert!(socks.to_string().contains("socks5"), "{socks}");
    }
}
