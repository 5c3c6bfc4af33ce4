//! Real Git servers on loopback for source tests: bare repositories written with
//! the `git` CLI, served over smart HTTP (`git http-backend` as CGI, with
//! optional basic or bearer auth) and over SSH (`sshd` with key auth).

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

    /// Removes a file from the working tree.
    pub fn remove(&self, path: &str) -> Result<()> {
        let path = self.work.join(path);
        fs::remove_file(&path).map_err(|e| Error::io(&path, e))
    }

    /// Commits everything on the current branch, pushes it, and returns the SHA.
    pub fn commit(&self, message: &str) -> Result<String> {
        git(&self.work, &["add", "--all"])?;
        git(
            &self.work,
            &[
                "-c",
                "user.name=fluxrs-e2e",
                "-c",
                "user.email=e2e@flux-rs.dev",
                "commit",
                "--quiet",
                "--allow-empty",
                "-m",
                message,
            ],
        )?;
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
        git(
            &self.work,
            &[
                "-c",
                "user.name=fluxrs-e2e",
                "-c",
                "user.email=e2e@flux-rs.dev",
                "tag",
                "-a",
                name,
                "-m",
                name,
            ],
        )?;
        git(
            &self.work,
            &["push", "--quiet", "origin", &format!("refs/tags/{name}")],
        )
        .map(drop)
    }
}

fn path_str(path: &Path) -> String {
    path.display().to_string()
}

/// Runs `git` in `dir` and returns its trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
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
    task: JoinHandle<()>,
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
            task,
        })
    }

    /// Like [`Self::start`] but over HTTPS, with a certificate for 127.0.0.1
    /// signed by a fresh test CA (see [`Self::ca_cert`]).
    pub async fn start_tls(root: &Path, auth: HttpAuth) -> Result<Self> {
        let pki = crate::pki::ClusterPki::generate()?;
        let config = tls_config(&pki.serving_cert, &pki.serving_key)?;
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
        Ok(Self {
            addr,
            scheme: "https",
            ca_cert: Some(pki.ca_cert),
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
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn tls_config(cert_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Pki(e.to_string()))?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| Error::Pki(e.to_string()))?;
    rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Pki(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| Error::Pki(e.to_string()))
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
