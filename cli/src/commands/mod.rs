//! One module per command group, and the dispatch from parsed arguments to them.

pub mod build;
pub mod check;
pub mod completion;
pub mod create;
pub mod diff;
pub mod events;
pub mod export;
pub mod get;
pub mod install;
pub mod kustomize;
pub mod reconcile;
pub mod suspend;
pub mod tree;
pub mod version;
pub mod why;

use clap::{Args, Subcommand};

use crate::cli::{Cli, Command, GlobalArgs};
use crate::error::{Error, Result};
use crate::kinds::Kind;
use crate::kube::{Connection, Session};

/// A Flux kind on the command line (`source git`, `kustomization`, `hr`...)
/// followed by the command's own arguments `A`.
#[derive(Debug, Subcommand)]
pub enum Target<A: Args> {
    /// Sources: git, oci, helm, chart, bucket.
    #[command(subcommand, visible_alias = "sources")]
    Source(SourceTarget<A>),
    /// Kustomizations.
    #[command(visible_aliases = ["ks", "kustomizations"])]
    Kustomization(A),
    /// HelmReleases.
    #[command(visible_aliases = ["hr", "helmreleases"])]
    Helmrelease(A),
    /// Alerts.
    #[command(visible_alias = "alerts")]
    Alert(A),
    /// Alert Providers.
    #[command(visible_alias = "alert-providers")]
    AlertProvider(A),
    /// Receivers.
    #[command(visible_alias = "receivers")]
    Receiver(A),
    /// Image automation: repository, policy, update.
    #[command(subcommand, visible_alias = "images")]
    Image(ImageTarget<A>),
}

/// The source kinds.
#[derive(Debug, Subcommand)]
pub enum SourceTarget<A: Args> {
    /// GitRepository sources.
    Git(A),
    /// OCIRepository sources.
    Oci(A),
    /// HelmRepository sources.
    Helm(A),
    /// HelmChart sources.
    Chart(A),
    /// Bucket sources.
    Bucket(A),
}

/// The image automation kinds.
#[derive(Debug, Subcommand)]
pub enum ImageTarget<A: Args> {
    /// ImageRepository objects.
    Repository(A),
    /// ImagePolicy objects.
    Policy(A),
    /// ImageUpdateAutomation objects.
    Update(A),
}

impl<A: Args> Target<A> {
    /// The kind named on the command line and the arguments that follow it.
    pub fn into_parts(self) -> (Kind, A) {
        match self {
            Target::Source(SourceTarget::Git(a)) => (Kind::GitRepository, a),
            Target::Source(SourceTarget::Oci(a)) => (Kind::OCIRepository, a),
            Target::Source(SourceTarget::Helm(a)) => (Kind::HelmRepository, a),
            Target::Source(SourceTarget::Chart(a)) => (Kind::HelmChart, a),
            Target::Source(SourceTarget::Bucket(a)) => (Kind::Bucket, a),
            Target::Kustomization(a) => (Kind::Kustomization, a),
            Target::Helmrelease(a) => (Kind::HelmRelease, a),
            Target::Alert(a) => (Kind::Alert, a),
            Target::AlertProvider(a) => (Kind::Provider, a),
            Target::Receiver(a) => (Kind::Receiver, a),
            Target::Image(ImageTarget::Repository(a)) => (Kind::ImageRepository, a),
            Target::Image(ImageTarget::Policy(a)) => (Kind::ImagePolicy, a),
            Target::Image(ImageTarget::Update(a)) => (Kind::ImageUpdateAutomation, a),
        }
    }
}

/// Runs the parsed command line. Commands that need no cluster (completion,
/// `--export`, `version --client`) never load a kubeconfig.
pub async fn run(cli: Cli) -> Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Completion(args) => completion::run(&args),
        Command::Version(args) => version::run(&args, &global).await,
        Command::Install(args) if args.export => install::export(&global.namespace),
        Command::Create(target) if target.is_export() => create::export(*target, &global.namespace),
        Command::Get(target) => get::run(&session(&global).await?, target).await,
        Command::Reconcile(target) => reconcile::run(&session(&global).await?, target).await,
        Command::Suspend(target) => suspend::suspend(&session(&global).await?, target).await,
        Command::Resume(target) => suspend::resume(&session(&global).await?, target).await,
        Command::Tree(target) => tree::run(&mut session(&global).await?, target).await,
        Command::Events(args) => events::run(&session(&global).await?, &args).await,
        Command::Export(target) => export::run(&session(&global).await?, target).await,
        Command::Install(_) => install::install(&session(&global).await?).await,
        Command::Uninstall(args) => install::uninstall(&session(&global).await?, &args).await,
        Command::Check(args) => check::run(&session(&global).await?, &args).await,
        Command::Create(target) => create::apply(&session(&global).await?, *target).await,
        Command::Why(args) => why::run(&session(&global).await?, &args).await,
        Command::Kustomize(args) => kustomize::run(&args),
        Command::Build(target) => build::run(&global, target).await,
        Command::Diff(target) => match session(&global).await {
            Ok(mut session) => diff::run(&mut session, target).await,
            Err(error) => Err(Error::Diff(Box::new(error))),
        },
    }
}

/// Connects to the cluster selected by the global flags.
pub async fn session(global: &GlobalArgs) -> Result<Session> {
    let connection = Connection {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
    };
    Ok(Session::new(
        connection.client().await?,
        global.namespace.clone(),
        global.all_namespaces,
        global.timeout.duration,
        global.timeout.text.clone(),
    ))
}
