//! image.toolkit.fluxcd.io kinds (v1).

use fluxrs_api::image::v1::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
use fluxrs_api::meta::FluxObject;
use fluxrs_runtime::conditions::{self, types};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{FluxKind, Kind, ObjectRef, enum_name};
use crate::output::text::title_bool;

/// RFC 3339 with second precision, as `flux get images` prints times.
fn rfc3339(time: Option<&Time>) -> String {
    time.map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn ready_message<K: FluxObject>(obj: &K) -> String {
    conditions::get(obj.conditions(), types::READY)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

impl FluxKind for ImageRepository {
    const KIND: Kind = Kind::ImageRepository;
    const COLUMNS: &'static [&'static str] = &["LAST SCAN", "SUSPENDED"];

    fn cells(&self) -> Vec<String> {
        let scan_time = self
            .status
            .as_ref()
            .and_then(|s| s.last_scan_result.as_ref())
            .and_then(|r| r.scan_time.as_ref());
        vec![rfc3339(scan_time), title_bool(self.suspended())]
    }

    fn revision(&self) -> Option<String> {
        self.status
            .as_ref()?
            .last_scan_result
            .as_ref()?
            .revision
            .clone()
    }

    fn success_message(&self) -> String {
        let tags = self
            .status
            .as_ref()
            .and_then(|s| s.last_scan_result.as_ref())
            .map_or(0, |r| r.tag_count);
        format!("scan fetched {tags} tags")
    }
}

impl FluxKind for ImagePolicy {
    const KIND: Kind = Kind::ImagePolicy;
    const COLUMNS: &'static [&'static str] = &["IMAGE", "TAG"];

    fn cells(&self) -> Vec<String> {
        let latest = self.status.as_ref().and_then(|s| s.latest_ref.as_ref());
        vec![
            latest.map(|r| r.name.clone()).unwrap_or_default(),
            latest.map(|r| r.tag.clone()).unwrap_or_default(),
        ]
    }

    fn revision(&self) -> Option<String> {
        Some(self.status.as_ref()?.latest_ref.as_ref()?.to_string())
    }

    fn success_message(&self) -> String {
        format!("selected ref {}", self.revision().unwrap_or_default())
    }

    /// The ImageRepository whose tags the policy chooses from.
    fn source(&self) -> Option<ObjectRef> {
        let repository = &self.spec.image_repository_ref;
        Some(ObjectRef::from_owner(
            self,
            Kind::ImageRepository.name(),
            &repository.name,
            repository.namespace.as_deref(),
        ))
    }
}

impl FluxKind for ImageUpdateAutomation {
    const KIND: Kind = Kind::ImageUpdateAutomation;
    const COLUMNS: &'static [&'static str] = &["LAST RUN", "SUSPENDED"];

    fn cells(&self) -> Vec<String> {
        let last_run = self
            .status
            .as_ref()
            .and_then(|s| s.last_automation_run_time.as_ref());
        vec![rfc3339(last_run), title_bool(self.suspended())]
    }

    fn revision(&self) -> Option<String> {
        self.status.as_ref()?.last_push_commit.clone()
    }

    fn success_message(&self) -> String {
        ready_message(self)
    }

    /// The GitRepository the automation commits to.
    fn source(&self) -> Option<ObjectRef> {
        let source = &self.spec.source_ref;
        Some(ObjectRef::from_owner(
            self,
            enum_name(&source.kind),
            &source.name,
            source.namespace.as_deref(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_repository_shows_last_scan_time() {
        let repo: ImageRepository = serde_json::from_value(serde_json::json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageRepository",
            "metadata": {"name": "podinfo", "namespace": "apps"},
            "spec": {"image": "ghcr.io/stefanprodan/podinfo", "interval": "5m"},
            "status": {"lastScanResult": {"tagCount": 12, "scanTime": "2026-03-04T05:06:07.123Z"}}
        }))
        .unwrap();
        assert_eq!(repo.cells(), ["2026-03-04T05:06:07Z", "False"]);
        assert_eq!(repo.success_message(), "scan fetched 12 tags");
    }
}
