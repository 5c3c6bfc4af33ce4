//! `fluxrs install` and `fluxrs uninstall`.
//!
//! install server-side applies, with field manager `flux` like the `flux`
//! CLI, the namespace and every CRD of `fluxrs_api::crds::all()`, labelled
//! as Flux labels its components, then waits until the CRDs are
//! Established. (flux-rs ships no controller Deployments in `config/` yet;
//! they join this list when they do.)
//!
//! uninstall deletes the labelled components of the namespace; CRDs, Flux
//! objects and the namespace are kept unless `--delete-crds`, which first
//! removes the Flux finalizers (no controller is left to honour them), then
//! deletes the CRDs (and with them every Flux object) and the namespace.

use std::collections::BTreeMap;
use std::fmt::Debug;

use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::version::cli_version;
use crate::error::{Error, Result};
use crate::kinds::{FluxKind, Kind};
use crate::kube::Session;
use crate::output::{self, log};
use crate::with_kind;

/// Field manager of everything install applies, as upstream.
const FIELD_MANAGER: &str = "flux";

/// Arguments of `install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Print the manifests instead of applying them.
    #[arg(long)]
    pub export: bool,
}

/// Arguments of `uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Also delete the Flux CRDs, and with them every Flux object in the cluster.
    #[arg(long)]
    pub delete_crds: bool,
    /// With --delete-crds, keep the namespace.
    #[arg(long)]
    pub keep_namespace: bool,
}

/// The labels Flux puts on everything it installs.
fn labels(namespace: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/instance".into(), namespace.into()),
        ("app.kubernetes.io/part-of".into(), "flux".into()),
        ("app.kubernetes.io/version".into(), cli_version()),
    ])
}

/// `app.kubernetes.io/part-of=flux,app.kubernetes.io/instance=<ns>`.
fn label_selector(namespace: &str) -> String {
    format!("app.kubernetes.io/part-of=flux,app.kubernetes.io/instance={namespace}")
}

fn namespace_object(namespace: &str) -> Namespace {
    let mut ns = Namespace::default();
    ns.metadata.name = Some(namespace.into());
    ns.metadata.labels = Some(labels(namespace));
    ns
}

fn crds(namespace: &str) -> Vec<CustomResourceDefinition> {
    fluxrs_api::crds::all()
        .into_iter()
        .map(|mut crd| {
            crd.metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .extend(labels(namespace));
            crd
        })
        .collect()
}

/// `install --export`: the manifests as multi-document YAML.
pub fn export(namespace: &str) -> Result<()> {
    let mut documents = vec![
        serde_json::to_value(namespace_object(namespace))
            .map_err(|e| Error::Encode(e.to_string()))?,
    ];
    for crd in crds(namespace) {
        documents.push(serde_json::to_value(crd).map_err(|e| Error::Encode(e.to_string()))?);
    }
    output::print(&output::to_yaml_documents(&documents)?);
    Ok(())
}

/// `install`: applies the namespace and CRDs, then waits for the CRDs.
pub async fn install(session: &Session) -> Result<()> {
    let namespace = &session.namespace;
    log::action(&format!(
        "installing components in \"{namespace}\" namespace"
    ));
    let crd_api: Api<CustomResourceDefinition> = Api::all(session.client.clone());
    let namespaces: Api<Namespace> = Api::all(session.client.clone());
    apply(&namespaces, &namespace_object(namespace)).await?;
    let crds = crds(namespace);
    for crd in &crds {
        apply(&crd_api, crd).await?;
    }
    log::waiting("verifying installation");
    for crd in &crds {
        wait_established(session, &crd_api, &crd.name_any()).await?;
    }
    log::success("install finished");
    Ok(())
}

/// Server-side applies `obj` and prints `Kind/name created|configured|unchanged`.
async fn apply<K>(api: &Api<K>, obj: &K) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let name = obj.name_any();
    let kind = K::kind(&());
    let context = || format!("applying {kind}/{name}");
    let before = api
        .get_opt(&name)
        .await
        .map_err(|e| Error::api(context(), e))?
        .and_then(|o| o.resource_version());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let after = api
        .patch(&name, &params, &Patch::Apply(obj))
        .await
        .map_err(|e| Error::api(context(), e))?
        .resource_version();
    let change = match before {
        None => "created",
        Some(before) if Some(&before) == after.as_ref() => "unchanged",
        Some(_) => "configured",
    };
    log::success(&format!("{kind}/{name} {change}"));
    Ok(())
}

