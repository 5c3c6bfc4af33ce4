//! Kustomization and HelmRelease: they apply a source's content, and their
//! REVISION is the one last applied.

use fluxrs_api::helm::HelmRelease;
use fluxrs_api::kustomize::Kustomization;
use fluxrs_api::meta::FluxObject;
use kube::ResourceExt;

use super::{FluxKind, Kind, ObjectRef, enum_name};
use crate::output::text::title_bool;

const COLUMNS: &[&str] = &["REVISION", "SUSPENDED"];

impl FluxKind for Kustomization {
    const KIND: Kind = Kind::Kustomization;
    const COLUMNS: &'static [&'static str] = COLUMNS;
    const SOURCE_COLUMN: bool = true;

    fn cells(&self) -> Vec<String> {
        vec![
            self.revision().unwrap_or_default(),
            title_bool(self.suspended()),
        ]
    }

    fn revision(&self) -> Option<String> {
        self.status.as_ref()?.last_applied_revision.clone()
    }

    fn success_message(&self) -> String {
        format!("applied revision {}", self.revision().unwrap_or_default())
    }

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

impl FluxKind for HelmRelease {
    const KIND: Kind = Kind::HelmRelease;
    const COLUMNS: &'static [&'static str] = COLUMNS;
    const SOURCE_COLUMN: bool = true;

    fn cells(&self) -> Vec<String> {
        vec![
            self.revision().unwrap_or_default(),
            title_bool(self.suspended()),
        ]
    }

    fn revision(&self) -> Option<String> {
        let status = self.status.as_ref()?;
        status
            .history
            .as_ref()
            .and_then(|h| h.first())
            .map(|s| s.chart_version.clone())
            .or_else(|| status.last_attempted_revision.clone())
    }

    fn success_message(&self) -> String {
        format!("applied revision {}", self.revision().unwrap_or_default())
    }

    /// `chartRef`, or the chart template's `sourceRef`.
    fn source(&self) -> Option<ObjectRef> {
        if let Some(chart_ref) = &self.spec.chart_ref {
            return Some(ObjectRef::from_owner(
                self,
                enum_name(&chart_ref.kind),
                &chart_ref.name,
                chart_ref.namespace.as_deref(),
            ));
        }
        let source = &self.spec.chart.as_ref()?.spec.source_ref;
        Some(ObjectRef::from_owner(
            self,
            enum_name(&source.kind),
            &source.name,
            source.namespace.as_deref(),
        ))
    }

    /// With a chart template, the HelmChart helm-controller generates:
    /// `<namespace>-<name>` in the chart source's namespace.
    fn reconcile_source(&self) -> Option<ObjectRef> {
        if self.spec.chart_ref.is_some() {
            return self.source();
        }
        generated_chart(self)
    }

    fn related(&self) -> Vec<ObjectRef> {
        self.source()
            .into_iter()
            .chain(generated_chart(self))
            .collect()
    }
}

/// The HelmChart generated for a HelmRelease's chart template.
fn generated_chart(release: &HelmRelease) -> Option<ObjectRef> {
    let source = &release.spec.chart.as_ref()?.spec.source_ref;
    let namespace = release.namespace().unwrap_or_default();
    let chart_namespace = source
        .namespace
        .clone()
        .unwrap_or_else(|| namespace.clone());
    Some(ObjectRef::new(
        Kind::HelmChart.name(),
        chart_namespace,
        format!("{namespace}-{}", release.name_any()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(spec: serde_json::Value, status: serde_json::Value) -> HelmRelease {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "apps"},
            "spec": spec,
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn chart_template_reconciles_the_generated_chart() {
        let hr = release(
            serde_json::json!({"interval": "5m", "chart": {"spec": {
                "chart": "podinfo",
                "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": "flux-system"}
            }}}),
            serde_json::json!({"lastAttemptedRevision": "6.5.0"}),
        );
        assert_eq!(
            hr.source().unwrap().to_string(),
            "HelmRepository/flux-system/podinfo"
        );
        assert_eq!(
            hr.reconcile_source().unwrap().to_string(),
            "HelmChart/flux-system/apps-podinfo"
        );
        assert_eq!(hr.related().len(), 2);
        assert_eq!(hr.revision().as_deref(), Some("6.5.0"));
    }

    #[test]
    fn chart_ref_is_its_own_source() {
        let hr = release(
            serde_json::json!({"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "podinfo"}}),
            serde_json::json!({}),
        );
        assert_eq!(
            hr.reconcile_source().unwrap().to_string(),
            "OCIRepository/apps/podinfo"
        );
        assert_eq!(hr.related().len(), 1);
    }
}
