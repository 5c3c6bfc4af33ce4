//! `fluxrs`: the flux-rs command line.
//!
//! A thin Kubernetes client like the upstream `flux` CLI (see
//! `shared/spec/cli.md`): it reads and writes Flux objects directly and
//! decides success from their status, so it works with Flux's controllers
//! as well as ours. Tables and documents go to stdout, progress to stderr;
//! a failure ends with `✗ <reason>`, a hint, and exit code 1 (`diff` exits
//! 1 when it finds changes and 2 on failures, like `flux diff`).

mod cli;
mod commands;
mod duration;
mod error;
mod health;
mod inventory;
mod kinds;
mod kube;
mod output;
mod wait;

use std::process::ExitCode;

use clap::Parser;

use crate::output::log;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let grace = std::time::Duration::from_secs(5);
    let limit = cli.global.timeout.duration + grace;
    let timeout_text = cli.global.timeout.text.clone();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            log::failure(&format!("unable to start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tokio::time::timeout(limit, commands::run(cli))
            .await
            .unwrap_or_else(|_| {
                Err(error::Error::Timeout {
                    what: "the command to finish".into(),
                    timeout: timeout_text,
                    last: None,
                    object: None,
                })
            })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is_warning() => {
            log::warning(&err.to_string());
            ExitCode::from(err.exit_code())
        }
        Err(err) => {
            log::failure(&err.to_string());
            if let Some(hint) = err.hint() {
                log::detail(&format!("hint: {hint}"));
            }
            ExitCode::from(err.exit_code())
        }
    }
}
