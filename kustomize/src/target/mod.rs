//! Building a kustomization directory the way kustomize's `KustTarget`
//! does: accumulate resources (files, bases, components), run generators,
//! then the builtin transformers in kustomize's fixed order; at the top
//! level finally add content hashes, fix name references, expand vars and
//! sort.

mod loader;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use loader::Loader;

use crate::error::{Error, Result};
use crate::fieldspec::{FieldSpec, TransformerConfig};
use crate::fs::{self, FileSystem};
use crate::generators::{self, GeneratorKind, hash_suffix};
use crate::kustomization::{self, Kustomization, Var};
use crate::resmap::ResMap;
use crate::resource::Resource;
use crate::transformers::{
    images, metadata, nameref, names, namespace, patches, replacements, replicas, sort, vars,
};
use crate::yaml::parse_documents;

/// What a kustomization (and everything below it) has produced so far.
struct Accumulator {
    resmap: ResMap,
    config: TransformerConfig,
    vars: Vec<Var>,
}

impl Accumulator {
    fn new() -> Self {
        Self {
            resmap: ResMap::new(),
            config: TransformerConfig::builtin().clone(),
            vars: Vec::new(),
        }
    }

    fn merge_vars(&mut self, more: Vec<Var>) -> Result<()> {
        for v in more {
            if self.vars.iter().any(|e| e.name == v.name) {
                return Err(Error::Var {
                    name: v.name,
                    message: "var already encountered".into(),
                });
            }
            self.vars.push(v);
        }
        Ok(())
    }
}

/// Builds the kustomization in `dir` (a path relative to the filesystem's
/// root) and returns the resulting objects in output order.
pub fn build(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<Resource>> {
    let dir = fs::join(Path::new(""), &dir.to_string_lossy())?;
    let (kust_path, k) = kustomization::load(fs, &dir)?;
    let target = Target {
        loader: Loader {
            fs,
            dir: dir.clone(),
            kust_path,
        },
        k,
    };
    let mut ra = Accumulator::new();
    let mut stack = Vec::new();
    target.accumulate(&mut ra, &mut stack)?;
    for res in ra.resmap.resources_mut() {
        if res.needs_hash {
            let h = hash_suffix(res);
            res.store_previous_id();
            let name = format!("{}-{h}", res.name());
            res.set_name(&name);
        }
    }
    nameref::apply(&mut ra.resmap, &ra.config.name_reference)?;
    vars::apply(&mut ra.resmap, &ra.vars, &ra.config.var_reference)?;
    for res in ra.resmap.resources_mut() {
        drop_empty_annotations(res);
    }
    ra.resmap.resources_mut().retain(|r| {
        r.value()["metadata"]["annotations"]["config.kubernetes.io/local-config"] != "true"
    });
    sort::apply(&mut ra.resmap, target.k.sort_options.as_ref()).map_err(|message| {
        Error::Transform {
            transformer: "sortOptions",
            kustomization: target.loader.kust_path.clone(),
            message,
        }
    })?;
    Ok(ra.resmap.into_resources())
}

/// kustomize clears its internal annotations at the end of a build and, in
/// doing so, removes an `annotations` map left empty (or null).
fn drop_empty_annotations(res: &mut Resource) {
    if let Some(meta) = res
        .value_mut()
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
    {
        let empty = meta
            .get("annotations")
            .is_some_and(|a| a.is_null() || a.as_object().is_some_and(|m| m.is_empty()));
        if empty {
            meta.remove("annotations");
        }
    }
}

fn looks_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
        || entry.contains("?ref=")
}

