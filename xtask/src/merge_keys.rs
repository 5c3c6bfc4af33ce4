//! `cargo xtask merge-keys`: generates `kustomize/src/patch/merge_keys.rs`, the
//! table of strategic-merge-patch merge keys and patch strategies of the
//! built-in Kubernetes kinds, from the OpenAPI schema (`swagger.json`) of the
//! pinned Kubernetes release.
//!
//! The table keeps only what a strategic merge patch needs: every field that
//! carries `x-kubernetes-patch-strategy` (with its `x-kubernetes-patch-merge-key`
//! and `x-kubernetes-list-map-keys`), and the object types through which such a
//! field can be reached from a kind. Everything else is left out, which the
//! engine reads as "known field, nothing special below".

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The Kubernetes release whose schema the table is generated from.
const KUBERNETES_MODULE: &str = "k8s.io/kubernetes@v1.34.4";

/// Where the generated table lives, relative to the workspace root.
const OUTPUT: &str = "kustomize/src/patch/merge_keys.rs";

/// Generates (or with `check`, verifies) the merge-key table.
pub fn run(root: &Path, check: bool) -> Result<()> {
    let swagger_path = swagger_path()?;
    let swagger: Value = serde_json::from_slice(
        &fs::read(&swagger_path).with_context(|| format!("reading {}", swagger_path.display()))?,
    )
    .with_context(|| format!("parsing {}", swagger_path.display()))?;
    let table = Table::build(&swagger)?;
    let source = table.render();
    let output = root.join(OUTPUT);
    let existing = fs::read_to_string(&output).unwrap_or_default();
    if check {
        if existing == source {
            println!("{OUTPUT} is current");
            return Ok(());
        }
        bail!("{OUTPUT} is out of date; run `cargo xtask merge-keys` and commit the result");
    }
    fs::write(&output, &source).with_context(|| format!("writing {}", output.display()))?;
    println!(
        "{OUTPUT}: {} kinds, {} types",
        table.kinds.len(),
        table.types.len()
    );
    Ok(())
}

/// Finds the swagger file of [`KUBERNETES_MODULE`] in the Go module cache,
/// downloading the module if it is not there yet.
fn swagger_path() -> Result<PathBuf> {
    let output = Command::new("go")
        .args(["mod", "download", "-json", KUBERNETES_MODULE])
        .output()
        .context("running `go mod download` (is Go installed?)")?;
    let info: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("parsing `go mod download -json {KUBERNETES_MODULE}` output"))?;
    if let Some(error) = info.get("Error").and_then(Value::as_str) {
        bail!("downloading {KUBERNETES_MODULE}: {error}");
    }
    let dir = info
        .get("Dir")
        .and_then(Value::as_str)
        .with_context(|| format!("`go mod download` gave no directory for {KUBERNETES_MODULE}"))?;
    Ok(Path::new(dir).join("api/openapi-spec/swagger.json"))
}

/// The shape of a schema, as far as a strategic merge patch cares.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Shape {
    /// A scalar, or an object or map with nothing the patch needs below it.
    Opaque,
    /// An object with properties (index into [`Table::types`]).
    Object(usize),
    /// A list of the given shape.
    Array(Box<Shape>),
    /// A map (`additionalProperties`) with values of the given shape.
    Map(Box<Shape>),
}

/// The shape of a field in the generated table: maps never lead to a patch
/// strategy in the Kubernetes schema, so the table has no map shape.
enum Emitted {
    Opaque,
    Object(usize),
    Array(Box<Emitted>),
}

/// One property of an object type, with its shape `S`.
struct Field<S> {
    name: String,
    shape: S,
    strategy: String,
    merge_key: String,
    map_keys: Vec<String>,
}

/// An object type (a swagger definition with properties).
struct ObjectType<S> {
    definition: String,
    fields: Vec<Field<S>>,
}

/// A kind served by the API and the object type of its documents.
struct KindEntry {
    group: String,
    version: String,
    kind: String,
    object: usize,
}

/// The generated table: kinds, and the object types numbered from 1.
struct Table {
    kinds: Vec<KindEntry>,
    types: Vec<ObjectType<Emitted>>,
}

