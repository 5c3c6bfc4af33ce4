//! Git commit statuses: the Provider types that mark the commit a Flux
//! object reconciled as passed or failed on the forge (GitHub, GitLab).
//!
//! What upstream does, step for step: `Progressing` events are skipped; the
//! commit SHA comes from the event's `revision` metadata
//! (`main@sha1:<sha>`, `sha1:<sha>`, legacy `main/<sha>`); the repository
//! and the forge's API come from the Provider address (https or ssh form);
//! the status is named `<kind>/<name>/<first part of the Provider UID>` (in
//! lower case, so each cluster keeps its own status), described by the
//! event reason split into words (`reconciliation succeeded`), with state
//! success for info events and failure for errors. The forge's statuses of
//! the commit are listed first and nothing is sent when the newest status
//! of that name already says the same ([`StatusUpdate::already_set`]).

mod github;
mod gitlab;

use fluxrs_api::notification::{ProviderSpec, ProviderType};
use serde::Deserialize;
use url::Url;

use super::Target;
use crate::event::FluxEvent;
use crate::{Error, Result};

/// A GET whose answer decides whether a status must be sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Lookup {
    /// Where to GET.
    pub url: String,
    /// Request headers (authentication, API version).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Lookup {
    /// Shows no header values: they carry the forge token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("url", &self.url)
            .field(
                "header_names",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The forges flux-rs sets commit statuses on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forge {
    /// GitHub and GitHub Enterprise.
    GitHub,
    /// GitLab (SaaS or self-managed).
    GitLab,
}

/// One commit status as the forge shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Commit SHA.
    pub sha: String,
    /// Status name (GitHub `context`, GitLab `name`).
    pub name: String,
    /// Forge-specific state (`success`, `failure`, `failed`).
    pub state: String,
    /// Short description.
    pub description: String,
}

/// Setting one commit status: list the commit's statuses, then create the
/// wanted one unless it is already there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusUpdate {
    /// Which forge's API.
    pub forge: Forge,
    /// The status to set.
    pub wanted: Status,
    /// Lists the commit's statuses.
    pub listing: Lookup,
    /// Creates the status.
    pub create: super::Request,
}

