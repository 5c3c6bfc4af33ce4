//! `source-controller`: flags in, controller out.

use clap::Parser;
use source_controller::flags::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    source_controller::controller::run(Args::parse()).await
}
