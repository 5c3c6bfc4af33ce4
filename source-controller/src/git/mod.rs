//! Git access for GitRepository: resolving a ref on the remote and, over the
//! same connection, a shallow single-ref fetch only when the ref moved (so an
//! unchanged source costs one round trip), with or without a working tree
//! (see [`tree`] for archiving a commit without one).
//! libgit2 (vendored, through `git2`) does the protocol work; HTTP(S) bytes go
//! through the Rust transport in [`http`] (TLS, client certificates, proxies).

mod auth;
mod http;
mod known_hosts;
mod semver_tags;
pub mod tree;
pub mod verify;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use fluxrs_api::source::GitRepositoryRef;
use git2::{
    CertificateCheckStatus, Cred, CredentialType, Direction, FetchOptions, RemoteCallbacks,
    Repository,
};

pub use auth::{GitAuth, SshKey};
pub use http::{ClientIdentity, HttpOptions};
pub use known_hosts::KnownHosts;
pub use semver_tags::{Constraint, parse_version};

use crate::proxy::ProxyConfig;
use crate::{Error, Result};

/// The ref a GitRepository follows, after applying upstream's precedence
/// (commit > name > semver > tag > branch; `master` when nothing is set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitReference {
    /// `refs/heads/<name>`.
    Branch(String),
    /// `refs/tags/<name>`.
    Tag(String),
    /// The highest tag matching a semver constraint.
    Semver(String),
    /// Any full ref name, e.g. `refs/pull/1/head`.
    Name(String),
    /// A commit, optionally looked up on one branch.
    Commit {
        /// The full SHA-1.
        sha: String,
        /// Branch that holds the commit, fetched instead of every branch.
        branch: Option<String>,
    },
}

impl GitReference {
    /// Chooses the reference a `spec.ref` asks for.
    pub fn from_spec(spec: Option<&GitRepositoryRef>) -> Self {
        let non_empty =
            |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
        let Some(spec) = spec else {
            return Self::Branch("master".into());
        };
        if let Some(sha) = non_empty(&spec.commit) {
            return Self::Commit {
                sha,
                branch: non_empty(&spec.branch),
            };
        }
        if let Some(name) = non_empty(&spec.name) {
            return Self::Name(name);
        }
        if let Some(range) = non_empty(&spec.semver) {
            return Self::Semver(range);
        }
        if let Some(tag) = non_empty(&spec.tag) {
            return Self::Tag(tag);
        }
        Self::Branch(non_empty(&spec.branch).unwrap_or_else(|| "master".into()))
    }
}

/// A reference resolved to a commit: what the artifact revision is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedRef {
    /// The name in the revision (`main`, `v1.0.0`, `refs/pull/1/head`), or `None`
    /// for a bare commit.
    pub name: Option<String>,
    /// Full SHA-1 of the commit.
    pub commit: String,
}

impl ResolvedRef {
    /// Flux's revision string: `<name>@sha1:<hex>` or `sha1:<hex>`.
    pub fn revision(&self) -> String {
        match &self.name {
            Some(name) => format!("{name}@sha1:{}", self.commit),
            None => format!("sha1:{}", self.commit),
        }
    }
}

/// A finished checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    /// The resolved ref.
    pub reference: ResolvedRef,
    /// First line of the commit message (for events).
    pub message: String,
}

/// Where and how to reach a repository.
#[derive(Clone, Debug)]
pub struct Remote {
    url: url::Url,
    auth: GitAuth,
    http: HttpOptions,
    deadline: Instant,
    recurse_submodules: bool,
    sparse_checkout: Vec<String>,
}

