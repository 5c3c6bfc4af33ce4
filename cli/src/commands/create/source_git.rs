//! `create source git` (`spec/cli.md` §9).

use std::collections::BTreeMap;

use clap::Args;
use fluxrs_api::meta::LocalObjectReference;
use fluxrs_api::source::{GitRepository, GitRepositoryRef, GitRepositorySpec};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta};

use super::{CreateCommon, apply_and_wait, go_duration, server_side_apply};
use crate::error::{Error, Result};
use crate::kinds::FluxKind;
use crate::kube::Session;
use crate::output::log;

/// Arguments of `create source git`.
#[derive(Debug, Args)]
pub struct SourceGitArgs {
    /// Name of the GitRepository.
    pub name: String,
    /// Repository address: http://, https:// or ssh://.
    #[arg(long, value_parser = git_url)]
    pub url: String,
    /// Branch to track.
    #[arg(long)]
    pub branch: Option<String>,
    /// Tag to check out.
    #[arg(long)]
    pub tag: Option<String>,
    /// SemVer range of tags to choose from.
    #[arg(long = "tag-semver")]
    pub semver: Option<String>,
    /// A Git reference name (e.g. refs/pull/1/head).
    #[arg(long)]
    pub ref_name: Option<String>,
    /// A commit SHA (keeps --branch too).
    #[arg(long)]
    pub commit: Option<String>,
    /// How often to check for new commits.
    #[arg(long, default_value = "1m", value_parser = go_duration)]
    pub interval: String,
    /// Timeout of Git operations (spec.timeout).
    #[arg(long, value_parser = go_duration)]
    pub fetch_timeout: Option<String>,
    /// Name of an existing Secret with the credentials.
    #[arg(long)]
    pub secret_ref: Option<String>,
    /// Basic auth user name; with --password, a Secret named after the source is created.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Basic auth password.
    #[arg(short, long)]
    pub password: Option<String>,
    /// Paths to exclude from the artifact, .gitignore style (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub ignore_paths: Vec<String>,
    /// Check out submodules too.
    #[arg(long)]
    pub recurse_submodules: bool,
    #[command(flatten)]
    pub common: CreateCommon,
}

fn git_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
    match url.scheme() {
        "http" | "https" | "ssh" => Ok(text.to_string()),
        other => Err(format!(
            "unsupported URL scheme {other:?}, use http, https or ssh"
        )),
    }
}

/// The Git reference, with upstream's precedence: commit (with branch) >
/// ref name > semver > tag > branch.
fn git_ref(args: &SourceGitArgs) -> Result<GitRepositoryRef> {
    let mut reference = GitRepositoryRef::default();
    if let Some(commit) = &args.commit {
        reference.commit = Some(commit.clone());
        reference.branch = args.branch.clone();
    } else if let Some(name) = &args.ref_name {
        reference.name = Some(name.clone());
    } else if let Some(semver) = &args.semver {
        reference.semver = Some(semver.clone());
    } else if let Some(tag) = &args.tag {
        reference.tag = Some(tag.clone());
    } else if let Some(branch) = &args.branch {
        reference.branch = Some(branch.clone());
    } else {
        return Err(Error::InvalidArgument(
            "a Git ref is required, use one of the following: --branch, --tag, --commit, --ref-name or --tag-semver".into(),
        ));
    }
    Ok(reference)
}

/// The GitRepository; `secret_ref` (a generated Secret) wins over `--secret-ref`.
pub fn build(
    args: &SourceGitArgs,
    namespace: &str,
    secret_ref: Option<String>,
) -> Result<GitRepository> {
    let spec = GitRepositorySpec {
        url: args.url.clone(),
        interval: args.interval.clone(),
        timeout: args.fetch_timeout.clone(),
        r#ref: Some(git_ref(args)?),
        secret_ref: secret_ref
            .or_else(|| args.secret_ref.clone())
            .map(|name| LocalObjectReference { name }),
        ignore: (!args.ignore_paths.is_empty()).then(|| args.ignore_paths.join("\n")),
        recurse_submodules: args.recurse_submodules.then_some(true),
        ..GitRepositorySpec::default()
    };
    let mut repo = GitRepository::new(&args.name, spec);
    repo.metadata.namespace = Some(namespace.into());
    if !args.common.labels.is_empty() {
        repo.metadata.labels = Some(args.common.labels.iter().cloned().collect());
    }
    Ok(repo)
}

