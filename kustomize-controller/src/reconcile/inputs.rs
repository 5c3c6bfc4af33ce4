//! What a build reads besides the artifact: substitution variables and
//! decryption keys, digested so an unchanged reconcile can be recognised,
//! and the post-build steps that use them.

use std::collections::BTreeMap;

use fluxrs_api::kustomize::{Kustomization, SubstituteKind};
use fluxrs_runtime::conditions::reasons;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;
use kube::api::Api;
use serde_json::Value;

use super::source::SourceArtifact;
use super::{Context, Failure};
use crate::decrypt::{self, Keys};
use crate::prune_guard;
use crate::steady_state::InputDigest;
use crate::substitute::{self, VarSource};
use crate::target::Target;

/// What a build reads besides the artifact, gathered before deciding whether
/// anything changed.
pub(super) struct Inputs {
    pub(super) vars: Option<BTreeMap<String, String>>,
    pub(super) keys: Option<Keys>,
    pub(super) digest: String,
}

/// Reads substitution variables and decryption keys, and digests them with
/// everything else the build depends on.
pub(super) async fn gather_inputs(
    obj: &Kustomization,
    ctx: &Context,
    source: &SourceArtifact,
    target: &Target,
) -> Result<Inputs, Failure> {
    let mut digest = InputDigest::default();
    digest.add("revision", source.revision.as_bytes());
    digest.add("digest", source.digest.as_bytes());
    let spec = serde_json::to_vec(&obj.spec).unwrap_or_default();
    digest.add("spec", &spec);
    let approval = obj.annotations().get(prune_guard::APPROVE_ANNOTATION);
    digest.add(
        "approve-prune",
        approval.map(String::as_bytes).unwrap_or_default(),
    );
    if let Some((namespace, name)) = &target.service_account {
        digest.add("service-account", format!("{namespace}/{name}").as_bytes());
    }
    let vars = substitution_vars(obj, ctx).await?;
    for (name, value) in vars.iter().flatten() {
        digest.add(&format!("var:{name}"), value.as_bytes());
    }
    let keys = match decryption_key_data(obj, ctx).await? {
        Some((secret, data)) => {
            for (name, value) in &data {
                digest.add(&format!("key:{name}"), value);
            }
            Some(
                Keys::from_secret_data(&secret, &data)
                    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?,
            )
        }
        None => None,
    };
    Ok(Inputs {
        vars,
        keys,
        digest: digest.finish(),
    })
}

pub(super) async fn substitute(
    obj: &Kustomization,
    objects: Vec<Value>,
    vars: Option<BTreeMap<String, String>>,
    strict: bool,
) -> Result<Vec<Value>, Failure> {
    let (Some(post_build), Some(vars)) = (&obj.spec.post_build, vars) else {
        return Ok(objects);
    };
    let strategy = post_build.substitute_strategy.unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        substitute::substitute_objects(objects, &vars, strict, strategy)
    })
    .await
    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?
    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))
}

/// `postBuild` variables from `substitute` and `substituteFrom`.
pub(super) async fn substitution_vars(
    obj: &Kustomization,
    ctx: &Context,
) -> Result<Option<BTreeMap<String, String>>, Failure> {
    let Some(post_build) = &obj.spec.post_build else {
        return Ok(None);
    };
    let namespace = obj.namespace().unwrap_or_default();
    let mut sources = Vec::new();
    for reference in post_build.substitute_from.iter().flatten() {
        let data = match reference.kind {
            SubstituteKind::ConfigMap => {
                Api::<ConfigMap>::namespaced(ctx.client.clone(), &namespace)
                    .get_opt(&reference.name)
                    .await
                    .map(|c| {
                        c.map(|c| {
                            c.data
                                .unwrap_or_default()
                                .into_iter()
                                .map(|(k, v)| (k, v.into_bytes()))
                                .collect::<BTreeMap<_, _>>()
                        })
                    })
            }
            SubstituteKind::Secret => Api::<Secret>::namespaced(ctx.client.clone(), &namespace)
                .get_opt(&reference.name)
                .await
                .map(|s| {
                    s.map(|s| {
                        s.data
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k, v.0))
                            .collect::<BTreeMap<_, _>>()
                    })
                }),
        }
        .map_err(|e| {
            Failure::retry(
                reasons::BUILD_FAILED,
                format!("substitute from '{}': {e}", reference.name),
                obj,
            )
        })?;
        sources.push(VarSource::new(reference, data));
    }
    substitute::vars_from(
        post_build.substitute.as_ref().unwrap_or(&BTreeMap::new()),
        sources,
    )
    .map(Some)
    .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))
}

/// The decryption keys' source and data, when `spec.decryption` is set: the
/// entries of `decryption.secretRef` plus those of the controller-wide
/// `--sops-age-secret` (prefixed with its name so entries cannot clash).
pub(super) async fn decryption_key_data(
    obj: &Kustomization,
    ctx: &Context,
) -> Result<Option<(String, BTreeMap<String, Vec<u8>>)>, Failure> {
    let Some(decryption) = &obj.spec.decryption else {
        return Ok(None);
    };
    let mut sources = Vec::new();
    let mut data = BTreeMap::new();
    if let Some(secret_ref) = &decryption.secret_ref {
        let namespace = obj.namespace().unwrap_or_default();
        let own = secret_data(obj, ctx, &namespace, &secret_ref.name).await?;
        let own = own.ok_or_else(|| {
            Failure::retry(
                reasons::BUILD_FAILED,
                format!(
                    "failed to get decryption secret '{namespace}/{}': not found",
                    secret_ref.name
                ),
                obj,
            )
        })?;
        data.extend(own);
        sources.push(secret_ref.name.clone());
    }
    // A fallback: when the Secret is absent, only the object's keys count.
    if let Some((namespace, name)) = &ctx.sops_age_secret
        && let Some(global) = secret_data(obj, ctx, namespace, name).await?
    {
        data.extend(global.into_iter().map(|(k, v)| (format!("{name}.{k}"), v)));
        sources.push(format!("{namespace}/{name}"));
    }
    if sources.is_empty() {
        return Ok(None);
    }
    Ok(Some((sources.join(", "), data)))
}

/// The data of Secret `namespace/name`, `None` when it does not exist.
pub(super) async fn secret_data(
    obj: &Kustomization,
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, Failure> {
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| {
            Failure::retry(
                reasons::BUILD_FAILED,
                format!("failed to get decryption secret '{namespace}/{name}': {e}"),
                obj,
            )
        })?;
    Ok(secret.map(|secret| {
        secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect()
    }))
}

pub(super) async fn decrypt_secrets(
    obj: &Kustomization,
    objects: Vec<Value>,
    keys: Option<Keys>,
) -> Result<Vec<Value>, Failure> {
    let Some(keys) = keys else {
        for object in &objects {
            decrypt::require_decrypted(object)
                .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?;
        }
        return Ok(objects);
    };
    tokio::task::spawn_blocking(move || decrypt::decrypt_objects(objects, &keys))
        .await
        .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))?
        .map_err(|e| Failure::retry(reasons::BUILD_FAILED, e.to_string(), obj))
}
