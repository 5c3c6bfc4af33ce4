//! `create secret git`: credentials a GitRepository's `secretRef` points to —
//! `username`/`password` for HTTP(S), or `identity` (+ `password` as its
//! passphrase) and `known_hosts` for SSH. The known_hosts entries are the
//! lines of `--known-hosts-file` that match the URL's host (plain or
//! hashed), so a whole `~/.ssh/known_hosts` can be given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use hmac::{Hmac, Mac};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta};
use sha1::Sha1;

use super::{CreateCommon, server_side_apply};
use crate::error::{Error, Result};
use crate::kube::Session;
use crate::output::log;

/// Arguments of `create secret git`.
#[derive(Debug, Args)]
pub struct SecretGitArgs {
    /// Name of the Secret.
    pub name: String,
    /// The repository URL the credentials are for (http, https or ssh).
    #[arg(long)]
    pub url: url::Url,
    /// Basic auth user name (HTTP/S).
    #[arg(short, long)]
    pub username: Option<String>,
    /// Basic auth password (HTTP/S), or the private key's passphrase (SSH).
    #[arg(short, long)]
    pub password: Option<String>,
    /// SSH private key file.
    #[arg(long, value_name = "PATH")]
    pub private_key_file: Option<PathBuf>,
    /// known_hosts file to take the URL host's keys from (SSH).
    #[arg(long, value_name = "PATH")]
    pub known_hosts_file: Option<PathBuf>,
    #[command(flatten)]
    pub common: CreateCommon,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The Secret's keys and values for `args`.
fn secret_data(args: &SecretGitArgs) -> Result<BTreeMap<String, String>> {
    match args.url.scheme() {
        "http" | "https" => basic_auth(args),
        "ssh" => ssh(args),
        other => Err(Error::InvalidArgument(format!(
            "unsupported URL scheme {other:?}, use http, https or ssh"
        ))),
    }
}

fn basic_auth(args: &SecretGitArgs) -> Result<BTreeMap<String, String>> {
    let (Some(username), Some(password)) = (&args.username, &args.password) else {
        return Err(Error::InvalidArgument(
            "--username and --password are required for http(s) URLs".into(),
        ));
    };
    Ok(BTreeMap::from([
        ("username".into(), username.clone()),
        ("password".into(), password.clone()),
    ]))
}

fn ssh(args: &SecretGitArgs) -> Result<BTreeMap<String, String>> {
    let key_file = args.private_key_file.as_ref().ok_or_else(|| {
        Error::InvalidArgument("--private-key-file is required for ssh URLs".into())
    })?;
    let hosts_file = args.known_hosts_file.as_ref().ok_or_else(|| {
        Error::InvalidArgument(
            "--known-hosts-file is required for ssh URLs: source-controller verifies the host key"
                .into(),
        )
    })?;
    let host = args.url.host_str().unwrap_or_default();
    let entries = known_hosts_for(&read(hosts_file)?, host, args.url.port());
    if entries.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{} has no key for {host}",
            hosts_file.display()
        )));
    }
    let mut data = BTreeMap::from([
        ("identity".to_string(), read(key_file)?),
        ("known_hosts".to_string(), entries.join("\n") + "\n"),
    ]);
    if let Some(passphrase) = &args.password {
        data.insert("password".into(), passphrase.clone());
    }
    Ok(data)
}

/// The known_hosts lines whose host patterns name `host` (`[host]:port` for a
/// port other than 22), plain or hashed (`|1|salt|hmac-sha1`). `@revoked`
/// lines and negated patterns never match.
pub fn known_hosts_for(content: &str, host: &str, port: Option<u16>) -> Vec<String> {
    let name = match port {
        Some(port) if port != 22 => format!("[{host}]:{port}"),
        _ => host.to_string(),
    };
    content
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter(|line| {
            let mut fields = line.split_whitespace();
            let mut patterns = fields.next().unwrap_or_default();
            if patterns.starts_with('@') {
                if patterns == "@revoked" {
                    return false;
                }
                patterns = fields.next().unwrap_or_default();
            }
            patterns.split(',').any(|p| pattern_matches(p, &name))
        })
        .map(str::to_string)
        .collect()
}

fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("|1|") {
        Some(hashed) => hashed_matches(hashed, name),
        None => pattern.eq_ignore_ascii_case(name),
    }
}

fn hashed_matches(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// The Secret: `stringData` for `--export` (readable, like upstream), `data`
/// for the cluster.
pub fn build(args: &SecretGitArgs, namespace: &str, export: bool) -> Result<Secret> {
    let data = secret_data(args)?;
    let mut secret = Secret {
        metadata: ObjectMeta {
            name: Some(args.name.clone()),
            namespace: Some(namespace.into()),
            labels: (!args.common.labels.is_empty())
                .then(|| args.common.labels.iter().cloned().collect()),
            ..ObjectMeta::default()
        },
        ..Secret::default()
    };
    if export {
        secret.string_data = Some(data);
    } else {
        secret.data = Some(
            data.into_iter()
                .map(|(k, v)| (k, ByteString(v.into_bytes())))
                .collect(),
        );
    }
    Ok(secret)
}

/// Applies the Secret.
pub async fn apply(session: &Session, args: &SecretGitArgs) -> Result<()> {
    let secret = build(args, &session.namespace, false)?;
    log::action(&format!("applying secret {}", args.name));
    let created = server_side_apply(
        &Api::namespaced(session.client.clone(), &session.namespace),
        &secret,
    )
    .await?;
    log::success(&format!(
        "secret {} {}",
        args.name,
        if created { "created" } else { "updated" }
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=";

    fn hashed(name: &str) -> String {
        let salt = b"0123456789abcdef0123";
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(name.as_bytes());
        format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn picks_the_lines_of_the_host() {
        let content = format!(
            "# comment\ngithub.com,140.82.121.4 {KEY}\ngitlab.com {KEY}\n[git.example.com]:2222 {KEY}\n@revoked github.com {KEY}\n{} {KEY}\n",
            hashed("github.com")
        );
        let lines = known_hosts_for(&content, "github.com", None);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("github.com,"));
        assert!(lines[1].starts_with("|1|"));
        assert_eq!(
            known_hosts_for(&content, "git.example.com", Some(2222)).len(),
            1
        );
        assert_eq!(known_hosts_for(&content, "github.com", Some(22)).len(), 2);
        assert!(known_hosts_for(&content, "example.org", None).is_empty());
    }

    fn args(url: &str) -> SecretGitArgs {
        SecretGitArgs {
            name: "git-auth".into(),
            url: url.parse().unwrap(),
            username: Some("flux".into()),
            password: Some("s3cret".into()),
            private_key_file: None,
            known_hosts_file: None,
            common: CreateCommon {
                export: true,
                labels: Vec::new(),
            },
        }
    }

    #[test]
    fn basic_auth_secret_exports_string_data() {
        let secret = build(&args("https://example.com/repo"), "apps", true).unwrap();
        let data = secret.string_data.unwrap();
        assert_eq!(data["username"], "flux");
        assert_eq!(data["password"], "s3cret");
        assert!(secret.data.is_none());
    }

    #[test]
    fn ssh_needs_a_key_and_known_hosts() {
        let err = build(&args("ssh://git@example.com/repo"), "apps", true).unwrap_err();
        assert!(err.to_string().contains("--private-key-file"));
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        let hosts = dir.path().join("known_hosts");
        std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
        std::fs::write(&hosts, format!("example.com {KEY}\nother.com {KEY}\n")).unwrap();
        let mut ssh = args("ssh://git@example.com/repo");
        ssh.private_key_file = Some(key);
        ssh.known_hosts_file = Some(hosts);
        let data = build(&ssh, "apps", false).unwrap().data.unwrap();
        assert_eq!(
            data["known_hosts"].0,
            format!("example.com {KEY}\n").into_bytes()
        );
        assert_eq!(data["password"].0, b"s3cret");
        assert!(data.contains_key("identity"));
    }
}
