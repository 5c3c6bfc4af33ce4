//! Wiring: the Kustomization controller, reconciling a Kustomization as soon as
//! its source has a new artifact.

use std::sync::Arc;

use anyhow::anyhow;
use fluxrs_api::kustomize::{Kustomization, KustomizationSourceKind};
use fluxrs_api::source::{GitRepository, OCIRepository};
use fluxrs_runtime::controller::Runtime;
use kube::ResourceExt;
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::{Controller, WatchStreamExt, watcher};

use crate::apply::Discovery;
use crate::flags::Args;
use crate::reconcile::{Context, Stores, reconcile};
use crate::steady_state::{SteadyState, Tracker};
use crate::target::Targets;

/// Status field manager, as upstream.
const STATUS_FIELD_MANAGER: &str = "gotk-kustomize-controller";

/// Runs kustomize-controller until SIGTERM/SIGINT.
pub async fn run(args: Args) -> anyhow::Result<()> {
    fluxrs_runtime::logging::init(args.runtime.log_level, args.runtime.log_encoding)?;
    let strict_substitutions = args.strict_substitutions().map_err(|e| anyhow!(e))?;
    let config = kube::Config::infer().await?;
    let client = fluxrs_runtime::client::client_from(config.clone(), &args.runtime)?;
    let runtime = Runtime::new(client.clone(), "kustomize-controller", args.runtime.clone())?
        .with_status_field_manager(STATUS_FIELD_MANAGER);
    let (git, git_writer) = reflector::store();
    let (oci, oci_writer) = reflector::store();
    let controller = runtime.controller::<Kustomization>();
    let kustomizations = controller.store();
    let controller = watch_sources(&runtime, controller, git_writer, oci_writer);
    let context = Arc::new(Context {
        client: client.clone(),
        discovery: Discovery::default(),
        events: runtime.events().clone(),
        field_manager: STATUS_FIELD_MANAGER.to_string(),
        requeue_dependency: args.runtime.requeue_dependency,
        no_cross_namespace_refs: args.runtime.no_cross_namespace_refs,
        strict_substitutions,
        max_artifact_bytes: args.artifact_max_size,
        http_retry: args.http_retry,
        prune_guard_percent: args.prune_guard_percent,
        skip_unchanged: args.skip_unchanged,
        runtime_namespace: runtime.runtime_namespace().map(str::to_string),
        sops_age_secret: (!args.sops_age_secret.is_empty()).then(|| {
            let namespace = runtime.runtime_namespace().unwrap_or("flux-system");
            (namespace.to_string(), args.sops_age_secret.clone())
        }),
        targets: Targets::new(config, client.clone(), args.runtime.clone()),
        steady: SteadyState::new(Tracker::new(client)),
        stores: Stores {
            git,
            oci,
            kustomizations,
        },
    });
    let work = runtime.run_controller(controller, reconcile, context);
    Ok(runtime.run(work).await?)
}

/// Reconciles a Kustomization as soon as its source has a new artifact; the
/// sources' watch caches also serve the reconciles' source lookups.
fn watch_sources(
    runtime: &Runtime,
    controller: Controller<Kustomization>,
    git_writer: Writer<GitRepository>,
    oci_writer: Writer<OCIRepository>,
) -> Controller<Kustomization> {
    let store = controller.store();
    let git_store = store.clone();
    let git_sources = watcher(
        runtime.watched_api::<GitRepository>(),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(git_writer)
    .applied_objects();
    let oci_sources = watcher(
        runtime.watched_api::<OCIRepository>(),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(oci_writer)
    .applied_objects();
    controller
        .watches_stream(git_sources, move |source| {
            dependents(
                &git_store,
                KustomizationSourceKind::GitRepository,
                &source.namespace().unwrap_or_default(),
                &source.name_any(),
            )
        })
        .watches_stream(oci_sources, move |source| {
            dependents(
                &store,
                KustomizationSourceKind::OCIRepository,
                &source.namespace().unwrap_or_default(),
                &source.name_any(),
            )
        })
}

/// Kustomizations whose `sourceRef` names this source.
fn dependents(
    store: &Store<Kustomization>,
    kind: KustomizationSourceKind,
    namespace: &str,
    name: &str,
) -> Vec<ObjectRef<Kustomization>> {
    store
        .state()
        .into_iter()
        .filter(|k| {
            let source = &k.spec.source_ref;
            let source_namespace = source
                .namespace
                .clone()
                .or_else(|| k.namespace())
                .unwrap_or_default();
            source.kind == kind && source.name == name && source_namespace == namespace
        })
        .map(|k| ObjectRef::from_obj(k.as_ref()))
        .collect()
}
