//! Flux-compatible API types for flux-rs.
//!
//! Every kind keeps Flux's group, version, kind and field names so that manifests
//! written for Flux apply unchanged and tools written for Flux read our status.
//! CRDs are generated from these types (`cargo xtask crds`), never written by hand.

pub mod crds;
pub mod helm;
pub mod image;
pub mod kustomize;
pub mod meta;
pub mod notification;
pub mod source;