impl StatusUpdate {
    /// An update that lists the commit's statuses at `list_url` and creates
    /// the wanted one at `create_url` with `body`, both with `headers`.
    fn new(
        forge: Forge,
        wanted: Status,
        list_url: Url,
        create_url: Url,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Self {
        Self {
            forge,
            listing: Lookup {
                url: list_url.into(),
                headers: headers.clone(),
            },
            create: super::Request {
                url: create_url.into(),
                headers,
                body,
                check: super::ResponseCheck::Status,
            },
            wanted,
        }
    }

    /// Whether the forge's listing (the answer to [`Self::listing`])
    /// already shows the wanted status, as upstream decides it: on GitHub the
    /// newest status with the same context has the same state and
    /// description; on GitLab any status of the commit has the same name,
    /// state and description.
    ///
    /// Errors: [`Error::CommitStatus`] when the listing is not the forge's JSON.
    pub fn already_set(&self, listing: &[u8]) -> Result<bool> {
        match self.forge {
            Forge::GitHub => github::already_set(listing, &self.wanted),
            Forge::GitLab => gitlab::already_set(listing, &self.wanted),
        }
    }
}

/// Whether Providers of this type set commit statuses (the types upstream
/// calls commit status providers that flux-rs implements).
pub fn is_commit_status(kind: ProviderType) -> bool {
    matches!(kind, ProviderType::Github | ProviderType::Gitlab)
}

/// Whether a commit status Provider takes this (forwarded) event: upstream's
/// event server hands them only events marked as commit status updates or
/// carrying a commit, and (spec/notification.md §3 step 5) error events.
pub fn takes(event: &FluxEvent) -> bool {
    event.metadata.get("commit_status").map(String::as_str) == Some("update")
        || event.metadata.get("commit").is_some_and(|c| !c.is_empty())
        || event.is_error()
}

/// Refuses Provider settings flux-rs cannot honour for commit statuses
/// rather than silently naming statuses differently than asked.
///
/// Errors: [`Error::InvalidProvider`] when `spec.commitStatusExpr` (a CEL
/// expression) is set.
pub fn check_spec(spec: &ProviderSpec) -> Result<()> {
    match spec.commit_status_expr.as_deref() {
        Some(expr) if !expr.trim().is_empty() => Err(Error::InvalidProvider(
            "spec.commitStatusExpr (CEL) is not supported by flux-rs: remove it to use the default status name '<kind>/<name>/<provider UID prefix>'".to_owned(),
        )),
        _ => Ok(()),
    }
}

/// The status update for `event`, `None` for `Progressing` events.
///
/// Errors: [`Error::InvalidProvider`] for an unusable address or a missing
/// token, [`Error::InvalidEvent`] without a usable revision.
pub fn update(
    kind: ProviderType,
    target: &Target,
    event: &FluxEvent,
) -> Result<Option<StatusUpdate>> {
    if event.reason == "Progressing" {
        return Ok(None);
    }
    let forge = match kind {
        ProviderType::Github => Forge::GitHub,
        ProviderType::Gitlab => Forge::GitLab,
        other => return Err(Error::UnsupportedProvider(super::type_name(other))),
    };
    let token = token(target, forge)?;
    let repository = Repository::parse(&target.address)?;
    let revision = event
        .metadata
        .get("revision")
        .ok_or_else(|| Error::InvalidEvent("missing revision metadata".to_owned()))?;
    let wanted = Status {
        sha: commit_sha(revision)?,
        name: status_name(&target.provider_uid, event),
        state: String::new(),
        description: description(&event.reason),
    };
    let update = match forge {
        Forge::GitHub => github::update(&repository, token, wanted, event)?,
        Forge::GitLab => gitlab::update(&repository, token, wanted, event)?,
    };
    Ok(Some(update))
}

/// The API token: the secret's `token`, else its `password`, as upstream.
fn token(target: &Target, forge: Forge) -> Result<&str> {
    target
        .token
        .as_deref()
        .filter(|t| !t.is_empty())
        .or_else(|| target.password.as_deref().filter(|p| !p.is_empty()))
        .ok_or_else(|| {
            let forge = match forge {
                Forge::GitHub => "github",
                Forge::GitLab => "gitlab",
            };
            Error::InvalidProvider(format!(
                "{forge} token cannot be empty: set the 'token' key of the secret"
            ))
        })
}

/// A repository on a forge, from a Provider address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// `scheme://host[:port]`, ssh addresses mapped to https.
    pub host: Url,
    /// The path without leading `/` and trailing `.git` (`owner/repo`).
    pub id: String,
}

impl Repository {
    /// Parses `https://host/owner/repo`, `ssh://git@host/owner/repo.git`
    /// and scp-like `git@host:owner/repo.git`, as upstream's
    /// `parseGitAddress`.
    ///
    /// Errors: [`Error::InvalidProvider`] when the address is no URL.
    pub fn parse(address: &str) -> Result<Self> {
        let invalid = || Error::InvalidProvider(format!("failed parsing URL '{address}'"));
        let (scheme, host, path) = if address.contains("://") {
            let url = Url::parse(address).map_err(|_| invalid())?;
            let host = url.host_str().ok_or_else(invalid)?;
            let host = match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            };
            (url.scheme().to_owned(), host, url.path().to_owned())
        } else {
            let (authority, path) = address.split_once(':').ok_or_else(invalid)?;
            let host = authority.rsplit('@').next().unwrap_or(authority);
            ("ssh".to_owned(), host.to_owned(), path.to_owned())
        };
        let scheme = if scheme == "ssh" { "https" } else { &scheme };
        let host = Url::parse(&format!("{scheme}://{host}")).map_err(|_| invalid())?;
        let id = path.trim_start_matches('/');
        let id = id.strip_suffix(".git").unwrap_or(id).to_owned();
        Ok(Self { host, id })
    }

    /// `owner` and `repo` for forges whose repositories have exactly two
    /// path parts.
    fn owner_and_name(&self) -> Result<(&str, &str)> {
        match self.id.split('/').collect::<Vec<_>>()[..] {
            [owner, name] if !owner.is_empty() && !name.is_empty() => Ok((owner, name)),
            _ => Err(Error::InvalidProvider(format!(
                "invalid repository id '{}'",
                self.id
            ))),
        }
    }
}

