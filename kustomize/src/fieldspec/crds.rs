//! kustomize's `crds` field: OpenAPI definitions of custom types whose
//! `x-kubernetes-*` extensions declare which fields hold annotations, label
//! selectors, identities (prefixed names) and references to other objects.

use serde_json::{Map, Value};

use super::{FieldSpec, NameBackReference, TransformerConfig};
use crate::yaml::parse_documents;

/// Reads an OpenAPI definitions file (`{"<group>.<version>.<Kind>":
/// {"Schema": {...}}}`, JSON or YAML) into transformer configuration.
pub fn config_from_openapi(text: &str) -> Result<TransformerConfig, String> {
    let doc = parse_documents(text)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    let Value::Object(defs) = doc else {
        return Err("expected a map of OpenAPI definitions".into());
    };
    let mut config = TransformerConfig::default();
    for (name, def) in &defs {
        let props = properties(def);
        if !["kind", "apiVersion", "metadata"]
            .iter()
            .all(|k| props.is_some_and(|p| p.contains_key(*k)))
        {
            continue;
        }
        if name.split('.').count() < 3 {
            return Err(format!(
                "`{name}`: `api` should be specified in dot notation: group.version.kind"
            ));
        }
        let kind = name.rsplit('.').next().unwrap_or(name).to_string();
        let mut part = TransformerConfig::default();
        load(&mut part, &kind, &defs, name, &[], 0);
        config.merge(part);
    }
    Ok(config)
}

fn properties(def: &Value) -> Option<&Map<String, Value>> {
    def.get("Schema")?.get("properties")?.as_object()
}

fn spec(kind: &str, path: &[String]) -> FieldSpec {
    FieldSpec {
        kind: kind.to_string(),
        path: path.join("/"),
        ..Default::default()
    }
}

fn load(
    config: &mut TransformerConfig,
    kind: &str,
    defs: &Map<String, Value>,
    type_name: &str,
    path: &[String],
    depth: usize,
) {
    let Some(props) = defs.get(type_name).and_then(properties) else {
        return;
    };
    if depth > 32 {
        return;
    }
    for (prop, schema) in props {
        let mut here = path.to_vec();
        here.push(prop.clone());
        let ext = |key: &str| schema.get(key).and_then(Value::as_str);
        if ext("x-kubernetes-annotation").is_some() {
            config.merge(TransformerConfig {
                common_annotations: vec![spec(kind, &here)],
                ..Default::default()
            });
        }
        if ext("x-kubernetes-label-selector").is_some() {
            config.merge(TransformerConfig {
                common_labels: vec![spec(kind, &here)],
                ..Default::default()
            });
        }
        if ext("x-kubernetes-identity").is_some() {
            config.merge(TransformerConfig {
                name_prefix: vec![spec(kind, &here)],
                ..Default::default()
            });
        }
        if let (Some(version), Some(ref_kind)) = (
            ext("x-kubernetes-object-ref-api-version"),
            ext("x-kubernetes-object-ref-kind"),
        ) {
            let name_key = ext("x-kubernetes-object-ref-name-key").unwrap_or("name");
            let mut field = here.clone();
            field.push(name_key.to_string());
            config.merge(TransformerConfig {
                name_reference: vec![NameBackReference {
                    kind: ref_kind.to_string(),
                    version: version.to_string(),
                    group: String::new(),
                    field_specs: vec![spec(kind, &field)],
                }],
                ..Default::default()
            });
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            load(config, kind, defs, reference, &here, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_become_field_specs() {
        let text = r#"{
          "example.com.v1.Bee": {"Schema": {"properties": {
            "apiVersion": {}, "kind": {}, "metadata": {},
            "spec": {"$ref": "example.com.v1.BeeSpec"}}}},
          "example.com.v1.BeeSpec": {"Schema": {"properties": {
            "configRef": {"x-kubernetes-object-ref-api-version": "v1",
                          "x-kubernetes-object-ref-kind": "ConfigMap"},
            "selector": {"x-kubernetes-label-selector": ""}}}}
        }"#;
        let c = config_from_openapi(text).unwrap();
        assert_eq!(c.common_labels[0].path, "spec/selector");
        assert_eq!(c.name_reference[0].kind, "ConfigMap");
        assert_eq!(
            c.name_reference[0].field_specs[0].path,
            "spec/configRef/name"
        );
        assert_eq!(c.name_reference[0].field_specs[0].kind, "Bee");
    }
}