impl Table {
    fn build(swagger: &Value) -> Result<Self> {
        let definitions = swagger
            .get("definitions")
            .and_then(Value::as_object)
            .context("swagger.json has no definitions")?;
        // Every definition with properties is an object type; number them first
        // so that recursive references resolve.
        let index: HashMap<&str, usize> = definitions
            .iter()
            .filter(|(_, def)| def.get("properties").is_some())
            .enumerate()
            .map(|(i, (name, _))| (name.as_str(), i))
            .collect();
        let mut types = Vec::with_capacity(index.len());
        for (name, def) in definitions {
            let Some(properties) = def.get("properties").and_then(Value::as_object) else {
                continue;
            };
            let mut fields = Vec::new();
            for (field, schema) in properties {
                let text = |key: &str| {
                    schema
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let map_keys = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| {
                        keys.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                fields.push(Field {
                    name: field.clone(),
                    shape: shape(schema, definitions, &index)?,
                    strategy: text("x-kubernetes-patch-strategy"),
                    merge_key: text("x-kubernetes-patch-merge-key"),
                    map_keys,
                });
            }
            fields.sort_by(|a, b| a.name.cmp(&b.name));
            types.push(ObjectType {
                definition: name.clone(),
                fields,
            });
        }
        let mut kinds = Vec::new();
        for (name, def) in definitions {
            let Some(&object) = index.get(name.as_str()) else {
                continue;
            };
            for gvk in def
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let text = |key: &str| gvk.get(key).and_then(Value::as_str).map(str::to_string);
                if let (Some(group), Some(version), Some(kind)) =
                    (text("group"), text("version"), text("kind"))
                {
                    kinds.push(KindEntry {
                        group,
                        version,
                        kind,
                        object,
                    });
                }
            }
        }
        Table::pruned(kinds, types)
    }

    /// Keeps only the kinds and types from which a field with a patch strategy
    /// can be reached, renumbered in order of first use from the kinds.
    fn pruned(kinds: Vec<KindEntry>, all_types: Vec<ObjectType<Shape>>) -> Result<Self> {
        let mut relevant = vec![false; all_types.len()];
        loop {
            let mut changed = false;
            for (i, ty) in all_types.iter().enumerate() {
                if !relevant[i] && ty.fields.iter().any(|f| field_reaches(f, &relevant)) {
                    relevant[i] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut kinds: Vec<KindEntry> = kinds.into_iter().filter(|k| relevant[k.object]).collect();
        kinds.sort_by(|a, b| {
            (&a.group, &a.kind)
                .cmp(&(&b.group, &b.kind))
                .then_with(|| version_priority(&b.version).cmp(&version_priority(&a.version)))
        });
        // Renumber: index 0 is the opaque type, then object types in order of
        // first use (breadth-first from the kinds).
        let mut order: Vec<usize> = Vec::new();
        let mut renumbered: BTreeMap<usize, usize> = BTreeMap::new();
        let mut visit = |old: usize, order: &mut Vec<usize>| {
            *renumbered.entry(old).or_insert_with(|| {
                order.push(old);
                order.len()
            })
        };
        for kind in &mut kinds {
            kind.object = visit(kind.object, &mut order);
        }
        let mut types = Vec::new();
        let mut next = 0;
        while next < order.len() {
            let ty = &all_types[order[next]];
            let mut fields = Vec::new();
            for field in ty.fields.iter().filter(|f| field_reaches(f, &relevant)) {
                let shape = renumber(
                    &field.shape,
                    merges(&field.strategy),
                    &relevant,
                    &mut |old| visit(old, &mut order),
                )
                .with_context(|| format!("{}.{}", ty.definition, field.name))?;
                fields.push(Field {
                    name: field.name.clone(),
                    shape,
                    strategy: field.strategy.clone(),
                    merge_key: field.merge_key.clone(),
                    map_keys: field.map_keys.clone(),
                });
            }
            types.push(ObjectType {
                definition: ty.definition.clone(),
                fields,
            });
            next += 1;
        }
        Ok(Table { kinds, types })
    }

    /// The table as Rust source: one kind or field per line, kept as written
    /// by `#[rustfmt::skip]` so that the file stays compact.
    fn render(&self) -> String {
        let mut out = format!(
            "// @generated by `cargo xtask merge-keys` from the OpenAPI schema of\n\
             // {KUBERNETES_MODULE} (api/openapi-spec/swagger.json). Do not edit by hand.\n\
             \n\
             //! Merge keys and patch strategies of the built-in kinds of Kubernetes, taken\n\
             //! from `x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key` and\n\
             //! `x-kubernetes-list-map-keys` in its OpenAPI schema. Only fields with a\n\
             //! patch strategy and the object types leading to them are listed.\n\
             \n\
             use super::schema::{{Kind, Shape, Ty, field, kind}};\n\
             \n\
             /// Kinds sorted by group and kind, most preferred version first:\n\
             /// `kind(group, kind, version, object type)`.\n\
             #[rustfmt::skip]\n\
             pub(super) static KINDS: &[Kind] = &[\n"
        );
        for k in &self.kinds {
            let _ = writeln!(
                out,
                "    kind({:?}, {:?}, {:?}, {}),",
                k.group, k.kind, k.version, k.object
            );
        }
        out.push_str(
            "];\n\n\
             /// Object types, fields sorted by name:\n\
             /// `field(name, shape, patch strategy, patch merge key, list map keys)`.\n\
             /// Index 0 is unused.\n\
             #[rustfmt::skip]\n\
             pub(super) static TYPES: &[Ty] = &[\n    Ty(&[]),\n",
        );
        for (i, ty) in self.types.iter().enumerate() {
            let _ = writeln!(out, "    // {}: {}\n    Ty(&[", i + 1, ty.definition);
            for f in &ty.fields {
                let keys: Vec<String> = f.map_keys.iter().map(|k| format!("{k:?}")).collect();
                let _ = writeln!(
                    out,
                    "        field({:?}, {}, {:?}, {:?}, &[{}]),",
                    f.name,
                    render_shape(&f.shape),
                    f.strategy,
                    f.merge_key,
                    keys.join(", ")
                );
            }
            out.push_str("    ]),\n");
        }
        out.push_str("];\n");
        out
    }
}

/// The shape of a property schema (`$ref`, array, map or scalar).
fn shape(
    schema: &Value,
    definitions: &serde_json::Map<String, Value>,
    index: &HashMap<&str, usize>,
) -> Result<Shape> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/definitions/")
            .with_context(|| format!("unsupported $ref {reference}"))?;
        if let Some(&i) = index.get(name) {
            return Ok(Shape::Object(i));
        }
        let def = definitions
            .get(name)
            .with_context(|| format!("dangling $ref {reference}"))?;
        return shape(def, definitions, index);
    }
    if let Some(items) = schema.get("items") {
        return Ok(Shape::Array(Box::new(shape(items, definitions, index)?)));
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        return Ok(Shape::Map(Box::new(shape(values, definitions, index)?)));
    }
    if schema.get("properties").is_some() {
        bail!("inline object schemas are not supported: {schema}");
    }
    Ok(Shape::Opaque)
}

/// Whether a field leads to a patch strategy that a strategic merge patch can
/// use: its own, or one below it. Items of a list are only reached when the
/// list merges item by item; other lists are replaced as a whole.
fn field_reaches(field: &Field<Shape>, relevant: &[bool]) -> bool {
    !field.strategy.is_empty() || reaches(&field.shape, merges(&field.strategy), relevant)
}

fn merges(strategy: &str) -> bool {
    strategy.split(',').any(|s| s == "merge")
}

fn reaches(shape: &Shape, merging_list: bool, relevant: &[bool]) -> bool {
    match shape {
        Shape::Opaque => false,
        Shape::Object(i) => relevant[*i],
        Shape::Array(items) => merging_list && reaches(items, false, relevant),
        Shape::Map(values) => reaches(values, false, relevant),
    }
}

fn renumber(
    shape: &Shape,
    merging_list: bool,
    relevant: &[bool],
    visit: &mut impl FnMut(usize) -> usize,
) -> Result<Emitted> {
    Ok(match shape {
        Shape::Object(i) if relevant[*i] => Emitted::Object(visit(*i)),
        Shape::Array(items) if merging_list => {
            Emitted::Array(Box::new(renumber(items, false, relevant, visit)?))
        }
        Shape::Array(_) => Emitted::Array(Box::new(Emitted::Opaque)),
        Shape::Map(values) if reaches(values, false, relevant) => {
            bail!("a map whose values have patch strategies; the engine's table has no map shape")
        }
        Shape::Opaque | Shape::Object(_) | Shape::Map(_) => Emitted::Opaque,
    })
}

fn render_shape(shape: &Emitted) -> String {
    match shape {
        Emitted::Opaque => "Shape::Opaque".to_string(),
        Emitted::Object(i) => format!("Shape::Object({i})"),
        Emitted::Array(items) => format!("Shape::Array(&{})", render_shape(items)),
    }
}

/// Kubernetes version priority: GA before beta before alpha, then higher
/// major, then higher minor (`v2` > `v1` > `v1beta2` > `v1beta1` > `v1alpha1`).
fn version_priority(version: &str) -> (u8, u32, u32) {
    let rest = version.strip_prefix('v').unwrap_or(version);
    let digits = |s: &str| -> u32 { s.parse().unwrap_or(0) };
    for (stability, marker) in [(1, "beta"), (0, "alpha")] {
        if let Some((major, minor)) = rest.split_once(marker) {
            return (stability, digits(major), digits(minor));
        }
    }
    (2, digits(rest), 0)
}
