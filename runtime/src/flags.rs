//! The flags every Flux controller accepts (`spec/common.md` §8).
//!
//! Flux's install manifests and users' kustomize patches pass these flags by
//! name, so each controller `#[command(flatten)]`s [`RuntimeArgs`] and gets
//! them with Flux's names, defaults and Go-style syntax: durations like
//! `750ms` or `15m`, and booleans that accept `--flag`, `--flag=true` and
//! `--flag=false`.

use std::time::Duration;

use clap::{ArgAction, Args};

use crate::error::{Error, Result};
use crate::interval::{DEFAULT_JITTER_PERCENTAGE, parse_duration};
use crate::leader_election::LeaderElectionConfig;
use crate::logging::{LogEncoding, LogLevel};

/// `--concurrent` default for every controller except source-controller (2).
pub const DEFAULT_CONCURRENT: u16 = 4;

/// Default of `--watch-configs-label-selector`.
pub const DEFAULT_WATCH_CONFIGS_LABEL_SELECTOR: &str = "reconcile.fluxcd.io/watch=Enabled";

fn duration_arg(value: &str) -> std::result::Result<Duration, String> {
    parse_duration(value).map_err(|e| e.to_string())
}

/// The common runtime flags.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct RuntimeArgs {
    /// The number of concurrent reconciles per kind (default 4; source-controller: 2).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrent: Option<u16>,

    /// The interval at which failing dependencies are reevaluated.
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    pub requeue_dependency: Duration,

    /// The address the metric endpoint binds to ("0" disables it).
    #[arg(long, default_value = crate::server::DEFAULT_METRICS_ADDR)]
    pub metrics_addr: String,

    /// The address the health endpoint binds to ("0" disables it).
    #[arg(long, default_value = crate::server::DEFAULT_HEALTH_ADDR)]
    pub health_addr: String,

    /// Watch for resources in all namespaces; if false, only RUNTIME_NAMESPACE.
    #[arg(
        long,
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub watch_all_namespaces: bool,

    /// Watch only resources matching this label selector (sharding).
    #[arg(long, default_value = "")]
    pub watch_label_selector: String,

    /// Watch Secrets and ConfigMaps matching this label selector for changes.
    #[arg(long, default_value = DEFAULT_WATCH_CONFIGS_LABEL_SELECTOR)]
    pub watch_configs_label_selector: String,

    /// Reject references to objects in other namespaces (AccessDenied, Stalled).
    #[arg(
        long,
        default_value_t = false,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub no_cross_namespace_refs: bool,

    /// Service account used for impersonation when an object sets none.
    #[arg(long, default_value = "")]
    pub default_service_account: String,

    /// Log verbosity level.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Log encoding format.
    #[arg(long, value_enum, default_value_t = LogEncoding::Json)]
    pub log_encoding: LogEncoding,

    /// Enable leader election, ensuring only one active controller replica.
    #[arg(
        long,
        default_value_t = false,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub enable_leader_election: bool,

    /// How long non-leader candidates wait before forcing acquisition.
    #[arg(long, default_value = "35s", value_parser = duration_arg)]
    pub leader_election_lease_duration: Duration,

    /// How long the leader retries refreshing leadership before giving up.
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    pub leader_election_renew_deadline: Duration,

    /// How long clients wait between leader election actions.
    #[arg(long, default_value = "5s", value_parser = duration_arg)]
    pub leader_election_retry_period: Duration,

    /// Release the leader lease when the controller stops.
    #[arg(
        long,
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub leader_election_release_on_cancel: bool,

    /// The lower bound of the per-object exponential backoff on errors.
    #[arg(long, default_value = "750ms", value_parser = duration_arg)]
    pub min_retry_delay: Duration,

    /// The upper bound of the per-object exponential backoff on errors.
    #[arg(long, default_value = "15m", value_parser = duration_arg)]
    pub max_retry_delay: Duration,

    /// Percentage of jitter applied to success requeue intervals (0-99).
    #[arg(
        long,
        default_value_t = DEFAULT_JITTER_PERCENTAGE,
        value_parser = clap::value_parser!(u8).range(0..100)
    )]
    pub interval_jitter_percentage: u8,

    /// The maximum queries-per-second of requests to the Kubernetes API.
    #[arg(long, default_value_t = 50.0)]
    pub kube_api_qps: f32,

    /// The maximum burst of queries to the Kubernetes API.
    #[arg(long, default_value_t = 300)]
    pub kube_api_burst: u32,

    /// The address of the events receiver (notification-controller); empty disables forwarding.
    #[arg(long, default_value = "")]
    pub events_addr: String,
}

impl RuntimeArgs {
    /// `--concurrent`, or the controller's own default when not given.
    pub fn concurrency(&self, default: u16) -> u16 {
        self.concurrent.unwrap_or(default)
    }

