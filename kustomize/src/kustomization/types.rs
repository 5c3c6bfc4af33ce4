//! Field types of a kustomization file.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::resource::Gvk;

/// `kind` of a kustomization.
pub const KIND_KUSTOMIZATION: &str = "Kustomization";
/// `kind` of a component.
pub const KIND_COMPONENT: &str = "Component";

/// A kustomization (or component) file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kustomization {
    /// `apiVersion` (`kustomize.config.k8s.io/v1beta1` or `v1alpha1`).
    pub api_version: Option<String>,
    /// `Kustomization` or `Component`.
    pub kind: Option<String>,
    /// Ignored metadata.
    pub metadata: Option<Value>,
    /// Custom OpenAPI schema (accepted, not used).
    pub open_api: Option<Value>,
    /// Prefix added to every name.
    #[serde(default)]
    pub name_prefix: String,
    /// Suffix added to every name.
    #[serde(default)]
    pub name_suffix: String,
    /// Namespace every object is moved into.
    #[serde(default)]
    pub namespace: String,
    /// Labels added to objects, selectors and templates.
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    /// Labels with per-entry selector/template options.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Annotations added to objects and templates.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Strategic merge patches: file paths or inline documents.
    #[serde(default)]
    pub patches_strategic_merge: Vec<String>,
    /// JSON 6902 patches with targets.
    #[serde(default, rename = "patchesJson6902")]
    pub patches_json6902: Vec<Patch>,
    /// Patches of either kind, optionally with targets.
    #[serde(default)]
    pub patches: Vec<Patch>,
    /// Image rewrites.
    #[serde(default)]
    pub images: Vec<Image>,
    /// Deprecated spelling of `images`.
    #[serde(default)]
    pub image_tags: Vec<Image>,
    /// Field replacements.
    #[serde(default)]
    pub replacements: Vec<ReplacementEntry>,
    /// Replica count overrides.
    #[serde(default)]
    pub replicas: Vec<Replica>,
    /// Deprecated `$(VAR)` substitutions.
    #[serde(default)]
    pub vars: Vec<Var>,
    /// Output order (top-level kustomization only).
    pub sort_options: Option<SortOptions>,
    /// Files and directories to include.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Component directories to apply.
    #[serde(default)]
    pub components: Vec<String>,
    /// OpenAPI definition files of custom types (extra field specs).
    #[serde(default)]
    pub crds: Vec<String>,
    /// Deprecated spelling of directory `resources`.
    #[serde(default)]
    pub bases: Vec<String>,
    /// ConfigMaps to generate.
    #[serde(default)]
    pub config_map_generator: Vec<GeneratorArgs>,
    /// Secrets to generate.
    #[serde(default)]
    pub secret_generator: Vec<GeneratorArgs>,
    /// Helm settings (not supported).
    pub helm_globals: Option<Value>,
    /// Helm charts to inflate (not supported).
    pub helm_charts: Option<Value>,
    /// Deprecated Helm generator (not supported).
    pub helm_chart_inflation_generator: Option<Value>,
    /// Options for all generators of this kustomization.
    pub generator_options: Option<GeneratorOptions>,
    /// Transformer configuration files (extra field specs).
    #[serde(default)]
    pub configurations: Vec<String>,
    /// Generator plugins (not supported).
    #[serde(default)]
    pub generators: Vec<String>,
    /// Transformer plugins (not supported).
    #[serde(default)]
    pub transformers: Vec<String>,
    /// Validator plugins (not supported).
    #[serde(default)]
    pub validators: Vec<String>,
    /// Build metadata options (not supported).
    #[serde(default)]
    pub build_metadata: Vec<String>,
}

impl Kustomization {
    /// Folds deprecated fields into their replacements, as kustomize's
    /// `FixKustomization` does.
    pub fn fix_legacy_fields(&mut self) {
        self.resources.append(&mut self.bases);
        self.images.append(&mut self.image_tags);
    }

    /// Whether this is a `kind: Component`.
    pub fn is_component(&self) -> bool {
        self.kind.as_deref() == Some(KIND_COMPONENT)
    }
}

/// An entry of `labels`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Label {
    /// Labels to add.
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    /// Also add them to selectors (and templates).
    #[serde(default)]
    pub include_selectors: bool,
    /// Also add them to pod templates.
    #[serde(default)]
    pub include_templates: bool,
    /// Extra field specs to add them to.
    #[serde(default)]
    pub fields: Vec<crate::fieldspec::FieldSpec>,
}

/// An entry of `patches` or `patchesJson6902`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    /// File holding the patch.
    pub path: Option<String>,
    /// The patch itself.
    pub patch: Option<String>,
    /// Which resources to patch.
    pub target: Option<Selector>,
    /// Patch options.
    #[serde(default)]
    pub options: PatchOptions,
}

/// `options` of a patch (a free map of booleans in kustomize: unknown keys
/// are accepted and ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchOptions {
    /// The patch may change `metadata.name`.
    #[serde(default)]
    pub allow_name_change: bool,
    /// The patch may change `kind`.
    #[serde(default)]
    pub allow_kind_change: bool,
}

