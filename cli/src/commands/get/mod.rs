//! `fluxrs get`: Flux objects as `flux get` shows them (NAME, REVISION,
//! SUSPENDED, READY, MESSAGE and the per-kind columns of `spec/cli.md` §1),
//! or as JSON/YAML records, once or as changes happen (`--watch`).

mod selector;

use clap::{Args, Subcommand};
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

pub use selector::StatusSelector;

use crate::error::{Error, Result};
use crate::kinds::{FluxKind, Kind, ready_cells};
use crate::kube::Session;
use crate::output::table::{Table, record_key};
use crate::output::text::truncate_hex;
use crate::output::{self, Format, log};
use crate::with_kind;

/// What to list.
#[derive(Debug, Subcommand)]
pub enum GetTarget {
    /// Sources: git, oci, helm, chart, bucket, all.
    #[command(subcommand, visible_alias = "source")]
    Sources(GetSources),
    /// Kustomizations.
    #[command(visible_aliases = ["ks", "kustomization"])]
    Kustomizations(GetArgs),
    /// HelmReleases.
    #[command(visible_aliases = ["hr", "helmrelease"])]
    Helmreleases(GetArgs),
    /// Alerts.
    #[command(visible_alias = "alert")]
    Alerts(GetArgs),
    /// Alert Providers.
    #[command(visible_aliases = ["alert-provider", "providers"])]
    AlertProviders(GetArgs),
    /// Receivers.
    #[command(visible_alias = "receiver")]
    Receivers(GetArgs),
    /// Image automation: repository, policy, update, all.
    #[command(subcommand, visible_alias = "image")]
    Images(GetImages),
    /// Every Flux kind.
    All(GetAllArgs),
}

/// `get sources ...`.
#[derive(Debug, Subcommand)]
pub enum GetSources {
    /// GitRepository sources.
    Git(GetArgs),
    /// OCIRepository sources.
    Oci(GetArgs),
    /// HelmRepository sources.
    Helm(GetArgs),
    /// HelmChart sources.
    Chart(GetArgs),
    /// Bucket sources.
    Bucket(GetArgs),
    /// Every source kind.
    All(GetAllArgs),
}

/// `get images ...`.
#[derive(Debug, Subcommand)]
pub enum GetImages {
    /// ImageRepository objects.
    Repository(GetArgs),
    /// ImagePolicy objects.
    Policy(GetArgs),
    /// ImageUpdateAutomation objects.
    Update(GetArgs),
    /// Every image kind.
    All(GetAllArgs),
}

/// Arguments of `get <kind>`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Only this object.
    pub name: Option<String>,
    /// Print objects again as they change, until --timeout.
    #[arg(short, long)]
    pub watch: bool,
    #[command(flatten)]
    pub common: CommonGetArgs,
    /// Add a SOURCE column (Kustomizations and HelmReleases).
    #[arg(long)]
    pub show_source: bool,
}

/// Arguments of `get all`.
#[derive(Debug, Args)]
pub struct GetAllArgs {
    #[command(flatten)]
    pub common: CommonGetArgs,
}

