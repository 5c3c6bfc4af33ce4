//! GitLab commit statuses (REST API v4, as GitLab's Go client calls it for
//! upstream).
//!
//! The API lives under `/api/v4/` of the address's host, so self-managed
//! GitLab and loopback test servers work alike; the project is addressed by
//! its full path (groups and subgroups), URL-encoded as one path segment.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{Forge, Repository, Status, StatusUpdate, decode};
use crate::event::FluxEvent;
use crate::notifier::json;
use crate::{Error, Result};

/// Header carrying a GitLab personal or project access token.
const TOKEN_HEADER: &str = "PRIVATE-TOKEN";

/// The client's `SetCommitStatusOptions` as sent.
#[derive(Serialize)]
struct SetStatus<'a> {
    state: &'a str,
    name: &'a str,
    description: &'a str,
}

/// The client's `CommitStatus` as listed.
#[derive(Deserialize)]
struct ListedStatus {
    #[serde(default)]
    sha: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: Option<String>,
}

/// `<host>/api/v4/projects/<id>/<rest...>`.
fn endpoint(host: &Url, project: &str, rest: &[&str]) -> Result<Url> {
    let mut url = host.clone();
    url.path_segments_mut()
        .map_err(|()| Error::InvalidProvider("invalid GitLab API URL".to_owned()))?
        .clear()
        .extend(["api", "v4", "projects", project])
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
    if repository.id.is_empty() {
        return Err(Error::InvalidProvider(
            "invalid repository id ''".to_owned(),
        ));
    }
    wanted.state = if event.is_error() {
        "failed"
    } else {
        "success"
    }
    .to_owned();
    let headers = vec![
        ("Accept".to_owned(), "application/json".to_owned()),
        (TOKEN_HEADER.to_owned(), token.to_owned()),
    ];
    let project = repository.id.as_str();
    let mut list_url = endpoint(
        &repository.host,
        project,
        &["repository", "commits", &wanted.sha, "statuses"],
    )?;
    list_url.query_pairs_mut().append_pair("name", &wanted.name);
    let create_url = endpoint(&repository.host, project, &["statuses", &wanted.sha])?;
    let body = json(&SetStatus {
        state: &wanted.state,
        name: &wanted.name,
        description: &wanted.description,
    })?;
    Ok(StatusUpdate::new(
        Forge::GitLab,
        wanted,
        list_url,
        create_url,
        headers,
        body,
    ))
}

/// Any listed status of the commit with the same name, state and
/// description makes the update redundant.
pub(super) fn already_set(listing: &[u8], wanted: &Status) -> Result<bool> {
    let statuses: Vec<ListedStatus> = decode(listing)?;
    Ok(statuses.iter().any(|s| {
        s.sha == wanted.sha
            && s.status == wanted.state
            && s.name == wanted.name
            && s.description.as_deref().unwrap_or_default() == wanted.description
    }))
}

#[cfg(test)]
mod tests {
    use fluxrs_api::notification::ProviderType;
    use serde_json::json;

    use super::*;
    use crate::notifier::Target;
    use crate::notifier::git;
    use crate::notifier::testing::failed_kustomization;

    const SHA: &str = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";

    fn gitlab_update(address: &str, severity: &str) -> StatusUpdate {
        let target = Target {
            address: address.into(),
            token: Some("glpat-token".into()),
            provider_uid: "7f6e5d4c-0000-4000-8000-000000000000".into(),
            ..Target::default()
        };
        let mut event = failed_kustomization();
        event.severity = severity.into();
        event
            .metadata
            .insert("revision".into(), format!("main/{SHA}"));
        git::update(ProviderType::Gitlab, &target, &event)
            .expect("valid")
            .expect("not skipped")
    }

    #[test]
    fn failed_status_on_a_subgroup_project() {
        let update = gitlab_update("https://gitlab.com/group/sub/app.git", "error");
        assert_eq!(
            update.listing.url,
            format!(
                "https://gitlab.com/api/v4/projects/group%2Fsub%2Fapp/repository/commits/{SHA}/statuses?name=kustomization%2Fwebapp%2F7f6e5d4c"
            )
        );
        assert_eq!(
            update.create.url,
            format!("https://gitlab.com/api/v4/projects/group%2Fsub%2Fapp/statuses/{SHA}")
        );
        assert_eq!(
            update.create.headers,
            [
                ("Accept".to_owned(), "application/json".to_owned()),
                ("PRIVATE-TOKEN".to_owned(), "glpat-token".to_owned()),
            ]
        );
        let body: serde_json::Value = serde_json::from_slice(&update.create.body).expect("JSON");
        assert_eq!(
            body,
            json!({
                "state": "failed",
                "name": "kustomization/webapp/7f6e5d4c",
                "description": "build failed",
            })
        );
    }

    #[test]
    fn info_is_success_on_self_managed_hosts() {
        let update = gitlab_update("ssh://git@gitlab.example.com:2222/team/app.git", "info");
        assert_eq!(update.wanted.state, "success");
        assert_eq!(
            update.create.url,
            format!("https://gitlab.example.com:2222/api/v4/projects/team%2Fapp/statuses/{SHA}")
        );
    }

    #[test]
    fn duplicates_need_the_same_sha_name_state_and_description() {
        let update = gitlab_update("https://gitlab.com/team/app", "error");
        let listing = |statuses: serde_json::Value| serde_json::to_vec(&statuses).expect("JSON");
        let same = json!([{
            "sha": SHA, "status": "failed", "name": "kustomization/webapp/7f6e5d4c",
            "description": "build failed", "id": 1,
        }]);
        assert!(update.already_set(&listing(same)).expect("decodes"));
        let other_state = json!([{
            "sha": SHA, "status": "success", "name": "kustomization/webapp/7f6e5d4c",
            "description": "build failed",
        }]);
        assert!(!update.already_set(&listing(other_state)).expect("decodes"));
        assert!(!update.already_set(b"[]").expect("decodes"));
    }
}
