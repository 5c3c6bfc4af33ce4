//! The command line: global flags and the subcommands, as clap parses them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::commands::{
    Target, build, check, completion, create, diff, events, export, get, install, kustomize,
    reconcile, suspend, tree, version, why,
};
use crate::duration;

/// fluxrs: see and drive Flux (and flux-rs) objects in a Kubernetes cluster.
#[derive(Debug, Parser)]
#[command(
    name = "fluxrs",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The namespace scope for this operation.
    #[arg(
        short = 'n',
        long,
        global = true,
        env = "FLUX_SYSTEM_NAMESPACE",
        default_value = "flux-system",
        value_parser = dns1123_label
    )]
    pub namespace: String,
    /// List objects across all namespaces.
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Path to the kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// How long the whole operation may take (Go duration, e.g. 30s, 5m).
    #[arg(long, global = true, default_value = "5m", value_parser = Timeout::parse)]
    pub timeout: Timeout,
}

/// `--timeout`: the duration and the text the user gave, for messages.
#[derive(Clone, Debug)]
pub struct Timeout {
    /// The parsed duration.
    pub duration: Duration,
    /// As written on the command line.
    pub text: String,
}

impl Timeout {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(Self {
            duration: duration::parse(text)?,
            text: text.to_string(),
        })
    }
}

/// A Kubernetes namespace name: a DNS-1123 label.
fn dns1123_label(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 63
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a valid namespace name (lower-case letters, digits and '-', at most 63)"
        ))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show Flux objects with their revision and readiness.
    #[command(subcommand)]
    Get(get::GetTarget),
    /// Ask a controller to reconcile an object now, and wait for the result.
    #[command(subcommand)]
    Reconcile(Target<reconcile::ReconcileArgs>),
    /// Stop the reconciliation of objects.
    #[command(subcommand)]
    Suspend(Target<suspend::SuspendArgs>),
    /// Resume suspended objects and wait for their reconciliation.
    #[command(subcommand)]
    Resume(Target<suspend::ResumeArgs>),
    /// Show the objects a Kustomization manages, with their health.
    #[command(subcommand)]
    Tree(tree::TreeTarget),
    /// Show the Kubernetes events of Flux objects.
    Events(events::EventsArgs),
    /// Print Flux objects as clean YAML, ready to apply elsewhere.
    #[command(subcommand)]
    Export(Target<export::ExportArgs>),
    /// Install the Flux CRDs and namespace (or print them with --export).
    Install(install::InstallArgs),
    /// Remove what install created; Flux objects stay unless --delete-crds.
    Uninstall(install::UninstallArgs),
    /// Check the cluster: Kubernetes version, controllers, CRDs.
    Check(check::CheckArgs),
    /// Create or update Flux objects and secrets.
    #[command(subcommand)]
    Create(Box<create::CreateTarget>),
    /// Print the CLI version, and the controllers' when the cluster is reachable.
    Version(version::VersionArgs),
    /// Explain where an object comes from: the Flux object that applied it,
    /// its source, revision, path and commit.
    Why(why::WhyArgs),
    /// Build a Kustomization from local files, as the controller would apply it.
    #[command(subcommand)]
    Build(build::BuildTarget),
    /// Compare a Kustomization built from local files with the cluster
    /// (exit code 1 when something would change).
    #[command(subcommand)]
    Diff(diff::DiffTarget),
    /// Build a kustomization directory, like 'kubectl kustomize DIR'.
    Kustomize(kustomize::KustomizeArgs),
    /// Print a shell completion script.
    Completion(completion::CompletionArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn namespace_must_be_a_dns_label() {
        assert!(dns1123_label("flux-system").is_ok());
        for bad in ["", "Flux", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(dns1123_label(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "fluxrs",
            "get",
            "sources",
            "git",
            "-n",
            "apps",
            "--timeout",
            "30s",
        ])
        .unwrap();
        assert_eq!(cli.global.namespace, "apps");
        assert_eq!(cli.global.timeout.duration, Duration::from_secs(30));
    }

    #[test]
    fn bad_timeout_is_an_argument_error() {
        let err = Cli::try_parse_from(["fluxrs", "get", "all", "--timeout", "5"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn reconcile_needs_a_name() {
        let err = Cli::try_parse_from(["fluxrs", "reconcile", "source", "git"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn suspend_takes_names_or_all_not_both() {
        assert!(Cli::try_parse_from(["fluxrs", "suspend", "ks", "--all"]).is_ok());
        assert!(Cli::try_parse_from(["fluxrs", "suspend", "ks", "a", "b"]).is_ok());
        assert!(Cli::try_parse_from(["fluxrs", "suspend", "ks", "a", "--all"]).is_err());
        assert!(Cli::try_parse_from(["fluxrs", "suspend", "ks"]).is_err());
    }
}
