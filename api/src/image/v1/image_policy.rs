//! ImagePolicy v1: elects the latest image of an ImageRepository.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{DURATION_PATTERN, NamespacedObjectReference};

/// The parameters for electing the latest image of a repository.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1",
    kind = "ImagePolicy",
    namespaced,
    status = "ImagePolicyStatus",
    shortname = "imgpol",
    shortname = "imagepol",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    doc = "ImagePolicy is the Schema for the imagepolicies API.",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Image", type_ = "string", json_path = ".status.latestRef.name"),
    printcolumn(name = "Tag", type_ = "string", json_path = ".status.latestRef.tag"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].message"#
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.interval) || (has(self.digestReflectionPolicy) && self.digestReflectionPolicy == 'Always')",
        "message": "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'",
    },
    {
        "rule": "has(self.interval) || !has(self.digestReflectionPolicy) || self.digestReflectionPolicy != 'Always'",
        "message": "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'",
    },
]))]
pub struct ImagePolicySpec {
    /// ImageRepositoryRef points at the ImageRepository whose tags are
    /// considered; another namespace needs the repository's AccessFrom.
    pub image_repository_ref: NamespacedObjectReference,
    /// Policy selects how the latest tag is elected; exactly one choice is
    /// expected.
    pub policy: ImagePolicyChoice,
    /// FilterTags narrows the candidate tags; without it every tag of the
    /// repository is compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tags: Option<TagFilter>,
    /// DigestReflectionPolicy governs when `.status.latestRef.digest` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Never"))]
    pub digest_reflection_policy: Option<ReflectionPolicy>,
    /// Interval between refreshes of the latest tag's digest; accepted, and
    /// required, only with the 'Always' reflection policy. Defaults to 10m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub interval: Option<String>,
    /// Suspend tells the controller to suspend subsequent policy
    /// reconciliations; reconciliations already running are not affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// When the digest of the elected image is looked up in the registry.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReflectionPolicy {
    /// Always reflect the digest of the elected image, refreshed every Interval.
    Always,
    /// Reflect the digest only when none is recorded for an unchanged image.
    IfNotPresent,
    /// Never reflect digests; the digest field stays empty.
    #[default]
    Never,
}

/// The ways the latest tag can be elected; exactly one is expected.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ImagePolicyChoice {
    /// SemVer elects the highest version within a semver range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<SemVerPolicy>,
    /// Alphabetical elects by alphabetical order of the tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabetical: Option<AlphabeticalPolicy>,
    /// Numerical elects by numerical order of the tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerical: Option<NumericalPolicy>,
}

/// A semantic version policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SemVerPolicy {
    /// Range is a semver constraint; the highest tag within it is elected.
    pub range: String,
}

/// An alphabetical ordering policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct AlphabeticalPolicy {
    /// Order of the tags: with the letters as tags, 'asc' elects Z and
    /// 'desc' elects A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "asc"))]
    pub order: Option<SortOrder>,
}

/// A numerical ordering policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NumericalPolicy {
    /// Order of the tags: with 0 to 9 as tags, 'asc' elects 9 and 'desc'
    /// elects 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "asc"))]
    pub order: Option<SortOrder>,
}

/// Sort orders of alphabetical and numerical policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Ascending: the last tag is elected.
    #[default]
    Asc,
    /// Descending: the first tag is elected.
    Desc,
}

/// Filters the tags of a repository before election.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TagFilter {
    /// Pattern is a regular expression; only matching tags are considered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Extract is a template over Pattern's capture groups (`$1`, `$name`);
    /// the policy compares the extracted values and reports the original tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<String>,
}

/// A reference to one image: repository name, tag and optional digest.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub struct ImageRef {
    /// Name is the bare image name (the repository, without tag).
    pub name: String,
    /// Tag is the image tag.
    pub tag: String,
    /// Digest is the image digest (`sha256:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Formats as `name:tag`, or `name:tag@digest` when the digest is known —
