//! `cargo xtask demo`: a local control plane with flux-rs installed, to look at.
//!
//! Grows with each controller: today it installs the CRDs of every kind and
//! shows that the cluster serves them.

use anyhow::{Context, Result};
use fluxrs_e2e::{TestCluster, install_crds};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;

/// Starts the demo cluster, shows it, and keeps it up until Ctrl-C unless `once`.
pub fn run(once: bool) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        println!("starting a local control plane (the first run builds Kubernetes from source, ~10 min)...");
        let cluster = TestCluster::start().await?;
        let client = cluster.client().await?;
        install_crds(&client).await?;
        show(&client).await?;
        println!("\ncluster API: {}", cluster.server());
        println!("use it:      export KUBECONFIG={}", cluster.kubeconfig_path().display());
        println!("             kubectl get gitrepositories,kustomizations -A");
        println!("logs:        {}", cluster.log_dir().display());
        if !once {
            println!("\npress Ctrl-C to stop the cluster and delete its files");
            tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
        }
        Ok(())
    })
}

async fn show(client: &kube::Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    println!("\n{:<55} {:<22} {:<10} OBJECTS", "CRD", "KIND", "VERSIONS");
    for crd in fluxrs_api::crds::all() {
        let stored = crds.get(&crd.name_any()).await?;
        let versions: Vec<String> = stored
            .spec
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| v.name.clone())
            .collect();
        let storage = stored
            .spec
            .versions
            .iter()
            .find(|v| v.storage)
            .context("CRD without storage version")?;
        let resource = ApiResource {
            group: stored.spec.group.clone(),
            version: storage.name.clone(),
            api_version: format!("{}/{}", stored.spec.group, storage.name),
            kind: stored.spec.names.kind.clone(),
            plural: stored.spec.names.plural.clone(),
        };
        let objects = Api::<DynamicObject>::all_with(client.clone(), &resource)
            .list(&ListParams::default())
            .await?;
        println!(
            "{:<55} {:<22} {:<10} {}",
            stored.name_any(),
            stored.spec.names.kind,
            versions.join(","),
            objects.items.len()
        );
    }
    Ok(())
}
