//! Controller scaffolding shared by every flux-rs controller.
//!
//! Flux controllers all follow the same runtime conventions (conditions,
//! kstatus, the reconcile-request protocol, suspend, finalizers, events,
//! metrics, flags; see `spec/common.md`). This crate implements them once so
//! that each controller only writes its reconcile steps:
//!
//! * [`controller`]: the kube-runtime loop, [`controller::Runtime`];
//! * [`outcome`]: reconcile errors typed by outcome and the one table that
//!   maps an outcome to conditions, event, log line and requeue;
//! * [`conditions`]: condition names, the setter, kstatus;
//! * [`reconcile_request`]: `reconcile.fluxcd.io/requestedAt` and the watch predicate;
//! * [`status`]: server-side-applied status and the finalizer;
//! * [`events`]: Kubernetes Events with Flux annotations;
//! * [`metrics`] and [`server`]: Prometheus metrics, `/metrics`, `/healthz`, `/readyz`;
//! * [`leader_election`]: the Lease lock;
//! * [`flags`], [`logging`], [`client`], [`interval`]: process setup.
#![warn(missing_docs)]

pub mod artifact;
pub mod client;
pub mod conditions;
pub mod controller;
pub mod error;
pub mod events;
pub mod flags;
mod host;
pub mod interval;
pub mod leader_election;
pub mod logging;
pub mod metrics;
pub mod outcome;
pub mod reconcile_request;
pub mod server;
pub mod status;
#[cfg(test)]
mod testing;

pub use error::{Error, Result};
