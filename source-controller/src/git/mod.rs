//! Git access for GitRepository: resolving a ref on the remote without cloning
//! (so unchanged sources cost one round trip), and shallow single-ref checkouts.
//! libgit2 (vendored, through `git2`) does the protocol work; HTTP(S) bytes go
//! through the Rust transport in [`http`] (TLS, client certificates, proxies).

mod auth;
mod http;
mod known_hosts;
mod semver_tags;
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
            let heads: Vec<(String, String)> = connection
                .list()
                .map_err(Error::git)?
                .iter()
                .map(|h| (h.name().to_string(), h.oid().to_string()))
                .collect();
            resolve_in_heads(reference, &heads)
        })
    }

    /// Fetches only what `reference` needs (depth 1 where the ref allows it)
    /// into `dir` and checks it out.
    pub fn checkout(&self, reference: &GitReference, dir: &Path) -> Result<Checkout> {
        self.in_session(|| self.checkout_in_session(reference, dir))
    }

    /// Runs `f` with an HTTP session for this remote active (HTTP(S) URLs only).
    fn in_session<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if !matches!(self.url.scheme(), "http" | "https") {
            return f();
        }
        let session: Arc<http::Session> = http::Session::new(&self.http, self.deadline)?;
        session.scope(f)
    }

    fn checkout_in_session(&self, reference: &GitReference, dir: &Path) -> Result<Checkout> {
        let repo = Repository::init(dir).map_err(Error::git)?;
        let mut remote = repo
            .remote_anonymous(self.url.as_str())
            .map_err(Error::git)?;
        let mut options = self.fetch_options();
        let target = match reference {
            GitReference::Branch(branch) => {
                self.shallow(&mut options);
                let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
                remote
                    .fetch(&[&refspec], Some(&mut options), None)
                    .map_err(Error::git)?;
                let commit = lookup(&repo, &format!("refs/remotes/origin/{branch}"), branch)?;
                ResolvedTarget {
                    name: Some(branch.clone()),
                    commit,
                }
            }
            GitReference::Tag(tag) => {
                self.shallow(&mut options);
                fetch_tag(&repo, &mut remote, &mut options, tag)?
            }
            GitReference::Semver(_) => {
                let heads: Vec<(String, String)> = remote
                    .connect_auth(Direction::Fetch, Some(self.callbacks()), None)
                    .map_err(Error::git)?
                    .list()
                    .map_err(Error::git)?
                    .iter()
                    .map(|h| (h.name().to_string(), h.oid().to_string()))
                    .collect();
                let tag = resolve_in_heads(reference, &heads)?
                    .name
                    .unwrap_or_default();
                self.shallow(&mut options);
                fetch_tag(&repo, &mut remote, &mut options, &tag)?
            }
            GitReference::Name(name) => {
                self.shallow(&mut options);
                remote
                    .fetch(
                        &[&format!("+{name}:refs/fluxrs/target")],
                        Some(&mut options),
                        None,
                    )
                    .map_err(Error::git)?;
                let commit = lookup(&repo, "refs/fluxrs/target", name)?;
                ResolvedTarget {
                    name: Some(name.clone()),
                    commit,
                }
            }
            GitReference::Commit { sha, branch } => {
                let refspec = match branch {
                    Some(branch) => format!("+refs/heads/{branch}:refs/remotes/origin/{branch}"),
                    None => "+refs/heads/*:refs/remotes/origin/*".to_string(),
                };
                remote
                    .fetch(&[&refspec], Some(&mut options), None)
                    .map_err(Error::git)?;
                let oid = git2::Oid::from_str(sha)
                    .map_err(|_| Error::InvalidReference(format!("'{sha}' is not a commit SHA")))?;
                let commit = repo
                    .find_commit(oid)
                    .map_err(|_| Error::RefNotFound(format!("commit '{sha}' not found")))?
                    .id();
                ResolvedTarget {
                    name: branch.clone(),
                    commit,
                }
            }
        };
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
            self.update_submodules(&repo)?;
        }
        let message = commit
            .summary()
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_string();
        Ok(Checkout {
            reference: ResolvedRef {
                name: target.name,
                commit: commit.id().to_string(),
            },
            message,
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

struct ResolvedTarget {
    name: Option<String>,
    commit: git2::Oid,
}

fn fetch_tag(
    repo: &Repository,
    remote: &mut git2::Remote<'_>,
    options: &mut FetchOptions<'_>,
    tag: &str,
) -> Result<ResolvedTarget> {
    let refspec = format!("+refs/tags/{tag}:refs/tags/{tag}");
    remote
        .fetch(&[&refspec], Some(options), None)
        .map_err(Error::git)?;
    let commit = lookup(repo, &format!("refs/tags/{tag}"), tag)?;
    Ok(ResolvedTarget {
        name: Some(tag.to_string()),
        commit,
    })
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