/// Turns the documents of a resource file into resources, expanding
/// `kind: List`.
fn resources_from_docs(docs: Vec<Value>, origin: &Path) -> Result<Vec<Resource>> {
    let invalid = |message: String| Error::InvalidResource {
        path: origin.to_path_buf(),
        message,
    };
    let mut out = Vec::new();
    for doc in docs {
        let Value::Object(map) = &doc else {
            return Err(invalid(format!("expected an object, found {doc}")));
        };
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind.ends_with("List") && map.get("items").is_some_and(Value::is_array) {
            let items = map["items"].as_array().cloned().unwrap_or_default();
            out.extend(resources_from_docs(items, origin)?);
            continue;
        }
        if kind.is_empty() {
            return Err(invalid("missing kind in object".into()));
        }
        if doc["metadata"]["name"].as_str().is_none_or(str::is_empty) {
            return Err(invalid(format!(
                "missing metadata.name in object of kind {kind}"
            )));
        }
        out.push(Resource::new(doc, origin.display().to_string()));
    }
    Ok(out)
}

struct Target<'a> {
    loader: Loader<'a>,
    k: Kustomization,
}

impl<'a> Target<'a> {
    fn kust_path(&self) -> PathBuf {
        self.loader.kust_path.clone()
    }

    fn transform_error(&self, transformer: &'static str) -> impl Fn(String) -> Error + '_ {
        move |message| Error::Transform {
            transformer,
            kustomization: self.kust_path(),
            message,
        }
    }

    fn unsupported(&self) -> Result<()> {
        let fields: [(&str, bool); 7] = [
            ("generators", !self.k.generators.is_empty()),
            ("transformers", !self.k.transformers.is_empty()),
            ("validators", !self.k.validators.is_empty()),
            ("helmCharts", self.k.helm_charts.is_some()),
            ("helmGlobals", self.k.helm_globals.is_some()),
            (
                "helmChartInflationGenerator",
                self.k.helm_chart_inflation_generator.is_some(),
            ),
            ("buildMetadata", !self.k.build_metadata.is_empty()),
        ];
        match fields.iter().find(|(_, used)| *used) {
            Some((field, _)) => Err(Error::InvalidKustomization {
                path: self.kust_path(),
                message: format!("field '{field}' is not supported by fluxrs-kustomize"),
            }),
            None => Ok(()),
        }
    }

    fn sub_target(&self, dir: PathBuf, stack: &[PathBuf]) -> Result<Target<'a>> {
        if stack.contains(&dir) {
            let chain: Vec<String> = stack.iter().map(|p| p.display().to_string()).collect();
            return Err(Error::Cycle {
                dir,
                chain: chain.join(" -> "),
            });
        }
        let (kust_path, k) = kustomization::load(self.loader.fs, &dir)?;
        Ok(Target {
            loader: Loader {
                fs: self.loader.fs,
                dir,
                kust_path,
            },
            k,
        })
    }

    fn accumulate(&self, ra: &mut Accumulator, stack: &mut Vec<PathBuf>) -> Result<()> {
        self.unsupported()?;
        stack.push(self.loader.dir.clone());
        for entry in &self.k.resources {
            self.accumulate_resource(ra, entry, stack)?;
        }
        for entry in &self.k.components {
            self.accumulate_component(ra, entry, stack)?;
        }
        for entry in &self.k.configurations {
            let text = self.loader.read_string(entry)?;
            let config =
                TransformerConfig::parse(&text).map_err(|message| Error::InvalidKustomization {
                    path: self.loader.dir.join(entry),
                    message,
                })?;
            ra.config.merge(config);
        }
        for entry in &self.k.crds {
            let text = self.loader.read_string(entry)?;
            let config = crate::fieldspec::config_from_openapi(&text).map_err(|message| {
                Error::InvalidKustomization {
                    path: self.loader.dir.join(entry),
                    message: format!("unable to parse open API definition: {message}"),
                }
            })?;
            ra.config.merge(config);
        }
        self.run_generators(ra)?;
        self.run_transformers(ra)?;
        ra.merge_vars(self.k.vars.clone())?;
        stack.pop();
        Ok(())
    }

