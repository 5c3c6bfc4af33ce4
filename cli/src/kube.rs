//! Kubernetes access: building a client from `--kubeconfig`/`--context`, the
//! per-command [`Session`], and the lookups every command shares.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::{Client, Config};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::kinds::FluxKind;

/// Where the cluster is: the standard kubeconfig flags.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    /// `--kubeconfig`: a kubeconfig file; otherwise `KUBECONFIG`,
    /// `~/.kube/config`, then the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`: a context of the kubeconfig instead of its current one.
    pub context: Option<String>,
}

impl Connection {
    /// A client for the selected cluster and context.
    pub async fn client(&self) -> Result<Client> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let kubeconfig_error = |e: kube::config::KubeconfigError| Error::Kubeconfig(e.to_string());
        let config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
                Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(kubeconfig_error)?
            }
            None if self.context.is_some() => Config::from_kubeconfig(&options)
                .await
                .map_err(kubeconfig_error)?,
            None => Config::infer()
                .await
                .map_err(|e| Error::Kubeconfig(e.to_string()))?,
        };
        Client::try_from(config).map_err(|e| Error::Kubeconfig(e.to_string()))
    }
}

/// What every cluster command works with: a client, the namespace scope
/// and the deadline of the whole operation (`--timeout`).
pub struct Session {
    /// The Kubernetes client.
    pub client: Client,
    /// `-n`: the namespace objects are looked up and created in.
    pub namespace: String,
    /// `-A`: list across all namespaces.
    pub all_namespaces: bool,
    /// `--timeout` as given, for messages.
    pub timeout_text: String,
    deadline: Instant,
    resources: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>,
}

impl Session {
    /// A session whose deadline is `timeout` from now.
    pub fn new(
        client: Client,
        namespace: String,
        all_namespaces: bool,
        timeout: Duration,
        timeout_text: String,
    ) -> Self {
        Self {
            client,
            namespace,
            all_namespaces,
            timeout_text,
            deadline: Instant::now() + timeout,
            resources: HashMap::new(),
        }
    }

    /// When the operation must be over.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// The Flux objects of kind `K` in `namespace`.
    pub fn api<K: FluxKind>(&self, namespace: &str) -> Api<K> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// The Flux objects of kind `K` in the session's scope: `-n`, or every
    /// namespace with `-A`.
    pub fn scoped_api<K: FluxKind>(&self) -> Api<K> {
        if self.all_namespaces {
            Api::all(self.client.clone())
        } else {
            self.api(&self.namespace)
        }
    }

    /// `"<ns>" namespace`, or `any namespace` with `-A`, for messages.
    pub fn scope_text(&self) -> String {
        if self.all_namespaces {
            "any namespace".into()
        } else {
            format!("\"{}\" namespace", self.namespace)
        }
    }

    /// The object `name` of kind `K` in `namespace`, or [`Error::NotFound`].
    pub async fn get<K: FluxKind>(&self, namespace: &str, name: &str) -> Result<K> {
        self.api::<K>(namespace)
            .get_opt(name)
            .await
            .map_err(|e| Error::api(format!("getting {} '{name}'", K::KIND), e))?
            .ok_or_else(|| Error::NotFound {
                kind: K::KIND.name().into(),
                name: name.into(),
                namespace: namespace.into(),
                list_command: Some(K::KIND.get_path().into()),
            })
    }

    /// Lists objects of kind `K` in the session's scope.
    pub async fn list<K: FluxKind>(&self, params: &ListParams) -> Result<Vec<K>> {
        self.scoped_api::<K>()
            .list(params)
            .await
            .map(|list| list.items)
            .map_err(|e| Error::api(format!("listing {} objects", K::KIND), e))
    }

    /// The API resource serving `gvk` (cached per session), or
    /// [`Error::UnknownKind`] when the cluster does not serve it.
    pub async fn resource(
        &mut self,
        gvk: &GroupVersionKind,
    ) -> Result<(ApiResource, ApiCapabilities)> {
        if let Some(found) = self.resources.get(gvk) {
            return Ok(found.clone());
        }
        let found = kube::discovery::pinned_kind(&self.client, gvk)
            .await
            .map_err(|e| match e {
                kube::Error::Api(status) if status.is_not_found() => {
                    Error::UnknownKind(format!("{}/{}", gvk.api_version(), gvk.kind))
                }
                kube::Error::Discovery(_) => {
                    Error::UnknownKind(format!("{}/{}", gvk.api_version(), gvk.kind))
                }
                other => Error::api(format!("discovering {}", gvk.kind), other),
            })?;
        self.resources.insert(gvk.clone(), found.clone());
        Ok(found)
    }

    /// A dynamic object by kind, or `None` when it does not exist.
    pub async fn get_dynamic(
        &mut self,
        gvk: &GroupVersionKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<DynamicObject>> {
        let (resource, capabilities) = self.resource(gvk).await?;
        dynamic_api(&self.client, &resource, &capabilities, namespace)
            .get_opt(name)
            .await
            .map_err(|e| Error::api(format!("getting {} '{name}'", gvk.kind), e))
    }
}

/// An API for a discovered resource: namespaced objects in `namespace`,
/// cluster-scoped objects cluster-wide.
pub fn dynamic_api(
    client: &Client,
    resource: &ApiResource,
    capabilities: &ApiCapabilities,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match (&capabilities.scope, namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, resource),
        _ => Api::all_with(client.clone(), resource),
    }
}
