//! GitHub commit statuses (REST API, as go-github calls it for upstream).
//!
//! `https://github.com/...` addresses use `https://api.github.com/`; any
//! other host is GitHub Enterprise, whose API lives under `/api/v3/` of the
//! same host (unless the host itself is an `api.` host), which is also what
//! lets tests point a Provider at a loopback server.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{Forge, Repository, Status, StatusUpdate, decode};
use crate::event::FluxEvent;
use crate::notifier::json;
use crate::{Error, Result};

/// The REST API version go-github pins.
const API_VERSION: &str = "2022-11-28";

/// The media type go-github asks for.
const MEDIA_TYPE: &str = "application/vnd.github.v3+json";

/// Statuses listed per page, as upstream.
const PER_PAGE: &str = "50";

/// go-github's `RepoStatus` as sent.
#[derive(Serialize)]
struct CreateStatus<'a> {
    state: &'a str,
    description: &'a str,
    context: &'a str,
}

/// go-github's `RepoStatus` as listed (every field may be absent).
#[derive(Deserialize)]
struct ListedStatus {
    context: Option<String>,
    state: Option<String>,
    description: Option<String>,
}

/// The API base URL (ending in `/`) for a repository host.
fn api_base(host: &Url) -> Result<Url> {
    let host_name = host.host_str().unwrap_or_default();
    if host_name == "github.com" {
        return Url::parse("https://api.github.com/")
            .map_err(|e| Error::InvalidProvider(e.to_string()));
    }
    let mut base = host.clone();
    if !host_name.starts_with("api.") && !host_name.contains(".api.") {
        base.set_path("/api/v3/");
    }
    Ok(base)
}

/// `repos/<owner>/<repo>/<rest...>` under the API base.
fn endpoint(base: &Url, owner: &str, name: &str, rest: &[&str]) -> Result<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| Error::InvalidProvider("invalid GitHub API URL".to_owned()))?
        .pop_if_empty()
        .extend(["repos", owner, name])
        .extend(rest);
    Ok(url)
}

/// The listing and creation requests for `wanted`.
pub(super) fn update(
    repository: &Repository,
    token: &str,
    mut wanted: Status,
    event: &FluxEvent,
) -> Result<StatusUpdate> {
    let (owner, name) = repository.owner_and_name()?;
    wanted.state = if event.is_error() {
        "failure"
    } else {
        "success"
    }
    .to_owned();
    let base = api_base(&repository.host)?;
    let headers = vec![
        ("Accept".to_owned(), MEDIA_TYPE.to_owned()),
        ("Authorization".to_owned(), format!("Bearer {token}")),
        ("X-GitHub-Api-Version".to_owned(), API_VERSION.to_owned()),
    ];
    let mut list_url = endpoint(&base, owner, name, &["commits", &wanted.sha, "statuses"])?;
    list_url.query_pairs_mut().append_pair("per_page", PER_PAGE);
    let create_url = endpoint(&base, owner, name, &["statuses", &wanted.sha])?;
    let body = json(&CreateStatus {
        state: &wanted.state,
        description: &wanted.description,
        context: &wanted.name,
    })?;
    Ok(StatusUpdate::new(
        Forge::GitHub,
        wanted,
        list_url,
        create_url,
        headers,
        body,
    ))
}

