//! `fluxrs version`: the CLI's version, then the controllers' (from the
//! images of the Flux Deployments in the namespace) when the cluster answers.

use std::time::Duration;

use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};

use crate::cli::GlobalArgs;
use crate::error::{Error, Result};
use crate::output::{self, log};

/// Label every Flux component carries.
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of=flux";

/// How long `version` waits for the cluster before printing the CLI version only.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Arguments of `version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Only the CLI version; do not contact the cluster.
    #[arg(long)]
    pub client: bool,
}

/// The CLI version, `v` first like Flux prints it.
pub fn cli_version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// Runs `version`. An unreachable cluster is a warning, not a failure.
pub async fn run(args: &VersionArgs, global: &GlobalArgs) -> Result<()> {
    output::print(&format!("fluxrs: {}\n", cli_version()));
    if args.client {
        return Ok(());
    }
    let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, controllers(global)).await;
    let lookup = lookup.unwrap_or_else(|_| {
        Err(Error::Timeout {
            what: "the cluster to answer".into(),
            timeout: crate::duration::format(LOOKUP_TIMEOUT),
            last: None,
            object: None,
        })
    });
    match lookup {
        Ok(lines) if lines.is_empty() => log::warning(&format!(
            "no controllers found in \"{}\" namespace",
            global.namespace
        )),
        Ok(lines) => output::print(&lines.join("")),
        Err(e) => log::warning(&format!("controller versions unavailable: {e}")),
    }
    Ok(())
}

/// `<container>: <image tag>` for each container of the Flux Deployments.
async fn controllers(global: &GlobalArgs) -> Result<Vec<String>> {
    let session = super::session(global).await?;
    let deployments: Api<Deployment> = Api::namespaced(session.client.clone(), &session.namespace);
    let list = deployments
        .list(&ListParams::default().labels(PART_OF_LABEL))
        .await
        .map_err(|e| Error::api("listing the Flux controllers", e))?;
    Ok(list
        .items
        .iter()
        .flat_map(images)
        .map(|(name, image)| format!("{name}: {}\n", image_tag(&image)))
        .collect())
}

fn images(deployment: &Deployment) -> Vec<(String, String)> {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|pod| {
            pod.containers
                .iter()
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// The tag of an image reference (`ghcr.io/fluxcd/source-controller:v1.5.0`
/// → `v1.5.0`), or the whole reference when it has none.
pub fn image_tag(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_segment = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last_segment.rsplit_once(':') {
        Some((_, tag)) => tag,
        None => image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags() {
        assert_eq!(
            image_tag("ghcr.io/fluxcd/source-controller:v1.5.0"),
            "v1.5.0"
        );
        assert_eq!(
            image_tag("localhost:5000/controller"),
            "localhost:5000/controller"
        );
        assert_eq!(image_tag("registry:5000/c:v2@sha256:abc"), "v2");
    }

    #[test]
    fn cli_version_has_a_v() {
        assert!(cli_version().starts_with('v'));
    }
}
