//! Where and as whom a Kustomization's objects are applied: the controller's
//! own identity, an impersonated service account (`spec.serviceAccountName`,
//! else `--default-service-account`), or a remote cluster from a kubeconfig
//! Secret (`spec.kubeConfig`), itself optionally impersonated.
//!
//! Reading sources, substitution inputs and decryption keys, and writing
//! status and events, always use the controller's identity, as upstream.

use std::collections::HashMap;
use std::sync::Mutex;

use fluxrs_api::kustomize::Kustomization;
use fluxrs_runtime::flags::RuntimeArgs;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};

use crate::apply::api_message;

/// Keys tried, in order, when `kubeConfig.secretRef.key` is not set.
const KUBECONFIG_KEYS: &[&str] = &["value", "value.yaml"];

/// Why no client could be made for a Kustomization.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The kubeconfig Secret could not be read.
    #[error("failed to get kubeconfig secret '{namespace}/{name}': {message}")]
    SecretUnreadable {
        /// Secret namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// API error.
        message: String,
    },
    /// None of the keys is in the Secret.
    #[error("kubeconfig secret '{namespace}/{name}' has no key {keys}")]
    KeyMissing {
        /// Secret namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// The keys looked for.
        keys: String,
    },
    /// The kubeconfig does not parse or names no usable cluster.
    #[error("invalid kubeconfig in secret '{name}': {message}")]
    InvalidKubeConfig {
        /// Secret name.
        name: String,
        /// Parser or loader error.
        message: String,
    },
    /// `kubeConfig.configMapRef` (cloud workload identity).
    #[error(
        "kubeConfig.configMapRef (cloud provider authentication) is not supported by flux-rs yet; use kubeConfig.secretRef"
    )]
    ConfigMapRefUnsupported,
    /// The client could not be built.
    #[error("failed to build a client for {target}: {message}")]
    Client {
        /// Description of the target.
        target: String,
        /// Builder error.
        message: String,
    },
}

/// The client that applies one Kustomization and what it acts as.
pub struct Target {
    /// Client for apply, prune and health checks.
    pub client: Client,
    /// The impersonated service account (`namespace`, `name`), if any.
    pub service_account: Option<(String, String)>,
    /// Whether the client talks to another cluster (no shared watches or
    /// discovery cache).
    pub remote: bool,
}

/// Makes and caches the clients Kustomizations are applied with.
pub struct Targets {
    config: Config,
    own: Client,
    runtime: RuntimeArgs,
    default_service_account: Option<String>,
    impersonating: Mutex<HashMap<String, Client>>,
}

impl Targets {
    /// Clients derived from the controller's `config` and client `own`.
    pub fn new(config: Config, own: Client, runtime: RuntimeArgs) -> Self {
        let default_service_account =
            Some(runtime.default_service_account.clone()).filter(|sa| !sa.is_empty());
        Self {
            config,
            own,
            runtime,
            default_service_account,
            impersonating: Mutex::default(),
        }
    }

    /// The service account a Kustomization is applied as, if any.
    pub fn service_account(&self, obj: &Kustomization) -> Option<(String, String)> {
        let name = obj
            .spec
            .service_account_name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| self.default_service_account.clone())?;
        Some((obj.namespace().unwrap_or_default(), name))
    }

    /// The client for `obj`.
    pub async fn for_kustomization(&self, obj: &Kustomization) -> Result<Target, TargetError> {
        let service_account = self.service_account(obj);
        if let Some(reference) = &obj.spec.kube_config {
            let config = self.remote_config(obj, reference).await?;
            let client = self.build(config, service_account.as_ref(), "the remote cluster")?;
            return Ok(Target {
                client,
                service_account,
                remote: true,
            });
        }
        let client = match &service_account {
            None => self.own.clone(),
            Some((namespace, name)) => {
                let key = format!("{namespace}/{name}");
                let cached = self
                    .impersonating
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&key)
                    .cloned();
                match cached {
                    Some(client) => client,
                    None => {
                        let client = self.build(
                            self.config.clone(),
                            service_account.as_ref(),
                            "the local cluster",
                        )?;
                        self.impersonating
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(key, client.clone());
                        client
                    }
                }
            }
        };
        Ok(Target {
            client,
            service_account,
            remote: false,
        })
    }

    /// Whether the impersonated service account still exists (deletion is
    /// skipped when it does not, as upstream).
    pub async fn service_account_exists(&self, namespace: &str, name: &str) -> bool {
        Api::<ServiceAccount>::namespaced(self.own.clone(), namespace)
            .get_opt(name)
            .await
            .map(|sa| sa.is_some())
            .unwrap_or(true)
    }

    fn build(
        &self,
        mut config: Config,
        service_account: Option<&(String, String)>,
        target: &str,
    ) -> Result<Client, TargetError> {
        if let Some((namespace, name)) = service_account {
            config.auth_info.impersonate =
                Some(format!("system:serviceaccount:{namespace}:{name}"));
        }
        fluxrs_runtime::client::client_from(config, &self.runtime).map_err(|e| {
            TargetError::Client {
                target: target.to_string(),
                message: e.to_string(),
            }
        })
    }

    async fn remote_config(
        &self,
        obj: &Kustomization,
        reference: &fluxrs_api::meta::KubeConfigReference,
    ) -> Result<Config, TargetError> {
        let Some(secret_ref) = &reference.secret_ref else {
            return Err(TargetError::ConfigMapRefUnsupported);
        };
        let namespace = obj.namespace().unwrap_or_default();
        let name = secret_ref.name.clone();
        let secret = Api::<Secret>::namespaced(self.own.clone(), &namespace)
            .get(&name)
            .await
            .map_err(|e| TargetError::SecretUnreadable {
                namespace: namespace.clone(),
                name: name.clone(),
                message: api_message(&e),
            })?;
        let data = secret.data.unwrap_or_default();
        let keys: Vec<&str> = match &secret_ref.key {
            Some(key) => vec![key.as_str()],
            None => KUBECONFIG_KEYS.to_vec(),
        };
        let bytes =
            keys.iter()
                .find_map(|k| data.get(*k))
                .ok_or_else(|| TargetError::KeyMissing {
                    namespace,
                    name: name.clone(),
                    keys: keys.join(" or "),
                })?;
        let invalid = |message: String| TargetError::InvalidKubeConfig {
            name: name.clone(),
            message,
        };
        let text = std::str::from_utf8(&bytes.0).map_err(|e| invalid(e.to_string()))?;
        let kubeconfig = Kubeconfig::from_yaml(text).map_err(|e| invalid(e.to_string()))?;
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| invalid(e.to_string()))
    }
}
