//! Wiring: the artifact server and one controller per source kind.

use std::sync::Arc;

use anyhow::Context as _;
use fluxrs_api::source::{GitRepository, OCIRepository};
use fluxrs_runtime::controller::Runtime;
use fluxrs_runtime::server::serve;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::flags::Args;
use crate::reconcile::{Context, git_repository, oci_repository};
use crate::storage::{Retention, Storage, server};

/// The GitRepository controller, which also reconciles a repository when one
/// it includes changes.
fn git_controller(runtime: &Runtime) -> Controller<GitRepository> {
    let controller = runtime.controller::<GitRepository>();
    let store = controller.store();
    controller.watches(
        runtime.watched_api::<GitRepository>(),
        watcher::Config::default(),
        move |changed| {
            let namespace = changed.namespace();
            let name = changed.name_any();
            store
                .state()
                .into_iter()
                .filter(|repo| repo.namespace() == namespace && includes(repo, &name))
                .map(|repo| ObjectRef::from_obj(repo.as_ref()))
                .collect::<Vec<_>>()
        },
    )
}

fn includes(repo: &GitRepository, name: &str) -> bool {
    repo.spec
        .include
        .iter()
        .flatten()
        .any(|i| i.git_repository_ref.name == name)
}

/// Runs source-controller until SIGTERM/SIGINT.
pub async fn run(args: Args) -> anyhow::Result<()> {
    fluxrs_runtime::logging::init(args.runtime.log_level, args.runtime.log_encoding)?;
    let client = fluxrs_runtime::client::client(&args.runtime).await?;
    let runtime = Runtime::new(client.clone(), "source-controller", args.runtime.clone())?
        .with_default_concurrency(2);
    let base_url = args.artifact_base_url();
    let storage = Arc::new(
        Storage::new(
            &args.storage_path,
            &base_url,
            Retention {
                records: args.artifact_retention_records,
                ttl: args.artifact_retention_ttl,
            },
        )
        .with_context(|| format!("opening the storage at {}", args.storage_path.display()))?,
    );
    info!(path = %storage.root().display(), url = %base_url, "artifact storage ready");
    let context = Arc::new(Context {
        client,
        storage: Arc::clone(&storage),
        events: runtime.events().clone(),
        field_manager: runtime.status_field_manager().to_string(),
        max_artifact_bytes: args.artifact_max_size,
        requeue_dependency: args.runtime.requeue_dependency,
    });

    let shutdown = CancellationToken::new();
    let file_server = {
        let (address, router, shutdown) = (
            args.storage_addr.clone(),
            server::router(storage),
            shutdown.clone(),
        );
        tokio::spawn(async move { serve(&address, router, shutdown).await })
    };
    let git = runtime.run_controller(
        git_controller(&runtime),
        git_repository::reconcile,
        Arc::clone(&context),
    );
    let oci = runtime.run_controller(
        runtime.controller::<OCIRepository>(),
        oci_repository::reconcile,
        context,
    );
    let result = runtime
        .run(async {
            tokio::join!(git, oci);
        })
        .await;
    shutdown.cancel();
    file_server.await.context("artifact server task")??;
    Ok(result?)
}
