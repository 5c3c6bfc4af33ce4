//! Real expressions from Flux's documentation for the three CEL fields,
//! evaluated with the variables Flux binds: `healthCheckExprs` against
//! the object's top-level fields, `dependsOn[].readyExpr` with `self` (the
//! dependent Kustomization) and `dep` (the dependency), and Receiver
//! `resourceFilter` with `res` (the resource) and `req` (the JSON body).

use fluxrs_cel::{Activation, Program};
use serde_json::{Value, json};

fn holds(source: &str, vars: &Activation) -> bool {
    let program = Program::compile(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    program
        .evaluate_bool(vars)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
}

fn certificate(ready: &str) -> Value {
    json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web", "namespace": "default", "generation": 2},
        "spec": {"secretName": "web-tls"},
        "status": {
            "observedGeneration": 2,
            "conditions": [
                {"type": "Issuing", "status": "False"},
                {"type": "Ready", "status": ready, "reason": "Ready"}
            ]
        }
    })
}

const CERT_CURRENT: &str =
    "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')";
const CERT_FAILED: &str =
    "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')";

#[test]
fn cert_manager_certificate_health() {
    let ready = Activation::from_object(&certificate("True"));
    assert!(holds(CERT_CURRENT, &ready));
    assert!(!holds(CERT_FAILED, &ready));
    let failed = Activation::from_object(&certificate("False"));
    assert!(!holds(CERT_CURRENT, &failed));
    assert!(holds(CERT_FAILED, &failed));
}

#[test]
fn health_check_on_object_without_status_fails_with_clear_error() {
    let fresh = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web"}});
    let program = Program::compile(CERT_CURRENT).unwrap();
    let error = program
        .evaluate_bool(&Activation::from_object(&fresh))
        .unwrap_err();
    assert_eq!(error.to_string(), "no such attribute: status");
}

#[test]
fn observed_generation_guarded_with_has() {
    let current = "has(status.observedGeneration) && status.observedGeneration == metadata.generation \
                   && status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')";
    assert!(holds(
        current,
        &Activation::from_object(&certificate("True"))
    ));
    let stale = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 2, "conditions": []}});
    assert!(!holds(current, &Activation::from_object(&stale)));
    let unobserved = json!({"metadata": {"generation": 1}, "status": {}});
    assert!(!holds(current, &Activation::from_object(&unobserved)));
}

#[test]
fn optional_field_access_guards_missing_status() {
    // Flux enables cel-go's optional types; this form waits (false) on an
    // object whose controller has not written conditions yet.
    let current =
        "status.?conditions.orValue([]).exists(e, e.type == 'Ready' && e.status == 'True')";
    let fresh = json!({"metadata": {"name": "web"}, "status": {}});
    assert!(!holds(current, &Activation::from_object(&fresh)));
    assert!(holds(
        current,
        &Activation::from_object(&certificate("True"))
    ));
}

#[test]
fn cluster_api_cluster_health() {
    // Cluster API: InProgress until the control plane and infrastructure
    // report ready; Failed on a failure reason; Current on Ready=True.
    let in_progress =
        "status.phase != 'Provisioned' || !status.controlPlaneReady || !status.infrastructureReady";
    let failed = "has(status.failureReason) || status.conditions.exists(e, e.type == 'Ready' && e.status == 'False' && e.severity == 'Error')";
    let current = "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')";
    let provisioning = json!({"status": {"phase": "Provisioning", "controlPlaneReady": false, "infrastructureReady": true,
        "conditions": [{"type": "Ready", "status": "False", "severity": "Info"}]}});
    let vars = Activation::from_object(&provisioning);
    assert!(holds(in_progress, &vars));
    assert!(!holds(failed, &vars));
    let provisioned = json!({"status": {"phase": "Provisioned", "controlPlaneReady": true, "infrastructureReady": true,
        "conditions": [{"type": "Ready", "status": "True"}]}});
    let vars = Activation::from_object(&provisioned);
    assert!(!holds(in_progress, &vars));
    assert!(!holds(failed, &vars));
    assert!(holds(current, &vars));
}

