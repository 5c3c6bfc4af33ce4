//! Real Git servers on loopback for source tests: bare repositories written with
//! the `git` CLI, served over smart HTTP (`git http-backend` as CGI, with
//! optional basic or bearer auth, TLS and mutual TLS) and over SSH (`sshd` with
//! key auth), plus an HTTP proxy that counts what it forwards, and GnuPG keys
//! for signed commits and tags.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tempfile::TempDir;
use tokio::task::JoinHandle;

use crate::process::{ManagedProcess, Watchdog};
use crate::{Error, Result};

/// A bare repository plus a working clone used to author commits.
pub struct GitFixture {
    dir: TempDir,
    bare: PathBuf,
    work: PathBuf,
}

impl GitFixture {
    /// Creates an empty bare repository `<name>.git` whose default branch is `main`.
    pub fn new(name: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("fluxrs-git-")
            .tempdir()
            .map_err(|e| Error::io(Path::new("/tmp"), e))?;
        let bare = dir.path().join(format!("{name}.git"));
        let work = dir.path().join("work");
        git(
            dir.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                &path_str(&bare),
            ],
        )?;
        git(
            dir.path(),
            &["init", "--quiet", "--initial-branch=main", &path_str(&work)],
        )?;
        git(&work, &["remote", "add", "origin", &path_str(&bare)])?;
        Ok(Self { dir, bare, work })
    }

    /// Folder holding the bare repository (serve this folder).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the bare repository.
    pub fn bare_path(&self) -> &Path {
        &self.bare
    }

    /// File name of the bare repository (`<name>.git`), its path under [`Self::root`].
    pub fn bare_name(&self) -> String {
        self.bare
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Writes a file in the working tree (creating folders).
    pub fn write(&self, path: &str, content: &str) -> Result<()> {
        let path = self.work.join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        fs::write(&path, content).map_err(|e| Error::io(&path, e))
    }

    /// Marks a file of the working tree executable (mode 0755).
    pub fn make_executable(&self, path: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.work.join(path);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io(&path, e))
    }

    /// Creates the symlink `path` pointing at `target` in the working tree.
    pub fn symlink(&self, target: &str, path: &str) -> Result<()> {
        let path = self.work.join(path);
        std::os::unix::fs::symlink(target, &path).map_err(|e| Error::io(&path, e))
    }

    /// Removes a file from the working tree.
    pub fn remove(&self, path: &str) -> Result<()> {
        let path = self.work.join(path);
        fs::remove_file(&path).map_err(|e| Error::io(&path, e))
    }

    /// Commits everything on the current branch, pushes it, and returns the SHA.
    pub fn commit(&self, message: &str) -> Result<String> {
        self.commit_with(message, None)
    }

    /// Like [`Self::commit`], with the commit signed by `key` (`git commit -S`).
    pub fn commit_signed(&self, message: &str, key: &dyn SigningKey) -> Result<String> {
        self.commit_with(message, Some(key))
    }

    fn commit_with(&self, message: &str, key: Option<&dyn SigningKey>) -> Result<String> {
        git(&self.work, &["add", "--all"])?;
        let mut args = author_args();
        args.extend(["commit", "--quiet", "--allow-empty", "-m", message]);
        signed_git(&self.work, &mut args, key, "-S")?;
        let branch = git(&self.work, &["rev-parse", "--abbrev-ref", "HEAD"])?;
        git(
            &self.work,
            &[
                "push",
                "--quiet",
                "--force",
                "origin",
                &format!("HEAD:refs/heads/{branch}"),
            ],
        )?;
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Switches the working clone to `branch`, creating it from HEAD if new.
    pub fn checkout_branch(&self, branch: &str) -> Result<()> {
        git(&self.work, &["checkout", "--quiet", "-B", branch]).map(drop)
    }

    /// Adds the repository at `url` as a submodule at `path` (not committed yet).
    pub fn add_submodule(&self, url: &str, path: &str) -> Result<()> {
        git(
            &self.work,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "--quiet",
                "add",
                url,
                path,
            ],
        )
        .map(drop)
    }

    /// Creates an annotated tag at HEAD and pushes it.
    pub fn tag(&self, name: &str) -> Result<()> {
        self.tag_with(name, None)
    }

    /// Like [`Self::tag`], with the tag signed by `key` (`git tag -s`).
    pub fn tag_signed(&self, name: &str, key: &dyn SigningKey) -> Result<()> {
        self.tag_with(name, Some(key))
    }

    fn tag_with(&self, name: &str, key: Option<&dyn SigningKey>) -> Result<()> {
        let mut args = author_args();
        args.extend(["tag", "-a", name, "-m", name]);
        signed_git(&self.work, &mut args, key, "-s")?;
        git(
            &self.work,
            &["push", "--quiet", "origin", &format!("refs/tags/{name}")],
        )
        .map(drop)
    }
}

