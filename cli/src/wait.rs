//! Waiting for a controller, as the `flux` CLI does: poll the object every
//! two seconds until it handled our request and is ready, failed, or the
//! `--timeout` deadline passes. Readiness is `fluxrs-runtime`'s
//! [`cli_readiness`], the same function our controllers are tested against.

use std::time::Duration;

use fluxrs_runtime::conditions::{self, CliReadiness, cli_readiness, types};

use crate::error::{Error, Result};
use crate::kinds::{FluxKind, object_ref};
use crate::kube::Session;
use crate::output::log;

/// The `flux` CLI's poll interval.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Polls `name` until it is reconciled and returns it.
///
/// With `token`, the object must first acknowledge that reconcile request
/// (`status.lastHandledReconcileAt == token`). Then [`cli_readiness`]
/// decides: Ready returns the object, Failed is
/// [`Error::ReconciliationFailed`], InProgress keeps waiting. Each new
/// progress message (Reconciling, or a not-yet-final Ready) is printed once,
/// so the user sees the steps as the controller takes them. Static objects
/// (Alert, Provider) are ready as soon as they exist.
pub async fn until_reconciled<K: FluxKind>(
    session: &Session,
    namespace: &str,
    name: &str,
    token: Option<&str>,
) -> Result<K> {
    let mut last_message: Option<String> = None;
    loop {
        let obj: K = session.get(namespace, name).await?;
        if obj.static_message().is_some() {
            return Ok(obj);
        }
        let handled = token.is_none_or(|t| obj.last_handled_reconcile_at() == Some(t));
        if handled {
            match cli_readiness(&obj) {
                CliReadiness::Ready => return Ok(obj),
                CliReadiness::Failed { message, .. } => {
                    return Err(Error::ReconciliationFailed {
                        object: object_ref(&obj).to_string(),
                        kind: K::KIND.name().into(),
                        message,
                    });
                }
                CliReadiness::InProgress => {}
            }
        }
        if let Some(message) = progress_message(&obj)
            && last_message.as_deref() != Some(message.as_str())
        {
            log::detail(&message);
            last_message = Some(message);
        }
        if tokio::time::Instant::now() + POLL_INTERVAL > session.deadline() {
            return Err(Error::Timeout {
                what: format!("{} reconciliation", K::KIND),
                timeout: session.timeout_text.clone(),
                last: last_message,
                object: Some(object_ref(&obj).to_string()),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// What the controller says it is doing: the Reconciling message, else the
/// Ready message.
fn progress_message<K: FluxKind>(obj: &K) -> Option<String> {
    let conditions = obj.conditions();
    conditions::get(conditions, types::RECONCILING)
        .or_else(|| conditions::get(conditions, types::READY))
        .map(|c| c.message.clone())
        .filter(|m| !m.is_empty())
}
