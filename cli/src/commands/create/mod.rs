//! `fluxrs create`: build Flux objects (and Git secrets) from flags, then
//! either print them (`--export`, exactly as `flux create ... --export`
//! prints: sorted keys, Go durations like `1m0s`) or apply them
//! server-side with field manager `flux` and wait until they are ready.

mod kustomization;
mod secret_git;
mod source_git;

use std::fmt::Debug;

use clap::{Args, Subcommand};
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::duration;
use crate::error::{Error, Result};
use crate::kinds::FluxKind;
use crate::kube::Session;
use crate::output::{self, log};
use crate::wait;

/// Field manager of what `create` applies, as the `flux` CLI.
const FIELD_MANAGER: &str = "flux";

/// What to create.
#[derive(Debug, Subcommand)]
pub enum CreateTarget {
    /// A source.
    #[command(subcommand)]
    Source(CreateSource),
    /// A Kustomization.
    #[command(visible_alias = "ks")]
    Kustomization(kustomization::KustomizationArgs),
    /// A Secret.
    #[command(subcommand)]
    Secret(CreateSecret),
}

/// `create source ...`.
#[derive(Debug, Subcommand)]
pub enum CreateSource {
    /// A GitRepository.
    Git(source_git::SourceGitArgs),
}

/// `create secret ...`.
#[derive(Debug, Subcommand)]
pub enum CreateSecret {
    /// A Secret with Git credentials (basic auth, or an SSH key with known_hosts).
    Git(secret_git::SecretGitArgs),
}

/// Flags every `create` takes.
#[derive(Debug, Args)]
pub struct CreateCommon {
    /// Print the object as YAML instead of applying it.
    #[arg(long)]
    pub export: bool,
    /// Labels to set, `key=value` (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
}

impl CreateTarget {
    /// Whether only YAML is printed (no cluster needed).
    pub fn is_export(&self) -> bool {
        match self {
            CreateTarget::Source(CreateSource::Git(a)) => a.common.export,
            CreateTarget::Kustomization(a) => a.common.export,
            CreateTarget::Secret(CreateSecret::Git(a)) => a.common.export,
        }
    }
}

/// `create ... --export`.
pub fn export(target: CreateTarget, namespace: &str) -> Result<()> {
    let value = match target {
        CreateTarget::Source(CreateSource::Git(a)) => {
            to_value(&source_git::build(&a, namespace, None)?)?
        }
        CreateTarget::Kustomization(a) => to_value(&kustomization::build(&a, namespace)?)?,
        CreateTarget::Secret(CreateSecret::Git(a)) => {
            to_value(&secret_git::build(&a, namespace, true)?)?
        }
    };
    output::print(&output::to_yaml_documents(&[value])?);
    Ok(())
}

/// `create ...` against the cluster.
pub async fn apply(session: &Session, target: CreateTarget) -> Result<()> {
    match target {
        CreateTarget::Source(CreateSource::Git(a)) => source_git::apply(session, &a).await,
        CreateTarget::Kustomization(a) => kustomization::apply(session, &a).await,
        CreateTarget::Secret(CreateSecret::Git(a)) => secret_git::apply(session, &a).await,
    }
}

/// The object as JSON, without an empty `status`.
fn to_value<T: Serialize>(obj: &T) -> Result<Value> {
    let mut value = serde_json::to_value(obj).map_err(|e| Error::Encode(e.to_string()))?;
    if let Value::Object(map) = &mut value {
        map.remove("status");
    }
    Ok(value)
}

/// `key=value` → `(key, value)`.
fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.into(), value.into())),
        _ => Err(format!("invalid label {text:?}, expected key=value")),
    }
}

/// A Go duration flag, normalised the way Go prints it (`1m` → `1m0s`).
fn go_duration(text: &str) -> Result<String, String> {
    duration::parse(text).map(duration::format)
}

/// Server-side applies `obj` (field manager `flux`) and returns whether it
/// was created (as opposed to updated).
async fn server_side_apply<K>(api: &Api<K>, obj: &K) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let name = obj.name_any();
    let context = || format!("applying {} '{name}'", K::kind(&()));
    let existed = api
        .get_opt(&name)
        .await
        .map_err(|e| Error::api(context(), e))?
        .is_some();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
    .map_err(|e| Error::api(context(), e))?;
    Ok(!existed)
}

/// Applies a Flux object, then waits for its reconciliation like upstream.
async fn apply_and_wait<K: FluxKind>(session: &Session, obj: &K, what: &str) -> Result<K> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    log::generate(&format!("generating {what}"));
    log::action(&format!("applying {what}"));
    let created = server_side_apply(&session.api::<K>(&namespace), obj).await?;
    log::success(&format!(
        "{what} {}",
        if created { "created" } else { "updated" }
    ));
    log::waiting(&format!("waiting for {} reconciliation", K::KIND));
    let ready = wait::until_reconciled(session, &namespace, &name, None).await?;
    log::success(&format!("{what} reconciliation completed"));
    Ok(ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_key_value() {
        assert_eq!(parse_label("team=a"), Ok(("team".into(), "a".into())));
        assert_eq!(parse_label("empty="), Ok(("empty".into(), String::new())));
        assert!(parse_label("novalue").is_err());
        assert!(parse_label("=x").is_err());
    }

    #[test]
    fn durations_are_written_like_go() {
        assert_eq!(go_duration("1m"), Ok("1m0s".into()));
        assert_eq!(go_duration("90s"), Ok("1m30s".into()));
        assert!(go_duration("soon").is_err());
    }
}
