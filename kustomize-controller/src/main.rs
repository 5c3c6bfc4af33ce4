//! `kustomize-controller`: flags in, controller out.

use clap::Parser;
use kustomize_controller::flags::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    kustomize_controller::controller::run(Args::parse()).await
}
