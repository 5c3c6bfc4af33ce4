//! Golden cases for the strategic merge patch. Every expected result was
//! produced by `kubectl kustomize` (kustomize v5.5.0) on the same resource
//! and patch (a `patches: [{path: patch.yaml}]` entry), unless noted.

use serde_json::Value;

use crate::patch::{PatchError, strategic_merge};

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
  finalizers: [a, b]
spec:
  replicas: 2
  selector: null
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1
        args: [--a, --b]
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
        ports:
        - {containerPort: 80, protocol: TCP}
        - {containerPort: 53, protocol: UDP}
      - name: sidecar
        image: busybox
      volumes:
      - name: data
        emptyDir: {}
      - name: config
        configMap: {name: cfg}
"#;

/// The `app` container of [`DEPLOYMENT`], unchanged.
const APP: &str = r#"{name: app, image: "nginx:1", args: [--a, --b],
  env: [{name: A, value: "1"}, {name: B, value: "2"}],
  ports: [{containerPort: 80, protocol: TCP}, {containerPort: 53, protocol: UDP}]}"#;

/// The `sidecar` container of [`DEPLOYMENT`], unchanged.
const SIDECAR: &str = "{name: sidecar, image: busybox}";

const CONTAINERS: &str = "/spec/template/spec/containers";

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("test YAML parses")
}

/// A patch of the `web` Deployment: its header followed by `body`.
fn deployment_patch(body: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n{body}")
}

fn merged(target: &str, patch: &str) -> Value {
    let mut doc = yaml(target);
    strategic_merge(&mut doc, &yaml(patch)).expect("patch applies");
    doc
}

fn merge_error(target: &str, patch: &str) -> PatchError {
    let mut doc = yaml(target);
    let error = strategic_merge(&mut doc, &yaml(patch)).expect_err("patch fails");
    assert_eq!(
        doc,
        yaml(target),
        "a failed patch leaves the target unchanged"
    );
    error
}

/// `base` with the values at the given JSON pointers set (map keys or list
/// indexes) or, for `None`, removed.
fn changed(base: &str, changes: &[(&str, Option<&str>)]) -> Value {
    let mut doc = yaml(base);
    for (pointer, value) in changes {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
        let key = key.replace("~1", "/").replace("~0", "~");
        match (doc.pointer_mut(parent).expect("parent exists"), value) {
            (Value::Object(map), Some(value)) => {
                map.insert(key, yaml(value));
            }
            (Value::Object(map), None) => {
                map.remove(&key);
            }
            (Value::Array(items), Some(value)) => {
                items[key.parse::<usize>().expect("index")] = yaml(value);
            }
            (other, _) => panic!("cannot change {pointer} under {other}"),
        }
    }
    doc
}

#[test]
fn new_container_is_added_first() {
    let patch = deployment_patch(
        "spec:\n  template:\n    spec:\n      containers:\n      - {name: new, image: \"new:1\"}\n",
    );
    let containers = format!("[{{name: new, image: \"new:1\"}}, {APP}, {SIDECAR}]");
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(DEPLOYMENT, &[(CONTAINERS, Some(&containers))])
    );
}

#[test]
fn container_merges_by_name_and_moves_first() {
    let patch = deployment_patch(
        "spec:\n  template:\n    spec:\n      containers:\n      - {name: sidecar, image: \"busybox:2\"}\n",
    );
    let containers = format!("[{{name: sidecar, image: \"busybox:2\"}}, {APP}]");
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(DEPLOYMENT, &[(CONTAINERS, Some(&containers))])
    );
}

#[test]
fn env_merges_by_name_patch_items_first() {
    let patch = deployment_patch(
        r#"spec:
  template:
    spec:
      containers:
      - name: app
        env:
        - {name: B, value: "3"}
        - {name: C, value: "4"}
"#,
    );
    let env = r#"[{name: B, value: "3"}, {name: C, value: "4"}, {name: A, value: "1"}]"#;
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[("/spec/template/spec/containers/0/env", Some(env))]
        )
    );
}

