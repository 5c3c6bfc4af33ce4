//! notification-controller's flags: Flux's names and defaults (spec §7) plus
//! the common runtime ones.
//!
//! `--events-addr` is shared with the common flags, where it is the address
//! other controllers forward events *to*; here it is the address the event
//! server listens *on*, so an empty value means Flux's default `:9090`.

use std::time::Duration;

use clap::{ArgAction, Parser};
use fluxrs_runtime::flags::RuntimeArgs;

/// Default listen address of the event server.
pub const DEFAULT_EVENTS_ADDR: &str = ":9090";

fn duration_arg(value: &str) -> Result<Duration, String> {
    fluxrs_runtime::interval::parse_duration(value).map_err(|e| e.to_string())
}

/// Command line of `notification-controller`.
#[derive(Parser, Debug)]
#[command(
    name = "notification-controller",
    version,
    about = "flux-rs notification-controller"
)]
pub struct Args {
    /// The address the webhook receiver server binds to ("0" disables it).
    #[arg(long = "receiverAddr", default_value = ":9292")]
    pub receiver_addr: String,
    /// Window in which a repeat of the same event is not sent again; each
    /// repeat extends it.
    #[arg(long, default_value = "5m", value_parser = duration_arg)]
    pub rate_limit_interval: Duration,
    /// Accepted for compatibility with Flux's flags; HTTP path metrics are not exported.
    #[arg(
        long,
        default_value_t = false,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub export_http_path_metrics: bool,
    /// Sustained notifications per second sent to one Provider (a flux-rs
    /// addition; bursts of up to ten go out at once).
    #[arg(long, default_value_t = 1.0)]
    pub provider_rate_limit: f32,
    /// Common controller flags. `--events-addr` is the event server's listen
    /// address here (default ":9090", "0" disables it).
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

impl Args {
    /// The event server's listen address: `--events-addr`, or `:9090`.
    pub fn events_listen_addr(&self) -> &str {
        if self.runtime.events_addr.is_empty() {
            DEFAULT_EVENTS_ADDR
        } else {
            &self.runtime.events_addr
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let argv = std::iter::once("notification-controller").chain(extra.iter().copied());
        match Args::try_parse_from(argv) {
            Ok(args) => args,
            Err(e) => panic!("{extra:?}: {e}"),
        }
    }

    #[test]
    fn defaults_match_flux() {
        let a = args(&[]);
        assert_eq!(a.events_listen_addr(), ":9090");
        assert_eq!(a.receiver_addr, ":9292");
        assert_eq!(a.rate_limit_interval, Duration::from_secs(300));
        assert!(!a.export_http_path_metrics);
        assert_eq!(a.runtime.metrics_addr, ":8080");
    }

    #[test]
    fn parses_flux_install_arguments() {
        let a = args(&[
            "--events-addr=:9090",
            "--receiverAddr=:9292",
            "--rate-limit-interval=30s",
            "--watch-all-namespaces=true",
            "--export-http-path-metrics",
            "--log-encoding=console",
        ]);
        assert_eq!(a.events_listen_addr(), ":9090");
        assert_eq!(a.rate_limit_interval, Duration::from_secs(30));
        assert!(a.export_http_path_metrics);
    }
}
