//! Reconcile outcomes and the one table that turns them into side effects.
//!
//! A reconciler's steps return `Result<Next, ReconcileError>`. The error is
//! typed by what should happen next, not by what broke (fluxcd/source-controller
//! `internal/error`):
//!
//! | outcome | conditions | observedGeneration | event | log | requeue |
//! |---|---|---|---|---|---|
//! | `Ok(Next)` | set by the reconciler (Ready=True) | moves | reconciler's choice | info "reconciliation finished" | as `Next` says |
//! | [`ErrorKind::Stalled`] | Stalled=True, Ready=False, no Reconciling | moves | Warning | error "reconciliation stalled" | none until the spec changes |
//! | [`ErrorKind::Waiting`] | Ready=False, Reconciling=True/ProgressingWithRetry | kept | Trace (Normal if [`ReconcileError::notify`]) | info "reconciliation waiting" | after the given delay |
//! | [`ErrorKind::Transient`] | Ready=False, Reconciling=True/ProgressingWithRetry | kept | Warning | error "reconciliation failed" | exponential backoff |
//! | [`ErrorKind::Retry`] | as Transient | kept | Warning | error "reconciliation failed" | after the given delay (Kustomization `retryInterval`) |
//!
//! [`Disposition::of`] is that table; the reconciler applies its condition
//! and event columns before patching status, and the controller loop applies
//! the log and requeue columns. Nothing else decides them, so error sites
//! only construct a [`ReconcileError`]. A reconciler's last step looks like:
//!
//! ```
//! use fluxrs_runtime::conditions::{self, Condition, reasons};
//! use fluxrs_runtime::events::Event;
//! use fluxrs_runtime::outcome::{Disposition, Next, ReconcileError};
//!
//! struct Status {
//!     conditions: Vec<Condition>,
//!     observed_generation: Option<i64>,
//! }
//!
//! /// Summarizes the outcome into `status`; returns the event to record.
//! fn finish(
//!     status: &mut Status,
//!     generation: Option<i64>,
//!     outcome: &Result<Next, ReconcileError>,
//! ) -> Option<Event> {
//!     if outcome.is_ok() {
//!         conditions::mark_ready(&mut status.conditions, generation, reasons::SUCCEEDED, "stored artifact");
//!     }
//!     let disposition = Disposition::of(outcome);
//!     disposition.conditions.apply(&mut status.conditions, generation);
//!     if disposition.observe_generation {
//!         status.observed_generation = generation;
//!     }
//!     disposition.event
//! }
//!
//! let mut status = Status { conditions: Vec::new(), observed_generation: Some(-1) };
//! let failed = Err(ReconcileError::stalled(reasons::INVALID_URL, "invalid URL"));
//! let event = finish(&mut status, Some(1), &failed);
//! assert!(conditions::is_true(&status.conditions, conditions::types::STALLED));
//! assert_eq!(status.observed_generation, Some(1));
//! assert_eq!(event.map(|e| e.reason), Some("InvalidURL".to_owned()));
//! ```

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::time::Duration;

use crate::conditions::{self, Condition};
use crate::events::{Event, EventType};

/// What to do after a successful reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Requeue at `spec.interval` with jitter (kinds without an interval wait
    /// for the next change).
    Interval,
    /// Requeue after exactly this delay.
    After(Duration),
    /// Do not requeue; wait for a watch event (e.g. the object was deleted).
    AwaitChange,
}

/// How a failed reconcile continues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Retrying cannot help (invalid spec, access denied): stop until the spec
    /// changes or a reconcile is requested.
    Stalled,
    /// Something else must happen first (a dependency, an artifact): retry
    /// after `requeue_after` without counting it as an error.
    Waiting {
        /// Delay before the next attempt (`--requeue-dependency` for dependencies).
        requeue_after: Duration,
    },
    /// A failure that may go away (network, API conflicts): retry with
    /// per-object exponential backoff.
    Transient,
    /// A failure retried after a fixed delay the object chooses (Flux's
    /// `retryInterval`), instead of the backoff.
    Retry {
        /// Delay before the next attempt.
        after: Duration,
    },
}

/// A failed reconcile: what to do next, the condition reason and the message
/// users see in conditions, events and logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReconcileError {
    kind: ErrorKind,
    reason: String,
    message: String,
    notify: bool,
}