#[test]
fn patch_delete_removes_a_list_item() {
    let patch = deployment_patch(
        r#"spec:
  template:
    spec:
      containers:
      - name: app
        env:
        - {name: A, $patch: delete}
"#,
    );
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[(
                "/spec/template/spec/containers/0/env",
                Some(r#"[{name: B, value: "2"}]"#)
            )]
        )
    );
}

#[test]
fn null_removes_a_field() {
    let patch = deployment_patch(
        "spec:\n  replicas: null\n  template:\n    metadata:\n      labels: {app: null, tier: front}\n",
    );
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[
                ("/spec/replicas", None),
                ("/spec/template/metadata/labels", Some("{tier: front}")),
            ]
        )
    );
}

#[test]
fn null_in_the_target_is_kept() {
    let patch = deployment_patch("spec:\n  replicas: 3\n");
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(DEPLOYMENT, &[("/spec/replicas", Some("3"))])
    );
}

#[test]
fn nulls_in_an_added_map_are_dropped() {
    let patch = deployment_patch(
        "spec:\n  template:\n    spec:\n      securityContext: {runAsUser: 1, fsGroup: null}\n",
    );
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[(
                "/spec/template/spec/securityContext",
                Some("{runAsUser: 1}")
            )]
        )
    );
}

#[test]
fn patch_delete_removes_a_map() {
    let patch = deployment_patch("spec:\n  strategy:\n    $patch: delete\n");
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(DEPLOYMENT, &[("/spec/strategy", None)])
    );
}

#[test]
fn patch_replace_replaces_a_map() {
    let patch = deployment_patch("spec:\n  strategy:\n    $patch: replace\n    type: Recreate\n");
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(DEPLOYMENT, &[("/spec/strategy", Some("{type: Recreate}"))])
    );
}

#[test]
fn patch_replace_item_replaces_a_list() {
    let patch = deployment_patch(
        r#"spec:
  template:
    spec:
      containers:
      - {name: only, image: "only:1"}
      - $patch: replace
"#,
    );
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[(CONTAINERS, Some(r#"[{name: only, image: "only:1"}]"#))]
        )
    );
}

#[test]
fn patch_delete_item_removes_a_list() {
    let patch =
        deployment_patch("spec:\n  template:\n    spec:\n      volumes:\n      - $patch: delete\n");
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(DEPLOYMENT, &[("/spec/template/spec/volumes", None)])
    );
}

#[test]
fn patch_replace_on_a_list_item_has_no_effect() {
    let patch = deployment_patch(
        r#"spec:
  template:
    spec:
      containers:
      - {name: sidecar, $patch: replace, image: other}
"#,
    );
    let containers = format!("[{SIDECAR}, {APP}]");
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(DEPLOYMENT, &[(CONTAINERS, Some(&containers))])
    );
}

#[test]
fn directives_inside_an_added_list_are_applied() {
    let patch = deployment_patch(
        r#"spec:
  template:
    spec:
      initContainers:
      - name: init
        image: "init:1"
        env:
        - {name: X, $patch: delete}
        - {name: Y, value: y}
"#,
    );
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[(
                "/spec/template/spec/initContainers",
                Some(r#"[{name: init, image: "init:1", env: [{name: Y, value: y}]}]"#)
            )]
        )
    );
}

#[test]
fn set_element_order_is_an_ordinary_field() {
    let patch = deployment_patch(
        r#"spec:
  template:
    spec:
      $setElementOrder/containers: [{name: sidecar}, {name: app}]
      containers:
      - {name: app, image: "nginx:2"}
"#,
    );
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[
                (
                    "/spec/template/spec/$setElementOrder~1containers",
                    Some("[{name: sidecar}, {name: app}]")
                ),
                ("/spec/template/spec/containers/0/image", Some("nginx:2")),
            ]
        )
    );
}

