//! source-controller's flags: Flux's storage flags plus the common runtime ones.

use std::path::PathBuf;

use clap::Parser;
use fluxrs_runtime::flags::RuntimeArgs;

/// Command line of `source-controller`.
#[derive(Parser, Debug)]
#[command(
    name = "source-controller",
    version,
    about = "flux-rs source-controller"
)]
pub struct Args {
    /// The local storage path.
    #[arg(long, env = "STORAGE_PATH", default_value = "/data")]
    pub storage_path: PathBuf,
    /// The address the static file server binds to.
    #[arg(long, env = "STORAGE_ADDRESS", default_value = ":9090")]
    pub storage_addr: String,
    /// The advertised address of the static file server.
    #[arg(long, env = "STORAGE_ADV_ADDR", default_value = "")]
    pub storage_adv_addr: String,
    /// The maximum number of artifacts to be kept in storage after a garbage collection.
    #[arg(long, default_value_t = 2)]
    pub artifact_retention_records: usize,
    /// How long an artifact other than the current one is kept; older ones are
    /// garbage collected even within the retention records, as upstream.
    #[arg(long, default_value = "60s", value_parser = parse_ttl)]
    pub artifact_retention_ttl: std::time::Duration,
    /// The algorithm to use to calculate the digest of an artifact (only sha256).
    #[arg(long, default_value = "sha256", value_parser = ["sha256"])]
    pub artifact_digest_algo: String,
    /// Largest source content, in bytes, a Git checkout or OCI layer may have
    /// (a flux-rs addition: an oversized repository fails instead of filling the disk).
    #[arg(long, default_value_t = 1 << 30)]
    pub artifact_max_size: u64,
    /// Common controller flags.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

fn parse_ttl(value: &str) -> Result<std::time::Duration, String> {
    fluxrs_runtime::interval::parse_duration(value).map_err(|e| e.to_string())
}

impl Args {
    /// Base of artifact URLs, by upstream's rule: the advertised address (with
    /// `http://` unless it has a scheme), else the storage address with an empty
    /// host read as `localhost` and `0.0.0.0` as the host name.
    pub fn artifact_base_url(&self) -> String {
        let advertised = if self.storage_adv_addr.is_empty() {
            let (host, port) = self
                .storage_addr
                .rsplit_once(':')
                .unwrap_or((self.storage_addr.as_str(), ""));
            let host = match host {
                "" => "localhost".to_string(),
                "0.0.0.0" => std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into()),
                other => other.to_string(),
            };
            if port.is_empty() {
                host
            } else {
                format!("{host}:{port}")
            }
        } else {
            self.storage_adv_addr.clone()
        };
        if advertised.starts_with("http://") || advertised.starts_with("https://") {
            advertised
        } else {
            format!("http://{advertised}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["source-controller"];
        argv.extend(extra);
        Args::parse_from(argv)
    }

    #[test]
    fn retention_ttl_is_a_go_duration() {
        assert_eq!(
            args(&[]).artifact_retention_ttl,
            std::time::Duration::from_secs(60)
        );
        assert_eq!(
            args(&["--artifact-retention-ttl", "1h30m"]).artifact_retention_ttl,
            std::time::Duration::from_secs(5400)
        );
        assert!(
            Args::try_parse_from(["source-controller", "--artifact-retention-ttl", "soon"])
                .is_err()
        );
    }

    #[test]
    fn artifact_urls_follow_upstream_rules() {
        assert_eq!(args(&[]).artifact_base_url(), "http://localhost:9090");
        assert_eq!(
            args(&[
                "--storage-adv-addr",
                "source-controller.flux-system.svc.cluster.local."
            ])
            .artifact_base_url(),
            "http://source-controller.flux-system.svc.cluster.local."
        );
        assert_eq!(
            args(&["--storage-adv-addr", "https://cdn.example"]).artifact_base_url(),
            "https://cdn.example"
        );
        assert_eq!(
            args(&["--storage-addr", "127.0.0.1:8081"]).artifact_base_url(),
            "http://127.0.0.1:8081"
        );
    }
}
