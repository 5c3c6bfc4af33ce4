//! kustomize's builtin transformers, one module each, plus the pieces they
//! share (selectors, dotted field paths).

pub mod fieldpath;
pub mod images;
pub mod metadata;
pub mod nameref;
pub mod names;
pub mod namespace;
pub mod patches;
pub mod replacements;
pub mod replicas;
pub mod selector;
pub mod sort;
pub mod vars;