#[test]
fn retain_keys_is_an_ordinary_field() {
    let patch =
        deployment_patch("spec:\n  strategy:\n    $retainKeys: [type]\n    type: Recreate\n");
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[
                ("/spec/strategy/$retainKeys", Some("[type]")),
                ("/spec/strategy/type", Some("Recreate")),
            ]
        )
    );
}

#[test]
fn delete_from_primitive_list_is_an_ordinary_field() {
    let patch = deployment_patch("  $deleteFromPrimitiveList/finalizers: [a]\n");
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[(
                "/metadata/$deleteFromPrimitiveList~1finalizers",
                Some("[a]")
            )]
        )
    );
}

#[test]
fn finalizers_gain_new_values_first() {
    let patch = deployment_patch("  finalizers: [c, a]\n");
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(DEPLOYMENT, &[("/metadata/finalizers", Some("[c, a, b]"))])
    );
}

#[test]
fn ports_merge_by_container_port_and_protocol() {
    // A port without protocol matches the target's port with a protocol
    // (and is then merged with the target's item only, losing `name: http`),
    // new ports come first, the target's keep their order.
    let patch = deployment_patch(
        r#"spec:
  template:
    spec:
      containers:
      - name: app
        ports:
        - {containerPort: 53, protocol: UDP, name: dns}
        - {containerPort: 80, name: http}
        - {containerPort: 8080}
"#,
    );
    let ports = "[{containerPort: 8080}, {containerPort: 80, protocol: TCP},
                  {containerPort: 53, protocol: UDP, name: dns}]";
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[("/spec/template/spec/containers/0/ports", Some(ports))]
        )
    );
}

#[test]
fn service_ports_unify_partial_keys_in_kyaml_order() {
    // Found by comparing random patches with kubectl: `[80, ""]` unifies with
    // each of `[80, UDP]` and `[80, TCP]` in turn and keeps the last.
    let service = "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\n\
                   spec: {ports: [{port: 443}, {port: 443, protocol: UDP}]}\n";
    let patch = "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\n\
                 spec: {ports: [{port: 80, targetPort: 8443}, {port: 80, protocol: UDP},\
                 {port: 80, protocol: TCP, targetPort: 8443}]}\n";
    let ports = "[{port: 80, protocol: TCP, targetPort: 8443}, {port: 80, protocol: UDP},
                  {port: 443}, {port: 443, protocol: UDP}]";
    assert_eq!(
        merged(service, patch),
        changed(service, &[("/spec/ports", Some(ports))])
    );
}

#[test]
fn volumes_merge_by_name() {
    let patch = deployment_patch(
        r#"spec:
  template:
    spec:
      volumes:
      - {name: config, configMap: {name: cfg2}}
      - {name: cache, emptyDir: {}}
"#,
    );
    let volumes = "[{name: config, configMap: {name: cfg2}}, {name: cache, emptyDir: {}},
                    {name: data, emptyDir: {}}]";
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[("/spec/template/spec/volumes", Some(volumes))]
        )
    );
}

#[test]
fn list_without_merge_key_is_replaced() {
    let patch = deployment_patch(
        "spec:\n  template:\n    spec:\n      containers:\n      - {name: app, args: [--c]}\n",
    );
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(
            DEPLOYMENT,
            &[("/spec/template/spec/containers/0/args", Some("[--c]"))]
        )
    );
}

#[test]
fn patch_item_without_merge_key_empties_the_list() {
    let patch = deployment_patch(
        "spec:\n  template:\n    spec:\n      containers:\n      - image: nameless\n",
    );
    assert_eq!(
        merged(DEPLOYMENT, &patch),
        changed(DEPLOYMENT, &[(CONTAINERS, Some("[]"))])
    );
}

#[test]
fn target_item_without_merge_key_hides_the_patch() {
    let target = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n\
                  spec:\n  template:\n    spec:\n      containers: [{image: a}, {name: b, image: b}]\n";
    let patch = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n\
                 spec:\n  template:\n    spec:\n      containers: [{name: b, image: c}]\n";
    assert_eq!(
        merged(target, patch),
        changed(target, &[(CONTAINERS, Some("[{image: a}]"))])
    );
}

