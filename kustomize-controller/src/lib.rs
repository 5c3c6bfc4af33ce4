//! flux-rs kustomize-controller: builds a Kustomization's path from its source
//! artifact, validates and server-side applies the result, prunes what was
//! removed, waits for health and reports Flux's status.

pub mod apply;
pub mod build;
pub mod controller;
pub mod decrypt;
pub mod flags;
pub mod health;
pub mod health_exprs;
pub mod history;
pub mod inventory;
pub mod managed_fields;
pub mod ordering;
pub mod prune_guard;
pub mod reconcile;
pub mod steady_state;
pub mod substitute;
pub mod target;
