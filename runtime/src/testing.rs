//! A minimal Flux-shaped object for unit tests of the trait-based helpers.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

use crate::conditions::Condition;
use fluxrs_api::meta::FluxObject;

/// An object of kind `Test` in `test.toolkit.fluxcd.io/v1` whose status
/// fields are plain struct fields.
#[derive(Clone, Debug, Default)]
pub(crate) struct TestObject {
    pub(crate) meta: ObjectMeta,
    pub(crate) observed_generation: Option<i64>,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) last_handled: Option<String>,
}

impl Resource for TestObject {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Test".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "test.toolkit.fluxcd.io".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "tests".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}

impl FluxObject for TestObject {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }
    fn last_handled_reconcile_at(&self) -> Option<&str> {
        self.last_handled.as_deref()
    }
    fn suspended(&self) -> bool {
        false
    }
    fn interval(&self) -> Option<&str> {
        None
    }
}
