//! `notification-controller`: flags in, controller out.

use clap::Parser;
use notification_controller::flags::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    notification_controller::controller::run(Args::parse()).await
}
