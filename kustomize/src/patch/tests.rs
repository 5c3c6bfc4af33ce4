//! The patch-kind detection and the merge-key lookup. Detection cases were
//! checked with `kubectl kustomize` (kustomize v5.5.0); merge keys come from
//! the Kubernetes v1.34.4 schema.

use super::{MergeInfo, is_json6902, merge_info};

#[test]
fn lists_of_operations_are_json6902() {
    assert!(is_json6902("- op: add\n  path: /data/x\n  value: 1\n"));
    assert!(is_json6902("# a comment\n- op: remove\n  path: /data/x\n"));
    assert!(is_json6902(
        r#"  [{"op": "replace", "path": "", "value": {}}]"#
    ));
    // Only the first YAML document counts, as in kustomize.
    assert!(is_json6902(
        "- op: add\n  path: /x\n  value: 1\n---\n- op: add\n  path: /y\n  value: 1\n"
    ));
}

#[test]
fn documents_are_strategic_merge_patches() {
    assert!(!is_json6902(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  z: \"1\"\n"
    ));
    assert!(!is_json6902(
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}"#
    ));
    assert!(!is_json6902(
        "kind: ConfigMap\nmetadata:\n  name: a\n---\nkind: ConfigMap\nmetadata:\n  name: b\n"
    ));
}

#[test]
fn text_that_is_neither_is_not_json6902() {
    // kustomize rejects both: a YAML flow list is not JSON, and a list of
    // scalars is not a list of operations.
    assert!(!is_json6902("[{op: add, path: /data/x, value: 1}]"));
    assert!(!is_json6902("- add\n- remove\n"));
    assert!(!is_json6902(""));
}

fn info(merge_key: Option<&str>, strategy: &[&str]) -> Option<MergeInfo> {
    Some(MergeInfo {
        merge_key: merge_key.map(str::to_string),
        strategy: strategy.iter().map(|s| s.to_string()).collect(),
    })
}

#[test]
fn merge_keys_of_pod_template_lists() {
    let spec = ["spec", "template", "spec"];
    let at = |rest: &[&'static str]| [&spec[..], rest].concat();
    assert_eq!(
        merge_info("apps/v1", "Deployment", &at(&["containers"])),
        info(Some("name"), &["merge"])
    );
    assert_eq!(
        merge_info("apps/v1", "Deployment", &at(&["containers", "env"])),
        info(Some("name"), &["merge"])
    );
    assert_eq!(
        merge_info("apps/v1", "StatefulSet", &at(&["initContainers", "ports"])),
        info(Some("containerPort"), &["merge"])
    );
    assert_eq!(
        merge_info("apps/v1", "DaemonSet", &at(&["volumes"])),
        info(Some("name"), &["merge", "retainKeys"])
    );
    assert_eq!(
        merge_info(
            "apps/v1",
            "Deployment",
            &at(&["containers", "volumeMounts"])
        ),
        info(Some("mountPath"), &["merge"])
    );
    assert_eq!(
        merge_info("v1", "Pod", &["spec", "containers", "args"]),
        None
    );
}

#[test]
fn merge_keys_of_other_fields() {
    assert_eq!(
        merge_info("v1", "ConfigMap", &["metadata", "finalizers"]),
        info(None, &["merge"])
    );
    assert_eq!(
        merge_info("v1", "Service", &["spec", "ports"]),
        info(Some("port"), &["merge"])
    );
    assert_eq!(
        merge_info("apps/v1", "Deployment", &["spec", "strategy"]),
        info(None, &["retainKeys"])
    );
    assert_eq!(
        merge_info(
            "batch/v1",
            "CronJob",
            &[
                "spec",
                "jobTemplate",
                "spec",
                "template",
                "spec",
                "containers"
            ]
        ),
        info(Some("name"), &["merge"])
    );
}

#[test]
fn merge_keys_fall_back_to_another_version_of_the_kind() {
    assert_eq!(
        merge_info("batch/v1beta1", "CronJob", &["metadata", "finalizers"]),
        info(None, &["merge"])
    );
}

#[test]
fn unknown_kinds_and_fields_have_no_merge_keys() {
    assert_eq!(
        merge_info("example.com/v1", "Widget", &["spec", "items"]),
        None
    );
    assert_eq!(
        merge_info("apps/v1", "Deployment", &["spec", "nope", "containers"]),
        None
    );
    assert_eq!(merge_info("apps/v1", "Deployment", &[]), None);
}