/// A resource selector (patch targets, replacement selectors).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind (anchored regular expression).
    #[serde(default)]
    pub kind: String,
    /// Name (anchored regular expression).
    #[serde(default)]
    pub name: String,
    /// Namespace (anchored regular expression).
    #[serde(default)]
    pub namespace: String,
    /// Label selector.
    #[serde(default)]
    pub label_selector: String,
    /// Annotation selector.
    #[serde(default)]
    pub annotation_selector: String,
}

/// An entry of `images`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    /// Image name to match.
    #[serde(default)]
    pub name: String,
    /// Replacement name.
    #[serde(default)]
    pub new_name: String,
    /// Replacement tag.
    #[serde(default)]
    pub new_tag: String,
    /// Replacement digest.
    #[serde(default)]
    pub digest: String,
    /// Suffix appended to the tag.
    #[serde(default)]
    pub tag_suffix: String,
}

/// An entry of `replicas`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    /// Name of the workload.
    pub name: String,
    /// New replica count.
    pub count: i64,
}

/// An entry of `vars`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Var {
    /// Variable name, used as `$(NAME)`.
    pub name: String,
    /// The object holding the value.
    pub objref: ObjRef,
    /// The field holding the value (defaults to `metadata.name`).
    #[serde(default)]
    pub fieldref: FieldRef,
}

/// `objref` of a var.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjRef {
    /// `apiVersion` of the object (alternative to group/version).
    #[serde(default)]
    pub api_version: String,
    /// API group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace (empty: any).
    #[serde(default)]
    pub namespace: String,
}

impl ObjRef {
    /// The gvk this reference selects.
    pub fn gvk(&self) -> Gvk {
        if self.api_version.is_empty() {
            Gvk {
                group: self.group.clone(),
                version: self.version.clone(),
                kind: self.kind.clone(),
            }
        } else {
            Gvk::from_api_version(&self.api_version, &self.kind)
        }
    }
}

/// `fieldref` of a var.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldRef {
    /// Dotted field path (kustomize's Go decoder also accepts `fieldpath`).
    #[serde(default, alias = "fieldpath")]
    pub field_path: String,
}

/// `sortOptions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SortOptions {
    /// `legacy` or `fifo`.
    #[serde(default)]
    pub order: String,
    /// Custom legacy order.
    pub legacy_sort_options: Option<LegacySortOptions>,
}

/// `sortOptions.legacySortOptions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacySortOptions {
    /// Kinds first, in this order.
    #[serde(default)]
    pub order_first: Vec<String>,
    /// Kinds last, in this order.
    #[serde(default)]
    pub order_last: Vec<String>,
}

/// An entry of `configMapGenerator` / `secretGenerator`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorArgs {
    /// Name of the generated object (before prefix, suffix and hash).
    #[serde(default)]
    pub name: String,
    /// Namespace of the generated object.
    #[serde(default)]
    pub namespace: String,
    /// `create` (default), `merge` or `replace`.
    #[serde(default)]
    pub behavior: String,
    /// `key=value` pairs.
    #[serde(default)]
    pub literals: Vec<String>,
    /// Files, as `path` or `key=path`.
    #[serde(default)]
    pub files: Vec<String>,
    /// Env files (`KEY=value` lines).
    #[serde(default)]
    pub envs: Vec<String>,
    /// Deprecated single env file.
    #[serde(default)]
    pub env: String,
    /// Options overriding `generatorOptions`.
    pub options: Option<GeneratorOptions>,
    /// Secret type (secretGenerator only).
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// `generatorOptions` (or a generator's `options`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    /// Labels for generated objects.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations for generated objects.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Don't append the content hash to names.
    pub disable_name_suffix_hash: Option<bool>,
    /// Mark generated objects immutable.
    pub immutable: Option<bool>,
}

/// An entry of `replacements`: inline, or a file holding replacements.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ReplacementEntry {
    /// `- path: file.yaml`.
    Path {
        /// The file.
        path: String,
    },
    /// An inline replacement.
    Inline(Box<Replacement>),
}

/// One replacement: copy a value from a source field into target fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replacement {
    /// Where the value comes from.
    pub source: Option<SourceSelector>,
    /// Where it goes.
    #[serde(default)]
    pub targets: Vec<TargetSelector>,
}

/// `source` of a replacement.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceSelector {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// Dotted path of the value (default `metadata.name`).
    #[serde(default)]
    pub field_path: String,
    /// Delimiter/index options.
    pub options: Option<FieldOptions>,
}

/// A target of a replacement.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetSelector {
    /// Which resources.
    pub select: Option<Selector>,
    /// Resources to leave out.
    #[serde(default)]
    pub reject: Vec<Selector>,
    /// Fields to set.
    #[serde(default)]
    pub field_paths: Vec<String>,
    /// How to set them.
    pub options: Option<FieldOptions>,
}

/// `options` of a replacement source or target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldOptions {
    /// Split the value on this delimiter...
    #[serde(default)]
    pub delimiter: String,
    /// ...and use this part.
    #[serde(default)]
    pub index: i64,
    /// Encoding (unsupported by kustomize v5 too, kept for schema parity).
    #[serde(default)]
    pub encoding: String,
    /// Create missing target fields.
    #[serde(default)]
    pub create: bool,
}
