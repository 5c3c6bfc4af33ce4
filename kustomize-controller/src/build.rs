//! Turning an unpacked artifact into the objects to apply, the way Flux does:
//! generate a `kustomization.yaml` when the path has none, merge the
//! Kustomization's own overrides into it, build with fluxrs-kustomize, then
//! stamp `commonMetadata`.

use std::fs;
use std::path::{Component, Path, PathBuf};

use fluxrs_api::kustomize::KustomizationSpec;
use fluxrs_kustomize::fs::DiskFs;
use serde_json::Value;
use serde_yaml_ng::{Mapping, Value as Yaml};

/// File names kustomize accepts, in the order it looks for them.
const KUSTOMIZATION_FILES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Everything that can go wrong while building.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `spec.path` leaves the artifact or does not exist.
    #[error("{0}")]
    Path(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// A manifest or kustomization is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The kustomize build failed.
    #[error("kustomize build failed: {0}")]
    Kustomize(String),
}

/// Resolves `spec.path` inside `root`, refusing anything that leaves it.
pub fn resolve_path(root: &Path, path: Option<&str>) -> Result<PathBuf, BuildError> {
    let relative = Path::new(path.unwrap_or("").trim_start_matches("./"));
    let mut resolved = PathBuf::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => resolved.push(part),
            Component::CurDir => {}
            Component::RootDir => {}
            Component::ParentDir => {
                if !resolved.pop() {
                    return Err(BuildError::Path(format!(
                        "path '{}' leaves the artifact",
                        relative.display()
                    )));
                }
            }
            Component::Prefix(_) => {
                return Err(BuildError::Path(format!(
                    "invalid path '{}'",
                    relative.display()
                )));
            }
        }
    }
    if !root.join(&resolved).is_dir() {
        return Err(BuildError::Path(format!(
            "kustomization path not found: {}",
            relative.display()
        )));
    }
    Ok(resolved)
}

/// Builds the objects of `dir` (relative to `root`) with the Kustomization's
/// overrides. The artifact folder is modified in place (it is a private copy).
pub fn build(root: &Path, dir: &Path, spec: &KustomizationSpec) -> Result<Vec<Value>, BuildError> {
    let absolute = root.join(dir);
    let file = match find_kustomization(&absolute) {
        Some(file) => file,
        None => generate(&absolute)?,
    };
    apply_overrides(&file, spec)?;
    let disk = DiskFs::new(root).map_err(|e| BuildError::Io(format!("{}: {e}", root.display())))?;
    let resources =
        fluxrs_kustomize::build(&disk, dir).map_err(|e| BuildError::Kustomize(e.to_string()))?;
    let mut objects: Vec<Value> = resources.into_iter().map(|r| r.into_value()).collect();
    if let Some(common) = &spec.common_metadata {
        for object in &mut objects {
            stamp(object, "labels", common.labels.as_ref());
            stamp(object, "annotations", common.annotations.as_ref());
        }
    }
    for object in &objects {
        check_identity(object)?;
    }
    Ok(objects)
}

fn find_kustomization(dir: &Path) -> Option<PathBuf> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// Writes a kustomization listing every manifest under `dir` (a sub-folder with
/// its own kustomization counts as one resource), as Flux generates it.
fn generate(dir: &Path) -> Result<PathBuf, BuildError> {
    let mut resources = Vec::new();
    collect(dir, dir, &mut resources)?;
    resources.sort();
    let mut kustomization = Mapping::new();
    kustomization.insert(
        "apiVersion".into(),
        "kustomize.config.k8s.io/v1beta1".into(),
    );
    kustomization.insert("kind".into(), "Kustomization".into());
    if resources.is_empty() {
        kustomization.insert("namespace".into(), "_placeholder".into());
    } else {
        kustomization.insert(
            "resources".into(),
            Yaml::Sequence(resources.into_iter().map(Yaml::String).collect()),
        );
    }
    let file = dir.join("kustomization.yaml");
    write_yaml(&file, &Yaml::Mapping(kustomization))?;
    Ok(file)
}

fn collect(root: &Path, dir: &Path, resources: &mut Vec<String>) -> Result<(), BuildError> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| BuildError::Io(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        if path.is_dir() {
            if find_kustomization(&path).is_some() {
                resources.push(relative);
            } else {
                collect(root, &path, resources)?;
            }
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            check_manifest_file(&path, &relative)?;
            resources.push(relative);
        }
    }
    Ok(())
}