#[test]
fn sealed_secret_health_with_observed_generation_and_map() {
    let current = "metadata.generation == status.observedGeneration && \
                   status.conditions.map(c, c.type).exists(t, t == 'Synced') && \
                   status.conditions.filter(c, c.type == 'Synced').all(c, c.status == 'True')";
    let synced = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1,
        "conditions": [{"type": "Synced", "status": "True"}]}});
    assert!(holds(current, &Activation::from_object(&synced)));
}

fn kustomization(name: &str, revision: &str, generation: i64, observed: i64, ready: &str) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system", "generation": generation},
        "status": {
            "observedGeneration": observed,
            "lastAppliedRevision": revision,
            "lastAttemptedRevision": revision,
            "conditions": [{"type": "Ready", "status": ready, "reason": "ReconciliationSucceeded"}]
        }
    })
}

const READY_EXPR: &str = "dep.metadata.generation == dep.status.observedGeneration && \
    dep.status.lastAppliedRevision == self.status.lastAttemptedRevision && \
    dep.status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')";

#[test]
fn depends_on_ready_expr() {
    let me = kustomization("apps", "main@sha1:abc", 1, 1, "True");
    let vars = Activation::new().with("self", &me).with(
        "dep",
        &kustomization("infra", "main@sha1:abc", 4, 4, "True"),
    );
    assert!(holds(READY_EXPR, &vars));
    let behind = Activation::new().with("self", &me).with(
        "dep",
        &kustomization("infra", "main@sha1:old", 4, 4, "True"),
    );
    assert!(!holds(READY_EXPR, &behind));
    let reconciling = Activation::new().with("self", &me).with(
        "dep",
        &kustomization("infra", "main@sha1:abc", 5, 4, "Unknown"),
    );
    assert!(!holds(READY_EXPR, &reconciling));
}

fn filter_vars(name: &str, body: Value) -> Activation {
    let resource = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "flux-system", "labels": {"app": name}, "annotations": {}}
    });
    Activation::new().with("res", &resource).with("req", &body)
}

#[test]
fn receiver_resource_filter_by_name_and_ref() {
    let filter =
        Program::compile("res.metadata.name == 'app' && req.ref == 'refs/heads/main'").unwrap();
    filter.check_variables(&["res", "req"]).unwrap();
    let push = json!({"ref": "refs/heads/main", "repository": {"full_name": "org/app"}});
    assert!(
        filter
            .evaluate_bool(&filter_vars("app", push.clone()))
            .unwrap()
    );
    assert!(!filter.evaluate_bool(&filter_vars("other", push)).unwrap());
    let tag = json!({"ref": "refs/tags/v1"});
    assert!(!filter.evaluate_bool(&filter_vars("app", tag)).unwrap());
}

#[test]
fn receiver_resource_filter_on_payload_contents() {
    // Only reconcile the repositories whose name appears in the pushed
    // image's tag, e.g. a Harbor or generic payload listing artifacts.
    let source = "req.resources.exists(r, r.tag.startsWith(res.metadata.name + '-')) && \
                  res.metadata.labels.app in req.resources.map(r, r.app)";
    let body = json!({"resources": [{"tag": "app-1.2.3", "app": "app"}]});
    assert!(holds(source, &filter_vars("app", body.clone())));
    assert!(!holds(source, &filter_vars("web", body)));
}

#[test]
fn receiver_filter_with_empty_body_reports_missing_key() {
    let filter = Program::compile("req.ref == 'refs/heads/main'").unwrap();
    let error = filter
        .evaluate_bool(&filter_vars("app", json!({})))
        .unwrap_err();
    assert_eq!(error.to_string(), "no such key: ref");
    let guarded = Program::compile("has(req.ref) && req.ref == 'refs/heads/main'").unwrap();
    assert!(
        !guarded
            .evaluate_bool(&filter_vars("app", json!({})))
            .unwrap()
    );
}
