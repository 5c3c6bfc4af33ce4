//! Integration tests of fluxrs-runtime's cluster-facing code against a real
//! control plane from `fluxrs-e2e` (one per test binary; every test works in
//! its own namespace). Nothing is mocked: status patches, finalizers, events,
//! leases and the controller loop all go through a real kube-apiserver.

mod common;
mod controller;
mod events;
mod finalizer;
mod leader_election;
mod status;