/// A generated kustomization may only list Kubernetes manifests.
fn check_manifest_file(path: &Path, relative: &str) -> Result<(), BuildError> {
    let text = fs::read_to_string(path).map_err(|e| BuildError::Io(format!("{relative}: {e}")))?;
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value: Yaml = serde::Deserialize::deserialize(document)
            .map_err(|e| BuildError::Invalid(format!("{relative}: {e}")))?;
        if value.is_null() {
            continue;
        }
        let has = |key: &str| value.get(key).and_then(Yaml::as_str).is_some();
        if !has("apiVersion") || !has("kind") {
            return Err(BuildError::Invalid(format!(
                "{relative}: not a Kubernetes manifest (missing apiVersion or kind)"
            )));
        }
    }
    Ok(())
}

/// Merges `namespace`, `namePrefix`, `nameSuffix`, `patches`, `images` and
/// `components` from the Kustomization into the kustomization file.
fn apply_overrides(file: &Path, spec: &KustomizationSpec) -> Result<(), BuildError> {
    let text =
        fs::read_to_string(file).map_err(|e| BuildError::Io(format!("{}: {e}", file.display())))?;
    let mut kustomization: Yaml = serde_yaml_ng::from_str(&text).map_err(|e| {
        BuildError::Invalid(format!(
            "{}: {e}",
            file.file_name().unwrap_or_default().to_string_lossy()
        ))
    })?;
    if kustomization.is_null() {
        kustomization = Yaml::Mapping(Mapping::new());
    }
    let map = kustomization.as_mapping_mut().ok_or_else(|| {
        BuildError::Invalid("the kustomization file is not a YAML mapping".into())
    })?;
    let before = map.clone();
    if let Some(namespace) = &spec.target_namespace {
        map.insert("namespace".into(), namespace.clone().into());
    }
    if let Some(prefix) = &spec.name_prefix {
        map.insert("namePrefix".into(), prefix.clone().into());
    }
    if let Some(suffix) = &spec.name_suffix {
        map.insert("nameSuffix".into(), suffix.clone().into());
    }
    for patch in spec.patches.iter().flatten() {
        let value =
            serde_yaml_ng::to_value(patch).map_err(|e| BuildError::Invalid(e.to_string()))?;
        push(map, "patches", value);
    }
    for component in spec.components.iter().flatten() {
        push(map, "components", component.clone().into());
    }
    for image in spec.images.iter().flatten() {
        merge_image(map, image)?;
    }
    if *map != before {
        write_yaml(file, &kustomization)?;
    }
    Ok(())
}

fn push(map: &mut Mapping, key: &str, value: Yaml) {
    let entry = map
        .entry(key.into())
        .or_insert_with(|| Yaml::Sequence(Vec::new()));
    if !entry.is_sequence() {
        *entry = Yaml::Sequence(Vec::new());
    }
    if let Some(list) = entry.as_sequence_mut() {
        list.push(value);
    }
}

/// Upstream's image merge: an entry with the same name gets `newName` replaced
/// when set, and `newTag`/`digest` replaced together when either is set.
fn merge_image(map: &mut Mapping, image: &fluxrs_api::meta::Image) -> Result<(), BuildError> {
    let value = serde_yaml_ng::to_value(image).map_err(|e| BuildError::Invalid(e.to_string()))?;
    let images = map
        .entry("images".into())
        .or_insert_with(|| Yaml::Sequence(Vec::new()));
    let Some(list) = images.as_sequence_mut() else {
        return Err(BuildError::Invalid(
            "'images' in the kustomization file is not a list".into(),
        ));
    };
    let existing = list
        .iter_mut()
        .find(|i| i.get("name").and_then(Yaml::as_str) == Some(image.name.as_str()));
    match existing.and_then(Yaml::as_mapping_mut) {
        Some(entry) => {
            if let Some(new_name) = &image.new_name {
                entry.insert("newName".into(), new_name.clone().into());
            }
            if image.new_tag.is_some() || image.digest.is_some() {
                entry.remove("newTag");
                entry.remove("digest");
                if let Some(tag) = &image.new_tag {
                    entry.insert("newTag".into(), tag.clone().into());
                }
                if let Some(digest) = &image.digest {
                    entry.insert("digest".into(), digest.clone().into());
                }
            }
        }
        None => list.push(value),
    }
    Ok(())
}

