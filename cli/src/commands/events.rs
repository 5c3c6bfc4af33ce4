//! `fluxrs events`: the Kubernetes Events of Flux objects, oldest first
//! (`spec/cli.md` §5), with the revision each event's annotations carry.
//!
//! Events are read through events.k8s.io/v1, which serves the events our
//! controllers record and the core/v1 events upstream controllers record.
//! `--for Kind/name` also shows the events of the object's sources, so a
//! Kustomization's failure is seen next to its GitRepository's.

use std::collections::BTreeSet;
use std::time::Duration;

use clap::Args;
use futures::StreamExt;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};

use crate::error::{ApiFailure, Error, Result};
use crate::kinds::{FluxKind, Kind, ObjectRef, object_ref};
use crate::kube::Session;
use crate::output::table::Table;
use crate::output::text::{human_age, truncate_hex};
use crate::output::{self, Format};
use crate::with_kind;

/// Arguments of `events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events of this Flux object (`Kind/name`) and its sources, or of one kind (`Kind`).
    #[arg(long = "for", value_name = "KIND[/NAME]")]
    pub for_object: Option<String>,
    /// Keep printing new events as they happen, until --timeout.
    #[arg(short, long)]
    pub watch: bool,
    /// Only events of these types (Normal, Warning).
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// Which events are shown.
#[derive(Debug, PartialEq, Eq)]
enum Filter {
    /// Events of any Flux kind.
    AnyFlux,
    /// Events of one kind.
    Kind(Kind),
    /// Events of these objects.
    Objects(Vec<ObjectRef>),
}

impl Filter {
    fn matches(&self, event: &Event) -> bool {
        let Some(regarding) = &event.regarding else {
            return false;
        };
        let kind = regarding.kind.as_deref().unwrap_or_default();
        match self {
            Filter::AnyFlux => Kind::from_name(kind).is_some(),
            Filter::Kind(wanted) => kind == wanted.name(),
            Filter::Objects(objects) => objects.iter().any(|o| {
                o.kind == kind
                    && Some(o.name.as_str()) == regarding.name.as_deref()
                    && Some(o.namespace.as_str()) == regarding.namespace.as_deref()
            }),
        }
    }

    /// The namespaces the events live in, when they are known.
    fn namespaces(&self) -> BTreeSet<String> {
        match self {
            Filter::Objects(objects) => objects.iter().map(|o| o.namespace.clone()).collect(),
            Filter::AnyFlux | Filter::Kind(_) => BTreeSet::new(),
        }
    }
}

/// Parses `--for`: `Kind` or `Kind/name`, Flux kinds only, any case.
fn parse_for(text: &str) -> Result<(Kind, Option<String>)> {
    let (kind, name) = match text.split_once('/') {
        Some((kind, name)) if !name.is_empty() && !name.contains('/') => {
            (kind, Some(name.to_string()))
        }
        Some(_) => {
            return Err(Error::InvalidArgument(format!(
                "invalid --for {text:?}, expected Kind or Kind/name"
            )));
        }
        None => (text, None),
    };
    let kind = Kind::from_name(kind).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{kind:?} is not a Flux kind (e.g. Kustomization, GitRepository)"
        ))
    })?;
    Ok((kind, name))
}

/// Runs `events`.
pub async fn run(session: &Session, args: &EventsArgs) -> Result<()> {
    let filter = match &args.for_object {
        None => Filter::AnyFlux,
        Some(text) => match parse_for(text)? {
            (kind, None) => Filter::Kind(kind),
            (kind, Some(name)) => {
                let namespace = session.namespace.clone();
                with_kind!(kind, |K| object_filter::<K>(session, &namespace, &name)
                    .await)?
            }
        },
    };
    let namespaces = event_namespaces(session, &filter);
    if args.watch {
        return watch(session, &namespaces, &filter, args).await;
    }
    let events = list(session, &namespaces).await?;
    let mut events: Vec<Event> = events
        .into_iter()
        .filter(|e| keep(e, &filter, args))
        .collect();
    if events.is_empty() {
        return Err(Error::NoObjects {
            kind: "Event".into(),
            scope: session.scope_text(),
        });
    }
    events.sort_by_key(event_time);
    let table = table(&events, namespace_column(session, &namespaces), args.output);
    print(&table, args.output, true)
}

