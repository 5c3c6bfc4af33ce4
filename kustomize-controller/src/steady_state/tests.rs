use super::*;

fn id(group: &str, kind: &str) -> ObjectId {
    ObjectId {
        namespace: "apps".into(),
        name: "web".into(),
        group: group.into(),
        kind: kind.into(),
    }
}

fn tracked(group: &str, kind: &str, rv: &str, generation: i64) -> Tracked {
    Tracked {
        id: id(group, kind),
        live: Some(LiveVersion {
            resource_version: rv.into(),
            generation: Some(generation),
        }),
        skipped: false,
        applied_metadata: BTreeMap::from([("team".to_string(), "a".to_string())]),
        healthy_at: None,
    }
}

fn live(rv: &str, generation: i64, metadata: &[(&str, &str)]) -> LiveMeta {
    LiveMeta {
        resource_version: rv.into(),
        generation: Some(generation),
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn same_resource_version_is_untouched() {
    let t = tracked("", "Service", "10", 1);
    assert!(untouched(&t, &live("10", 1, &[])));
    assert!(!untouched(&t, &live("11", 1, &[("team", "a")])));
}

#[test]
fn status_writes_do_not_count_as_drift_for_generation_tracked_kinds() {
    let t = tracked("apps", "Deployment", "10", 3);
    assert!(untouched(
        &t,
        &live(
            "14",
            3,
            &[("team", "a"), ("deployment.kubernetes.io/revision", "2")]
        )
    ));
    assert!(
        !untouched(&t, &live("14", 4, &[("team", "a")])),
        "spec edited"
    );
    assert!(
        !untouched(&t, &live("14", 3, &[("team", "b")])),
        "label edited"
    );
    assert!(!untouched(&t, &live("14", 3, &[])), "label removed");
}

#[test]
fn custom_resources_track_generation() {
    assert!(generation_tracked(&id(
        "source.toolkit.fluxcd.io",
        "GitRepository"
    )));
    assert!(generation_tracked(&id("apps", "Deployment")));
    assert!(!generation_tracked(&id("", "ConfigMap")));
    assert!(!generation_tracked(&id(
        "rbac.authorization.k8s.io",
        "Role"
    )));
}

#[test]
fn applied_metadata_collects_labels_and_annotations() {
    let object = serde_json::json!({
        "metadata": {"labels": {"a": "1"}, "annotations": {"b": "2"}}
    });
    let metadata = applied_metadata(&object);
    assert_eq!(metadata.get("a").map(String::as_str), Some("1"));
    assert_eq!(metadata.get("b").map(String::as_str), Some("2"));
}

#[test]
fn input_digest_separates_fields() {
    let digest = |parts: &[(&str, &str)]| {
        let mut d = InputDigest::default();
        for (name, value) in parts {
            d.add(name, value.as_bytes());
        }
        d.finish()
    };
    assert_eq!(digest(&[("a", "bc")]), digest(&[("a", "bc")]));
    assert_ne!(digest(&[("a", "bc")]), digest(&[("ab", "c")]));
}

#[tokio::test]
async fn records_are_compared_on_inputs_and_inventory_first() {
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let state = SteadyState::new(Tracker::new(client));
    let inventory = vec!["apps_web_apps_Deployment".to_string()];
    assert_eq!(
        state.unchanged("uid", "d1", &inventory),
        Err(Changed::NoRecord)
    );
    let record = Record {
        inputs: "d1".into(),
        inventory: inventory.clone(),
        objects: vec![tracked("apps", "Deployment", "10", 1)],
        healthy: None,
        health_outside: None,
    };
    state.remember("uid", record);
    assert_eq!(
        state.unchanged("uid", "d2", &inventory),
        Err(Changed::Inputs)
    );
    assert_eq!(state.unchanged("uid", "d1", &[]), Err(Changed::Inventory));
    assert_eq!(
        state.unchanged("uid", "d1", &inventory),
        Err(Changed::Unknown(id("apps", "Deployment"))),
        "the kind is not watched"
    );
    state.forget("uid");
    assert_eq!(
        state.unchanged("uid", "d1", &inventory),
        Err(Changed::NoRecord)
    );
}
