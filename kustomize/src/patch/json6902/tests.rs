//! JSON 6902 cases. Every expected result or rejection was checked with
//! `kubectl kustomize` (kustomize v5.5.0) on the same resource and a
//! `patches: [{path: patch.yaml, target: {kind: ConfigMap}}]` entry.

use serde_json::{Value, json};

use crate::patch::{PatchError, json6902};

fn config_map() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "annotations": {"a/b": "1", "t~x": "2"}},
        "data": {"k": "v"},
        "spec": {"arr": [1, 2, 3]},
    })
}

fn patched(operations: Value) -> Value {
    let mut doc = config_map();
    json6902(&mut doc, &operations).expect("patch applies");
    doc
}

fn rejected(operations: Value) -> PatchError {
    let mut doc = config_map();
    let error = json6902(&mut doc, &operations).expect_err("patch fails");
    assert_eq!(
        doc,
        config_map(),
        "a failed patch leaves the target unchanged"
    );
    error
}

#[test]
fn add_sets_keys_and_inserts_items() {
    let doc = patched(json!([
        {"op": "add", "path": "/data/new", "value": "x"},
        {"op": "add", "path": "/data/k", "value": "w"},
        {"op": "add", "path": "/spec/arr/-", "value": 4},
        {"op": "add", "path": "/spec/arr/0", "value": 0},
        {"op": "add", "path": "/spec/arr/5", "value": 5},
        {"op": "add", "path": "/spec/obj", "value": {"a": [1, {"b": 2}]}},
    ]));
    assert_eq!(doc["data"], json!({"k": "w", "new": "x"}));
    assert_eq!(doc["spec"]["arr"], json!([0, 1, 2, 3, 4, 5]));
    assert_eq!(doc["spec"]["obj"], json!({"a": [1, {"b": 2}]}));
}

#[test]
fn negative_index_counts_from_the_end() {
    let doc = patched(json!([
        {"op": "add", "path": "/spec/arr/-1", "value": "appended"},
        {"op": "remove", "path": "/spec/arr/-1"},
        {"op": "replace", "path": "/spec/arr/-3", "value": "first"},
    ]));
    assert_eq!(doc["spec"]["arr"], json!(["first", 2, 3]));
}

#[test]
fn remove_deletes_keys_and_items() {
    let doc = patched(json!([
        {"op": "remove", "path": "/spec/arr/1"},
        {"op": "remove", "path": "/metadata/annotations/a~1b"},
    ]));
    assert_eq!(doc["spec"]["arr"], json!([1, 3]));
    assert_eq!(doc["metadata"]["annotations"], json!({"t~x": "2"}));
}

#[test]
fn replace_of_a_missing_key_adds_it() {
    let doc = patched(json!([
        {"op": "replace", "path": "/data/k", "value": "w"},
        {"op": "replace", "path": "/data/missing", "value": "added"},
    ]));
    assert_eq!(doc["data"], json!({"k": "w", "missing": "added"}));
}

#[test]
fn move_and_copy_unescape_pointers() {
    let doc = patched(json!([
        {"op": "copy", "from": "/metadata/annotations/a~1b", "path": "/data/copied"},
        {"op": "move", "from": "/metadata/annotations/t~0x", "path": "/data/moved"},
        {"op": "move", "from": "/spec/arr/0", "path": "/spec/arr/-"},
    ]));
    assert_eq!(doc["data"], json!({"k": "v", "copied": "1", "moved": "2"}));
    assert_eq!(doc["metadata"]["annotations"], json!({"a/b": "1"}));
    assert_eq!(doc["spec"]["arr"], json!([2, 3, 1]));
}

#[test]
fn copy_from_a_missing_key_copies_null() {
    let doc = patched(json!([{"op": "copy", "from": "/data/nope", "path": "/data/x"}]));
    assert_eq!(doc["data"], json!({"k": "v", "x": null}));
}

#[test]
fn add_without_value_adds_null() {
    let doc = patched(json!([{"op": "add", "path": "/data/n"}]));
    assert_eq!(doc["data"], json!({"k": "v", "n": null}));
}

#[test]
fn passing_tests_let_the_patch_continue() {
    let doc = patched(json!([
        {"op": "test", "path": "/data/k", "value": "v"},
        {"op": "test", "path": "/spec/arr", "value": [1, 2, 3]},
        {"op": "test", "path": "/data/nope", "value": null},
        {"op": "add", "path": "/data/after", "value": "ok"},
    ]));
    assert_eq!(doc["data"], json!({"k": "v", "after": "ok"}));
}

