//! `fluxrs suspend` and `fluxrs resume` (`spec/cli.md` §3): JSON merge
//! patches of `spec.suspend` (`true`, then `null` to remove it, as upstream's
//! `omitempty` patch does); resume then waits for the reconcile that the
//! generation change triggers.

use clap::Args;
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

use super::Target;
use crate::error::{Error, Result};
use crate::kinds::FluxKind;
use crate::kube::Session;
use crate::output::log;
use crate::{wait, with_kind};

/// Arguments of `suspend <kind>`.
#[derive(Debug, Args)]
pub struct SuspendArgs {
    #[command(flatten)]
    pub names: Names,
}

/// Arguments of `resume <kind>`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    pub names: Names,
    /// Wait for the reconciliation (default: only when one name is given).
    #[arg(long)]
    pub wait: Option<bool>,
}

/// Which objects: names, or every object of the kind in the namespace.
#[derive(Debug, Args)]
pub struct Names {
    /// Objects to act on (duplicates are ignored).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub names: Vec<String>,
    /// Act on every object of the kind in the namespace.
    #[arg(long)]
    pub all: bool,
}

/// Runs `suspend`.
pub async fn suspend(session: &Session, target: Target<SuspendArgs>) -> Result<()> {
    let (kind, args) = target.into_parts();
    with_kind!(kind, |K| suspend_kind::<K>(session, &args.names).await)
}

/// Runs `resume`.
pub async fn resume(session: &Session, target: Target<ResumeArgs>) -> Result<()> {
    let (kind, args) = target.into_parts();
    with_kind!(kind, |K| resume_kind::<K>(session, &args).await)
}

/// The objects named on the command line that exist (missing ones are
/// reported and skipped, exit code unchanged, like upstream), or all of them.
async fn targets<K: FluxKind>(session: &Session, names: &Names) -> Result<Vec<K>> {
    let namespace = &session.namespace;
    if names.all {
        let objects = session
            .api::<K>(namespace)
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::api(format!("listing {} objects", K::KIND), e))?
            .items;
        if objects.is_empty() {
            return Err(Error::NoObjects {
                kind: K::KIND.name().into(),
                scope: session.scope_text(),
            });
        }
        return Ok(objects);
    }
    let mut found = Vec::new();
    for name in unique(&names.names) {
        match session.get::<K>(namespace, name).await {
            Ok(obj) => found.push(obj),
            Err(Error::NotFound { .. }) => {
                log::failure(&format!(
                    "{} {name} not found in {namespace} namespace",
                    K::KIND
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

fn unique(names: &[String]) -> Vec<&str> {
    let mut seen = Vec::new();
    for name in names {
        if !seen.contains(&name.as_str()) {
            seen.push(name.as_str());
        }
    }
    seen
}

async fn patch_suspend<K: FluxKind>(session: &Session, obj: &K, suspend: bool) -> Result<()> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let value = if suspend { json!(true) } else { json!(null) };
    session
        .api::<K>(&namespace)
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "spec": { "suspend": value } })),
        )
        .await
        .map_err(|e| Error::api(format!("patching {} '{name}'", K::KIND), e))?;
    Ok(())
}

async fn suspend_kind<K: FluxKind>(session: &Session, names: &Names) -> Result<()> {
    for obj in targets::<K>(session, names).await? {
        let name = obj.name_any();
        log::action(&format!(
            "suspending {} {name} in {} namespace",
            K::KIND,
            session.namespace
        ));
        patch_suspend(session, &obj, true).await?;
        log::success(&format!("{} suspended", K::KIND));
    }
    Ok(())
}

async fn resume_kind<K: FluxKind>(session: &Session, args: &ResumeArgs) -> Result<()> {
    let objects = targets::<K>(session, &args.names).await?;
    for obj in &objects {
        log::action(&format!(
            "resuming {} {} in {} namespace",
            K::KIND,
            obj.name_any(),
            session.namespace
        ));
        patch_suspend(session, obj, false).await?;
        log::success(&format!("{} resumed", K::KIND));
    }
    let wait = args
        .wait
        .unwrap_or(!args.names.all && args.names.names.len() == 1);
    if !wait {
        return Ok(());
    }
    wait_all::<K>(session, &objects).await
}

/// Waits for each resumed object. With one object its error is returned as
/// is; with several, failures are printed and counted.
async fn wait_all<K: FluxKind>(session: &Session, objects: &[K]) -> Result<()> {
    if let [obj] = objects {
        return wait_one(session, obj).await;
    }
    let mut failures = 0;
    for obj in objects {
        if let Err(e) = wait_one(session, obj).await {
            log::failure(&e.to_string());
            failures += 1;
        }
    }
    if failures == 0 {
        Ok(())
    } else {
        Err(Error::ResumeFailed {
            count: failures,
            kind: K::KIND.name().into(),
        })
    }
}

async fn wait_one<K: FluxKind>(session: &Session, obj: &K) -> Result<()> {
    let name = obj.name_any();
    log::waiting(&format!("waiting for {} reconciliation", K::KIND));
    let ready: K = wait::until_reconciled(session, &session.namespace, &name, None).await?;
    log::success(&format!("{} {name} reconciliation completed", K::KIND));
    log::success(&ready.success_message());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_names_are_ignored_in_order() {
        let names = ["b", "a", "b"].map(String::from);
        assert_eq!(unique(&names), ["b", "a"]);
    }
}
