//! `fluxrs check`: is this cluster fit for Flux? The Kubernetes version is in
//! the supported range, the Flux controllers in the namespace are rolled
//! out, and every CRD this CLI knows is installed, Established, served at
//! the versions we serve and stored at our storage version.

use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::install::established;
use super::version::PART_OF_LABEL;
use crate::error::{Error, Result};
use crate::health::{self, HealthStatus};
use crate::kube::Session;
use crate::output::log;

/// Oldest supported Kubernetes minor version (`>=1.33.0-0`, as Flux 2.8).
const MIN_VERSION: (u64, u64) = (1, 33);

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only check the prerequisites (the Kubernetes version).
    #[arg(long)]
    pub pre: bool,
}

/// Runs `check`; each problem is printed as found, and the command fails at
/// the end if there was any.
pub async fn run(session: &Session, args: &CheckArgs) -> Result<()> {
    log::action("checking prerequisites");
    let mut ok = kubernetes_version(session).await?;
    if args.pre {
        return finish(ok, "prerequisites checks passed");
    }
    log::action("checking controllers");
    ok &= controllers(session).await?;
    log::action("checking crds");
    ok &= crds(session).await?;
    finish(ok, "all checks passed")
}

fn finish(ok: bool, message: &str) -> Result<()> {
    if ok {
        log::success(message);
        Ok(())
    } else {
        Err(Error::CheckFailed)
    }
}

async fn kubernetes_version(session: &Session) -> Result<bool> {
    let info = session
        .client
        .apiserver_version()
        .await
        .map_err(|e| Error::api("getting the Kubernetes version", e))?;
    let version = info.git_version.trim_start_matches('v');
    let range = format!(">={}.{}.0-0", MIN_VERSION.0, MIN_VERSION.1);
    match supported(&info.major, &info.minor) {
        Ok(true) => {
            log::success(&format!("Kubernetes {version} {range}"));
            Ok(true)
        }
        Ok(false) => {
            log::failure(&format!("Kubernetes {version} does not match {range}"));
            Ok(false)
        }
        Err(e) => {
            log::failure(&e);
            Ok(false)
        }
    }
}

/// Whether `major.minor` (as the apiserver reports them, e.g. `1`, `34+`) is
/// at least [`MIN_VERSION`].
fn supported(major: &str, minor: &str) -> Result<bool, String> {
    let number = |text: &str| -> Result<u64, String> {
        text.trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .map_err(|_| format!("unable to parse the Kubernetes version {major}.{minor}"))
    };
    Ok((number(major)?, number(minor)?) >= MIN_VERSION)
}

async fn controllers(session: &Session) -> Result<bool> {
    let api: Api<Deployment> = Api::namespaced(session.client.clone(), &session.namespace);
    let deployments = api
        .list(&ListParams::default().labels(PART_OF_LABEL))
        .await
        .map_err(|e| Error::api("listing the Flux controllers", e))?
        .items;
    if deployments.is_empty() {
        log::warning(&format!(
            "no controllers found in \"{}\" namespace",
            session.namespace
        ));
        return Ok(true);
    }
    let mut ok = true;
    for deployment in &deployments {
        ok &= controller(deployment);
    }
    Ok(ok)
}

fn controller(deployment: &Deployment) -> bool {
    let name = deployment.name_any();
    let body = serde_json::to_value(deployment).unwrap_or_default();
    let health = health::assess("Deployment", &deployment.metadata, &body);
    let ready = health.status == HealthStatus::Current;
    if ready {
        log::success(&format!("{name}: deployment ready"));
    } else {
        log::failure(&format!(
            "{name}: deployment not ready ({})",
            health.message
        ));
    }
    let images = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|pod| {
            pod.containers
                .iter()
                .filter_map(|c| c.image.clone())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for image in images {
        log::action(&image);
    }
    ready
}

async fn crds(session: &Session) -> Result<bool> {
    let api: Api<CustomResourceDefinition> = Api::all(session.client.clone());
    let mut ok = true;
    for expected in fluxrs_api::crds::all() {
        let name = expected.name_any();
        let live = api
            .get_opt(&name)
            .await
            .map_err(|e| Error::api(format!("getting CRD {name}"), e))?;
        match live.map(|live| crd_problem(&expected, &live)) {
            None => {
                log::failure(&format!("{name} not found"));
                ok = false;
            }
            Some(Err(problem)) => {
                log::failure(&format!("{name}: {problem}"));
                ok = false;
            }
            Some(Ok(version)) => log::success(&format!("{name}/{version}")),
        }
    }
    Ok(ok)
}

fn storage_version(crd: &CustomResourceDefinition) -> Option<&str> {
    crd.spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map(|v| v.name.as_str())
}

fn served_versions(crd: &CustomResourceDefinition) -> Vec<&str> {
    crd.spec
        .versions
        .iter()
        .filter(|v| v.served)
        .map(|v| v.name.as_str())
        .collect()
}

/// The live CRD's storage version if it matches what we expect (same storage
/// version, at least our served versions, Established), or the problem.
fn crd_problem(
    expected: &CustomResourceDefinition,
    live: &CustomResourceDefinition,
) -> Result<String, String> {
    let want = storage_version(expected).unwrap_or_default();
    let have = storage_version(live).unwrap_or_default();
    if want != have {
        return Err(format!("stored version is {have}, expected {want}"));
    }
    let served = served_versions(live);
    let missing: Vec<&str> = served_versions(expected)
        .into_iter()
        .filter(|v| !served.contains(v))
        .collect();
    if !missing.is_empty() {
        return Err(format!("versions {} are not served", missing.join(", ")));
    }
    if !established(live) {
        return Err("not Established".into());
    }
    Ok(have.to_string())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceDefinitionCondition, CustomResourceDefinitionStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn git_repository_crd() -> CustomResourceDefinition {
        fluxrs_api::crds::all()
            .into_iter()
            .find(|c| c.spec.names.kind == "GitRepository")
            .unwrap()
    }

    fn live(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
        crd.status = Some(CustomResourceDefinitionStatus {
            conditions: Some(vec![CustomResourceDefinitionCondition {
                type_: "Established".into(),
                status: "True".into(),
                last_transition_time: Some(Time(Timestamp::UNIX_EPOCH)),
                message: None,
                reason: None,
            }]),
            ..Default::default()
        });
        crd
    }

    #[test]
    fn kubernetes_versions() {
        assert_eq!(supported("1", "33"), Ok(true));
        assert_eq!(supported("1", "34+"), Ok(true));
        assert_eq!(supported("1", "32"), Ok(false));
        assert_eq!(supported("2", "0"), Ok(true));
        assert!(supported("1", "x").is_err());
    }

    #[test]
    fn matching_crd_reports_its_storage_version() {
        let expected = git_repository_crd();
        assert_eq!(
            crd_problem(&expected, &live(expected.clone())),
            Ok("v1".into())
        );
    }

    #[test]
    fn old_storage_version_or_not_established_is_a_problem() {
        let expected = git_repository_crd();
        let mut old = live(expected.clone());
        old.spec.versions[0].name = "v1beta2".into();
        assert!(
            crd_problem(&expected, &old)
                .unwrap_err()
                .contains("expected v1")
        );
        assert_eq!(
            crd_problem(&expected, &expected),
            Err("not Established".into())
        );
    }
}
