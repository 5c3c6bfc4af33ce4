//! `configMapGenerator` and `secretGenerator`: building the objects from
//! their sources and options, and the content-hash name suffix.

mod hash;
mod kv;

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};

pub use hash::{go_json, hash_suffix};

use crate::error::{Error, Result};
use crate::kustomization::{GeneratorArgs, GeneratorOptions};
use crate::resource::{Behavior, Resource};
use crate::target::Loader;

/// Which generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorKind {
    /// `configMapGenerator`.
    ConfigMap,
    /// `secretGenerator`.
    Secret,
}

/// Merges a generator's own options with the kustomization's
/// `generatorOptions` (kustomize's `MergeGlobalOptionsIntoLocal`: local
/// labels/annotations win, a global `true` wins over a local `false`).
fn merged_options(
    local: Option<&GeneratorOptions>,
    global: Option<&GeneratorOptions>,
) -> GeneratorOptions {
    let mut out = local.cloned().unwrap_or_default();
    if let Some(g) = global {
        for (k, v) in &g.labels {
            out.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in &g.annotations {
            out.annotations
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        if g.disable_name_suffix_hash == Some(true) {
            out.disable_name_suffix_hash = Some(true);
        }
        if g.immutable == Some(true) {
            out.immutable = Some(true);
        }
    }
    out
}

/// kustomize's `encodeBase64` for Secret data: encodings of 70 characters
/// or more are split into 70-character lines, each ending in a newline.
fn wrapped_base64(encoded: &str) -> String {
    const LINE: usize = 70;
    if encoded.len() < LINE {
        return encoded.to_string();
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for chunk in encoded.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Builds the object a generator entry describes.
pub fn generate(
    loader: &Loader<'_>,
    kind: GeneratorKind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
) -> Result<Resource> {
    let fail = |message: String| Error::Generator {
        name: args.name.clone(),
        kustomization: loader.kust_path.clone(),
        message,
    };
    let behavior = match args.behavior.as_str() {
        "" | "create" => Behavior::Create,
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        other => {
            return Err(fail(format!(
                "invalid behavior {other:?}; must be one of create, merge, replace"
            )));
        }
    };
    let mut envs = args.envs.clone();
    if !args.env.is_empty() {
        envs.push(args.env.clone());
    }
    let pairs = kv::load_pairs(loader, &envs, &args.literals, &args.files).map_err(&fail)?;
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, v) in pairs {
        if !kv::is_valid_key(&k) {
            return Err(fail(format!(
                "{k:?} is not a valid key name: a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
            )));
        }
        if data.insert(k.clone(), v).is_some() {
            let what = match kind {
                GeneratorKind::ConfigMap => "configmap",
                GeneratorKind::Secret => "secret",
            };
            return Err(fail(format!(
                "{what} {} illegally repeats the key `{k}`",
                args.name
            )));
        }
    }
    let kind_name = match kind {
        GeneratorKind::ConfigMap => "ConfigMap",
        GeneratorKind::Secret => "Secret",
    };
    let mut obj = json!({"apiVersion": "v1", "kind": kind_name, "metadata": {"name": args.name}});
    if !args.namespace.is_empty() {
        obj["metadata"]["namespace"] = Value::String(args.namespace.clone());
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    match kind {
        GeneratorKind::ConfigMap => {
            let mut text = Map::new();
            let mut binary = Map::new();
            for (k, v) in data {
                match String::from_utf8(v) {
                    Ok(s) => {
                        text.insert(k, Value::String(s));
                    }
                    Err(e) => {
                        binary.insert(k, Value::String(b64.encode(e.into_bytes())));
                    }
                }
            }
            if !text.is_empty() {
                obj["data"] = Value::Object(text);
            }
            if !binary.is_empty() {
                obj["binaryData"] = Value::Object(binary);
            }
        }
        GeneratorKind::Secret => {
            let t = if args.kind.is_empty() {
                "Opaque"
            } else {
                &args.kind
            };
            obj["type"] = Value::String(t.to_string());
            if !data.is_empty() {
                let encoded: Map<String, Value> = data
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(wrapped_base64(&b64.encode(v)))))
                    .collect();
                obj["data"] = Value::Object(encoded);
            }
        }
    }
    let options = merged_options(args.options.as_ref(), global);
    for (field, values) in [
        ("labels", &options.labels),
        ("annotations", &options.annotations),
    ] {
        if !values.is_empty() {
            let m: Map<String, Value> = values
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            obj["metadata"][field] = Value::Object(m);
        }
    }
    if options.immutable == Some(true) {
        obj["immutable"] = Value::Bool(true);
    }
    let mut res = Resource::new(obj, loader.kust_path.display().to_string());
    res.behavior = behavior;
    res.needs_hash = options.disable_name_suffix_hash != Some(true);
    Ok(res)
}
