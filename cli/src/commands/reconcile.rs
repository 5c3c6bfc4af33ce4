//! `fluxrs reconcile`: ask a controller to reconcile now and wait for the
//! verdict, with the protocol of `spec/cli.md` §2: a JSON merge patch of
//! `reconcile.fluxcd.io/requestedAt` with an RFC 3339 (nanosecond) token,
//! then polling until `status.lastHandledReconcileAt` equals the token and
//! the object is ready or failed.

use std::future::Future;
use std::pin::Pin;

use clap::Args;
use fluxrs_api::kustomize::{APPROVE_PRUNE_ANNOTATION, Kustomization};
use fluxrs_api::meta::RECONCILE_REQUEST_ANNOTATION;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::Target;
use crate::error::{Error, Result};
use crate::kinds::{FluxKind, Kind, ObjectRef};
use crate::kube::Session;
use crate::output::log;
use crate::{wait, with_kind};

/// Arguments of `reconcile <kind>`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The object to reconcile.
    pub name: String,
    /// Reconcile the object's source first (Kustomization, HelmRelease, and
    /// any kind with a source).
    #[arg(long)]
    pub with_source: bool,
    /// Approve the prune the prune guard is holding back for the
    /// Kustomization's current revision (flux-rs addition).
    #[arg(long)]
    pub approve_prune: bool,
}

/// Runs `reconcile`.
pub async fn run(session: &Session, target: Target<ReconcileArgs>) -> Result<()> {
    let (kind, args) = target.into_parts();
    let namespace = session.namespace.clone();
    if args.approve_prune {
        approve_prune(session, kind, &namespace, &args.name).await?;
    }
    reconcile(session, kind, namespace, args.name, args.with_source).await
}

/// Sets the prune approval to the revision the Kustomization last attempted
/// (the one whose prune the guard held back).
async fn approve_prune(session: &Session, kind: Kind, namespace: &str, name: &str) -> Result<()> {
    if kind != Kind::Kustomization {
        return Err(Error::InvalidArgument(format!(
            "--approve-prune applies to kustomizations, not {kind}"
        )));
    }
    let obj: Kustomization = session.get(namespace, name).await?;
    let revision = obj
        .status
        .and_then(|s| s.last_attempted_revision)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "Kustomization '{name}' has not attempted any revision yet, nothing to approve"
            ))
        })?;
    log::action(&format!("approving the prune of revision {revision}"));
    let patch = json!({ "metadata": { "annotations": { APPROVE_PRUNE_ANNOTATION: revision } } });
    session
        .api::<Kustomization>(namespace)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::api(format!("annotating Kustomization '{name}'"), e))?;
    Ok(())
}

/// Reconciles one object (boxed: `--with-source` recurses through sources).
pub fn reconcile(
    session: &Session,
    kind: Kind,
    namespace: String,
    name: String,
    with_source: bool,
) -> Pin<Box<dyn Future<Output = Result<()>> + Send + '_>> {
    Box::pin(async move {
        with_kind!(kind, |K| reconcile_kind::<K>(
            session,
            &namespace,
            &name,
            with_source
        )
        .await)
    })
}

async fn reconcile_kind<K: FluxKind>(
    session: &Session,
    namespace: &str,
    name: &str,
    with_source: bool,
) -> Result<()> {
    let obj: K = session.get(namespace, name).await?;
    if obj.static_message().is_some() {
        log::success("reconciliation not supported by the object");
        return Ok(());
    }
    if obj.suspended() {
        return Err(Error::Suspended {
            kind: K::KIND.name().into(),
            name: name.into(),
            namespace: namespace.into(),
            resume_command: K::KIND.command_path().into(),
        });
    }
    if with_source && let Some(source) = obj.reconcile_source() {
        reconcile_source(session, source).await?;
    }
    let token = request(session, K::KIND, namespace, name).await?;
    log::waiting(&format!("waiting for {} reconciliation", K::KIND));
    let obj: K = wait::until_reconciled(session, namespace, name, Some(&token)).await?;
    log::success(&format!("{} reconciliation completed", K::KIND));
    log::success(&obj.success_message());
    Ok(())
}

/// Reconciles a source first; a HelmChart always brings its own source along.
async fn reconcile_source(session: &Session, source: ObjectRef) -> Result<()> {
    let kind = Kind::from_name(&source.kind).ok_or_else(|| {
        Error::InvalidArgument(format!("cannot reconcile source of kind {}", source.kind))
    })?;
    reconcile(
        session,
        kind,
        source.namespace,
        source.name,
        kind == Kind::HelmChart,
    )
    .await
}

/// Writes a new reconcile request and returns its token.
pub async fn request(session: &Session, kind: Kind, namespace: &str, name: &str) -> Result<String> {
    log::action(&format!(
        "annotating {kind} {name} in {namespace} namespace"
    ));
    let token = request_token();
    let patch = request_patch(&token);
    with_kind!(kind, |K| {
        session
            .api::<K>(namespace)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Error::api(format!("annotating {kind} '{name}'"), e))?;
    });
    log::success(&format!("{kind} annotated"));
    Ok(token)
}

/// `time.Now().Format(time.RFC3339Nano)`, in UTC.
fn request_token() -> String {
    Timestamp::now().to_string()
}

/// The JSON merge patch the `flux` CLI sends.
fn request_patch(token: &str) -> serde_json::Value {
    json!({ "metadata": { "annotations": { RECONCILE_REQUEST_ANNOTATION: token } } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_rfc3339_with_nanoseconds_in_utc() {
        let token = request_token();
        assert!(token.ends_with('Z'), "{token}");
        let parsed: Timestamp = token.parse().unwrap();
        assert_eq!(parsed.to_string(), token, "round trips");
        assert!(token.contains('T'));
    }

    #[test]
    fn patch_only_touches_the_request_annotation() {
        assert_eq!(
            request_patch("2026-01-02T03:04:05.123456789Z"),
            json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "2026-01-02T03:04:05.123456789Z"}}})
        );
    }
}