/// Flags every `get` takes.
#[derive(Debug, Args)]
pub struct CommonGetArgs {
    /// Keep objects by condition: `type=status` or `type!=status` (e.g. ready=false).
    #[arg(long, value_name = "SELECTOR")]
    pub status_selector: Option<StatusSelector>,
    /// Keep objects by label selector (e.g. app=podinfo).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub label_selector: Option<String>,
    /// Do not print the header line.
    #[arg(long)]
    pub no_header: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// How rows are laid out.
#[derive(Clone, Copy, Debug, Default)]
struct Layout {
    /// NAMESPACE column first.
    namespace: bool,
    /// SOURCE column after NAME (kinds that have one).
    source: bool,
    /// NAME as `<lowercase kind>/<name>` (`get all`).
    kind_prefix: bool,
    /// Shorten hashes (tables only; JSON and YAML keep them whole).
    truncate: bool,
}

/// One kind, or several (`all`).
enum Selection {
    One(Kind, GetArgs),
    Many(&'static [Kind], GetAllArgs),
}

/// Runs `get`.
pub async fn run(session: &Session, target: GetTarget) -> Result<()> {
    match selection(target) {
        Selection::One(kind, args) => with_kind!(kind, |K| get_kind::<K>(session, &args).await),
        Selection::Many(kinds, args) => get_many(session, kinds, &args.common).await,
    }
}

const SOURCES: [Kind; 5] = [
    Kind::OCIRepository,
    Kind::Bucket,
    Kind::GitRepository,
    Kind::HelmRepository,
    Kind::HelmChart,
];

const IMAGES: [Kind; 3] = [
    Kind::ImageRepository,
    Kind::ImagePolicy,
    Kind::ImageUpdateAutomation,
];

fn selection(target: GetTarget) -> Selection {
    use Selection::{Many, One};
    match target {
        GetTarget::Sources(GetSources::Git(a)) => One(Kind::GitRepository, a),
        GetTarget::Sources(GetSources::Oci(a)) => One(Kind::OCIRepository, a),
        GetTarget::Sources(GetSources::Helm(a)) => One(Kind::HelmRepository, a),
        GetTarget::Sources(GetSources::Chart(a)) => One(Kind::HelmChart, a),
        GetTarget::Sources(GetSources::Bucket(a)) => One(Kind::Bucket, a),
        GetTarget::Sources(GetSources::All(a)) => Many(&SOURCES, a),
        GetTarget::Kustomizations(a) => One(Kind::Kustomization, a),
        GetTarget::Helmreleases(a) => One(Kind::HelmRelease, a),
        GetTarget::Alerts(a) => One(Kind::Alert, a),
        GetTarget::AlertProviders(a) => One(Kind::Provider, a),
        GetTarget::Receivers(a) => One(Kind::Receiver, a),
        GetTarget::Images(GetImages::Repository(a)) => One(Kind::ImageRepository, a),
        GetTarget::Images(GetImages::Policy(a)) => One(Kind::ImagePolicy, a),
        GetTarget::Images(GetImages::Update(a)) => One(Kind::ImageUpdateAutomation, a),
        GetTarget::Images(GetImages::All(a)) => Many(&IMAGES, a),
        GetTarget::All(a) => Many(&Kind::ALL, a),
    }
}

fn list_params(name: Option<&str>, labels: Option<&str>) -> ListParams {
    let mut params = ListParams::default();
    if let Some(name) = name {
        params = params.fields(&format!("metadata.name={name}"));
    }
    if let Some(labels) = labels {
        params = params.labels(labels);
    }
    params
}

fn layout(session: &Session, format: Format, show_source: bool) -> Layout {
    Layout {
        namespace: session.all_namespaces || format != Format::Table,
        source: show_source,
        kind_prefix: false,
        truncate: format == Format::Table,
    }
}

async fn get_kind<K: FluxKind>(session: &Session, args: &GetArgs) -> Result<()> {
    let common = &args.common;
    let layout = layout(session, common.output, args.show_source);
    let params = list_params(args.name.as_deref(), common.label_selector.as_deref());
    if args.watch {
        return watch::<K>(session, params, common, layout).await;
    }
    let objects = session.list::<K>(&params).await?;
    if objects.is_empty() {
        return Err(not_found::<K>(session, args.name.as_deref()));
    }
    let table = table(&selected(objects, common), layout);
    print_table(&table, common);
    Ok(())
}

fn not_found<K: FluxKind>(session: &Session, name: Option<&str>) -> Error {
    match name {
        Some(name) => Error::NotFound {
            kind: K::KIND.name().into(),
            name: name.into(),
            namespace: session.namespace.clone(),
            list_command: Some(K::KIND.get_path().into()),
        },
        None => Error::NoObjects {
            kind: K::KIND.name().into(),
            scope: session.scope_text(),
        },
    }
}

fn selected<K: FluxKind>(objects: Vec<K>, common: &CommonGetArgs) -> Vec<K> {
    objects
        .into_iter()
        .filter(|o| common.status_selector.as_ref().is_none_or(|s| s.matches(o)))
        .collect()
}

fn print_table(table: &Table, common: &CommonGetArgs) {
    match common.output {
        Format::Table => {
            if !table.is_empty() {
                output::print(&table.render(true, !common.no_header));
            }
        }
        format => match output::encode(&table.records(), format) {
            Ok(text) => output::print(&text),
            Err(e) => log::failure(&e.to_string()),
        },
    }
}

/// The headers of a kind's table.
fn headers<K: FluxKind>(layout: Layout) -> Vec<String> {
    let mut headers = Vec::new();
    if layout.namespace {
        headers.push("NAMESPACE".to_string());
    }
    headers.push("NAME".into());
    if layout.source && K::SOURCE_COLUMN {
        headers.push("SOURCE".into());
    }
    headers.extend(K::COLUMNS.iter().map(|c| (*c).to_string()));
    headers.extend(["READY".to_string(), "MESSAGE".to_string()]);
    headers
}

/// One object's cells, in [`headers`] order.
fn row<K: FluxKind>(obj: &K, layout: Layout) -> Vec<String> {
    let mut row = Vec::new();
    if layout.namespace {
        row.push(obj.namespace().unwrap_or_default());
    }
    row.push(if layout.kind_prefix {
        format!("{}/{}", K::KIND.name().to_lowercase(), obj.name_any())
    } else {
        obj.name_any()
    });
    if layout.source && K::SOURCE_COLUMN {
        row.push(obj.source().map(|s| s.to_string()).unwrap_or_default());
    }
    for (header, cell) in K::COLUMNS.iter().zip(obj.cells()) {
        let shorten = layout.truncate && *header == "REVISION" && K::TRUNCATE_REVISION;
        row.push(if shorten { truncate_hex(&cell) } else { cell });
    }
    let (ready, message) = ready_cells(obj);
    row.push(ready);
    row.push(if layout.truncate {
        truncate_hex(&message)
    } else {
        message
    });
    row
}

fn table<K: FluxKind>(objects: &[K], layout: Layout) -> Table {
    let mut table = Table::new(headers::<K>(layout));
    for obj in objects {
        table.push(row(obj, layout));
    }
    table
}

/// Prints objects as they are listed, then as they change, until the deadline.
async fn watch<K: FluxKind>(
    session: &Session,
    params: ListParams,
    common: &CommonGetArgs,
    layout: Layout,
) -> Result<()> {
    let mut config = watcher::Config::default();
    if let Some(fields) = params.field_selector {
        config = config.fields(&fields);
    }
    if let Some(labels) = params.label_selector {
        config = config.labels(&labels);
    }
    let stream = watcher(session.scoped_api::<K>(), config)
        .default_backoff()
        .applied_objects();
    let mut stream = std::pin::pin!(stream);
    let mut header = !common.no_header;
    let printing = async {
        while let Some(event) = stream.next().await {
            let obj = event.map_err(|e| Error::Api {
                context: format!("watching {} objects", K::KIND),
                message: e.to_string(),
                class: crate::error::ApiFailure::Other,
            })?;
            if common
                .status_selector
                .as_ref()
                .is_some_and(|s| !s.matches(&obj))
            {
                continue;
            }
            print_watch_row(&obj, layout, common.output, header)?;
            header = false;
        }
        Ok::<(), Error>(())
    };
    match tokio::time::timeout_at(session.deadline(), printing).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

fn print_watch_row<K: FluxKind>(
    obj: &K,
    layout: Layout,
    format: Format,
    header: bool,
) -> Result<()> {
    let mut table = Table::new(headers::<K>(layout));
    table.push(row(obj, layout));
    let text = match format {
        Format::Table => table.render(true, header),
        Format::Json => {
            let record = table.records().pop().unwrap_or(Value::Null);
            serde_json::to_string(&record).map_err(|e| Error::Encode(e.to_string()))? + "\n"
        }
        Format::Yaml => output::to_yaml_documents(&table.records())?,
    };
    output::print(&text);
    Ok(())
}

/// `get all` and friends: one table per kind with objects, `kind/name`
/// names, errors reported and skipped, kinds the cluster lacks ignored.
async fn get_many(session: &Session, kinds: &[Kind], common: &CommonGetArgs) -> Result<()> {
    let mut records = Vec::new();
    for kind in kinds {
        let result = with_kind!(*kind, |K| kind_table::<K>(session, common).await);
        match result {
            Ok(Some(table)) if common.output == Format::Table => {
                output::print(&table.render(true, !common.no_header));
                output::print("\n");
            }
            Ok(Some(table)) => records.extend(with_kind_key(&table, *kind)),
            Ok(None) => {}
            Err(e) if e.is_missing_resource() => {}
            Err(e) => log::failure(&e.to_string()),
        }
    }
    if common.output != Format::Table {
        output::print(&output::encode(&records, common.output)?);
    }
    Ok(())
}

async fn kind_table<K: FluxKind>(
    session: &Session,
    common: &CommonGetArgs,
) -> Result<Option<Table>> {
    let params = list_params(None, common.label_selector.as_deref());
    let objects = selected(session.list::<K>(&params).await?, common);
    if objects.is_empty() {
        return Ok(None);
    }
    let mut layout = layout(session, common.output, false);
    layout.kind_prefix = common.output == Format::Table;
    Ok(Some(table(&objects, layout)))
}

fn with_kind_key(table: &Table, kind: Kind) -> Vec<Value> {
    table
        .records()
        .into_iter()
        .map(|mut record| {
            if let Value::Object(map) = &mut record {
                map.insert(record_key("KIND"), Value::String(kind.name().into()));
            }
            record
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use fluxrs_api::kustomize::Kustomization;
    use fluxrs_api::source::GitRepository;

    use super::*;

    fn repo() -> GitRepository {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system", "generation": 1},
            "spec": {"url": "https://example.com/repo", "interval": "1m"},
            "status": {
                "observedGeneration": 1,
                "artifact": {
                    "path": "p", "url": "u", "lastUpdateTime": "2026-01-01T00:00:00Z",
                    "revision": "main@sha1:6ac3ca0f1b5c4e8e2bbf3e1e6f3f1d3c2b1a0f9e"
                },
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Succeeded",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "message": "stored artifact for revision 'main@sha1:6ac3ca0f1b5c4e8e2bbf3e1e6f3f1d3c2b1a0f9e'"
                }]
            }
        }))
        .unwrap()
    }