async fn wait_established(
    session: &Session,
    api: &Api<CustomResourceDefinition>,
    name: &str,
) -> Result<()> {
    loop {
        let crd = api
            .get(name)
            .await
            .map_err(|e| Error::api(format!("getting CRD {name}"), e))?;
        if established(&crd) {
            return Ok(());
        }
        if session.expired() {
            return Err(Error::Timeout {
                what: format!("CRD {name} to be Established"),
                timeout: session.timeout_text.clone(),
                last: None,
                object: None,
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Whether the apiserver serves a CRD (`Established=True`).
pub fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

/// `uninstall`.
pub async fn uninstall(session: &Session, args: &UninstallArgs) -> Result<()> {
    let namespace = &session.namespace;
    let selector = label_selector(namespace);
    let client = &session.client;
    log::action(&format!("deleting components in \"{namespace}\" namespace"));
    delete_labelled(
        &Api::<Deployment>::namespaced(client.clone(), namespace),
        &selector,
    )
    .await?;
    delete_labelled(
        &Api::<Service>::namespaced(client.clone(), namespace),
        &selector,
    )
    .await?;
    delete_labelled(
        &Api::<ServiceAccount>::namespaced(client.clone(), namespace),
        &selector,
    )
    .await?;
    delete_labelled(&Api::<ClusterRoleBinding>::all(client.clone()), &selector).await?;
    delete_labelled(&Api::<ClusterRole>::all(client.clone()), &selector).await?;
    if !args.delete_crds {
        log::success(&format!(
            "kept the Flux CRDs, the Flux objects and the \"{namespace}\" namespace (--delete-crds removes them)"
        ));
        log::success("uninstall finished");
        return Ok(());
    }
    log::action("deleting toolkit.fluxcd.io finalizers in all namespaces");
    for kind in Kind::ALL {
        with_kind!(kind, |K| remove_finalizers::<K>(session).await)?;
    }
    log::action("deleting toolkit.fluxcd.io custom resource definitions");
    let crd_api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in fluxrs_api::crds::all() {
        delete(&crd_api, &crd.name_any()).await?;
    }
    if !args.keep_namespace {
        delete(&Api::<Namespace>::all(client.clone()), namespace).await?;
    }
    log::success("uninstall finished");
    Ok(())
}

async fn delete_labelled<K>(api: &Api<K>, selector: &str) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    let kind = K::kind(&());
    let items = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| Error::api(format!("listing {kind} objects"), e))?
        .items;
    for item in items {
        delete(api, &item.name_any()).await?;
    }
    Ok(())
}

/// Deletes one object; an object already gone is not an error.
async fn delete<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    let kind = K::kind(&());
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {
            log::success(&format!("{kind}/{name} deleted"));
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(e) => Err(Error::api(format!("deleting {kind}/{name}"), e)),
    }
}

/// Removes the finalizers of every object of kind `K` (a kind whose CRD is
/// not installed is skipped).
async fn remove_finalizers<K: FluxKind>(session: &Session) -> Result<()> {
    let api: Api<K> = Api::all(session.client.clone());
    let objects = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(status)) if status.is_not_found() => return Ok(()),
        Err(e) => return Err(Error::api(format!("listing {} objects", K::KIND), e)),
    };
    let patch = json!({ "metadata": { "finalizers": null } });
    for obj in objects.iter().filter(|o| !o.finalizers().is_empty()) {
        let namespace = obj.namespace().unwrap_or_default();
        let name = obj.name_any();
        Api::<K>::namespaced(session.client.clone(), &namespace)
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Error::api(format!("removing the finalizers of {}/{name}", K::KIND), e))?;
        log::success(&format!(
            "{}/{namespace}/{name} finalizers deleted",
            K::KIND
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crd_and_the_namespace_carry_the_flux_labels() {
        let crds = crds("flux-system");
        assert_eq!(crds.len(), fluxrs_api::crds::all().len());
        for crd in &crds {
            let labels = crd.metadata.labels.as_ref().unwrap();
            assert_eq!(labels["app.kubernetes.io/part-of"], "flux");
            assert_eq!(labels["app.kubernetes.io/instance"], "flux-system");
        }
        let ns = namespace_object("flux-system");
        assert_eq!(
            ns.metadata.labels.unwrap()["app.kubernetes.io/version"],
            cli_version()
        );
    }

    #[test]
    fn selector_matches_the_labels() {
        assert_eq!(
            label_selector("flux-system"),
            "app.kubernetes.io/part-of=flux,app.kubernetes.io/instance=flux-system"
        );
    }
}
