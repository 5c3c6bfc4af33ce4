//! Process-wide logging setup.
//!
//! Flux controllers log JSON by default (`--log-encoding=json`) at `info`
//! (`--log-level`), and `flux logs` and log pipelines built for Flux expect
//! one flat JSON object per line with Flux's keys: `level`, `ts` (ISO 8601),
//! `msg`, `error`, and the reconciled object's `controllerGroup`,
//! `controllerKind`, `name`, `namespace` and `reconcileID`. [`FluxJson`]
//! writes exactly that: the fields of every enclosing span (the controller
//! loop opens one per reconcile) are merged into each line, so everything
//! logged while reconciling an object carries its namespace and name.
//!
//! `RUST_LOG` directives (tracing's `EnvFilter` syntax, e.g.
//! `kube=debug,fluxrs_runtime=trace`) refine the level set by the flag.

use std::fmt;

use clap::ValueEnum;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::error::{Error, Result};

/// `--log-level` values (Flux's set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including per-request details.
    Trace,
    /// Debugging details.
    Debug,
    /// Normal operation.
    #[default]
    Info,
    /// Errors only.
    Error,
}

impl From<LogLevel> for LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => LevelFilter::TRACE,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Error => LevelFilter::ERROR,
        }
    }
}

/// `--log-encoding` values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogEncoding {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable text.
    Console,
}

/// The filter for `level`, refined by `rust_log` directives when given.
pub fn env_filter(level: LogLevel, rust_log: Option<&str>) -> Result<EnvFilter> {
    EnvFilter::builder()
        .with_default_directive(LevelFilter::from(level).into())
        .parse(rust_log.unwrap_or_default())
        .map_err(Error::InvalidLogFilter)
}

/// Installs the global subscriber; call once at the start of `main`.
///
/// Errors: [`Error::InvalidLogFilter`] for a bad `RUST_LOG`,
/// [`Error::InitLogging`] when a global subscriber is already installed.
pub fn init(level: LogLevel, encoding: LogEncoding) -> Result<()> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = env_filter(level, rust_log.as_deref())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match encoding {
        LogEncoding::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(FluxJson)
            .try_init(),
        LogEncoding::Console => builder.try_init(),
    }
    .map_err(Error::InitLogging)
}

/// Formats events as Flux's flat JSON lines: `level`, `ts`, `msg`, then the
/// fields of the enclosing spans (outermost first), then the event's fields.
/// Requires the subscriber's field formatter to be [`JsonFields`].
#[derive(Clone, Copy, Debug, Default)]
pub struct FluxJson;

impl<S> FormatEvent<S, JsonFields> for FluxJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        line.insert("level".into(), Value::String(level));
        let ts = Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        line.insert("ts".into(), Value::String(ts));
        line.insert("msg".into(), Value::String(String::new()));
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str(&fields.fields) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects event fields into a JSON map, with `message` renamed to `msg`.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl JsonVisitor<'_> {
    fn insert(&mut self, field: &Field, value: Value) {
        let key = match field.name() {
            "message" => "msg",
            name => name,
        };
        self.0.insert(key.to_owned(), value);
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, Value::String(value.to_owned()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.insert(field, Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_sets_default_directive() {
        let filter = env_filter(LogLevel::Error, None).expect("filter");
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::ERROR));
        let filter = env_filter(LogLevel::Info, Some("")).expect("filter");
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::INFO));
    }

    #[test]
    fn rust_log_refines_level() {
        let filter = env_filter(LogLevel::Info, Some("kube=debug")).expect("filter");
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::DEBUG));
    }

    #[test]
    fn invalid_rust_log_is_an_error() {
        assert!(env_filter(LogLevel::Info, Some("kube=notalevel")).is_err());
    }

    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_are_flat_with_flux_keys() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields::new())
            .event_format(FluxJson)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "reconcile",
                controllerKind = "GitRepository",
                name = "podinfo",
                namespace = "flux-system"
            );
            let _entered = span.enter();
            tracing::error!(error = "boom", attempt = 3, "reconciliation failed");
        });
        let bytes = capture.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let text = String::from_utf8(bytes).expect("utf-8");
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(line["level"], "error");
        assert_eq!(line["msg"], "reconciliation failed");
        assert_eq!(line["error"], "boom");
        assert_eq!(line["attempt"], 3);
        assert_eq!(line["controllerKind"], "GitRepository");
        assert_eq!(line["name"], "podinfo");
        assert_eq!(line["namespace"], "flux-system");
        let ts = line["ts"].as_str().unwrap_or_default();
        assert!(ts.parse::<Timestamp>().is_ok() && ts.ends_with('Z'), "{ts}");
    }

    #[test]
    fn flag_values_match_flux() {
        assert_eq!(LogLevel::from_str("info", false), Ok(LogLevel::Info));
        assert_eq!(LogLevel::from_str("trace", false), Ok(LogLevel::Trace));
        assert_eq!(
            LogEncoding::from_str("console", false),
            Ok(LogEncoding::Console)
        );
        assert!(LogEncoding::from_str("text", false).is_err());
    }
}