    #[test]
    fn table_matches_flux_get_sources_git() {
        let layout = Layout {
            truncate: true,
            ..Layout::default()
        };
        let text = table(&[repo()], layout).render(false, true);
        assert_eq!(
            text,
            "NAME       \tREVISION          \tSUSPENDED\tREADY\tMESSAGE\n\
             flux-system\tmain@sha1:6ac3ca0f\tFalse    \tTrue \tstored artifact for revision 'main@sha1:6ac3ca0f'\n"
        );
    }

    #[test]
    fn records_keep_full_revisions_and_the_namespace() {
        let layout = Layout {
            namespace: true,
            ..Layout::default()
        };
        let records = table(&[repo()], layout).records();
        assert_eq!(records[0]["namespace"], "flux-system");
        assert_eq!(
            records[0]["revision"],
            "main@sha1:6ac3ca0f1b5c4e8e2bbf3e1e6f3f1d3c2b1a0f9e"
        );
    }

    #[test]
    fn get_all_prefixes_names_with_the_kind() {
        let layout = Layout {
            kind_prefix: true,
            truncate: true,
            ..Layout::default()
        };
        assert_eq!(row(&repo(), layout)[0], "gitrepository/flux-system");
    }

    #[test]
    fn show_source_adds_the_source_column_to_appliers_only() {
        let layout = Layout {
            source: true,
            ..Layout::default()
        };
        assert_eq!(
            headers::<Kustomization>(layout),
            [
                "NAME",
                "SOURCE",
                "REVISION",
                "SUSPENDED",
                "READY",
                "MESSAGE"
            ]
        );
        assert_eq!(
            headers::<GitRepository>(layout),
            ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
        );
    }

    #[test]
    fn name_and_labels_become_selectors() {
        let params = list_params(Some("app"), Some("team=a"));
        assert_eq!(params.field_selector.as_deref(), Some("metadata.name=app"));
        assert_eq!(params.label_selector.as_deref(), Some("team=a"));
    }
}
