//! Lookup of merge keys and patch strategies in the generated table
//! ([`super::merge_keys`]), with the navigation kustomize's schema walker uses:
//! fields of objects, values of maps, items of lists.

use super::merge_keys::{KINDS, TYPES};

/// A kind of the generated table: its group, kind, version and object type.
pub(super) struct Kind {
    group: &'static str,
    kind: &'static str,
    version: &'static str,
    object: u16,
}

/// Builds a [`Kind`] entry of the generated table.
pub(super) const fn kind(
    group: &'static str,
    kind: &'static str,
    version: &'static str,
    object: u16,
) -> Kind {
    Kind {
        group,
        kind,
        version,
        object,
    }
}

/// An object type of the generated table: its fields, sorted by name.
pub(super) struct Ty(pub(super) &'static [Field]);

/// The shape of a field's value.
#[derive(Clone, Copy)]
pub(super) enum Shape {
    /// A scalar, or an object with nothing a patch needs below it.
    Opaque,
    /// An object type (index into `TYPES`).
    Object(u16),
    /// A list with items of the given shape.
    Array(&'static Shape),
}

/// A field of an object type with its patch metadata.
pub(super) struct Field {
    name: &'static str,
    shape: Shape,
    strategy: &'static str,
    merge_key: &'static str,
    map_keys: &'static [&'static str],
}

/// Builds a [`Field`] entry of the generated table.
pub(super) const fn field(
    name: &'static str,
    shape: Shape,
    strategy: &'static str,
    merge_key: &'static str,
    map_keys: &'static [&'static str],
) -> Field {
    Field {
        name,
        shape,
        strategy,
        merge_key,
        map_keys,
    }
}

/// A position in the schema of a kind: the shape of the value there and, when
/// the value is a field of an object, that field (which carries the patch
/// strategy and merge keys).
#[derive(Clone, Copy)]
pub(super) struct Schema {
    shape: Shape,
    field: Option<&'static Field>,
}

impl Schema {
    /// The schema of a document of `kind` in `api_version` (`group/version`,
    /// or `version` for the core group). A version the table does not know
    /// falls back to the most preferred version of the same group and kind,
    /// so documents in versions removed from Kubernetes still merge by key.
    pub(super) fn for_kind(api_version: &str, kind: &str) -> Option<Schema> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let start = KINDS.partition_point(|k| (k.group, k.kind) < (group, kind));
        let same_kind = KINDS[start..]
            .iter()
            .take_while(|k| k.group == group && k.kind == kind);
        let entry = same_kind
            .clone()
            .find(|k| k.version == version)
            .or_else(|| same_kind.clone().next())?;
        Some(Schema {
            shape: Shape::Object(entry.object),
            field: None,
        })
    }

    /// The schema of the value of field `name` in an object. Fields the table
    /// does not list are known but opaque. `None` when this position is a
    /// list.
    pub(super) fn field(self, name: &str) -> Option<Schema> {
        match self.shape {
            Shape::Opaque => Some(Schema::opaque()),
            Shape::Object(object) => Some(
                TYPES[usize::from(object)]
                    .0
                    .binary_search_by(|f| f.name.cmp(name))
                    .map(|i| {
                        let field = &TYPES[usize::from(object)].0[i];
                        Schema {
                            shape: field.shape,
                            field: Some(field),
                        }
                    })
                    .unwrap_or_else(|_| Schema::opaque()),
            ),
            Shape::Array(_) => None,
        }
    }

    /// The schema of the items of a list. `None` when this position is an
    /// object.
    pub(super) fn elements(self) -> Option<Schema> {
        match self.shape {
            Shape::Opaque => Some(Schema::opaque()),
            Shape::Array(items) => Some(Schema {
                shape: *items,
                field: None,
            }),
            Shape::Object(_) => None,
        }
    }

    /// `x-kubernetes-patch-strategy` of this field (comma separated), or "".
    pub(super) fn strategy(self) -> &'static str {
        self.field.map_or("", |f| f.strategy)
    }

    /// Whether the list here merges item by item (its strategy includes
    /// `merge`) rather than being replaced by the patch's list.
    pub(super) fn merges_items(self) -> bool {
        self.strategy().split(',').any(|s| s == "merge")
    }

    /// The keys that identify items of the list here, as kustomize uses them:
    /// `x-kubernetes-list-map-keys` when present, else the patch merge key;
    /// empty for lists of scalars.
    pub(super) fn merge_keys(self) -> Vec<String> {
        let Some(field) = self.field else {
            return Vec::new();
        };
        if !field.map_keys.is_empty() {
            field.map_keys.iter().map(|k| k.to_string()).collect()
        } else if !field.merge_key.is_empty() {
            vec![field.merge_key.to_string()]
        } else {
            Vec::new()
        }
    }

    /// `x-kubernetes-patch-merge-key` of this field, if any.
    pub(super) fn merge_key(self) -> Option<&'static str> {
        self.field
            .map(|f| f.merge_key)
            .filter(|key| !key.is_empty())
    }

    fn opaque() -> Schema {
        Schema {
            shape: Shape::Opaque,
            field: None,
        }
    }
}