impl Remote {
    /// A remote at `url` (http, https, ssh or file) with `auth`; every network
    /// operation is cancelled once `deadline` passes.
    pub fn new(url: &str, auth: GitAuth, deadline: Instant) -> Result<Self> {
        let url = url::Url::parse(url).map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https" | "ssh" | "file") {
            return Err(Error::InvalidUrl(format!(
                "{url}: unsupported scheme '{}'",
                url.scheme()
            )));
        }
        if url.scheme() == "ssh" && auth.ssh_key.is_none() {
            return Err(Error::InvalidSecret(
                "an ssh:// URL needs a secretRef with 'identity' and 'known_hosts'".into(),
            ));
        }
        http::register()?;
        Ok(Self {
            url,
            http: auth.http_options(),
            auth,
            deadline,
            recurse_submodules: false,
            sparse_checkout: Vec::new(),
        })
    }

    /// Sends every HTTP(S) request through `proxy` (`spec.proxySecretRef`).
    /// Refused for other schemes, which it could not apply to.
    pub fn with_proxy(mut self, proxy: ProxyConfig) -> Result<Self> {
        if !matches!(self.url.scheme(), "http" | "https") {
            return Err(Error::InvalidSecret(format!(
                "proxySecretRef is only supported for http(s) URLs, not '{}://'",
                self.url.scheme()
            )));
        }
        self.http.proxy = Some(proxy);
        Ok(self)
    }

    /// Checks out only these directories (`spec.sparseCheckout`); empty means all.
    pub fn with_sparse_checkout(mut self, dirs: &[String]) -> Self {
        self.sparse_checkout = dirs.to_vec();
        self
    }

    /// Also checks out submodules, recursively, with the same credentials
    /// (`spec.recurseSubmodules`).
    pub fn with_submodules(mut self, recurse: bool) -> Self {
        self.recurse_submodules = recurse;
        self
    }

    /// Resolves `reference` on the remote without fetching objects (ls-remote).
    pub fn resolve(&self, reference: &GitReference) -> Result<ResolvedRef> {
        if let GitReference::Commit { sha, branch } = reference {
            return Ok(ResolvedRef {
                name: branch.clone(),
                commit: sha.clone(),
            });
        }
        self.in_session(|| {
            let scratch = tempfile::tempdir().map_err(|e| Error::Io {
                path: "/tmp".into(),
                message: e.to_string(),
            })?;
            let repo = Repository::init_bare(scratch.path()).map_err(Error::git)?;
            let mut remote = repo
                .remote_anonymous(self.url.as_str())
                .map_err(Error::git)?;
            let connection = remote
                .connect_auth(Direction::Fetch, Some(self.callbacks()), None)
                .map_err(Error::git)?;
            resolve_in_heads(reference, &advertised(&connection)?)
        })
    }

    /// Fetches only what `reference` needs (depth 1 where the ref allows it)
    /// into `dir` and checks it out.
    pub fn checkout(&self, reference: &GitReference, dir: &Path) -> Result<Checkout> {
        self.in_session(|| match self.download(reference, dir, None)? {
            Download::Fetched(repo, target) => self.write_worktree(&repo, target),
            Download::Current(resolved) => Err(Error::Git(format!(
                "nothing fetched for '{}'",
                resolved.revision()
            ))),
        })
    }

    /// Brings `reference` into `dir` unless it resolves to `current` (the
    /// revision of the stored artifact), over one connection: the ref
    /// advertisement that resolves the ref is the one the fetch negotiates
    /// with, so a new revision costs no second round trip (or SSH handshake)
    /// and an unchanged one downloads nothing.
    ///
    /// With [`Worktree::Skip`] `dir` holds only the repository, and the
    /// artifact is archived from the commit's objects
    /// ([`tree::archive_commit`]): for large repositories writing the
    /// checkout, reading it back and deleting it costs far more than the fetch.
    pub fn update(
        &self,
        reference: &GitReference,
        dir: &Path,
        current: Option<&str>,
        worktree: Worktree,
    ) -> Result<Update> {
        self.in_session(|| match self.download(reference, dir, current)? {
            Download::Current(resolved) => Ok(Update::Current(resolved)),
            Download::Fetched(repo, target) => match worktree {
                Worktree::Write => self.write_worktree(&repo, target).map(Update::Fetched),
                Worktree::Skip => {
                    let commit = repo.find_commit(target.commit).map_err(Error::git)?;
                    Ok(Update::Fetched(Checkout {
                        reference: ResolvedRef {
                            name: target.name,
                            commit: commit.id().to_string(),
                        },
                        message: summary(&commit),
                    }))
                }
            },
        })
    }

    /// Runs `f` with an HTTP session for this remote active (HTTP(S) URLs only).
    fn in_session<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if !matches!(self.url.scheme(), "http" | "https") {
            return f();
        }
        let session: Arc<http::Session> = http::Session::new(&self.http, self.deadline)?;
        session.scope(f)
    }

    /// Connects, resolves `reference` from the advertisement and, unless it
    /// resolves to `current`, fetches it on the same connection into a new
    /// repository at `dir`.
    fn download(
        &self,
        reference: &GitReference,
        dir: &Path,
        current: Option<&str>,
    ) -> Result<Download> {
        let repo = Repository::init(dir).map_err(Error::git)?;
        let target = {
            let mut remote = repo
                .remote_anonymous(self.url.as_str())
                .map_err(Error::git)?;
            let mut connection = remote
                .connect_auth(Direction::Fetch, Some(self.callbacks()), None)
                .map_err(Error::git)?;
            let resolved = resolve_in_heads(reference, &advertised(&connection)?)?;
            if current == Some(resolved.revision().as_str()) {
                return Ok(Download::Current(resolved));
            }
            let (refspec, local) = fetch_refspec(reference, &resolved);
            let mut options = self.fetch_options();
            if !matches!(reference, GitReference::Commit { .. }) {
                self.shallow(&mut options);
            }
            connection
                .remote()
                .fetch(&[&refspec], Some(&mut options), None)
                .map_err(Error::git)?;
            let commit = match local {
                Some(local) => lookup(&repo, &local, resolved.name.as_deref().unwrap_or_default())?,
                None => find_commit(&repo, &resolved.commit)?,
            };
            ResolvedTarget {
                name: resolved.name,
                commit,
            }
        };
        Ok(Download::Fetched(repo, target))
    }

    /// Checks out `target` in `repo` (sparse and with submodules as set).
    fn write_worktree(&self, repo: &Repository, target: ResolvedTarget) -> Result<Checkout> {
        let commit = repo.find_commit(target.commit).map_err(Error::git)?;
        let mut checkout = git2::build::CheckoutBuilder::new();
        checkout.force();
        for dir in &self.sparse_checkout {
            checkout.path(format!(
                "{}/",
                dir.trim_start_matches("./").trim_end_matches('/')
            ));
        }
        repo.checkout_tree(commit.as_object(), Some(&mut checkout))
            .map_err(Error::git)?;
        repo.set_head_detached(commit.id()).map_err(Error::git)?;
        if self.recurse_submodules {
            self.update_submodules(repo)?;
        }
        Ok(Checkout {
            reference: ResolvedRef {
                name: target.name,
                commit: commit.id().to_string(),
            },
            message: summary(&commit),
        })
    }

    /// Initialises and checks out every submodule of `repo`, then theirs.
    fn update_submodules(&self, repo: &Repository) -> Result<()> {
        for mut submodule in repo.submodules().map_err(Error::git)? {
            let mut options = git2::SubmoduleUpdateOptions::new();
            options.fetch(self.fetch_options());
            submodule.update(true, Some(&mut options)).map_err(|e| {
                let name = submodule.name().unwrap_or_default().to_string();
                let Error::Git(message) = Error::git(e) else {
                    return Error::Authentication(format!(
                        "submodule '{name}': authentication failed"
                    ));
                };
                Error::Git(format!("submodule '{name}': {message}"))
            })?;
            let nested = submodule.open().map_err(Error::git)?;
            self.update_submodules(&nested)?;
        }
        Ok(())
    }

    /// Asks for a depth-1 fetch, except over `file://`, whose transport cannot.
    fn shallow(&self, options: &mut FetchOptions<'_>) {
        if self.url.scheme() != "file" {
            options.depth(1);
        }
    }

    fn fetch_options(&self) -> FetchOptions<'_> {
        let mut options = FetchOptions::new();
        options.remote_callbacks(self.callbacks());
        options.download_tags(git2::AutotagOption::None);
        options
    }

    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        let mut attempts = 0;
        callbacks.credentials(move |_url, username, allowed| {
            attempts += 1;
            if attempts > 3 {
                return Err(git2::Error::new(
                    git2::ErrorCode::Auth,
                    git2::ErrorClass::Net,
                    "credentials were rejected",
                ));
            }
            self.credential(username, allowed)
        });
        callbacks.certificate_check(move |cert, host| self.check_certificate(cert, host));
        let deadline = self.deadline;
        callbacks.transfer_progress(move |_| Instant::now() < deadline);
        callbacks.sideband_progress(move |_| Instant::now() < deadline);
        callbacks
    }

    fn credential(
        &self,
        username: Option<&str>,
        allowed: CredentialType,
    ) -> std::result::Result<Cred, git2::Error> {
        let user = username.filter(|u| !u.is_empty()).unwrap_or("git");
        if let Some(key) = self
            .auth
            .ssh_key
            .as_ref()
            .filter(|_| allowed.contains(CredentialType::SSH_KEY))
        {
            return Cred::ssh_key_from_memory(user, None, &key.identity, key.passphrase.as_deref());
        }
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user);
        }
        Err(git2::Error::new(
            git2::ErrorCode::Auth,
            git2::ErrorClass::Net,
            "the server asked for credentials that the secretRef does not provide",
        ))
    }

    fn check_certificate(
        &self,
        cert: &git2::cert::Cert<'_>,
        host: &str,
    ) -> std::result::Result<CertificateCheckStatus, git2::Error> {
        let Some(hostkey) = cert.as_hostkey() else {
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let rejected =
            |why: &str| git2::Error::new(git2::ErrorCode::Certificate, git2::ErrorClass::Ssh, why);
        let known_hosts = self
            .auth
            .known_hosts
            .as_ref()
            .ok_or_else(|| rejected("no known_hosts to verify the host key"))?;
        let (Some(key), Some(key_type)) = (hostkey.hostkey(), hostkey.hostkey_type()) else {
            return Err(rejected("the server sent no raw host key"));
        };
        let port = self.url.port().unwrap_or(22);
        if known_hosts.verify(host, port, key_type.name(), key) {
            Ok(CertificateCheckStatus::CertificateOk)
        } else {
            Err(rejected(&format!(
                "host key of {host}:{port} ({}) is not in known_hosts",
                key_type.name()
            )))
        }
    }
}

