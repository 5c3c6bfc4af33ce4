//! `fluxrs completion <shell>`: shell completion scripts generated from the
//! command line definition, so they never fall behind it.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::Result;

/// Arguments of `completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script to stdout, e.g.
/// `source <(fluxrs completion bash)`.
pub fn run(args: &CompletionArgs) -> Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "fluxrs", &mut std::io::stdout());
    Ok(())
}