    fn resolve_entry(&self, entry: &str) -> Result<PathBuf> {
        let path = self.loader.resolve(entry);
        let missing = || {
            if looks_remote(entry) {
                Error::RemoteResource {
                    url: entry.to_string(),
                    kustomization: self.kust_path(),
                }
            } else {
                Error::MissingPath {
                    entry: entry.to_string(),
                    kustomization: self.kust_path(),
                }
            }
        };
        match path {
            Ok(p) if self.loader.fs.exists(&p) => Ok(p),
            Ok(_) => Err(missing()),
            Err(_) if looks_remote(entry) => Err(missing()),
            Err(e) => Err(e),
        }
    }

    fn accumulate_resource(
        &self,
        ra: &mut Accumulator,
        entry: &str,
        stack: &mut Vec<PathBuf>,
    ) -> Result<()> {
        let path = self.resolve_entry(entry)?;
        if self.loader.fs.is_dir(&path) {
            let sub = self.sub_target(path, stack)?;
            if sub.k.is_component() {
                return Err(Error::WrongKind {
                    dir: sub.loader.dir.clone(),
                    message: "expected kind != 'Component' for a path listed under resources"
                        .into(),
                });
            }
            let mut sub_ra = Accumulator::new();
            sub.accumulate(&mut sub_ra, stack)?;
            ra.resmap.append_all(sub_ra.resmap)?;
            ra.config.merge(sub_ra.config);
            return ra.merge_vars(sub_ra.vars);
        }
        let path = self.loader.resolve_file(entry)?;
        let bytes = self.loader.read_path(&path, entry)?;
        let text = String::from_utf8_lossy(&bytes);
        let docs = parse_documents(&text).map_err(|source| Error::Yaml {
            path: path.clone(),
            source,
        })?;
        for res in resources_from_docs(docs, &path)? {
            ra.resmap.append(res)?;
        }
        Ok(())
    }

    fn accumulate_component(
        &self,
        ra: &mut Accumulator,
        entry: &str,
        stack: &mut Vec<PathBuf>,
    ) -> Result<()> {
        let path = self.resolve_entry(entry)?;
        if !self.loader.fs.is_dir(&path) {
            return Err(Error::WrongKind {
                dir: path,
                message: "components must be directories".into(),
            });
        }
        let sub = self.sub_target(path, stack)?;
        if !sub.k.is_component() {
            return Err(Error::WrongKind {
                dir: sub.loader.dir.clone(),
                message: "expected kind 'Component' for a path listed under components".into(),
            });
        }
        sub.accumulate(ra, stack)
    }

    fn run_generators(&self, ra: &mut Accumulator) -> Result<()> {
        let global = self.k.generator_options.as_ref();
        let all = self
            .k
            .config_map_generator
            .iter()
            .map(|a| (GeneratorKind::ConfigMap, a))
            .chain(
                self.k
                    .secret_generator
                    .iter()
                    .map(|a| (GeneratorKind::Secret, a)),
            );
        for (kind, args) in all {
            let res = generators::generate(&self.loader, kind, args, global)?;
            ra.resmap.absorb(res).map_err(|message| Error::Generator {
                name: args.name.clone(),
                kustomization: self.kust_path(),
                message,
            })?;
        }
        Ok(())
    }

