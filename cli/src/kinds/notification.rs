//! notification.toolkit.fluxcd.io kinds. Alert and Provider (v1beta3) have no
//! status: they are static and always shown as ready, like `flux get` does.

use fluxrs_api::meta::FluxObject;
use fluxrs_api::notification::{Alert, Provider, Receiver};

use super::{FluxKind, Kind, ObjectRef};
use crate::output::text::title_bool;

impl FluxKind for Alert {
    const KIND: Kind = Kind::Alert;
    const COLUMNS: &'static [&'static str] = &["SUSPENDED"];

    fn cells(&self) -> Vec<String> {
        vec![title_bool(self.suspended())]
    }

    fn revision(&self) -> Option<String> {
        None
    }

    fn success_message(&self) -> String {
        "Alert is Ready".into()
    }

    fn static_message(&self) -> Option<&'static str> {
        Some("Alert is Ready")
    }

    /// The Provider events are sent to.
    fn source(&self) -> Option<ObjectRef> {
        Some(ObjectRef::from_owner(
            self,
            Kind::Provider.name(),
            &self.spec.provider_ref.name,
            None,
        ))
    }
}

impl FluxKind for Provider {
    const KIND: Kind = Kind::Provider;
    const COLUMNS: &'static [&'static str] = &[];

    fn cells(&self) -> Vec<String> {
        Vec::new()
    }

    fn revision(&self) -> Option<String> {
        None
    }

    fn success_message(&self) -> String {
        "Provider is Ready".into()
    }

    fn static_message(&self) -> Option<&'static str> {
        Some("Provider is Ready")
    }
}

impl FluxKind for Receiver {
    const KIND: Kind = Kind::Receiver;
    const COLUMNS: &'static [&'static str] = &["SUSPENDED"];

    fn cells(&self) -> Vec<String> {
        vec![title_bool(self.suspended())]
    }

    fn revision(&self) -> Option<String> {
        None
    }

    fn success_message(&self) -> String {
        "reconciliation completed".into()
    }
}