/// The object named by `--for` and its related objects (sources).
async fn object_filter<K: FluxKind>(
    session: &Session,
    namespace: &str,
    name: &str,
) -> Result<Filter> {
    let obj: K = session.get(namespace, name).await?;
    let mut objects = vec![object_ref(&obj)];
    objects.extend(obj.related());
    Ok(Filter::Objects(objects))
}

/// Where to read events: every namespace (`None`) with -A, otherwise `-n`
/// plus the namespaces of the filtered objects.
fn event_namespaces(session: &Session, filter: &Filter) -> Option<BTreeSet<String>> {
    if session.all_namespaces {
        return None;
    }
    let mut namespaces = filter.namespaces();
    namespaces.insert(session.namespace.clone());
    Some(namespaces)
}

fn namespace_column(session: &Session, namespaces: &Option<BTreeSet<String>>) -> bool {
    session.all_namespaces || namespaces.as_ref().is_some_and(|n| n.len() > 1)
}

async fn list(session: &Session, namespaces: &Option<BTreeSet<String>>) -> Result<Vec<Event>> {
    let apis: Vec<Api<Event>> = match namespaces {
        None => vec![Api::all(session.client.clone())],
        Some(namespaces) => namespaces
            .iter()
            .map(|ns| Api::namespaced(session.client.clone(), ns))
            .collect(),
    };
    let mut events = Vec::new();
    for api in apis {
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::api("listing events", e))?;
        events.extend(list.items);
    }
    Ok(events)
}

fn keep(event: &Event, filter: &Filter, args: &EventsArgs) -> bool {
    let type_ok = args.types.is_empty()
        || event
            .type_
            .as_deref()
            .is_some_and(|e| args.types.iter().any(|t| t.eq_ignore_ascii_case(e)));
    type_ok && filter.matches(event)
}