/// The commit SHA of a Flux revision (`main@sha1:<sha>`, `sha1:<sha>`,
/// `main/<sha>`, `<sha>`): the part after the last `:`, else after the last
/// `/`, which must be a SHA-1 or SHA-256 hex digest.
///
/// Errors: [`Error::InvalidEvent`] for anything else.
pub fn commit_sha(revision: &str) -> Result<String> {
    let hash = match revision.rfind(':') {
        Some(i) => &revision[i + 1..],
        None => revision.rsplit('/').next().unwrap_or(revision),
    };
    let is_hex = hash.chars().all(|c| c.is_ascii_hexdigit());
    if is_hex && matches!(hash.len(), 40 | 64) {
        Ok(hash.to_owned())
    } else {
        Err(Error::InvalidEvent(format!(
            "failed to extract commit hash from '{revision}' revision"
        )))
    }
}

/// `<kind>/<name>/<first part of the Provider UID>` in lower case.
pub fn status_name(provider_uid: &str, event: &FluxEvent) -> String {
    let uid = provider_uid.split('-').next().unwrap_or_default();
    format!("{}/{}/{uid}", event.kind(), event.name()).to_lowercase()
}

/// The reason split into lower-case words: `ReconciliationSucceeded` →
/// `reconciliation succeeded`.
pub fn description(reason: &str) -> String {
    split_camel_case(reason).join(" ").to_lowercase()
}

/// Character classes upstream's `splitCamelcase` separates words by.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Lower,
    Upper,
    Digit,
    Other,
}

fn class(c: char) -> Class {
    if c.is_lowercase() {
        Class::Lower
    } else if c.is_uppercase() {
        Class::Upper
    } else if c.is_numeric() {
        Class::Digit
    } else {
        Class::Other
    }
}

/// Runs of one character class, where the last capital of an upper-case
/// run starts the following lower-case word (`HTTPServer` → `HTTP Server`).
fn split_camel_case(src: &str) -> Vec<String> {
    let mut runs: Vec<Vec<char>> = Vec::new();
    let mut last = None;
    for c in src.chars() {
        let current = class(c);
        match runs.last_mut() {
            Some(run) if last == Some(current) => run.push(c),
            _ => runs.push(vec![c]),
        }
        last = Some(current);
    }
    for i in 0..runs.len().saturating_sub(1) {
        let upper_then_lower = runs[i].first().is_some_and(|c| c.is_uppercase())
            && runs[i + 1].first().is_some_and(|c| c.is_lowercase());
        if upper_then_lower && let Some(c) = runs[i].pop() {
            runs[i + 1].insert(0, c);
        }
    }
    runs.into_iter()
        .filter(|run| !run.is_empty())
        .map(|run| run.into_iter().collect())
        .collect()
}