/// First line of a commit's message (for events).
fn summary(commit: &git2::Commit<'_>) -> String {
    commit
        .summary()
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string()
}

/// What [`Remote::update`] leaves in its folder besides the repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Worktree {
    /// Check the commit out (needed for submodules, includes and sparse
    /// checkouts, which work on files).
    Write,
    /// Leave the objects only; archive with [`tree::archive_commit`].
    Skip,
}

/// The outcome of [`Remote::update`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// The ref resolves to the current revision: nothing was fetched.
    Current(ResolvedRef),
    /// The commit was fetched (and checked out if asked).
    Fetched(Checkout),
}

/// A download's outcome, with the repository while it is still needed.
enum Download {
    Current(ResolvedRef),
    Fetched(Repository, ResolvedTarget),
}

/// The `(name, oid)` pairs a connected remote advertised.
fn advertised(connection: &git2::RemoteConnection<'_, '_, '_>) -> Result<Vec<(String, String)>> {
    Ok(connection
        .list()
        .map_err(Error::git)?
        .iter()
        .map(|h| (h.name().to_string(), h.oid().to_string()))
        .collect())
}

/// The refspec fetching a resolved reference, and the local ref it updates
/// (`None` for a commit, found by its SHA).
fn fetch_refspec(reference: &GitReference, resolved: &ResolvedRef) -> (String, Option<String>) {
    let name = resolved.name.clone().unwrap_or_default();
    match reference {
        GitReference::Branch(_) => (
            format!("+refs/heads/{name}:refs/remotes/origin/{name}"),
            Some(format!("refs/remotes/origin/{name}")),
        ),
        GitReference::Tag(_) | GitReference::Semver(_) => (
            format!("+refs/tags/{name}:refs/tags/{name}"),
            Some(format!("refs/tags/{name}")),
        ),
        GitReference::Name(_) => (
            format!("+{name}:refs/fluxrs/target"),
            Some("refs/fluxrs/target".to_string()),
        ),
        GitReference::Commit { branch, .. } => (
            match branch {
                Some(branch) => format!("+refs/heads/{branch}:refs/remotes/origin/{branch}"),
                None => "+refs/heads/*:refs/remotes/origin/*".to_string(),
            },
            None,
        ),
    }
}