#[test]
fn patch_delete_at_the_top_deletes_the_document() {
    let patch = deployment_patch("$patch: delete\n");
    assert_eq!(merged(DEPLOYMENT, &patch), Value::Null);
}

#[test]
fn patch_replace_at_the_top_leaves_the_target_unchanged() {
    // Found by comparing random patches with kubectl.
    let patch = deployment_patch("$patch: replace\nspec:\n  replicas: 5\n");
    assert_eq!(merged(DEPLOYMENT, &patch), yaml(DEPLOYMENT));
}

const WIDGET: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  items: [{name: a, v: 1}, {name: b, v: 2}]
  nested:
    keep: 1
    list: [{name: q}]
  embedded:
    apiVersion: apps/v1
    kind: Deployment
    spec:
      template:
        spec:
          containers: [{name: a, image: a}]
"#;

#[test]
fn custom_resource_merges_maps_and_replaces_lists() {
    let patch = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n\
                 \x20 items: [{name: a, v: 9}]\n  nested: {add: 2, list: [{name: r}]}\n";
    assert_eq!(
        merged(WIDGET, patch),
        changed(
            WIDGET,
            &[
                ("/spec/items", Some("[{name: a, v: 9}]")),
                ("/spec/nested/add", Some("2")),
                ("/spec/nested/list", Some("[{name: r}]")),
            ]
        )
    );
}

#[test]
fn embedded_object_of_a_known_kind_merges_by_key() {
    let patch = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n\
                 \x20 embedded:\n    spec:\n      template:\n        spec:\n\
                 \x20         containers: [{name: b, image: b}]\n";
    assert_eq!(
        merged(WIDGET, patch),
        changed(
            WIDGET,
            &[(
                "/spec/embedded/spec/template/spec/containers",
                Some("[{name: b, image: b}, {name: a, image: a}]")
            )]
        )
    );
}

#[test]
fn removed_version_merges_like_the_served_one() {
    // batch/v1beta1 is not served by Kubernetes 1.34; kustomize still knows it.
    let cronjob = "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: web}\nspec:\n\
                   \x20 jobTemplate:\n    spec:\n      template:\n        spec:\n\
                   \x20         containers: [{name: a, image: a}, {name: b, image: b}]\n";
    let patch = "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: web}\nspec:\n\
                 \x20 jobTemplate:\n    spec:\n      template:\n        spec:\n\
                 \x20         containers: [{name: b, image: b2}]\n";
    assert_eq!(
        merged(cronjob, patch),
        changed(
            cronjob,
            &[(
                "/spec/jobTemplate/spec/template/spec/containers",
                Some("[{name: b, image: b2}, {name: a, image: a}]")
            )]
        )
    );
}

#[test]
fn unknown_directive_is_rejected() {
    let patch = deployment_patch("spec:\n  strategy:\n    $patch: foo\n");
    assert_eq!(
        merge_error(DEPLOYMENT, &patch),
        PatchError::UnknownDirective {
            path: "spec.strategy".to_string(),
            value: "foo".to_string(),
        }
    );
}

#[test]
fn scalar_for_a_map_is_rejected() {
    let patch = deployment_patch("spec:\n  strategy: 3\n");
    assert_eq!(
        merge_error(DEPLOYMENT, &patch),
        PatchError::MergeKindMismatch {
            path: "spec.strategy".to_string(),
            expected: "a map",
            found: "a scalar",
        }
    );
}

#[test]
fn error_names_the_list_item() {
    // kubectl rejects it too ("expected SequenceNode but got MappingNode");
    // the path in the message is ours.
    let patch = deployment_patch(
        "spec:\n  template:\n    spec:\n      containers:\n      - {name: app, env: {A: 1}}\n",
    );
    assert_eq!(
        merge_error(DEPLOYMENT, &patch),
        PatchError::MergeKindMismatch {
            path: "spec.template.spec.containers[name=app].env".to_string(),
            expected: "a list",
            found: "a map",
        }
    );
}