/// The newest status with the wanted context decides (GitHub lists newest
/// first); statuses lacking a field are ignored.
pub(super) fn already_set(listing: &[u8], wanted: &Status) -> Result<bool> {
    let statuses: Vec<ListedStatus> = decode(listing)?;
    let newest = statuses
        .into_iter()
        .find_map(|s| match (s.context, s.state, s.description) {
            (Some(context), Some(state), Some(description)) if context == wanted.name => {
                Some((state, description))
            }
            _ => None,
        });
    Ok(newest.is_some_and(|(state, description)| {
        state == wanted.state && description == wanted.description
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::notifier::Target;
    use crate::notifier::git;
    use crate::notifier::testing::failed_kustomization;
    use fluxrs_api::notification::ProviderType;

    const SHA: &str = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";

    fn target(address: &str) -> Target {
        Target {
            address: address.into(),
            token: Some("ghp_token".into()),
            provider_uid: "0c9c2e41-d2f9-4f9b-9c41-2a8f4c6bf5d1".into(),
            ..Target::default()
        }
    }

    fn event() -> FluxEvent {
        let mut event = failed_kustomization();
        event
            .metadata
            .insert("revision".into(), format!("main@sha1:{SHA}"));
        event
    }

    fn github_update(address: &str, event: &FluxEvent) -> StatusUpdate {
        git::update(ProviderType::Github, &target(address), event)
            .expect("valid")
            .expect("not skipped")
    }

    #[test]
    fn failure_status_on_github_com() {
        let update = github_update("https://github.com/org/app.git", &event());
        assert_eq!(
            update.listing.url,
            format!("https://api.github.com/repos/org/app/commits/{SHA}/statuses?per_page=50")
        );
        assert_eq!(
            update.create.url,
            format!("https://api.github.com/repos/org/app/statuses/{SHA}")
        );
        assert_eq!(
            update.create.headers,
            [
                (
                    "Accept".to_owned(),
                    "application/vnd.github.v3+json".to_owned()
                ),
                ("Authorization".to_owned(), "Bearer ghp_token".to_owned()),
                ("X-GitHub-Api-Version".to_owned(), "2022-11-28".to_owned()),
            ]
        );
        assert_eq!(update.listing.headers, update.create.headers);
        let body: serde_json::Value = serde_json::from_slice(&update.create.body).expect("JSON");
        assert_eq!(
            body,
            json!({
                "state": "failure",
                "description": "build failed",
                "context": "kustomization/webapp/0c9c2e41",
            })
        );
    }

    #[test]
    fn enterprise_hosts_use_api_v3() {
        let mut info = event();
        info.severity = "info".into();
        info.reason = "ReconciliationSucceeded".into();
        let update = github_update("git@ghe.example.com:org/app.git", &info);
        assert_eq!(
            update.create.url,
            format!("https://ghe.example.com/api/v3/repos/org/app/statuses/{SHA}")
        );
        assert_eq!(update.wanted.state, "success");
        assert_eq!(update.wanted.description, "reconciliation succeeded");
        let update = github_update("http://127.0.0.1:8080/org/app", &info);
        assert_eq!(
            update.listing.url,
            format!(
                "http://127.0.0.1:8080/api/v3/repos/org/app/commits/{SHA}/statuses?per_page=50"
            )
        );
        let update = github_update("https://api.ghe.example.com/org/app", &info);
        assert!(
            update
                .create
                .url
                .starts_with("https://api.ghe.example.com/repos/")
        );
    }

    #[test]
    fn duplicates_are_judged_by_the_newest_status_of_the_context() {
        let update = github_update("https://github.com/org/app", &event());
        let listing = |statuses: serde_json::Value| serde_json::to_vec(&statuses).expect("JSON");
        let same = json!([
            {"context": "other", "state": "success", "description": "x"},
            {"context": "kustomization/webapp/0c9c2e41", "state": "failure", "description": "build failed"},
        ]);
        assert!(update.already_set(&listing(same)).expect("decodes"));
        let older_same = json!([
            {"context": "kustomization/webapp/0c9c2e41", "state": "success", "description": "reconciliation succeeded"},
            {"context": "kustomization/webapp/0c9c2e41", "state": "failure", "description": "build failed"},
        ]);
        assert!(!update.already_set(&listing(older_same)).expect("decodes"));
        assert!(!update.already_set(b"[]").expect("decodes"));
        assert!(matches!(
            update.already_set(b"ok"),
            Err(Error::CommitStatus(..))
        ));
    }

    #[test]
    fn password_stands_in_for_a_missing_token() {
        let target = Target {
            token: None,
            password: Some("from-password".into()),
            ..target("https://github.com/org/app")
        };
        let update = git::update(ProviderType::Github, &target, &event())
            .expect("valid")
            .expect("not skipped");
        assert!(update.create.headers.contains(&(
            "Authorization".to_owned(),
            "Bearer from-password".to_owned()
        )));
    }
}