    fn run_transformers(&self, ra: &mut Accumulator) -> Result<()> {
        let k = &self.k;
        let config = &ra.config;
        let m = &mut ra.resmap;
        patches::strategic_merge_entries(m, &self.loader, &k.patches_strategic_merge)?;
        patches::patch_entries(m, &self.loader, &k.patches)?;
        namespace::apply(m, &k.namespace, &config.namespace)
            .map_err(self.transform_error("namespace"))?;
        names::apply(m, &k.name_prefix, names::End::Prefix, &config.name_prefix)
            .map_err(self.transform_error("namePrefix"))?;
        names::apply(m, &k.name_suffix, names::End::Suffix, &config.name_suffix)
            .map_err(self.transform_error("nameSuffix"))?;
        for label in &k.labels {
            let specs = if label.include_selectors {
                metadata::merge_specs(&label.fields, &config.common_labels)
            } else {
                let meta = FieldSpec {
                    path: "metadata/labels".into(),
                    create: true,
                    ..Default::default()
                };
                let base = metadata::merge_specs(&label.fields, &[meta]);
                if label.include_templates {
                    metadata::merge_specs(&base, &config.template_labels)
                } else {
                    base
                }
            };
            metadata::apply(m, &label.pairs, &specs).map_err(self.transform_error("labels"))?;
        }
        metadata::apply(m, &k.common_labels, &config.common_labels)
            .map_err(self.transform_error("commonLabels"))?;
        metadata::apply(m, &k.common_annotations, &config.common_annotations)
            .map_err(self.transform_error("commonAnnotations"))?;
        patches::json6902_entries(m, &self.loader, &k.patches_json6902)?;
        for r in &k.replicas {
            replicas::apply(m, r, &config.replicas).map_err(self.transform_error("replicas"))?;
        }
        for image in &k.images {
            images::apply(m, image, &config.images).map_err(self.transform_error("images"))?;
        }
        if !k.replacements.is_empty() {
            let list = replacements::load(&k.replacements, &|p| self.loader.read_string(p))
                .map_err(self.transform_error("replacements"))?;
            replacements::apply(m, &list).map_err(self.transform_error("replacements"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemoryFs;

    fn fs(files: &[(&str, &str)]) -> MemoryFs {
        let mut fs = MemoryFs::new();
        for (p, c) in files {
            fs.add(p, *c);
        }
        fs
    }

    #[test]
    fn cycles_are_reported_with_the_chain() {
        let fs = fs(&[
            ("app/kustomization.yaml", "resources: [../a]\n"),
            ("a/kustomization.yaml", "resources: [../b]\n"),
            ("b/kustomization.yaml", "resources: [../a]\n"),
        ]);
        let err = build(&fs, Path::new("app")).unwrap_err();
        assert!(matches!(err, Error::Cycle { .. }), "{err}");
        assert!(err.to_string().contains("a -> b"), "{err}");
    }

    #[test]
    fn remote_resources_are_refused_by_url() {
        let fs = fs(&[(
            "app/kustomization.yaml",
            "resources: [https://github.com/x/y//z?ref=v1]\n",
        )]);
        let err = build(&fs, Path::new("app")).unwrap_err();
        assert!(
            matches!(err, Error::RemoteResource { ref url, .. } if url == "https://github.com/x/y//z?ref=v1")
        );
    }

    #[test]
    fn files_outside_the_kustomization_are_refused_but_bases_are_not() {
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
        let fs = fs(&[
            ("app/kustomization.yaml", "resources: [../shared/cm.yaml]\n"),
            ("ok/kustomization.yaml", "resources: [../shared]\n"),
            ("shared/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("shared/cm.yaml", cm),
        ]);
        let err = build(&fs, Path::new("app")).unwrap_err();
        assert!(matches!(err, Error::OutsideRoot { .. }), "{err}");
        assert_eq!(build(&fs, Path::new("ok")).unwrap().len(), 1);
    }

    #[test]
    fn missing_files_name_the_entry_and_kustomization() {
        let fs = fs(&[("app/kustomization.yaml", "resources: [gone.yaml]\n")]);
        let err = build(&fs, Path::new("app")).unwrap_err().to_string();
        assert!(
            err.contains("gone.yaml") && err.contains("app/kustomization.yaml"),
            "{err}"
        );
    }

    #[test]
    fn generated_names_get_hashes_and_references_follow() {
        let fs = fs(&[
            (
                "app/kustomization.yaml",
                "namePrefix: p-\nresources: [pod.yaml]\nconfigMapGenerator:\n- name: cfg\n  literals: [a=1, b=2]\n",
            ),
            (
                "app/pod.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: []\n  volumes:\n  - name: v\n    configMap: {name: cfg}\n",
            ),
        ]);
        let out = build(&fs, Path::new("app")).unwrap();
        assert_eq!(out[0].name(), "p-cfg-7gdc49gk6d");
        assert_eq!(
            out[1].value()["spec"]["volumes"][0]["configMap"]["name"],
            "p-cfg-7gdc49gk6d"
        );
    }
}
