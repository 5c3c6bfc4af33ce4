//! kustomize-controller's flags: Flux's names plus the common runtime ones.

use clap::Parser;
use fluxrs_runtime::flags::RuntimeArgs;

/// Command line of `kustomize-controller`.
#[derive(Parser, Debug)]
#[command(
    name = "kustomize-controller",
    version,
    about = "flux-rs kustomize-controller"
)]
pub struct Args {
    /// Disallow remote bases in kustomizations (flux-rs never fetches remote bases; accepted for compatibility).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_remote_bases: bool,
    /// The maximum number of retries when downloading an artifact.
    #[arg(long, default_value_t = 9)]
    pub http_retry: u32,
    /// Largest artifact accepted, in bytes (a flux-rs addition).
    #[arg(long, default_value_t = 1 << 30)]
    pub artifact_max_size: u64,
    /// Largest share (percent) of a Kustomization's inventory one prune may
    /// delete without approval; a build with no objects never prunes
    /// unapproved. 100 turns the guard off (a flux-rs addition).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub prune_guard_percent: u8,
    /// Skip the per-object dry runs of a reconcile when the inputs are
    /// unchanged and no managed object changed since the last apply (a flux-rs
    /// addition); `false` dry-runs every object at every interval as Flux does.
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub skip_unchanged: bool,
    /// A Secret in the runtime namespace whose `*.agekey` entries decrypt
    /// every Kustomization with `spec.decryption`, besides its own keys.
    #[arg(long, default_value = "")]
    pub sops_age_secret: String,
    /// Feature gates, e.g. `StrictPostBuildSubstitutions=false`.
    #[arg(long, default_value = "")]
    pub feature_gates: String,
    /// Common controller flags.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

impl Args {
    /// Whether undefined `${var}`s fail the build (gate `StrictPostBuildSubstitutions`, on by default).
    pub fn strict_substitutions(&self) -> Result<bool, String> {
        let mut strict = true;
        for gate in self
            .feature_gates
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
        {
            let (name, value) = gate.split_once('=').ok_or_else(|| {
                format!("invalid feature gate {gate:?}, expected Name=true|false")
            })?;
            let value: bool = value
                .parse()
                .map_err(|_| format!("invalid value for feature gate {name}: {value:?}"))?;
            if name == "StrictPostBuildSubstitutions" {
                strict = value;
            }
        }
        Ok(strict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_substitutions_gate() {
        let parse = |gates: &str| {
            Args::parse_from(["kustomize-controller", &format!("--feature-gates={gates}")])
                .strict_substitutions()
        };
        assert_eq!(parse(""), Ok(true));
        assert_eq!(parse("StrictPostBuildSubstitutions=false"), Ok(false));
        assert!(parse("nonsense").is_err());
    }
}