impl ReconcileError {
    /// A failure that retries cannot fix (see [`ErrorKind::Stalled`]).
    pub fn stalled(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Stalled, reason, message)
    }

    /// A wait for something else (see [`ErrorKind::Waiting`]).
    pub fn waiting(
        reason: impl Into<String>,
        message: impl Into<String>,
        requeue_after: Duration,
    ) -> Self {
        Self::new(ErrorKind::Waiting { requeue_after }, reason, message)
    }

    /// A failure retried after `after` (see [`ErrorKind::Retry`]).
    pub fn retry_after(
        reason: impl Into<String>,
        message: impl Into<String>,
        after: Duration,
    ) -> Self {
        Self::new(ErrorKind::Retry { after }, reason, message)
    }

    /// A failure worth retrying (see [`ErrorKind::Transient`]).
    pub fn transient(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, reason, message)
    }

    fn new(kind: ErrorKind, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
            message: message.into(),
            notify: false,
        }
    }

    /// Forwards a waiting event to notification-controller (as a Normal event)
    /// instead of recording it as a Trace event only; for waits users are
    /// expected to alert on, like Kustomization's `DependencyNotReady`.
    #[must_use]
    pub fn notify(mut self) -> Self {
        self.notify = true;
        self
    }

    /// How the reconcile continues.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The condition and event reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The message for conditions, events and logs.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<crate::Error> for ReconcileError {
    /// Runtime failures (status patches, finalizer updates, ...) are transient:
    /// they concern the API server, not the object's spec.
    fn from(error: crate::Error) -> Self {
        Self::transient(error.reason(), describe(&error))
    }
}

/// An error and all its sources as one line (`outer: inner: root`), the way
/// Go's wrapped errors read in Flux messages. A source whose text the outer
/// message already contains is not repeated.
pub fn describe(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        source = cause.source();
    }
    out
}

/// When the controller loop schedules the next reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// At `spec.interval` with jitter.
    Interval,
    /// After exactly this delay.
    After(Duration),
    /// After the object's next exponential-backoff delay.
    Backoff,
    /// Not until a watch event.
    Never,
}

/// The `result` label of `controller_runtime_reconcile_total`, as
/// controller-runtime would report the same outcome in a Flux controller
/// (stalled and waiting are not errors to the runtime there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultLabel {
    /// Finished without requeue.
    Success,
    /// Finished with a requeue delay.
    RequeueAfter,
    /// Failed; retried with backoff.
    Error,
}

impl ResultLabel {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultLabel::Success => "success",
            ResultLabel::RequeueAfter => "requeue_after",
            ResultLabel::Error => "error",
        }
    }
}

/// Severity of the outcome's log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Normal operation.
    Info,
    /// Needs attention.
    Error,
}

/// The condition change an outcome implies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConditionUpdate {
    /// Success: the reconciler has already summarized Ready itself.
    Unchanged,
    /// [`conditions::mark_stalled`] with this reason and message.
    Stalled {
        /// Condition reason.
        reason: String,
        /// Condition message.
        message: String,
    },
    /// [`conditions::mark_failed`] with this reason and message.
    Failed {
        /// Condition reason.
        reason: String,
        /// Condition message.
        message: String,
    },
}

impl ConditionUpdate {
    /// Applies the change to `conditions`, stamping `generation`.
    pub fn apply(&self, conditions: &mut Vec<Condition>, generation: Option<i64>) {
        match self {
            ConditionUpdate::Unchanged => {}
            ConditionUpdate::Stalled { reason, message } => {
                conditions::mark_stalled(conditions, generation, reason, message);
            }
            ConditionUpdate::Failed { reason, message } => {
                conditions::mark_failed(conditions, generation, reason, message);
            }
        }
    }
}

/// Every side effect of one outcome (the table in the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Disposition {
    /// How conditions change.
    pub conditions: ConditionUpdate,
    /// Whether `status.observedGeneration` moves to `metadata.generation`:
    /// only when the generation is reconciled or terminally stalled.
    pub observe_generation: bool,
    /// The event to record, if any (successes record their own events).
    pub event: Option<Event>,
    /// Log level of the outcome's log line.
    pub log_level: LogLevel,
    /// Message of the outcome's log line.
    pub log_message: &'static str,
    /// When to reconcile next.
    pub requeue: Requeue,
    /// Metrics label.
    pub result: ResultLabel,
}

