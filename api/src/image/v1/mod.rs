//! `image.toolkit.fluxcd.io/v1`, the storage version.
//!
//! Besides upstream v1's fields, the ImagePolicy status keeps v1beta2's
//! `latestImage` and `observedPreviousImage` (documented as compatibility
//! fields) so that v1beta2 readers of objects stored as v1 see what they
//! expect; see the parent module.

mod image_policy;
mod image_repository;
mod image_update_automation;

pub use image_policy::*;
pub use image_repository::*;
pub use image_update_automation::*;
