//! A mutable, shareable document tree for the strategic merge, with the
//! semantics of the YAML nodes kustomize merges: nodes are shared by
//! reference (a merged list item *is* the target's item), and overwriting a
//! node copies the other node's content into it.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

/// A node of the tree. Cloning shares the node.
#[derive(Clone)]
pub(super) struct Node(Rc<RefCell<Data>>);

/// What a node holds.
#[derive(Clone)]
pub(super) enum Data {
    /// A mapping, in field order.
    Map(Vec<(String, Node)>),
    /// A sequence.
    Seq(Vec<Node>),
    /// A string, number or boolean.
    Scalar(Value),
    /// An explicit `null`.
    Null,
}

/// The kind of a node, as named in error messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Map,
    Seq,
    Scalar,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Map => "a map",
            Kind::Seq => "a list",
            Kind::Scalar => "a scalar",
        }
    }
}

impl Node {
    pub(super) fn new(data: Data) -> Node {
        Node(Rc::new(RefCell::new(data)))
    }

    /// A scalar holding `text`, typed the way a plain YAML scalar would be.
    pub(super) fn plain_scalar(text: &str) -> Node {
        let value = match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => serde_json::from_str::<serde_json::Number>(text)
                .map_or_else(|_| Value::String(text.to_string()), Value::Number),
        };
        Node::new(Data::Scalar(value))
    }

    pub(super) fn from_value(value: &Value) -> Node {
        Node::new(match value {
            Value::Null => Data::Null,
            Value::Object(map) => Data::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Node::from_value(v)))
                    .collect(),
            ),
            Value::Array(items) => Data::Seq(items.iter().map(Node::from_value).collect()),
            scalar => Data::Scalar(scalar.clone()),
        })
    }

    pub(super) fn to_value(&self) -> Value {
        match &*self.0.borrow() {
            Data::Null => Value::Null,
            Data::Scalar(value) => value.clone(),
            Data::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Data::Map(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    pub(super) fn same(&self, other: &Node) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    /// The node's kind; `None` for `null`.
    pub(super) fn kind(&self) -> Option<Kind> {
        match &*self.0.borrow() {
            Data::Map(_) => Some(Kind::Map),
            Data::Seq(_) => Some(Kind::Seq),
            Data::Scalar(_) => Some(Kind::Scalar),
            Data::Null => None,
        }
    }

    pub(super) fn is_null(&self) -> bool {
        matches!(&*self.0.borrow(), Data::Null)
    }

    pub(super) fn is_map(&self) -> bool {
        matches!(&*self.0.borrow(), Data::Map(_))
    }

    pub(super) fn is_empty_map(&self) -> bool {
        matches!(&*self.0.borrow(), Data::Map(fields) if fields.is_empty())
    }

    /// `null`, an empty map or an empty list.
    pub(super) fn is_null_or_empty(&self) -> bool {
        match &*self.0.borrow() {
            Data::Null => true,
            Data::Map(fields) => fields.is_empty(),
            Data::Seq(items) => items.is_empty(),
            Data::Scalar(_) => false,
        }
    }

    /// The node's text: a scalar's value as written, `null` for null, and
    /// the empty string for maps and lists (like a YAML node's `Value`).
    pub(super) fn text(&self) -> String {
        match &*self.0.borrow() {
            Data::Scalar(Value::String(s)) => s.clone(),
            Data::Scalar(other) => other.to_string(),
            Data::Null => "null".to_string(),
            Data::Map(_) | Data::Seq(_) => String::new(),
        }
    }

    /// The value of field `name` of a map; `None` for other nodes.
    pub(super) fn field(&self, name: &str) -> Option<Node> {
        match &*self.0.borrow() {
            Data::Map(fields) => fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    /// The field names of a map, in order; empty for other nodes.
    pub(super) fn field_names(&self) -> Vec<String> {
        match &*self.0.borrow() {
            Data::Map(fields) => fields.iter().map(|(k, _)| k.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// Number of fields of a map.
    pub(super) fn len_fields(&self) -> usize {
        match &*self.0.borrow() {
            Data::Map(fields) => fields.len(),
            _ => 0,
        }
    }

    /// Removes field `name` from a map.
    pub(super) fn remove_field(&self, name: &str) {
        if let Data::Map(fields) = &mut *self.0.borrow_mut() {
            fields.retain(|(k, _)| k != name);
        }
    }

    /// Sets field `name` of a map: an existing field's node takes over the
    /// content of `value`; a new field is appended and shares `value`.
    pub(super) fn set_field(&self, name: &str, value: &Node) {
        if let Some(existing) = self.field(name) {
            existing.overwrite(value);
        } else if let Data::Map(fields) = &mut *self.0.borrow_mut() {
            fields.push((name.to_string(), value.clone()));
        }
    }

    /// Replaces this node's content with (a shallow copy of) `other`'s.
    pub(super) fn overwrite(&self, other: &Node) {
        if !self.same(other) {
            let data = other.0.borrow().clone();
            *self.0.borrow_mut() = data;
        }
    }

    /// The items of a list (shared); empty for other nodes.
    pub(super) fn items(&self) -> Vec<Node> {
        match &*self.0.borrow() {
            Data::Seq(items) => items.clone(),
            _ => Vec::new(),
        }
    }

    /// Replaces the items of a list.
    pub(super) fn set_items(&self, items: Vec<Node>) {
        if let Data::Seq(existing) = &mut *self.0.borrow_mut() {
            *existing = items;
        }
    }

    /// Appends an item to a list.
    pub(super) fn push_item(&self, item: Node) {
        if let Data::Seq(items) = &mut *self.0.borrow_mut() {
            items.push(item);
        }
    }
}
