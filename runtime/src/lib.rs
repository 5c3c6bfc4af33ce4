//! Controller scaffolding shared by every flux-rs controller.