/// The fields of a status every outcome touches.
pub struct StatusFields<'a> {
    /// `status.conditions`, already updated by the reconciler for success.
    pub conditions: &'a mut Vec<Condition>,
    /// `status.observedGeneration`.
    pub observed_generation: &'a mut Option<i64>,
    /// `status.lastHandledReconcileAt`.
    pub last_handled_reconcile_at: &'a mut Option<String>,
}

impl Disposition {
    /// Writes the condition and `observedGeneration` columns into `status`,
    /// and acknowledges the current reconcile request of the object (whose
    /// `metadata.generation` is `generation` and request token `requested_at`).
    /// This is the one place reconcilers turn an outcome into status.
    pub fn summarize(
        &self,
        generation: Option<i64>,
        requested_at: Option<&str>,
        status: StatusFields<'_>,
    ) {
        self.conditions.apply(status.conditions, generation);
        if self.observe_generation {
            *status.observed_generation = generation;
        }
        *status.last_handled_reconcile_at = requested_at.map(str::to_string);
    }

    /// The disposition of `outcome`.
    pub fn of(outcome: &Result<Next, ReconcileError>) -> Self {
        match outcome {
            Ok(next) => {
                let (requeue, result) = match next {
                    Next::Interval => (Requeue::Interval, ResultLabel::RequeueAfter),
                    Next::After(d) => (Requeue::After(*d), ResultLabel::RequeueAfter),
                    Next::AwaitChange => (Requeue::Never, ResultLabel::Success),
                };
                Self {
                    conditions: ConditionUpdate::Unchanged,
                    observe_generation: true,
                    event: None,
                    log_level: LogLevel::Info,
                    log_message: "reconciliation finished",
                    requeue,
                    result,
                }
            }
            Err(error) => {
                let reason = error.reason.clone();
                let message = error.message.clone();
                match error.kind {
                    ErrorKind::Stalled => Self {
                        conditions: ConditionUpdate::Stalled {
                            reason: reason.clone(),
                            message: message.clone(),
                        },
                        observe_generation: true,
                        event: Some(Event::new(EventType::Warning, reason, message)),
                        log_level: LogLevel::Error,
                        log_message: "reconciliation stalled",
                        requeue: Requeue::Never,
                        result: ResultLabel::Success,
                    },
                    ErrorKind::Waiting { requeue_after } => {
                        let event_type = if error.notify {
                            EventType::Normal
                        } else {
                            EventType::Trace
                        };
                        Self {
                            conditions: ConditionUpdate::Failed {
                                reason: reason.clone(),
                                message: message.clone(),
                            },
                            observe_generation: false,
                            event: Some(Event::new(event_type, reason, message)),
                            log_level: LogLevel::Info,
                            log_message: "reconciliation waiting",
                            requeue: Requeue::After(requeue_after),
                            result: ResultLabel::RequeueAfter,
                        }
                    }
                    ErrorKind::Transient | ErrorKind::Retry { .. } => Self {
                        conditions: ConditionUpdate::Failed {
                            reason: reason.clone(),
                            message: message.clone(),
                        },
                        observe_generation: false,
                        event: Some(Event::new(EventType::Warning, reason, message)),
                        log_level: LogLevel::Error,
                        log_message: "reconciliation failed",
                        requeue: match error.kind {
                            ErrorKind::Retry { after } => Requeue::After(after),
                            _ => Requeue::Backoff,
                        },
                        result: ResultLabel::Error,
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::{get, is_false, is_true, types};

    #[test]
    fn success_observes_generation_and_requeues_as_asked() {
        let d = Disposition::of(&Ok(Next::Interval));
        assert_eq!(d.requeue, Requeue::Interval);
        assert!(d.observe_generation);
        assert_eq!(d.event, None);
        assert_eq!(d.result, ResultLabel::RequeueAfter);
        let d = Disposition::of(&Ok(Next::AwaitChange));
        assert_eq!(d.requeue, Requeue::Never);
        assert_eq!(d.result, ResultLabel::Success);
        let d = Disposition::of(&Ok(Next::After(Duration::from_secs(3))));
        assert_eq!(d.requeue, Requeue::After(Duration::from_secs(3)));
    }

    #[test]
    fn retry_fails_like_transient_but_requeues_after_its_delay() {
        let delay = Duration::from_secs(120);
        let d = Disposition::of(&Err(ReconcileError::retry_after(
            "BuildFailed",
            "bad yaml",
            delay,
        )));
        assert_eq!(d.requeue, Requeue::After(delay));
        assert!(!d.observe_generation);
        assert_eq!(d.result, ResultLabel::Error);
        assert_eq!(d.event.as_ref().map(|e| e.type_), Some(EventType::Warning));
    }

    #[test]
    fn summarize_writes_conditions_generation_and_request() {
        let mut conditions = Vec::new();
        let (mut observed, mut handled) = (Some(-1), None);
        let outcome = Err(ReconcileError::stalled("InvalidURL", "bad url"));
        Disposition::of(&outcome).summarize(
            Some(3),
            Some("token"),
            StatusFields {
                conditions: &mut conditions,
                observed_generation: &mut observed,
                last_handled_reconcile_at: &mut handled,
            },
        );
        assert!(is_true(&conditions, types::STALLED));
        assert_eq!(observed, Some(3));
        assert_eq!(handled.as_deref(), Some("token"));
    }

    #[test]
    fn stalled_stops_and_warns() {
        let d = Disposition::of(&Err(ReconcileError::stalled("InvalidURL", "bad url")));
        assert_eq!(d.requeue, Requeue::Never);
        assert!(d.observe_generation);
        assert_eq!(d.log_level, LogLevel::Error);
        assert_eq!(d.result, ResultLabel::Success);
        let event = d
            .event
            .as_ref()
            .map(|e| (e.type_, e.reason.as_str(), e.message.as_str()));
        assert_eq!(event, Some((EventType::Warning, "InvalidURL", "bad url")));
        let mut c = Vec::new();
        d.conditions.apply(&mut c, Some(4));
        assert!(is_true(&c, types::STALLED));
        assert!(is_false(&c, types::READY));
        assert!(get(&c, types::RECONCILING).is_none());
    }

    #[test]
    fn waiting_requeues_after_delay_with_trace_event() {
        let wait = Duration::from_secs(30);
        let err = ReconcileError::waiting("DependencyNotReady", "dep not ready", wait);
        let d = Disposition::of(&Err(err.clone()));
        assert_eq!(d.requeue, Requeue::After(wait));
        assert!(!d.observe_generation);
        assert_eq!(d.log_level, LogLevel::Info);
        assert_eq!(d.event.as_ref().map(|e| e.type_), Some(EventType::Trace));
        let d = Disposition::of(&Err(err.notify()));
        assert_eq!(d.event.as_ref().map(|e| e.type_), Some(EventType::Normal));
        let mut c = Vec::new();
        d.conditions.apply(&mut c, Some(1));
        assert!(is_false(&c, types::READY));
        assert!(is_true(&c, types::RECONCILING));
    }

    #[test]
    fn transient_backs_off_and_counts_as_error() {
        let d = Disposition::of(&Err(ReconcileError::transient("FetchFailed", "timeout")));
        assert_eq!(d.requeue, Requeue::Backoff);
        assert_eq!(d.result, ResultLabel::Error);
        assert!(!d.observe_generation);
        assert_eq!(d.event.as_ref().map(|e| e.type_), Some(EventType::Warning));
        let mut c = Vec::new();
        d.conditions.apply(&mut c, Some(1));
        assert_eq!(
            get(&c, types::RECONCILING).map(|c| c.reason.as_str()),
            Some("ProgressingWithRetry")
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("unable to clone")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("unable to clone: {0}")]
    struct Inline(#[from] std::io::Error);

    #[test]
    fn describe_joins_sources_once() {
        let io = || std::io::Error::other("connection refused");
        assert_eq!(
            describe(&Outer(io())),
            "unable to clone: connection refused"
        );
        assert_eq!(
            describe(&Inline(io())),
            "unable to clone: connection refused"
        );
    }
}