    /// The leader election settings from the `--leader-election-*` flags.
    pub fn leader_election(&self) -> LeaderElectionConfig {
        LeaderElectionConfig {
            lease_duration: self.leader_election_lease_duration,
            renew_deadline: self.leader_election_renew_deadline,
            retry_period: self.leader_election_retry_period,
            release_on_cancel: self.leader_election_release_on_cancel,
        }
    }

    /// Checks relations between flags that clap cannot: retry delays in
    /// order, leader election timings in the order client-go requires
    /// (lease duration > renew deadline > retry period), a positive QPS.
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: &str| Err(Error::InvalidFlags(message.to_owned()));
        if self.min_retry_delay.is_zero() || self.min_retry_delay > self.max_retry_delay {
            return invalid("--min-retry-delay must be positive and at most --max-retry-delay");
        }
        if self.leader_election_lease_duration <= self.leader_election_renew_deadline {
            return invalid(
                "--leader-election-lease-duration must be greater than --leader-election-renew-deadline",
            );
        }
        if self.leader_election_retry_period.is_zero()
            || self.leader_election_renew_deadline <= self.leader_election_retry_period
        {
            return invalid(
                "--leader-election-renew-deadline must be greater than a positive --leader-election-retry-period",
            );
        }
        if !self.kube_api_qps.is_finite() || self.kube_api_qps <= 0.0 || self.kube_api_burst == 0 {
            return invalid("--kube-api-qps and --kube-api-burst must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        runtime: RuntimeArgs,
    }

    fn parse(args: &[&str]) -> RuntimeArgs {
        let argv = std::iter::once("controller").chain(args.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli.runtime,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn defaults_match_flux() {
        let a = parse(&[]);
        assert_eq!(a.concurrency(DEFAULT_CONCURRENT), 4);
        assert_eq!(a.concurrency(2), 2);
        assert_eq!(a.requeue_dependency, Duration::from_secs(30));
        assert_eq!(a.metrics_addr, ":8080");
        assert_eq!(a.health_addr, ":9440");
        assert!(a.watch_all_namespaces);
        assert_eq!(a.watch_label_selector, "");
        assert_eq!(
            a.watch_configs_label_selector,
            "reconcile.fluxcd.io/watch=Enabled"
        );
        assert!(!a.no_cross_namespace_refs);
        assert_eq!(a.default_service_account, "");
        assert_eq!(a.log_level, LogLevel::Info);
        assert_eq!(a.log_encoding, LogEncoding::Json);
        assert!(!a.enable_leader_election);
        assert_eq!(a.leader_election(), LeaderElectionConfig::default());
        assert_eq!(a.min_retry_delay, Duration::from_millis(750));
        assert_eq!(a.max_retry_delay, Duration::from_secs(900));
        assert_eq!(a.interval_jitter_percentage, 5);
        assert!((a.kube_api_qps - 50.0).abs() < f32::EPSILON);
        assert_eq!(a.kube_api_burst, 300);
        assert_eq!(a.events_addr, "");
        assert!(a.validate().is_ok());
    }

    #[test]
    fn parses_flux_install_arguments() {
        let a = parse(&[
            "--events-addr=http://notification-controller.flux-system.svc.cluster.local./",
            "--watch-all-namespaces=true",
            "--log-level=debug",
            "--log-encoding=console",
            "--enable-leader-election",
            "--concurrent=10",
            "--requeue-dependency=5s",
            "--min-retry-delay",
            "1s",
        ]);
        assert_eq!(
            a.events_addr,
            "http://notification-controller.flux-system.svc.cluster.local./"
        );
        assert!(a.watch_all_namespaces);
        assert_eq!(a.log_level, LogLevel::Debug);
        assert_eq!(a.log_encoding, LogEncoding::Console);
        assert!(a.enable_leader_election);
        assert_eq!(a.concurrency(2), 10);
        assert_eq!(a.requeue_dependency, Duration::from_secs(5));
        assert_eq!(a.min_retry_delay, Duration::from_secs(1));
    }

    #[test]
    fn go_style_booleans() {
        assert!(!parse(&["--watch-all-namespaces=false"]).watch_all_namespaces);
        assert!(parse(&["--no-cross-namespace-refs"]).no_cross_namespace_refs);
        assert!(
            !parse(&["--leader-election-release-on-cancel=false"])
                .leader_election_release_on_cancel
        );
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            &["--concurrent=0"][..],
            &["--requeue-dependency=30"],
            &["--interval-jitter-percentage=100"],
            &["--log-level=verbose"],
        ] {
            let argv = std::iter::once("controller").chain(bad.iter().copied());
            assert!(
                Cli::try_parse_from(argv).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn validates_flag_relations() {
        assert!(parse(&["--min-retry-delay=1h"]).validate().is_err());
        assert!(
            parse(&["--leader-election-renew-deadline=40s"])
                .validate()
                .is_err()
        );
        assert!(
            parse(&["--leader-election-retry-period=30s"])
                .validate()
                .is_err()
        );
        assert!(parse(&["--kube-api-qps=0"]).validate().is_err());
    }
}
