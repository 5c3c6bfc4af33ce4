//! The source artifact a Kustomization applies and the dependencies that
//! must be ready first.

use fluxrs_api::kustomize::{Kustomization, KustomizationSourceKind};
use fluxrs_api::meta::FluxObject;
use fluxrs_runtime::conditions::{self, reasons, types};
use fluxrs_runtime::interval::format_duration;
use fluxrs_runtime::outcome::ReconcileError;
use kube::ResourceExt;

use super::{Context, Failure, cached_or_get};
use crate::health_exprs;

/// The source's current artifact (revision, url, digest, origin revision).
pub(super) struct SourceArtifact {
    pub(super) revision: String,
    pub(super) url: String,
    pub(super) digest: String,
    pub(super) origin_revision: Option<String>,
}

pub(super) async fn source_artifact(
    obj: &Kustomization,
    ctx: &Context,
) -> Result<SourceArtifact, Failure> {
    let source = &obj.spec.source_ref;
    let own_namespace = obj.namespace().unwrap_or_default();
    let namespace = source
        .namespace
        .clone()
        .unwrap_or_else(|| own_namespace.clone());
    let kind = format!("{:?}", source.kind);
    if ctx.no_cross_namespace_refs && namespace != own_namespace {
        let message = format!(
            "cannot access {kind}/{namespace}/{}, cross-namespace references have been blocked",
            source.name
        );
        return Err(Failure {
            error: ReconcileError::stalled(reasons::ACCESS_DENIED, message),
            healthy: None,
        });
    }
    let artifact = match source.kind {
        KustomizationSourceKind::GitRepository => {
            cached_or_get(&ctx.stores.git, &ctx.client, &namespace, &source.name)
                .await
                .map(|o| o.map(|o| o.status.and_then(|s| s.artifact)))
        }
        KustomizationSourceKind::OCIRepository => {
            cached_or_get(&ctx.stores.oci, &ctx.client, &namespace, &source.name)
                .await
                .map(|o| o.map(|o| o.status.and_then(|s| s.artifact)))
        }
        KustomizationSourceKind::Bucket | KustomizationSourceKind::ExternalArtifact => {
            let message = format!("source kind {kind} is not supported by flux-rs yet");
            return Err(Failure {
                error: ReconcileError::stalled(reasons::ARTIFACT_FAILED, message),
                healthy: None,
            });
        }
    };
    let wait = |message: String| Failure {
        error: ReconcileError::waiting(reasons::ARTIFACT_FAILED, message, ctx.requeue_dependency),
        healthy: None,
    };
    match artifact {
        Err(e) => Err(Failure::retry(
            reasons::ARTIFACT_FAILED,
            format!(
                "failed to get source {kind}/{namespace}/{}: {e}",
                source.name
            ),
            obj,
        )),
        Ok(None) => Err(wait(format!(
            "Source '{kind}/{namespace}/{}' not found",
            source.name
        ))),
        Ok(Some(None)) => Err(wait(format!(
            "Source artifact not found, retrying in {}",
            format_duration(ctx.requeue_dependency)
        ))),
        Ok(Some(Some(artifact))) => Ok(SourceArtifact {
            origin_revision: artifact
                .metadata
                .as_ref()
                .and_then(|m| m.get("org.opencontainers.image.revision").cloned()),
            revision: artifact.revision,
            url: artifact.url,
            digest: artifact.digest.unwrap_or_default(),
        }),
    }
}

/// Each dependency must be ready: by its `readyExpr` (CEL over `self` and
/// `dep`) when set, else Ready=True at its current generation and, when it
/// uses the same source, at the revision this Kustomization is about to apply.
pub(super) async fn check_dependencies(
    obj: &Kustomization,
    ctx: &Context,
    source: &SourceArtifact,
) -> Result<(), Failure> {
    let own_namespace = obj.namespace().unwrap_or_default();
    for dependency in obj.spec.depends_on.iter().flatten() {
        let namespace = dependency
            .namespace
            .clone()
            .unwrap_or_else(|| own_namespace.clone());
        let ready_expr = dependency
            .ready_expr
            .as_deref()
            .map(compile_ready_expr)
            .transpose()?;
        let found = cached_or_get(
            &ctx.stores.kustomizations,
            &ctx.client,
            &namespace,
            &dependency.name,
        )
        .await;
        let ready = match (found, &ready_expr) {
            (Ok(Some(dep)), Some(program)) => ready_by_expr(obj, &dep, program)?,
            (Ok(Some(dep)), None) => ready_by_status(obj, &dep, source),
            _ => false,
        };
        if !ready {
            let message = format!("dependency '{namespace}/{}' is not ready", dependency.name);
            let error = ReconcileError::waiting(
                reasons::DEPENDENCY_NOT_READY,
                message,
                ctx.requeue_dependency,
            )
            .notify();
            return Err(Failure {
                error,
                healthy: None,
            });
        }
    }
    Ok(())
}

pub(super) fn compile_ready_expr(expr: &str) -> Result<fluxrs_cel::Program, Failure> {
    fluxrs_cel::Program::compile(expr)
        .and_then(|program| program.check_variables(&["self", "dep"]).map(|()| program))
        .map_err(|e| Failure {
            error: ReconcileError::stalled(
                health_exprs::INVALID_CEL_EXPRESSION,
                format!("invalid dependsOn readyExpr '{expr}': {e}"),
            ),
            healthy: None,
        })
}

pub(super) fn ready_by_expr(
    obj: &Kustomization,
    dep: &Kustomization,
    program: &fluxrs_cel::Program,
) -> Result<bool, Failure> {
    let me = serde_json::to_value(obj).unwrap_or_default();
    let dep_value = serde_json::to_value(dep).unwrap_or_default();
    let vars = fluxrs_cel::Activation::new()
        .with("self", &me)
        .with("dep", &dep_value);
    program.evaluate_bool(&vars).map_err(|e| {
        Failure::retry(
            reasons::DEPENDENCY_NOT_READY,
            format!(
                "dependency '{}' readyExpr '{}' failed: {e}",
                dep.name_any(),
                program.source()
            ),
            obj,
        )
    })
}

pub(super) fn ready_by_status(
    obj: &Kustomization,
    dep: &Kustomization,
    source: &SourceArtifact,
) -> bool {
    let generation_observed = dep.metadata.generation == dep.observed_generation();
    let same_source = {
        let mine = &obj.spec.source_ref;
        let theirs = &dep.spec.source_ref;
        mine.kind == theirs.kind
            && mine.name == theirs.name
            && mine.namespace.clone().or_else(|| obj.namespace())
                == theirs.namespace.clone().or_else(|| dep.namespace())
    };
    let at_revision = !same_source
        || dep
            .status
            .as_ref()
            .and_then(|s| s.last_applied_revision.as_deref())
            == Some(source.revision.as_str());
    generation_observed && conditions::is_true(dep.conditions(), types::READY) && at_revision
}