fn author_args() -> Vec<&'static str> {
    vec![
        "-c",
        "user.name=fluxrs-e2e",
        "-c",
        "user.email=e2e@flux-rs.dev",
    ]
}

/// A key that signs the commits and tags of a [`GitFixture`] through the real
/// `git` (and the program it calls: `gpg` or `ssh-keygen`).
pub trait SigningKey {
    /// `git -c` settings that make `git commit -S` and `git tag -s` sign with
    /// this key.
    fn git_config(&self) -> Vec<String>;
    /// Environment the signing program needs.
    fn env(&self) -> Vec<(&'static str, &Path)>;
}

/// Runs `git args` (a commit or tag command), signed by `key` with
/// `sign_flag` appended when there is a key.
fn signed_git<'a>(
    dir: &Path,
    args: &mut Vec<&'a str>,
    key: Option<&dyn SigningKey>,
    sign_flag: &'a str,
) -> Result<String> {
    let Some(key) = key else {
        return git(dir, args);
    };
    let config = key.git_config();
    let mut signed: Vec<&str> = config.iter().flat_map(|c| ["-c", c.as_str()]).collect();
    signed.extend(args.iter().copied());
    signed.push(sign_flag);
    git_env(dir, &signed, &key.env())
}

/// A GnuPG signing key (ed25519, no passphrase) in a throwaway GNUPGHOME, for
/// signed commits and tags. Stops its gpg-agent when dropped.
pub struct GpgKey {
    home: TempDir,
    fingerprint: String,
    public: String,
}

impl GpgKey {
    /// Generates a key for `name <email>` with the real `gpg`.
    pub fn generate(name: &str, email: &str) -> Result<Self> {
        let home = tempfile::Builder::new()
            .prefix("fluxrs-gpg-")
            .tempdir()
            .map_err(|e| Error::io(Path::new("/tmp"), e))?;
        let homedir = path_str(home.path());
        let user = format!("{name} <{email}>");
        gpg(&[
            "--homedir",
            &homedir,
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            &user,
            "ed25519",
            "sign",
            "never",
        ])?;
        let listing = gpg(&["--homedir", &homedir, "--with-colons", "--list-keys", email])?;
        let fingerprint = listing
            .lines()
            .find_map(|line| line.strip_prefix("fpr:"))
            .and_then(|rest| rest.split(':').find(|field| !field.is_empty()))
            .ok_or_else(|| Error::Command {
                command: "gpg --list-keys".into(),
                output: listing.clone(),
            })?
            .to_string();
        let public = gpg(&["--homedir", &homedir, "--armor", "--export", &fingerprint])?;
        Ok(Self {
            home,
            fingerprint,
            public,
        })
    }

    /// The armored public key (what a verification Secret's `*.asc` holds).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The key's fingerprint (upper-case hex); its last 16 digits are the key ID.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl SigningKey for GpgKey {
    fn git_config(&self) -> Vec<String> {
        vec![format!("user.signingkey={}", self.fingerprint)]
    }

    fn env(&self) -> Vec<(&'static str, &Path)> {
        vec![("GNUPGHOME", self.home.path())]
    }
}

/// An SSH key made by `ssh-keygen` and kept on disk, signing commits and tags
/// with `gpg.format=ssh` (SSHSIG, namespace `git`).
pub struct SshSigningKey {
    dir: TempDir,
    public: String,
    fingerprint: String,
}