fn write_yaml(file: &Path, value: &Yaml) -> Result<(), BuildError> {
    let text = serde_yaml_ng::to_string(value).map_err(|e| BuildError::Invalid(e.to_string()))?;
    fs::write(file, text).map_err(|e| BuildError::Io(format!("{}: {e}", file.display())))
}

/// Sets `metadata.<field>` keys from `values`, overriding existing ones.
fn stamp(
    object: &mut Value,
    field: &str,
    values: Option<&std::collections::BTreeMap<String, String>>,
) {
    let Some(values) = values.filter(|v| !v.is_empty()) else {
        return;
    };
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let target = metadata
        .entry(field)
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(target) = target.as_object_mut() {
        for (key, value) in values {
            target.insert(key.clone(), Value::String(value.clone()));
        }
    }
}

/// Every object must have apiVersion, kind and name.
fn check_identity(object: &Value) -> Result<(), BuildError> {
    let has = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if has("/apiVersion") && has("/kind") && has("/metadata/name") {
        Ok(())
    } else {
        Err(BuildError::Invalid(format!(
            "object without apiVersion, kind or metadata.name: {object}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        dir
    }

    fn spec(yaml: &str) -> KustomizationSpec {
        serde_yaml_ng::from_str(&format!(
            "interval: 1m\nprune: true\nsourceRef: {{kind: GitRepository, name: x}}\n{yaml}"
        ))
        .unwrap()
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n";

    #[test]
    fn paths_stay_inside_the_artifact() {
        let dir = tree(&[("deploy/a.yaml", CM)]);
        assert_eq!(
            resolve_path(dir.path(), Some("./deploy")).unwrap(),
            PathBuf::from("deploy")
        );
        assert_eq!(resolve_path(dir.path(), None).unwrap(), PathBuf::new());
        assert!(
            resolve_path(dir.path(), Some("../../etc"))
                .unwrap_err()
                .to_string()
                .contains("leaves the artifact")
        );
        assert!(
            resolve_path(dir.path(), Some("./missing"))
                .unwrap_err()
                .to_string()
                .contains("not found")
        );
    }

    #[test]
    fn generated_kustomization_takes_every_manifest_with_overrides() {
        let dir = tree(&[
            ("deploy/a.yaml", CM),
            ("deploy/sub/b.yml", &CM.replace("app", "b")),
            ("deploy/base/kustomization.yaml", "resources: [c.yaml]\n"),
            ("deploy/base/c.yaml", &CM.replace("app", "c")),
            ("deploy/README.md", "ignored"),
        ]);
        let spec = spec(
            "targetNamespace: prod\nnamePrefix: x-\ncommonMetadata:\n  labels:\n    team: a\n",
        );
        let objects = build(dir.path(), Path::new("deploy"), &spec).unwrap();
        let names: Vec<&str> = objects
            .iter()
            .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
            .collect();
        assert_eq!(names.len(), 3);
        assert!(names.iter().all(|n| n.starts_with("x-")), "{names:?}");
        assert!(
            objects
                .iter()
                .all(|o| o.pointer("/metadata/namespace") == Some(&Value::from("prod")))
        );
        assert!(
            objects
                .iter()
                .all(|o| o.pointer("/metadata/labels/team") == Some(&Value::from("a")))
        );
    }

    #[test]
    fn non_manifests_in_a_generated_kustomization_fail_clearly() {
        let dir = tree(&[("deploy/values.yaml", "replicas: 2\n")]);
        let err = build(dir.path(), Path::new("deploy"), &spec("")).unwrap_err();
        assert!(
            err.to_string()
                .contains("values.yaml: not a Kubernetes manifest"),
            "{err}"
        );
    }

    #[test]
    fn images_merge_by_name() {
        let dir = tree(&[
            (
                "k/kustomization.yaml",
                "resources: [d.yaml]\nimages:\n- name: nginx\n  newTag: '1.0'\n",
            ),
            (
                "k/d.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:0.9\n",
            ),
        ]);
        let spec =
            spec("images:\n- name: nginx\n  newName: registry.local/nginx\n  newTag: '2.0'\n");
        let objects = build(dir.path(), Path::new("k"), &spec).unwrap();
        let image = objects[0]
            .pointer("/spec/template/spec/containers/0/image")
            .and_then(Value::as_str);
        assert_eq!(image, Some("registry.local/nginx:2.0"));
    }
}
