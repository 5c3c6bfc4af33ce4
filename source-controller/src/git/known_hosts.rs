//! SSH host key verification against a Secret's `known_hosts`, which Flux makes
//! mandatory: a host whose key is not listed is refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// One usable line of a known_hosts file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    hosts: HostPattern,
    key_type: String,
    key: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    /// Comma-separated names as written, e.g. `github.com,140.82.112.3`.
    Plain(Vec<String>),
    /// `|1|<salt>|<hmac>`: HMAC-SHA1 of the host name keyed by the salt.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

/// Parsed known_hosts; lines that are comments, markers or malformed are skipped.
#[derive(Clone, Debug, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

impl KnownHosts {
    /// Parses the text of a known_hosts file.
    pub fn parse(text: &str) -> Self {
        let entries = text.lines().filter_map(parse_line).collect();
        Self { entries }
    }

    /// Whether the file has no usable entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `key` (the raw key blob) of `key_type` is listed for `host` on `port`.
    pub fn verify(&self, host: &str, port: u16, key_type: &str, key: &[u8]) -> bool {
        let names = host_names(host, port);
        self.entries
            .iter()
            .filter(|e| e.key_type == key_type && e.key == key)
            .any(|e| names.iter().any(|name| e.hosts.matches(name)))
    }
}

/// The names a host is listed under: `host` on port 22, `[host]:port` otherwise.
fn host_names(host: &str, port: u16) -> Vec<String> {
    if port == 22 {
        vec![host.to_string(), format!("[{host}]:22")]
    } else {
        vec![format!("[{host}]:{port}")]
    }
}

impl HostPattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Plain(names) => names.iter().any(|n| n == name),
            Self::Hashed { salt, hash } => {
                let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
        }
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let hosts = fields.next()?;
    let key_type = fields.next()?.to_string();
    let key = STANDARD.decode(fields.next()?).ok()?;
    let hosts = match hosts.strip_prefix("|1|") {
        Some(hashed) => {
            let (salt, hash) = hashed.split_once('|')?;
            HostPattern::Hashed {
                salt: STANDARD.decode(salt).ok()?,
                hash: STANDARD.decode(hash).ok()?,
            }
        }
        None => HostPattern::Plain(hosts.split(',').map(str::to_string).collect()),
    };
    Some(Entry {
        hosts,
        key_type,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn key() -> Vec<u8> {
        STANDARD.decode(KEY).unwrap()
    }

    #[test]
    fn plain_entries_match_host_and_port_forms() {
        let hosts = KnownHosts::parse(&format!(
            "# comment\ngithub.com,1.2.3.4 ssh-ed25519 {KEY}\n[git.local]:2222 ssh-ed25519 {KEY}\n"
        ));
        assert!(hosts.verify("github.com", 22, "ssh-ed25519", &key()));
        assert!(hosts.verify("1.2.3.4", 22, "ssh-ed25519", &key()));
        assert!(hosts.verify("git.local", 2222, "ssh-ed25519", &key()));
        assert!(!hosts.verify("git.local", 22, "ssh-ed25519", &key()));
        assert!(!hosts.verify("github.com", 22, "ssh-rsa", &key()));
        assert!(!hosts.verify("github.com", 22, "ssh-ed25519", b"other"));
    }

    #[test]
    fn hashed_entries_match() {
        let salt = b"0123456789abcdef0123";
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2022");
        let hash = mac.finalize().into_bytes();
        let line = format!(
            "|1|{}|{} ssh-ed25519 {KEY}",
            STANDARD.encode(salt),
            STANDARD.encode(hash)
        );
        let hosts = KnownHosts::parse(&line);
        assert!(hosts.verify("127.0.0.1", 2022, "ssh-ed25519", &key()));
        assert!(!hosts.verify("127.0.0.1", 2023, "ssh-ed25519", &key()));
    }

    #[test]
    fn garbage_gives_no_entries() {
        assert!(KnownHosts::parse("not a known hosts file\n@cert-authority x y z").is_empty());
    }
}