impl SshSigningKey {
    /// Generates a key of `key_type` (`ed25519`, `ecdsa`, `rsa`), no passphrase.
    pub fn generate(key_type: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("fluxrs-sshsig-")
            .tempdir()
            .map_err(|e| Error::io(Path::new("/tmp"), e))?;
        let key = path_str(&dir.path().join("key"));
        run(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                key_type,
                "-N",
                "",
                "-C",
                "signer@flux-rs.dev",
                "-f",
                &key,
            ],
        )?;
        let public_path = dir.path().join("key.pub");
        let public = fs::read_to_string(&public_path)
            .map_err(|e| Error::io(&public_path, e))?
            .trim()
            .to_string();
        let listing = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f", &path_str(&public_path)])
            .output()
            .map_err(|e| Error::io(Path::new("ssh-keygen"), e))?;
        let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
        let fingerprint = listing
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| Error::Command {
                command: "ssh-keygen -l".into(),
                output: listing.clone(),
            })?
            .to_string();
        Ok(Self {
            dir,
            public,
            fingerprint,
        })
    }

    /// The public key line (what a verification Secret's `*.sshpub` holds).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// `SHA256:<base64>`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl SigningKey for SshSigningKey {
    fn git_config(&self) -> Vec<String> {
        vec![
            "gpg.format=ssh".into(),
            format!("user.signingkey={}", path_str(&self.dir.path().join("key"))),
        ]
    }

    fn env(&self) -> Vec<(&'static str, &Path)> {
        Vec::new()
    }
}

impl Drop for GpgKey {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args([
                "--homedir",
                &path_str(self.home.path()),
                "--kill",
                "gpg-agent",
            ])
            .output();
    }
}

