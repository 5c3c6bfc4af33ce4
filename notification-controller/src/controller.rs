//! Wiring: caches, the event pipeline, the Receiver controller and the
//! three servers (events, receivers, metrics).
//!
//! Everything that acts runs only on the leader (inside [`Runtime::run`]):
//! two replicas must never both announce an event or both serve webhooks
//! from different caches. The state is loaded after leadership is won, so a
//! new leader resumes exactly where the old one stopped.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use fluxrs_api::notification::{Alert, Provider, Receiver};
use fluxrs_runtime::controller::Runtime;
use fluxrs_runtime::server::serve;
use futures::StreamExt;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::Resource;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::delivery::{RateLimiter, RetryPolicy};
use crate::dispatch::Dispatcher;
use crate::flags::Args;
use crate::metrics::{self, Metrics};
use crate::pipeline::{Pipeline, PipelineParts};
use crate::receiver::ReceiverServer;
use crate::reconcile::receiver;
use crate::state::StateStore;
use crate::{Error, events_server};

/// Name of the controller: event reporter, field manager, lease name.
pub const CONTROLLER_NAME: &str = "notification-controller";

/// Burst of the per-Provider rate limit.
const PROVIDER_BURST: u32 = 10;

/// A reflector cache of `K` in the watched namespaces, and the future that
/// fills it until `shutdown`.
fn cache<K>(
    runtime: &Runtime,
    shutdown: &CancellationToken,
) -> (Store<K>, impl std::future::Future<Output = ()> + use<K>)
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(runtime.watched_api::<K>(), runtime.watcher_config())
        .default_backoff()
        .reflect(writer)
        .take_until(shutdown.clone().cancelled_owned());
    let fill = stream.for_each(|event| async move {
        if let Err(error) = event {
            tracing::warn!(%error, kind = %K::kind(&()), "watch failed, retrying");
        }
    });
    (reader, fill)
}

/// Cancels `token` on SIGTERM or SIGINT.
fn cancel_on_signal(token: CancellationToken) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        info!("shutdown requested");
        token.cancel();
    });
    Ok(())
}

/// Runs notification-controller until SIGTERM/SIGINT.
pub async fn run(args: Args) -> anyhow::Result<()> {
    fluxrs_runtime::logging::init(args.runtime.log_level, args.runtime.log_encoding)?;
    let client = fluxrs_runtime::client::client(&args.runtime).await?;
    // The runtime must neither forward our own events to --events-addr (here
    // the listen address) nor serve /metrics without our metrics.
    let mut runtime_args = args.runtime.clone();
    runtime_args.events_addr = String::new();
    runtime_args.metrics_addr = "0".to_owned();
    let runtime = Runtime::new(client.clone(), CONTROLLER_NAME, runtime_args)?;
    let namespace = runtime
        .runtime_namespace()
        .ok_or(Error::MissingRuntimeNamespace)?
        .to_owned();
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone())?;
    let metrics = Metrics::new();
    let metrics_server = {
        let (address, router, shutdown) = (
            args.runtime.metrics_addr.clone(),
            metrics::router(runtime.metrics().clone(), metrics.clone()),
            shutdown.clone(),
        );
        tokio::spawn(async move { serve(&address, router, shutdown).await })
    };

    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let work = async {
        if let Err(error) = lead(&args, &runtime, &namespace, metrics, &shutdown).await {
            error!(
                error = format!("{error:#}"),
                "notification-controller failed"
            );
            *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
            shutdown.cancel();
        }
    };
    let result = runtime.run(work).await;
    shutdown.cancel();
    metrics_server.await.context("metrics server task")??;
    result?;
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Everything the leader does, until `shutdown`.
async fn lead(
    args: &Args,
    runtime: &Runtime,
    namespace: &str,
    metrics: Metrics,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let client = runtime.client().clone();
    let store = StateStore::new(client.clone(), namespace, runtime.name());
    let state = store.load().await?;
    let (alerts, fill_alerts) = cache::<Alert>(runtime, shutdown);
    let (providers, fill_providers) = cache::<Provider>(runtime, shutdown);
    let dispatcher = Dispatcher::new(
        client.clone(),
        runtime.events().clone(),
        RateLimiter::new(args.provider_rate_limit, PROVIDER_BURST),
        metrics.clone(),
        RetryPolicy::default(),
    );
    let pipeline = Arc::new(Pipeline::new(
        PipelineParts {
            client: client.clone(),
            alerts,
            providers,
            dispatcher,
            recorder: runtime.events().clone(),
            metrics,
            no_cross_namespace_refs: args.runtime.no_cross_namespace_refs,
            rate_limit_interval: args.rate_limit_interval,
        },
        state,
    ));
    // Persist the starting point at once: on a first start it is "now", and
    // a crash before the first event must not move it.
    store.save(&pipeline.snapshot()).await?;

    let receivers = runtime
        .controller::<Receiver>()
        .graceful_shutdown_on(shutdown.clone().cancelled_owned());
    let receiver_server = Arc::new(ReceiverServer::new(
        client.clone(),
        receivers.store(),
        args.runtime.no_cross_namespace_refs,
        crate::delivery::client(&crate::delivery::ClientSettings::default())?,
    ));
    let reconcile_receivers = runtime.run_controller(
        receivers,
        receiver::reconcile,
        Arc::new(receiver::Context {
            client: client.clone(),
            field_manager: runtime.status_field_manager().to_owned(),
            events: runtime.events().clone(),
        }),
    );
    let servers = async {
        let served = tokio::try_join!(
            serve(
                args.events_listen_addr(),
                events_server::router(Arc::clone(&pipeline)),
                shutdown.clone()
            ),
            serve(
                &args.receiver_addr,
                crate::receiver::router(receiver_server),
                shutdown.clone()
            ),
        );
        if served.is_err() {
            shutdown.cancel();
        }
        served
    };
    let events = runtime.watched_api::<K8sEvent>();
    let (served, (), (), (), ()) = tokio::join!(
        servers,
        reconcile_receivers,
        Arc::clone(&pipeline).run(events, store, shutdown.clone()),
        fill_alerts,
        fill_providers,
    );
    served?;
    Ok(())
}
