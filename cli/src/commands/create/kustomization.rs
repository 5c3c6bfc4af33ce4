//! `create kustomization`.

use clap::Args;
use fluxrs_api::kustomize::{
    CrossNamespaceSourceReference, Kustomization, KustomizationSourceKind, KustomizationSpec,
};
use fluxrs_api::meta::DependencyReference;

use super::{CreateCommon, apply_and_wait, go_duration};
use crate::error::{Error, Result};
use crate::kinds::{FluxKind, enum_name};
use crate::kube::Session;
use crate::output::log;

/// Arguments of `create kustomization`.
#[derive(Debug, Args)]
pub struct KustomizationArgs {
    /// Name of the Kustomization.
    pub name: String,
    /// The source: `[<kind>/]<name>[.<namespace>]`, kind GitRepository (default),
    /// OCIRepository or Bucket.
    #[arg(long)]
    pub source: String,
    /// Path to the directory with the manifests, relative to the source root.
    #[arg(long, default_value = "./", value_parser = safe_relative_path)]
    pub path: String,
    /// Delete the objects that were removed from the source.
    #[arg(long)]
    pub prune: bool,
    /// How often to apply the source again.
    #[arg(long, default_value = "1m", value_parser = go_duration)]
    pub interval: String,
    /// How often to retry after a failure (default: --interval).
    #[arg(long, value_parser = go_duration)]
    pub retry_interval: Option<String>,
    /// Namespace for all the applied objects.
    #[arg(long)]
    pub target_namespace: Option<String>,
    /// Kustomizations that must be ready first, `[<namespace>/]<name>` (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub depends_on: Vec<String>,
    /// Wait for every applied object to become ready.
    #[arg(long)]
    pub wait: bool,
    /// Service account to impersonate when applying.
    #[arg(long)]
    pub service_account: Option<String>,
    #[command(flatten)]
    pub common: CreateCommon,
}

/// `./`-prefixed, cleaned, and never leaving the source root.
fn safe_relative_path(text: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("path {text:?} must stay inside the source")),
            part => parts.push(part),
        }
    }
    Ok(format!("./{}", parts.join("/")))
}

/// Parses `--source`.
fn source_ref(text: &str) -> Result<CrossNamespaceSourceReference> {
    let (kind, rest) = match text.split_once('/') {
        Some((kind, rest)) => (kind, rest),
        None => ("GitRepository", text),
    };
    let kind = [
        KustomizationSourceKind::GitRepository,
        KustomizationSourceKind::OCIRepository,
        KustomizationSourceKind::Bucket,
    ]
    .into_iter()
    .find(|k| enum_name(k).eq_ignore_ascii_case(kind))
    .ok_or_else(|| {
        Error::InvalidArgument(format!(
            "source kind {kind:?} is not supported, use GitRepository, OCIRepository or Bucket"
        ))
    })?;
    let (name, namespace) = match rest.split_once('.') {
        Some((name, namespace)) => (name, Some(namespace.to_string())),
        None => (rest, None),
    };
    if name.is_empty() {
        return Err(Error::InvalidArgument(format!("invalid --source {text:?}")));
    }
    Ok(CrossNamespaceSourceReference {
        api_version: None,
        kind,
        name: name.into(),
        namespace,
    })
}

fn dependency(text: &str) -> DependencyReference {
    let (namespace, name) = match text.split_once('/') {
        Some((namespace, name)) => (Some(namespace.to_string()), name),
        None => (None, text),
    };
    DependencyReference {
        name: name.into(),
        namespace,
        ready_expr: None,
    }
}

/// The Kustomization.
pub fn build(args: &KustomizationArgs, namespace: &str) -> Result<Kustomization> {
    let spec = KustomizationSpec {
        interval: args.interval.clone(),
        retry_interval: args.retry_interval.clone(),
        path: Some(args.path.clone()),
        prune: args.prune,
        source_ref: source_ref(&args.source)?,
        target_namespace: args.target_namespace.clone(),
        depends_on: (!args.depends_on.is_empty())
            .then(|| args.depends_on.iter().map(|d| dependency(d)).collect()),
        wait: args.wait.then_some(true),
        service_account_name: args.service_account.clone(),
        ..KustomizationSpec::default()
    };
    let mut ks = Kustomization::new(&args.name, spec);
    ks.metadata.namespace = Some(namespace.into());
    if !args.common.labels.is_empty() {
        ks.metadata.labels = Some(args.common.labels.iter().cloned().collect());
    }
    Ok(ks)
}

/// Applies the Kustomization and waits until it applied its source.
pub async fn apply(session: &Session, args: &KustomizationArgs) -> Result<()> {
    let ks = build(args, &session.namespace)?;
    let ready = apply_and_wait(session, &ks, "Kustomization").await?;
    log::success(&ready.success_message());
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
        args: KustomizationArgs,
    }

    fn args(extra: &[&str]) -> KustomizationArgs {
        let mut argv = vec!["x", "podinfo"];
        argv.extend_from_slice(extra);
        Wrapper::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn export_matches_flux() {
        let ks = build(
            &args(&["--source", "podinfo", "--path", "kustomize", "--prune"]),
            "flux-system",
        )
        .unwrap();
        assert_eq!(
            output::to_yaml_documents(&[to_value(&ks).unwrap()]).unwrap(),
            "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  interval: 1m0s\n  path: ./kustomize\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: podinfo\n"
        );
    }

    #[test]
    fn source_kinds_and_namespaces() {
        let s = source_ref("ocirepository/manifests.infra").unwrap();
        assert_eq!(s.kind, KustomizationSourceKind::OCIRepository);
        assert_eq!(
            (s.name.as_str(), s.namespace.as_deref()),
            ("manifests", Some("infra"))
        );
        assert!(source_ref("HelmRepository/x").is_err());
        assert!(source_ref("GitRepository/").is_err());
    }

    #[test]
    fn paths_stay_inside_the_source() {
        assert_eq!(safe_relative_path("./"), Ok("./".into()));
        assert_eq!(safe_relative_path("apps/prod/"), Ok("./apps/prod".into()));
        assert_eq!(
            safe_relative_path("/clusters//prod"),
            Ok("./clusters/prod".into())
        );
        assert!(safe_relative_path("../secrets").is_err());
    }

    #[test]
    fn dependencies_take_an_optional_namespace() {
        let ks = build(
            &args(&["--source", "repo", "--depends-on", "infra,flux-system/crds"]),
            "apps",
        )
        .unwrap();
        let deps = ks.spec.depends_on.unwrap();
        assert_eq!(deps[0].name, "infra");
        assert_eq!(deps[1].namespace.as_deref(), Some("flux-system"));
    }
}
