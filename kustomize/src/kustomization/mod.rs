//! The `kustomization.yaml` schema (`kustomize.config.k8s.io/v1beta1`
//! Kustomization and v1alpha1 Component), read strictly: unknown fields are
//! errors, as in kustomize.

mod types;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use types::*;

use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::yaml::parse_documents;

/// The file names kustomize recognizes, in the order it tries them.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Finds and reads the kustomization file of `dir`.
pub fn load(fs: &dyn FileSystem, dir: &Path) -> Result<(PathBuf, Kustomization)> {
    let found: Vec<PathBuf> = FILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| fs.exists(p) && !fs.is_dir(p))
        .collect();
    let path = match found.as_slice() {
        [] => {
            return Err(Error::MissingKustomization {
                dir: dir.to_path_buf(),
            });
        }
        [one] => one.clone(),
        _ => {
            return Err(Error::MultipleKustomizations {
                dir: dir.to_path_buf(),
            });
        }
    };
    let bytes = fs.read_file(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let mut docs = parse_documents(&text).map_err(|source| Error::Yaml {
        path: path.clone(),
        source,
    })?;
    let doc = match docs.len() {
        0 => Value::Object(Default::default()),
        1 => docs.remove(0),
        _ => {
            return Err(Error::InvalidKustomization {
                path,
                message: "a kustomization file must hold exactly one document".into(),
            });
        }
    };
    let mut k: Kustomization =
        serde_json::from_value(doc).map_err(|e| Error::InvalidKustomization {
            path: path.clone(),
            message: e.to_string(),
        })?;
    k.fix_legacy_fields();
    if let Some(kind) = &k.kind
        && kind != KIND_KUSTOMIZATION
        && kind != KIND_COMPONENT
    {
        return Err(Error::InvalidKustomization {
            path,
            message: format!(
                "kind must be '{KIND_KUSTOMIZATION}' or '{KIND_COMPONENT}', not '{kind}'"
            ),
        });
    }
    Ok((path, k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemoryFs;

    #[test]
    fn unknown_fields_are_rejected_with_the_file() {
        let mut fs = MemoryFs::new();
        fs.add("app/kustomization.yaml", "resources: []\nbogus: 1\n");
        let err = load(&fs, Path::new("app")).unwrap_err().to_string();
        assert!(err.contains("app/kustomization.yaml"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn legacy_fields_are_folded_in() {
        let mut fs = MemoryFs::new();
        fs.add(
            "k/Kustomization",
            "bases: [../b]\nresources: [a.yaml]\nimageTags: [{name: x, newTag: v1}]\n",
        );
        let (_, k) = load(&fs, Path::new("k")).unwrap();
        assert_eq!(k.resources, vec!["a.yaml", "../b"]);
        assert_eq!(k.images.len(), 1);
    }
}