/// Creates the basic auth Secret for `-u`/`-p` (named after the source),
/// unless `--secret-ref` names one.
async fn credentials(session: &Session, args: &SourceGitArgs) -> Result<Option<String>> {
    let (Some(username), Some(password)) = (&args.username, &args.password) else {
        return match (&args.username, &args.password) {
            (None, None) => Ok(None),
            _ => Err(Error::InvalidArgument(
                "--username and --password go together".into(),
            )),
        };
    };
    if args.secret_ref.is_some() {
        return Ok(None);
    }
    log::action("applying secret with repository credentials");
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(args.name.clone()),
            namespace: Some(session.namespace.clone()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            (
                "username".to_string(),
                ByteString(username.clone().into_bytes()),
            ),
            (
                "password".to_string(),
                ByteString(password.clone().into_bytes()),
            ),
        ])),
        ..Secret::default()
    };
    server_side_apply(
        &Api::namespaced(session.client.clone(), &session.namespace),
        &secret,
    )
    .await?;
    log::success("authentication configured");
    Ok(Some(args.name.clone()))
}

/// Applies the GitRepository (and its credentials) and waits for the first artifact.
pub async fn apply(session: &Session, args: &SourceGitArgs) -> Result<()> {
    git_ref(args)?;
    let secret = credentials(session, args).await?;
    let repo = build(args, &session.namespace, secret)?;
    let ready = apply_and_wait(session, &repo, "GitRepository source").await?;
    log::success(&format!(
        "fetched revision: {}",
        ready.revision().unwrap_or_default()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::commands::create::to_value;
    use crate::output;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: SourceGitArgs,
    }

    fn args(extra: &[&str]) -> SourceGitArgs {
        let mut argv = vec![
            "x",
            "podinfo",
            "--url",
            "https://github.com/stefanprodan/podinfo",
        ];
        argv.extend_from_slice(extra);
        Wrapper::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn export_matches_flux() {
        let repo = build(&args(&["--branch", "master"]), "flux-system", None).unwrap();
        assert_eq!(
            output::to_yaml_documents(&[to_value(&repo).unwrap()]).unwrap(),
            "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  interval: 1m0s\n  ref:\n    branch: master\n  url: https://github.com/stefanprodan/podinfo\n"
        );
    }

    #[test]
    fn ref_precedence_is_upstreams() {
        let r = git_ref(&args(&["--branch", "main", "--tag", "v1"])).unwrap();
        assert_eq!((r.tag.as_deref(), r.branch), (Some("v1"), None));
        let r = git_ref(&args(&["--tag", "v1", "--tag-semver", ">=1.0"])).unwrap();
        assert_eq!(r.semver.as_deref(), Some(">=1.0"));
        let r = git_ref(&args(&["--branch", "main", "--commit", "abc"])).unwrap();
        assert_eq!(
            (r.commit.as_deref(), r.branch.as_deref()),
            (Some("abc"), Some("main"))
        );
        assert!(git_ref(&args(&[])).is_err());
    }

    #[test]
    fn options_map_to_the_spec() {
        let repo = build(
            &args(&[
                "--branch",
                "main",
                "--ignore-paths",
                "/*,!/deploy",
                "--secret-ref",
                "creds",
                "--label",
                "team=a",
                "--interval",
                "10m",
            ]),
            "apps",
            None,
        )
        .unwrap();
        assert_eq!(repo.spec.ignore.as_deref(), Some("/*\n!/deploy"));
        assert_eq!(repo.spec.secret_ref.unwrap().name, "creds");
        assert_eq!(repo.spec.interval, "10m0s");
        assert_eq!(repo.metadata.labels.unwrap()["team"], "a");
    }

    #[test]
    fn only_git_url_schemes() {
        assert!(git_url("ssh://git@github.com/org/repo").is_ok());
        assert!(git_url("ftp://example.com/repo").is_err());
        assert!(git_url("not a url").is_err());
    }
}