fn gpg(args: &[&str]) -> Result<String> {
    let output = Command::new("gpg")
        .args(args)
        .output()
        .map_err(|e| Error::io(Path::new("gpg"), e))?;
    if !output.status.success() {
        return Err(Error::Command {
            command: format!("gpg {}", args.join(" ")),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn path_str(path: &Path) -> String {
    path.display().to_string()
}

/// Runs `git` in `dir` and returns its trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    git_env(dir, args, &[])
}

/// Like [`git`], with extra environment variables.
fn git_env(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Result<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .envs(env.iter().copied())
        .output()
        .map_err(|e| Error::io(Path::new("git"), e))?;
    if !output.status.success() {
        return Err(Error::Command {
            command: format!("git {}", args.join(" ")),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Credentials the HTTP server demands.
#[derive(Clone, Debug, Default)]
pub enum HttpAuth {
    /// Anyone may read.
    #[default]
    None,
    /// `Authorization: Basic` with this user and password.
    Basic {
        /// Expected user name.
        username: String,
        /// Expected password.
        password: String,
    },
    /// `Authorization: Bearer` with this token.
    Bearer(String),
}

impl HttpAuth {
    fn accepts(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match self {
            Self::None => true,
            Self::Basic { username, password } => {
                let expected = format!(
                    "Basic {}",
                    STANDARD.encode(format!("{username}:{password}"))
                );
                given == Some(expected.as_str())
            }
            Self::Bearer(token) => given == Some(format!("Bearer {token}").as_str()),
        }
    }
}

#[derive(Clone)]
struct HttpState {
    root: PathBuf,
    auth: HttpAuth,
}

/// Git smart HTTP on a random loopback port, serving every bare repository
/// under one folder through `git http-backend`. Stops when dropped.
pub struct GitHttpServer {
    addr: SocketAddr,
    scheme: &'static str,
    ca_cert: Option<String>,
    client_identity: Option<ClientIdentity>,
    task: JoinHandle<()>,
}

/// A TLS client certificate and its key, in PEM (a Secret's `tls.crt`/`tls.key`).
#[derive(Clone, Debug)]
pub struct ClientIdentity {
    /// The certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
}

/// A client certificate signed by a throwaway CA that no test server trusts.
pub fn untrusted_client_identity() -> Result<ClientIdentity> {
    let pki = crate::pki::ClusterPki::generate()?;
    Ok(ClientIdentity {
        cert: pki.admin_cert,
        key: pki.admin_key,
    })
}

impl GitHttpServer {
    /// Serves the repositories under `root`, requiring `auth`.
    pub async fn start(root: &Path, auth: HttpAuth) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
        let state = HttpState {
            root: root.to_path_buf(),
            auth,
        };
        let app = Router::new().fallback(cgi).with_state(state);
        let task = tokio::spawn(async move {
            // The server runs until the task is aborted on drop.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            scheme: "http",
            ca_cert: None,
            client_identity: None,
            task,
        })
    }

    /// Like [`Self::start`] but over HTTPS, with a certificate for 127.0.0.1
    /// signed by a fresh test CA (see [`Self::ca_cert`]).
    pub async fn start_tls(root: &Path, auth: HttpAuth) -> Result<Self> {
        Self::start_https(root, auth, false).await
    }

    /// Like [`Self::start_tls`] but the TLS handshake also demands a client
    /// certificate signed by the same test CA (mutual TLS); a trusted one is
    /// [`Self::client_identity`], an untrusted one [`untrusted_client_identity`].
    pub async fn start_mtls(root: &Path, auth: HttpAuth) -> Result<Self> {
        Self::start_https(root, auth, true).await
    }

    async fn start_https(root: &Path, auth: HttpAuth, client_auth: bool) -> Result<Self> {
        let pki = crate::pki::ClusterPki::generate()?;
        let client_ca = client_auth.then_some(pki.ca_cert.as_str());
        let config = tls_config(&pki.serving_cert, &pki.serving_key, client_ca)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
        let state = HttpState {
            root: root.to_path_buf(),
            auth,
        };
        let app = Router::new().fallback(cgi).with_state(state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    // A client that fails the handshake (e.g. untrusted CA) just goes away.
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        let client_identity = client_auth.then(|| ClientIdentity {
            cert: pki.admin_cert.clone(),
            key: pki.admin_key.clone(),
        });
        Ok(Self {
            addr,
            scheme: "https",
            ca_cert: Some(pki.ca_cert),
            client_identity,
            task,
        })
    }

    /// `http(s)://127.0.0.1:<port>/<repo>` for a repository under the served folder.
    pub fn url(&self, repo: &str) -> String {
        format!("{}://{}/{repo}", self.scheme, self.addr)
    }

    /// PEM of the CA that signed the HTTPS certificate (`None` over plain HTTP).
    pub fn ca_cert(&self) -> Option<&str> {
        self.ca_cert.as_deref()
    }

    /// A client certificate the server accepts (only for [`Self::start_mtls`]).
    pub fn client_identity(&self) -> Option<&ClientIdentity> {
        self.client_identity.as_ref()
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTP proxy on a random loopback port, like a corporate egress proxy:
/// `CONNECT` tunnels (for HTTPS) and absolute-form forwarding (for HTTP), with
/// optional basic proxy credentials. It only connects to loopback targets, and
/// counts what it proxied so a test can prove traffic went through it.
/// Stops when dropped.
pub struct HttpProxy {
    addr: SocketAddr,
    proxied: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    rejected: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: JoinHandle<()>,
}

impl HttpProxy {
    /// Starts the proxy; with `credentials` it answers 407 to clients that do
    /// not send them as `Proxy-Authorization: Basic`.
    pub async fn start(credentials: Option<(String, String)>) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
        let expected = credentials.map(|(user, password)| {
            format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
        });
        let proxied = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let rejected = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counters = (proxied.clone(), rejected.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (expected, counters) = (expected.clone(), counters.clone());
                tokio::spawn(async move {
                    let (proxied, rejected) = counters;
                    let count = |counter: &std::sync::atomic::AtomicUsize| {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    };
                    // Counted once the tunnel is up, not when it closes: clients
                    // keep connections alive.
                    let tunnel = proxy_connection(stream, expected.as_deref(), || count(&proxied));
                    if !matches!(tunnel.await, Ok(true)) {
                        count(&rejected);
                    }
                });
            }
        });
        Ok(Self {
            addr,
            proxied,
            rejected,
            task,
        })
    }

    /// `http://127.0.0.1:<port>`, the proxy `address`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections tunnelled or forwarded to their target.
    pub fn proxied(&self) -> usize {
        self.proxied.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connections refused (wrong or missing credentials, bad request).
    pub fn rejected(&self) -> usize {
        self.rejected.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one client connection, calling `established` once it is connected
/// to its target; `Ok(true)` when it was proxied.
async fn proxy_connection(
    mut client: tokio::net::TcpStream,
    expected_auth: Option<&str>,
    established: impl FnOnce(),
) -> std::io::Result<bool> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        let n = client.read(&mut buf).await?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(false);
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let mut lines = text.lines();
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let (method, target) = (
        request_line.next().unwrap_or_default(),
        request_line.next().unwrap_or_default(),
    );
    let authorization = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_string())
    });
    if expected_auth.is_some_and(|expected| authorization.as_deref() != Some(expected)) {
        client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"proxy\"\r\nContent-Length: 0\r\n\r\n",
            )
            .await?;
        return Ok(false);
    }
    let authority = if method == "CONNECT" {
        target.to_string()
    } else {
        let rest = target.strip_prefix("http://").unwrap_or_default();
        rest.split('/').next().unwrap_or_default().to_string()
    };
    let loopback = authority
        .rsplit_once(':')
        .is_some_and(|(host, _)| matches!(host, "127.0.0.1" | "localhost" | "[::1]"));
    if !loopback {
        client
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(false);
    }
    let mut upstream = tokio::net::TcpStream::connect(&authority).await?;
    established();
    if method == "CONNECT" {
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        upstream.write_all(&head[end..]).await?;
    } else {
        upstream.write_all(&head).await?;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    Ok(true)
}

fn tls_config(
    cert_pem: &str,
    key_pem: &str,
    client_ca: Option<&str>,
) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pki = |e: &dyn std::fmt::Display| Error::Pki(e.to_string());
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| pki(&e))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| pki(&e))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| pki(&e))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca_pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
                roots.add(cert.map_err(|e| pki(&e))?).map_err(|e| pki(&e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| pki(&e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder.with_single_cert(certs, key).map_err(|e| pki(&e))
}

async fn cgi(State(state): State<HttpState>, request: Request) -> Response {
    if !state.auth.accepts(request.headers()) {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"git\""),
        );
        return response;
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let env = cgi_env(
        &state.root,
        &parts.method,
        &parts.uri,
        &parts.headers,
        body.len(),
    );
    match tokio::task::spawn_blocking(move || run_http_backend(env, body)).await {
        Ok(Ok(response)) => response,
        Ok(Err(message)) => (StatusCode::INTERNAL_SERVER_ERROR, message).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn cgi_env(
    root: &Path,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    length: usize,
) -> HashMap<String, String> {
    let mut env = HashMap::new();
    env.insert("GIT_PROJECT_ROOT".into(), path_str(root));
    env.insert("GIT_HTTP_EXPORT_ALL".into(), "1".into());
    env.insert("REQUEST_METHOD".into(), method.to_string());
    env.insert("PATH_INFO".into(), uri.path().to_string());
    env.insert(
        "QUERY_STRING".into(),
        uri.query().unwrap_or_default().to_string(),
    );
    env.insert("CONTENT_LENGTH".into(), length.to_string());
    env.insert("REMOTE_ADDR".into(), "127.0.0.1".into());
    for (name, var) in [
        (header::CONTENT_TYPE.as_str(), "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            env.insert(var.into(), value.to_string());
        }
    }
    env
}

fn run_http_backend(
    env: HashMap<String, String>,
    body: Bytes,
) -> std::result::Result<Response, String> {
    let mut child = Command::new("git")
        .arg("http-backend")
        .env_clear()
        .envs(&env)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting git http-backend: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&body)
            .map_err(|e| format!("writing the request to git http-backend: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("running git http-backend: {e}"))?;
    parse_cgi_output(&output.stdout)
        .ok_or_else(|| String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Turns CGI output (headers, blank line, body) into an HTTP response.
fn parse_cgi_output(output: &[u8]) -> Option<Response> {
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    let split = split.or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))?;
    let (head, body) = (&output[..split.0], &output[split.0 + split.1..]);
    let mut response = Response::new(Body::from(body.to_vec()));
    for line in String::from_utf8_lossy(head).lines() {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next()?.parse().ok()?;
            *response.status_mut() = StatusCode::from_u16(code).ok()?;
        } else if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(name),
            HeaderValue::try_from(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Some(response)
}

/// An SSH key pair made by `ssh-keygen`.
pub struct SshKey {
    /// Private key in OpenSSH or PEM format (what a Secret's `identity` holds).
    pub private: String,
    /// Public key line (`<type> <base64> <comment>`).
    pub public: String,
}

impl SshKey {
    /// Generates a key of `key_type` (`ed25519`, `ecdsa`, `rsa`) with an optional passphrase.
    pub fn generate(key_type: &str, passphrase: Option<&str>) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(Path::new("/tmp"), e))?;
        let path = dir.path().join("key");
        let mut args = vec![
            "-q",
            "-t",
            key_type,
            "-N",
            passphrase.unwrap_or(""),
            "-C",
            "fluxrs-e2e",
            "-f",
        ];
        let path_arg = path_str(&path);
        args.push(&path_arg);
        if key_type == "rsa" {
            args.extend(["-b", "2048", "-m", "PEM"]);
        }
        run("ssh-keygen", &args)?;
        let read = |p: &Path| fs::read_to_string(p).map_err(|e| Error::io(p, e));
        Ok(Self {
            private: read(&path)?,
            public: read(&path.with_extension("pub"))?.trim().to_string(),
        })
    }
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::io(Path::new(program), e))?;
    if !output.status.success() {
        return Err(Error::Command {
            command: format!("{program} {}", args.join(" ")),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(())
}

/// `sshd` on a random loopback port that lets one client key run git commands
/// as the current user. Stops when dropped.
pub struct GitSshServer {
    port: u16,
    user: String,
    host_public_key: String,
    _process: ManagedProcess,
    _watchdog: Watchdog,
    _dir: TempDir,
}

impl GitSshServer {
    /// Starts sshd accepting `client_key`.
    pub fn start(client_key: &SshKey) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("fluxrs-sshd-")
            .tempdir()
            .map_err(|e| Error::io(Path::new("/tmp"), e))?;
        let host_key = dir.path().join("host_ed25519");
        run(
            "ssh-keygen",
            &["-q", "-t", "ed25519", "-N", "", "-f", &path_str(&host_key)],
        )?;
        let host_public_key = fs::read_to_string(host_key.with_extension("pub"))
            .map_err(|e| Error::io(&host_key, e))?
            .trim()
            .to_string();
        let authorized = dir.path().join("authorized_keys");
        fs::write(&authorized, format!("{}\n", client_key.public))
            .map_err(|e| Error::io(&authorized, e))?;
        // sshd's privilege separation folder must exist when it runs as root.
        let _ = fs::create_dir_all("/run/sshd");
        let port = crate::controller::free_port()?;
        let user = current_user()?;
        let config = dir.path().join("sshd_config");
        let text = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nStrictModes no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n\
             AllowUsers {user}\nLogLevel VERBOSE\n",
            path_str(&host_key),
            path_str(&authorized),
            path_str(&dir.path().join("sshd.pid")),
        );
        fs::write(&config, text).map_err(|e| Error::io(&config, e))?;
        let args = vec![
            "-D".to_string(),
            "-e".to_string(),
            "-f".to_string(),
            path_str(&config),
        ];
        let process =
            ManagedProcess::spawn("sshd", Path::new("/usr/sbin/sshd"), &args, dir.path(), 0)?;
        let watchdog = Watchdog::arm(process.id(), dir.path())?;
        wait_for_port(port)?;
        Ok(Self {
            port,
            user,
            host_public_key,
            _process: process,
            _watchdog: watchdog,
            _dir: dir,
        })
    }

    /// `ssh://<user>@127.0.0.1:<port><absolute path>` for a bare repository.
    pub fn url(&self, bare_path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            bare_path.display()
        )
    }

    /// The known_hosts line for this server, as `ssh-keyscan` would print it.
    pub fn known_hosts(&self) -> String {
        let mut fields = self.host_public_key.split_whitespace();
        let key_type = fields.next().unwrap_or_default();
        let key = fields.next().unwrap_or_default();
        format!("[127.0.0.1]:{} {key_type} {key}\n", self.port)
    }
}

fn wait_for_port(port: u16) -> Result<()> {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(Error::NotReady {
        component: "sshd".into(),
        seconds: 5,
        log: String::new(),
    })
}

fn current_user() -> Result<String> {
    let output = Command::new("id")
        .arg("-un")
        .output()
        .map_err(|e| Error::io(Path::new("id"), e))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}
