//! `cargo xtask`: the project's automation, so that the README's commands and CI
//! run exactly the same steps.

mod bench;
mod crds;
mod demo;
mod merge_keys;
mod packages;
mod test;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "flux-rs project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate crds/ from the Rust API types (or only check it is current).
    Crds {
        /// Fail instead of writing when crds/ differs from the generated CRDs.
        #[arg(long)]
        check: bool,
    },
    /// Install missing system packages (as root), build the cluster binaries,
    /// check formatting and lints, and run the whole test suite.
    Test {
        /// Extra arguments passed to `cargo test --workspace`.
        #[arg(trailing_var_arg = true)]
        cargo_args: Vec<String>,
    },
    /// Regenerate kustomize/src/patch/merge_keys.rs from the Kubernetes OpenAPI schema.
    MergeKeys {
        /// Fail instead of writing when the committed table differs.
        #[arg(long)]
        check: bool,
    },
    /// Start a local control plane with our CRDs and controllers and show it.
    Demo {
        /// Show the result and stop, instead of keeping the cluster up until Ctrl-C.
        #[arg(long)]
        once: bool,
    },
    /// Run benchmarks (`source`, `kustomize`) and print the Markdown for
    /// docs/BENCHMARKS.md.
    Bench {
        /// The suite to run: `source` or `kustomize`.
        suite: String,
        /// Repetitions of each measurement (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// kustomize: app counts of the flux-benchmark runs (the first one
        /// also runs the steady-state windows).
        #[arg(long, value_delimiter = ',', default_value = "100,1000")]
        apps: Vec<usize>,
        /// kustomize: minutes of each steady-state window.
        #[arg(long, default_value_t = 10)]
        steady_minutes: u64,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Crds { check } => crds::run(&workspace_root(), check),
        Command::Test { cargo_args } => test::run(&workspace_root(), &cargo_args),
        Command::Demo { once } => demo::run(&workspace_root(), once),
        Command::MergeKeys { check } => merge_keys::run(&workspace_root(), check),
        Command::Bench {
            suite,
            runs,
            apps,
            steady_minutes,
        } => bench::run(
            &workspace_root(),
            &suite,
            runs,
            &bench::KustomizeOptions {
                apps,
                steady_minutes,
            },
        ),
    }
}

/// The repository root (xtask lives one level below it).
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}