/// When the event last happened: the series' last observation, the legacy
/// last timestamp, the event time, the legacy first timestamp, creation.
fn event_time(event: &Event) -> Option<Timestamp> {
    event
        .series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or_else(|| event.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.deprecated_first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The revision a Flux event carries (`<group>/revision` annotation).
fn revision(event: &Event) -> String {
    event
        .annotations()
        .iter()
        .find(|(key, _)| key.ends_with("/revision"))
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

fn table(events: &[Event], namespace: bool, format: Format) -> Table {
    let mut headers = Vec::new();
    if namespace {
        headers.push("NAMESPACE");
    }
    headers.extend([
        "LAST SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "REVISION",
        "MESSAGE",
    ]);
    let mut table = Table::new(headers);
    let now = Timestamp::now();
    for event in events {
        table.push(row(event, namespace, format, now));
    }
    table
}

fn row(event: &Event, namespace: bool, format: Format, now: Timestamp) -> Vec<String> {
    let regarding = event.regarding.clone().unwrap_or_default();
    let last_seen = match (format, event_time(event)) {
        (Format::Table, Some(time)) => human_age(age(now, time)),
        (_, Some(time)) => time.to_string(),
        (_, None) => "<unknown>".into(),
    };
    let shorten = |text: String| {
        if format == Format::Table {
            truncate_hex(&text)
        } else {
            text
        }
    };
    let mut row = Vec::new();
    if namespace {
        row.push(event.namespace().unwrap_or_default());
    }
    row.extend([
        last_seen,
        event.type_.clone().unwrap_or_default(),
        event.reason.clone().unwrap_or_default(),
        format!(
            "{}/{}",
            regarding.kind.unwrap_or_default(),
            regarding.name.unwrap_or_default()
        ),
        shorten(revision(event)),
        shorten(
            event
                .note
                .clone()
                .unwrap_or_default()
                .trim_end()
                .to_string(),
        ),
    ]);
    row
}

fn age(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or_default()
}

fn print(table: &Table, format: Format, header: bool) -> Result<()> {
    let text = match format {
        Format::Table => table.render(true, header),
        format => output::encode(&table.records(), format)?,
    };
    output::print(&text);
    Ok(())
}

/// Prints the existing events once listed, then each new one, until the deadline.
async fn watch(
    session: &Session,
    namespaces: &Option<BTreeSet<String>>,
    filter: &Filter,
    args: &EventsArgs,
) -> Result<()> {
    let api: Api<Event> = match namespaces {
        Some(namespaces) if namespaces.len() == 1 => {
            Api::namespaced(session.client.clone(), &session.namespace)
        }
        _ => Api::all(session.client.clone()),
    };
    let namespace = namespace_column(session, namespaces);
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut initial = Vec::new();
    let mut header = true;
    let printing = async {
        while let Some(event) = stream.next().await {
            let event = event.map_err(|e| Error::Api {
                context: "watching events".into(),
                message: e.to_string(),
                class: ApiFailure::Other,
            })?;
            match event {
                watcher::Event::Init => initial.clear(),
                watcher::Event::InitApply(e) if keep(&e, filter, args) => initial.push(e),
                watcher::Event::InitDone => {
                    initial.sort_by_key(event_time);
                    if !initial.is_empty() {
                        print(
                            &table(&initial, namespace, args.output),
                            args.output,
                            header,
                        )?;
                        header = false;
                    }
                }
                watcher::Event::Apply(e) if keep(&e, filter, args) => {
                    print(&table(&[e], namespace, args.output), args.output, header)?;
                    header = false;
                }
                _ => {}
            }
        }
        Ok::<(), Error>(())
    };
    match tokio::time::timeout_at(session.deadline(), printing).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};

    use super::*;

    fn event(kind: &str, name: &str, seconds: i64) -> Event {
        Event {
            metadata: ObjectMeta {
                namespace: Some("apps".into()),
                annotations: Some(
                    [(
                        "source.toolkit.fluxcd.io/revision".to_string(),
                        format!("main@sha1:{}", "a".repeat(40)),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            regarding: Some(ObjectReference {
                kind: Some(kind.into()),
                name: Some(name.into()),
                namespace: Some("apps".into()),
                ..ObjectReference::default()
            }),
            event_time: Some(MicroTime(Timestamp::from_second(seconds).unwrap())),
            type_: Some("Normal".into()),
            reason: Some("NewArtifact".into()),
            note: Some("stored artifact\n".into()),
            ..Event::default()
        }
    }

    #[test]
    fn for_takes_a_flux_kind_and_an_optional_name() {
        assert_eq!(
            parse_for("kustomization/apps").unwrap(),
            (Kind::Kustomization, Some("apps".into()))
        );
        assert_eq!(
            parse_for("GitRepository").unwrap(),
            (Kind::GitRepository, None)
        );
        assert!(parse_for("Deployment/x").is_err());
        assert!(parse_for("Kustomization/").is_err());
        assert!(parse_for("Kustomization/a/b").is_err());
    }

    #[test]
    fn filters_by_flux_kind_and_object() {
        let repo = event("GitRepository", "app", 1);
        let pod = event("Pod", "x", 1);
        assert!(Filter::AnyFlux.matches(&repo));
        assert!(!Filter::AnyFlux.matches(&pod));
        assert!(Filter::Kind(Kind::GitRepository).matches(&repo));
        let objects = Filter::Objects(vec![ObjectRef::new("GitRepository", "apps", "app")]);
        assert!(objects.matches(&repo));
        assert!(
            !Filter::Objects(vec![ObjectRef::new("GitRepository", "other", "app")]).matches(&repo)
        );
    }

    #[test]
    fn rows_show_age_object_revision_and_message() {
        let now = Timestamp::from_second(150).unwrap();
        let row = row(&event("GitRepository", "app", 0), false, Format::Table, now);
        assert_eq!(
            row,
            [
                "2m30s",
                "Normal",
                "NewArtifact",
                "GitRepository/app",
                "main@sha1:aaaaaaaa",
                "stored artifact"
            ]
        );
    }

    #[test]
    fn series_time_wins_over_event_time() {
        let mut e = event("GitRepository", "app", 10);
        e.deprecated_last_timestamp = Some(Time(Timestamp::from_second(20).unwrap()));
        assert_eq!(event_time(&e), Some(Timestamp::from_second(20).unwrap()));
        e.series = Some(k8s_openapi::api::events::v1::EventSeries {
            count: 2,
            last_observed_time: MicroTime(Timestamp::from_second(30).unwrap()),
        });
        assert_eq!(event_time(&e), Some(Timestamp::from_second(30).unwrap()));
    }
}
