//! The `images` transformer: rewrites image references in `containers` and
//! `initContainers` anywhere in an object (kustomize's legacy filter, which
//! also covers custom resources) and in the configured image fields.

use regex::Regex;
use serde_json::Value;

use crate::fieldspec::{FieldSpec, visit};
use crate::kustomization::Image;
use crate::resmap::ResMap;

/// Applies one `images` entry to all objects.
pub fn apply(resmap: &mut ResMap, image: &Image, specs: &[FieldSpec]) -> Result<(), String> {
    let pattern = Regex::new(&format!(
        "^{}(@sha256)?(:[a-zA-Z0-9_.{{}}-]*)?$",
        image.name
    ))
    .ok();
    let Some(pattern) = pattern else {
        return Ok(());
    };
    let update = |v: &mut Value| {
        if let Some(s) = v.as_str()
            && pattern.is_match(s)
        {
            *v = Value::String(rewrite(s, image));
        }
    };
    for res in resmap.resources_mut() {
        legacy(res.value_mut(), &update);
        if res.kind() == "CustomResourceDefinition" {
            continue;
        }
        let gvk = res.gvk();
        for fs in specs {
            if fs.applies_to(&gvk) {
                visit(
                    res.value_mut(),
                    &fs.path_parts(),
                    None,
                    &mut |v: &mut Value| {
                        update(v);
                        Ok::<(), String>(())
                    },
                )?;
            }
        }
    }
    Ok(())
}

fn legacy(v: &mut Value, update: &dyn Fn(&mut Value)) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                legacy(child, update);
                if (k == "containers" || k == "initContainers")
                    && let Some(items) = child.as_array_mut()
                {
                    for item in items {
                        if let Some(image) = item.get_mut("image") {
                            update(image);
                        }
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| legacy(i, update)),
        _ => {}
    }
}

/// Splits an image reference into name, tag and digest (kustomize's
/// `image.Split`).
pub fn split(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|i| *i > 0).unwrap_or(0);
    let search = &image[slash..];
    let at = search.find('@');
    let colon = search.find(':');
    match (at, colon) {
        (None, None) => (image.to_string(), String::new(), String::new()),
        (Some(id), Some(ic)) if ic < id => {
            let (id, ic) = (id + slash, ic + slash);
            (
                image[..ic].to_string(),
                image[ic + 1..id].to_string(),
                image[id + 1..].to_string(),
            )
        }
        (Some(id), _) => {
            let id = id + slash;
            (
                image[..id].to_string(),
                String::new(),
                image[id + 1..].to_string(),
            )
        }
        (None, Some(ic)) => {
            let ic = ic + slash;
            (
                image[..ic].to_string(),
                image[ic + 1..].to_string(),
                String::new(),
            )
        }
    }
}

fn rewrite(current: &str, image: &Image) -> String {
    let (mut name, mut tag, mut digest) = split(current);
    if !image.new_name.is_empty() {
        name = image.new_name.clone();
    }
    if !image.new_tag.is_empty() {
        tag = image.new_tag.clone();
        if image.digest.is_empty() {
            digest.clear();
        } else {
            digest = image.digest.clone();
        }
    } else if !image.digest.is_empty() {
        tag.clear();
        digest = image.digest.clone();
    } else if !image.tag_suffix.is_empty() {
        tag.push_str(&image.tag_suffix);
        digest.clear();
    }
    if !tag.is_empty() {
        name = format!("{name}:{tag}");
    }
    if !digest.is_empty() {
        name = format!("{name}@{digest}");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_handles_registries_with_ports() {
        assert_eq!(split("nginx"), ("nginx".into(), "".into(), "".into()));
        assert_eq!(
            split("reg:5000/app:1.0"),
            ("reg:5000/app".into(), "1.0".into(), "".into())
        );
        assert_eq!(
            split("app@sha256:abc"),
            ("app".into(), "".into(), "sha256:abc".into())
        );
        assert_eq!(
            split("app:1@sha256:abc"),
            ("app".into(), "1".into(), "sha256:abc".into())
        );
    }
}