fn find_commit(repo: &Repository, sha: &str) -> Result<git2::Oid> {
    let oid = git2::Oid::from_str(sha)
        .map_err(|_| Error::InvalidReference(format!("'{sha}' is not a commit SHA")))?;
    Ok(repo
        .find_commit(oid)
        .map_err(|_| Error::RefNotFound(format!("commit '{sha}' not found")))?
        .id())
}

struct ResolvedTarget {
    name: Option<String>,
    commit: git2::Oid,
}

fn lookup(repo: &Repository, refname: &str, wanted: &str) -> Result<git2::Oid> {
    let reference = repo.find_reference(refname).map_err(|_| {
        Error::RefNotFound(format!(
            "unable to resolve ref '{wanted}' to a specific commit"
        ))
    })?;
    Ok(reference.peel_to_commit().map_err(Error::git)?.id())
}

fn no_semver_match(range: &str) -> Error {
    Error::RefNotFound(format!("no match found for semver: {range}"))
}

/// Resolves a reference against an ls-remote listing (`(refname, oid)` pairs,
/// with peeled `^{}` entries for annotated tags).
fn resolve_in_heads(reference: &GitReference, heads: &[(String, String)]) -> Result<ResolvedRef> {
    let find = |name: &str| {
        let peeled = format!("{name}^{{}}");
        heads
            .iter()
            .find(|(n, _)| *n == peeled)
            .or_else(|| heads.iter().find(|(n, _)| n == name))
            .map(|(_, oid)| oid.clone())
    };
    let not_found = |wanted: &str| {
        Error::RefNotFound(format!(
            "unable to resolve ref '{wanted}' to a specific commit"
        ))
    };
    match reference {
        GitReference::Branch(branch) => {
            let commit = find(&format!("refs/heads/{branch}")).ok_or_else(|| not_found(branch))?;
            Ok(ResolvedRef {
                name: Some(branch.clone()),
                commit,
            })
        }
        GitReference::Tag(tag) => {
            let commit = find(&format!("refs/tags/{tag}")).ok_or_else(|| not_found(tag))?;
            Ok(ResolvedRef {
                name: Some(tag.clone()),
                commit,
            })
        }
        GitReference::Name(name) => {
            let commit = find(name).ok_or_else(|| not_found(name))?;
            Ok(ResolvedRef {
                name: Some(name.clone()),
                commit,
            })
        }
        GitReference::Semver(range) => {
            let constraint = Constraint::parse(range).map_err(Error::InvalidReference)?;
            let tags = heads
                .iter()
                .filter_map(|(n, _)| n.strip_prefix("refs/tags/"))
                .map(|t| t.trim_end_matches("^{}"));
            let tag = constraint
                .best(tags)
                .ok_or_else(|| no_semver_match(range))?
                .to_string();
            let commit = find(&format!("refs/tags/{tag}")).ok_or_else(|| not_found(&tag))?;
            Ok(ResolvedRef {
                name: Some(tag),
                commit,
            })
        }
        GitReference::Commit { sha, branch } => Ok(ResolvedRef {
            name: branch.clone(),
            commit: sha.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_precedence_follows_upstream() {
        let spec = |f: fn(&mut GitRepositoryRef)| {
            let mut r = GitRepositoryRef::default();
            f(&mut r);
            GitReference::from_spec(Some(&r))
        };
        assert_eq!(
            GitReference::from_spec(None),
            GitReference::Branch("master".into())
        );
        assert_eq!(
            spec(|r| r.branch = Some("main".into())),
            GitReference::Branch("main".into())
        );
        assert_eq!(
            spec(|r| {
                r.branch = Some("main".into());
                r.tag = Some("v1".into());
            }),
            GitReference::Tag("v1".into())
        );
        assert_eq!(
            spec(|r| {
                r.tag = Some("v1".into());
                r.semver = Some(">=1".into());
            }),
            GitReference::Semver(">=1".into())
        );
        assert_eq!(
            spec(|r| {
                r.semver = Some(">=1".into());
                r.name = Some("refs/pull/1/head".into());
            }),
            GitReference::Name("refs/pull/1/head".into())
        );
        assert_eq!(
            spec(|r| {
                r.name = Some("refs/pull/1/head".into());
                r.branch = Some("main".into());
                r.commit = Some("abc".into());
            }),
            GitReference::Commit {
                sha: "abc".into(),
                branch: Some("main".into())
            }
        );
    }

    #[test]
    fn revisions_have_flux_format() {
        let sha = "a".repeat(40);
        let named = ResolvedRef {
            name: Some("main".into()),
            commit: sha.clone(),
        };
        assert_eq!(named.revision(), format!("main@sha1:{sha}"));
        let bare = ResolvedRef {
            name: None,
            commit: sha.clone(),
        };
        assert_eq!(bare.revision(), format!("sha1:{sha}"));
    }

    #[test]
    fn ls_remote_resolution_prefers_peeled_tags() {
        let heads = vec![
            ("refs/heads/main".to_string(), "1".repeat(40)),
            ("refs/tags/v1.0.0".to_string(), "2".repeat(40)),
            ("refs/tags/v1.0.0^{}".to_string(), "3".repeat(40)),
            ("refs/tags/v1.1.0".to_string(), "4".repeat(40)),
        ];
        let tag = resolve_in_heads(&GitReference::Tag("v1.0.0".into()), &heads).unwrap();
        assert_eq!(tag.commit, "3".repeat(40));
        let semver = resolve_in_heads(&GitReference::Semver("~1.0".into()), &heads).unwrap();
        assert_eq!(semver.name.as_deref(), Some("v1.0.0"));
        let err = resolve_in_heads(&GitReference::Branch("dev".into()), &heads).unwrap_err();
        assert!(
            err.to_string().contains("unable to resolve ref 'dev'"),
            "{err}"
        );
    }
}