#[test]
fn failing_test_stops_the_patch() {
    assert_eq!(
        rejected(json!([
            {"op": "add", "path": "/data/before", "value": "x"},
            {"op": "test", "path": "/data/k", "value": "w"},
        ])),
        PatchError::Json6902TestFailed {
            index: 1,
            path: "/data/k".to_string(),
        }
    );
}

#[test]
fn missing_parent_is_an_error() {
    for path in ["/nope/x", "/data/k/x", ""] {
        assert_eq!(
            rejected(json!([{"op": "add", "path": path, "value": 1}])),
            PatchError::Json6902MissingPath {
                index: 0,
                op: "add".to_string(),
                path: path.to_string(),
            }
        );
    }
}

#[test]
fn removing_a_missing_key_is_an_error() {
    for op in [
        json!({"op": "remove", "path": "/data/nope"}),
        json!({"op": "move", "from": "/data/nope", "path": "/data/x"}),
    ] {
        let name = op["op"].as_str().unwrap_or_default().to_string();
        assert_eq!(
            rejected(json!([op])),
            PatchError::Json6902MissingKey {
                index: 0,
                op: name,
                path: "/data/nope".to_string(),
            }
        );
    }
}

#[test]
fn bad_list_index_is_an_error() {
    for (op, path) in [
        ("add", "/spec/arr/5"),
        ("add", "/spec/arr/x"),
        ("replace", "/spec/arr/3"),
        ("remove", "/spec/arr/-4"),
    ] {
        assert_eq!(
            rejected(json!([{"op": op, "path": path, "value": 1}])),
            PatchError::Json6902InvalidIndex {
                index: 0,
                op: op.to_string(),
                path: path.to_string(),
            }
        );
    }
}

#[test]
fn unknown_op_and_missing_path_are_errors() {
    assert_eq!(
        rejected(json!([{"op": "bogus", "path": "/data/k"}])),
        PatchError::Json6902UnknownOp {
            index: 0,
            op: "bogus".to_string(),
        }
    );
    assert_eq!(
        rejected(json!([{"path": "/a", "value": 1}])),
        PatchError::Json6902UnknownOp {
            index: 0,
            op: "unknown".to_string(),
        }
    );
    assert_eq!(
        rejected(json!([{"op": "add", "value": 1}])),
        PatchError::Json6902MissingMember {
            index: 0,
            op: "add".to_string(),
            member: "path",
        }
    );
}

#[test]
fn operations_must_be_a_list_of_maps() {
    // API-level check: kustomize never hands these to its JSON patch library.
    assert!(matches!(
        rejected(json!({"op": "add"})),
        PatchError::Json6902NotAList(_)
    ));
    assert!(matches!(
        rejected(json!(["add"])),
        PatchError::Json6902NotAList(_)
    ));
}

#[test]
fn pointer_without_leading_slash_ignores_its_first_segment() {
    let doc = patched(json!([{"op": "add", "path": "data/x", "value": 1}]));
    assert_eq!(doc["x"], json!(1));
    assert_eq!(doc["data"], json!({"k": "v"}));
}

#[test]
fn empty_key_is_addressable() {
    let doc = patched(json!([{"op": "add", "path": "/", "value": "e"}]));
    assert_eq!(doc[""], json!("e"));
}

#[test]
fn replace_of_the_whole_document() {
    let replacement = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}});
    assert_eq!(
        patched(json!([{"op": "replace", "path": "", "value": replacement}])),
        replacement
    );
    // kustomize ignores a scalar replacement of the document.
    assert_eq!(
        patched(json!([{"op": "replace", "path": "", "value": 3}])),
        config_map()
    );
}

#[test]
fn integers_beyond_float_precision_are_rounded() {
    let mut doc = json!({"big": 9_007_199_254_740_993_u64, "small": 9_007_199_254_740_992_u64});
    json6902(&mut doc, &json!([{"op": "add", "path": "/x", "value": 1}])).expect("patch applies");
    assert_eq!(doc["big"].as_f64(), Some(9_007_199_254_740_992.0));
    assert!(doc["big"].is_f64());
    assert!(doc["small"].is_u64());
}
