//! Receiver: compute the webhook path from the token and report it.
//!
//! `status.webhookPath` is `/hook/<sha256(token+name+namespace)>` and Ready
//! says `Receiver initialized for path: <path>` (reason `Succeeded`). A
//! missing Secret or token is `TokenNotFound` (retried with backoff: the
//! Secret may come later). An invalid CEL filter (`spec.resourceFilter`,
//! `spec.resources[].filter`) stalls the Receiver with
//! `InvalidCELExpression` and the compiler's message. What flux-rs cannot
//! serve, `generic-oidc` Receivers, stalls it with `ValidationFailed`, so
//! calls get 503 and the reason is on the object instead of requests being
//! accepted with checks skipped.

use std::sync::Arc;

use fluxrs_api::notification::{Receiver, ReceiverType};
use fluxrs_runtime::conditions::{self, reasons};
use fluxrs_runtime::events::{Event, EventRecorder, EventType};
use fluxrs_runtime::outcome::{Disposition, Next, ReconcileError, StatusFields};
use fluxrs_runtime::reconcile_request;
use fluxrs_runtime::status::apply_status;
use fluxrs_runtime::status::finalizer::{Step, with_finalizer};
use kube::{Client, ResourceExt};

use crate::receiver::filter::Filters;
use crate::receiver::{ReceiverSecret, webhook_path};

/// Ready reason when the token cannot be read.
pub const TOKEN_NOT_FOUND: &str = "TokenNotFound";
/// Stalled reason for specs flux-rs cannot serve.
pub const VALIDATION_FAILED: &str = "ValidationFailed";

/// What a Receiver reconcile needs.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Status field manager.
    pub field_manager: String,
    /// Event recorder.
    pub events: EventRecorder,
}

/// Reconciles one Receiver (finalizer, then apply; cleanup has nothing to
/// undo).
pub async fn reconcile(obj: Arc<Receiver>, ctx: Arc<Context>) -> Result<Next, ReconcileError> {
    let client = ctx.client.clone();
    with_finalizer(&client, obj, |step| async move {
        match step {
            Step::Apply(obj) => apply(&obj, &ctx).await,
            Step::Cleanup(_) => Ok(Next::AwaitChange),
        }
    })
    .await
}

async fn apply(obj: &Receiver, ctx: &Context) -> Result<Next, ReconcileError> {
    let generation = obj.metadata.generation;
    let mut status = obj.status.clone().unwrap_or_default();
    let mut conditions = status.conditions.take().unwrap_or_default();
    let previous_path = status.webhook_path.clone();
    let outcome = match webhook(obj, ctx).await {
        Ok(path) => {
            let message = format!("Receiver initialized for path: {path}");
            conditions::mark_ready(&mut conditions, generation, reasons::SUCCEEDED, &message);
            status.webhook_path = Some(path);
            Ok(Next::Interval)
        }
        Err(error) => Err(error),
    };
    let disposition = Disposition::of(&outcome);
    disposition.summarize(
        generation,
        reconcile_request::requested_at(obj),
        StatusFields {
            conditions: &mut conditions,
            observed_generation: &mut status.observed_generation,
            last_handled_reconcile_at: &mut status.last_handled_reconcile_at,
        },
    );
    status.conditions = Some(conditions);
    apply_status(&ctx.client, obj, &ctx.field_manager, &status).await?;
    if status.webhook_path != previous_path && outcome.is_ok() {
        let message = format!(
            "Receiver initialized for path: {}",
            status.webhook_path.as_deref().unwrap_or_default()
        );
        let event = Event::new(EventType::Normal, reasons::SUCCEEDED, message);
        ctx.events.record(obj, &event).await;
    }
    if let Some(event) = &disposition.event {
        ctx.events.record(obj, event).await;
    }
    outcome
}

/// The webhook path, or why the Receiver cannot serve one.
async fn webhook(obj: &Receiver, ctx: &Context) -> Result<String, ReconcileError> {
    let spec = &obj.spec;
    if spec.r#type == ReceiverType::GenericOidc {
        return Err(ReconcileError::stalled(
            VALIDATION_FAILED,
            "generic-oidc receivers are not supported by flux-rs",
        ));
    }
    Filters::compile(spec).map_err(|error| {
        ReconcileError::stalled(reasons::INVALID_CEL_EXPRESSION, error.to_string())
    })?;
    let namespace = obj.namespace().unwrap_or_default();
    let secret = spec
        .secret_ref
        .as_ref()
        .ok_or_else(|| ReconcileError::stalled(VALIDATION_FAILED, "spec.secretRef is required"))?;
    let secret = ReceiverSecret::read(&ctx.client, &namespace, &secret.name)
        .await
        .map_err(|message| ReconcileError::transient(TOKEN_NOT_FOUND, message))?;
    Ok(webhook_path(&secret.token, &obj.name_any(), &namespace))
}
