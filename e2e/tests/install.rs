//! The install manifests in `config/` (built with our own Kustomize engine)
//! are accepted by the real apiserver, and the controller Deployments roll out
//! with their RBAC, Services and CRDs in place.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use fluxrs_e2e::{apply_manifests, shared};
use fluxrs_kustomize::fs::DiskFs;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject};
use kube::runtime::wait::await_condition;

#[tokio::test]
async fn config_installs_and_controllers_become_available() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("repository root")?;
    let disk = DiskFs::new(root)?;
    let objects: Vec<DynamicObject> = fluxrs_kustomize::build(&disk, "config")?
        .into_iter()
        .map(|r| serde_json::from_value(r.into_value()))
        .collect::<Result<_, _>>()?;
    let crds = objects
        .iter()
        .filter(|o| {
            o.types
                .as_ref()
                .is_some_and(|t| t.kind == "CustomResourceDefinition")
        })
        .count();
    assert_eq!(
        crds,
        fluxrs_api::crds::all().len(),
        "config/ installs every CRD"
    );

    let client = shared().client().await?;
    apply_manifests(&client, &objects).await?;
    let deployments: Api<Deployment> = Api::namespaced(client, "flux-system");
    for name in [
        "source-controller",
        "kustomize-controller",
        "notification-controller",
    ] {
        let available = await_condition(deployments.clone(), name, |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref())
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "Available" && c.status == "True")
                })
        });
        tokio::time::timeout(Duration::from_secs(90), available)
            .await
            .with_context(|| format!("{name} did not become Available"))??;
    }
    Ok(())
}