/// Decodes a forge's status listing.
fn decode<'a, T: Deserialize<'a>>(listing: &'a [u8]) -> Result<T> {
    serde_json::from_slice(listing)
        .map_err(|e| Error::CommitStatus("decode the listed commit statuses", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::testing::failed_kustomization;

    const SHA: &str = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";

    #[test]
    fn commit_sha_accepts_every_revision_format() {
        for revision in [
            format!("main@sha1:{SHA}"),
            format!("feature/branch@sha1:{SHA}"),
            format!("sha1:{SHA}"),
            format!("main/{SHA}"),
            format!("feature/branch/{SHA}"),
            SHA.to_owned(),
        ] {
            assert_eq!(commit_sha(&revision).expect(&revision), SHA);
        }
        let sha256 = "d52bde83c5b2bd0fa7910264e0afc3ac9cfe9b6636ca29c05c09742f01d5a4bd";
        assert_eq!(
            commit_sha(&format!("v1.0.0@sha256:{sha256}")).expect("sha256"),
            sha256
        );
        for bad in ["main@sha1:", "main", "latest@sha256:xyz", "main/abc"] {
            let error = commit_sha(bad).expect_err(bad).to_string();
            assert_eq!(
                error,
                format!("invalid event: failed to extract commit hash from '{bad}' revision")
            );
        }
    }

    #[test]
    fn addresses_parse_like_upstream() {
        let cases = [
            (
                "https://github.com/stefanprodan/podinfo",
                "https://github.com/",
                "stefanprodan/podinfo",
            ),
            (
                "https://github.com/stefanprodan/podinfo.git",
                "https://github.com/",
                "stefanprodan/podinfo",
            ),
            (
                "ssh://git@github.com/stefanprodan/podinfo.git",
                "https://github.com/",
                "stefanprodan/podinfo",
            ),
            (
                "git@github.com:stefanprodan/podinfo.git",
                "https://github.com/",
                "stefanprodan/podinfo",
            ),
            (
                "http://127.0.0.1:8080/org/repo",
                "http://127.0.0.1:8080/",
                "org/repo",
            ),
            (
                "https://gitlab.example.com/group/sub/project",
                "https://gitlab.example.com/",
                "group/sub/project",
            ),
        ];
        for (address, host, id) in cases {
            let repository = Repository::parse(address).expect(address);
            assert_eq!(repository.host.as_str(), host, "{address}");
            assert_eq!(repository.id, id, "{address}");
        }
        assert!(Repository::parse("not a url").is_err());
        let nested = Repository::parse("https://github.com/a/b/c").expect("parses");
        assert!(
            matches!(nested.owner_and_name(), Err(Error::InvalidProvider(m)) if m == "invalid repository id 'a/b/c'")
        );
    }

    #[test]
    fn descriptions_split_reasons_into_words() {
        assert_eq!(
            description("ReconciliationSucceeded"),
            "reconciliation succeeded"
        );
        assert_eq!(description("HealthCheckFailed"), "health check failed");
        assert_eq!(description("BuildFailed"), "build failed");
        assert_eq!(description("HTTPServerError"), "http server error");
        assert_eq!(description("info"), "info");
        assert_eq!(split_camel_case("PDFLoader5"), ["PDF", "Loader", "5"]);
    }

    #[test]
    fn status_name_is_per_cluster() {
        let event = failed_kustomization();
        assert_eq!(
            status_name("0c9c2e41-d2f9-4f9b-9c41-2a8f4c6bf5d1", &event),
            "kustomization/webapp/0c9c2e41"
        );
    }

    #[test]
    fn commit_status_providers_take_errors_updates_and_commits() {
        let mut event = failed_kustomization();
        assert!(takes(&event));
        event.severity = "info".into();
        assert!(!takes(&event));
        event
            .metadata
            .insert("commit_status".into(), "update".into());
        assert!(takes(&event));
        event.metadata.remove("commit_status");
        event.metadata.insert("commit".into(), SHA.into());
        assert!(takes(&event));
    }

    #[test]
    fn commit_status_expressions_are_refused() {
        let mut spec: ProviderSpec =
            serde_json::from_value(serde_json::json!({"type": "github"})).expect("spec");
        assert!(check_spec(&spec).is_ok());
        spec.commit_status_expr = Some("event.involvedObject.name".into());
        assert!(
            matches!(check_spec(&spec), Err(Error::InvalidProvider(m)) if m.contains("commitStatusExpr"))
        );
    }

    #[test]
    fn progressing_events_and_missing_revisions() {
        let target = Target {
            address: "https://github.com/org/repo".into(),
            token: Some("t".into()),
            ..Target::default()
        };
        let mut event = failed_kustomization();
        event.reason = "Progressing".into();
        assert_eq!(
            update(ProviderType::Github, &target, &event).expect("skipped"),
            None
        );
        let mut event = failed_kustomization();
        event.metadata.remove("revision");
        assert!(matches!(
            update(ProviderType::Gitlab, &target, &event),
            Err(Error::InvalidEvent(m)) if m == "missing revision metadata"
        ));
        let no_token = Target {
            token: None,
            ..target
        };
        assert!(matches!(
            update(ProviderType::Github, &no_token, &failed_kustomization()),
            Err(Error::InvalidProvider(_))
        ));
    }
}