/// the form written into manifests by image automation.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)?;
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The observed state of an ImagePolicy.
///
/// `latestImage` and `observedPreviousImage` are not part of upstream v1: they
/// are v1beta2 fields kept in this schema so that objects stored as v1 still
/// show them to v1beta2 readers (the CRD has no conversion webhook, so the
/// apiserver prunes fields a version's schema lacks). Setting the elected image
/// with `set_latest_ref` keeps both forms in sync.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "The observed state of an ImagePolicy.")]
pub struct ImagePolicyStatus {
    /// LatestRef is the image elected by the policy among the repository's
    /// tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ref: Option<ImageRef>,
    /// ObservedPreviousRef is the previously elected LatestRef, to tell the
    /// previous image from the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_previous_ref: Option<ImageRef>,
    /// LatestImage is LatestRef as `name:tag[@digest]`, written for v1beta2
    /// readers. Deprecated: use LatestRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_image: Option<String>,
    /// ObservedPreviousImage is ObservedPreviousRef as `name:tag[@digest]`,
    /// written for v1beta2 readers. Deprecated: use ObservedPreviousRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_previous_image: Option<String>,
    /// ObservedGeneration is the last reconciled generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions holds the conditions for the ImagePolicy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// LastHandledReconcileAt holds the value of the most recent reconcile
    /// request value, so a change of the annotation value can be detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

impl ImagePolicyStatus {
    /// Records `latest` as the elected image in both `latestRef` and its
    /// v1beta2 string form `latestImage`.
    ///
    /// When a different image was elected before, it becomes the observed
    /// previous image (`observedPreviousRef` and `observedPreviousImage`), as
    /// upstream does; re-electing the same image keeps the previous one.
    pub fn set_latest_ref(&mut self, latest: ImageRef) {
        if self
            .latest_ref
            .as_ref()
            .is_some_and(|current| *current != latest)
        {
            self.observed_previous_image = self.latest_ref.as_ref().map(ImageRef::to_string);
            self.observed_previous_ref = self.latest_ref.take();
        }
        self.latest_image = Some(latest.to_string());
        self.latest_ref = Some(latest);
    }
}

crate::impl_flux_object!(
    ImagePolicy,
    suspend: |o| o.spec.suspend.unwrap_or(false),
    interval: |o| o.spec.interval.as_deref()
);

#[cfg(test)]
mod tests {
    use super::*;

    fn image(tag: &str, digest: Option<&str>) -> ImageRef {
        ImageRef {
            name: "ghcr.io/stefanprodan/podinfo".to_string(),
            tag: tag.to_string(),
            digest: digest.map(str::to_string),
        }
    }

    #[test]
    fn image_ref_string_form() {
        assert_eq!(
            image("6.2.1", None).to_string(),
            "ghcr.io/stefanprodan/podinfo:6.2.1"
        );
        assert_eq!(
            image("6.2.1", Some("sha256:abc")).to_string(),
            "ghcr.io/stefanprodan/podinfo:6.2.1@sha256:abc"
        );
    }

    #[test]
    fn set_latest_ref_keeps_v1beta2_strings_in_sync() {
        let mut status = ImagePolicyStatus::default();

        status.set_latest_ref(image("6.0.0", None));
        assert_eq!(status.latest_ref, Some(image("6.0.0", None)));
        assert_eq!(
            status.latest_image.as_deref(),
            Some("ghcr.io/stefanprodan/podinfo:6.0.0")
        );
        assert_eq!(status.observed_previous_ref, None);
        assert_eq!(status.observed_previous_image, None);

        status.set_latest_ref(image("6.2.1", Some("sha256:abc")));
        assert_eq!(
            status.latest_image.as_deref(),
            Some("ghcr.io/stefanprodan/podinfo:6.2.1@sha256:abc")
        );
        assert_eq!(status.observed_previous_ref, Some(image("6.0.0", None)));
        assert_eq!(
            status.observed_previous_image.as_deref(),
            Some("ghcr.io/stefanprodan/podinfo:6.0.0")
        );

        // Re-electing the same image keeps the previous one.
        status.set_latest_ref(image("6.2.1", Some("sha256:abc")));
        assert_eq!(status.observed_previous_ref, Some(image("6.0.0", None)));
    }
}
