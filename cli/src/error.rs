//! What can go wrong in a `fluxrs` command, each with the one-line reason the
//! user sees after `✗` and, where one helps, a hint about what to do next.

use std::path::PathBuf;

/// Every failure of a `fluxrs` command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable kubeconfig (file unreadable, unknown context, no cluster).
    #[error("unable to load the kubeconfig: {0}")]
    Kubeconfig(String),
    /// A Kubernetes API call failed.
    #[error("{context}: {message}")]
    Api {
        /// What the CLI was doing, e.g. `listing GitRepository objects`.
        context: String,
        /// The API server's message, or the transport error.
        message: String,
        /// Which kind of failure, to pick a hint.
        class: ApiFailure,
    },
    /// The named object does not exist.
    #[error("{kind} object '{name}' not found in \"{namespace}\" namespace")]
    NotFound {
        /// Kind of the object, e.g. `GitRepository`.
        kind: String,
        /// Its name.
        name: String,
        /// The namespace that was searched.
        namespace: String,
        /// The `fluxrs get ...` words that list objects of this kind, if any.
        list_command: Option<String>,
    },
    /// A list came back empty.
    #[error("no {kind} objects found in {scope}")]
    NoObjects {
        /// Kind of the objects.
        kind: String,
        /// `"<ns>" namespace` or `any namespace`.
        scope: String,
    },
    /// The object is suspended, so it cannot be reconciled.
    #[error("{kind} '{name}' in \"{namespace}\" namespace is suspended")]
    Suspended {
        /// Kind of the object.
        kind: String,
        /// Its name.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The `fluxrs resume ...` words for this kind.
        resume_command: String,
    },
    /// The controller reported a failed reconciliation.
    #[error("{kind} reconciliation failed: '{message}'")]
    ReconciliationFailed {
        /// `Kind/namespace/name` of the object.
        object: String,
        /// Kind of the object.
        kind: String,
        /// The failing condition's message.
        message: String,
    },
    /// Waiting for a controller took longer than `--timeout`.
    #[error("timed out after {timeout} waiting for {what}{}", last_seen(.last))]
    Timeout {
        /// What was being waited for.
        what: String,
        /// The `--timeout` value, as given.
        timeout: String,
        /// The last status message seen, if any.
        last: Option<String>,
        /// `Kind/namespace/name` of the object, for the events hint.
        object: Option<String>,
    },
    /// Some of several resumed objects did not become ready.
    #[error("reconciliation failed for {count} {kind}(s)")]
    ResumeFailed {
        /// How many failed.
        count: usize,
        /// Their kind.
        kind: String,
    },
    /// `fluxrs check` found problems (each was printed as it was found).
    #[error("check failed")]
    CheckFailed,
    /// A flag or argument is invalid in a way clap cannot express.
    #[error("{0}")]
    InvalidArgument(String),
    /// A kind name that is not served by the cluster.
    #[error("the server doesn't have a resource type \"{0}\"")]
    UnknownKind(String),
    /// `why` on an object no Flux object manages.
    #[error(
        "{0} is not managed by Flux: it has no kustomize.toolkit.fluxcd.io or helm.toolkit.fluxcd.io owner labels"
    )]
    NotManaged(String),
    /// Reading a local file failed.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// Writing output (YAML or JSON) failed.
    #[error("unable to encode the output: {0}")]
    Encode(String),
    /// `fluxrs kustomize` failed.
    #[error("{0}")]
    Kustomize(String),
    /// Building a Kustomization failed (kustomize, overrides, substitution).
    #[error("{0}")]
    Build(String),
    /// `diff` failed: exit code 2, like upstream, since 1 means changes.
    #[error(transparent)]
    Diff(Box<Error>),
    /// `diff` found changes: not a failure, but exit code 1 like upstream.
    #[error("identified at least one change, exiting with non-zero exit code")]
    Changes,
}

/// Kinds of API failure that call for different hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFailure {
    /// The API server could not be reached.
    Unreachable,
    /// The request was denied (RBAC).
    Forbidden,
    /// The resource type is not served (CRDs missing).
    NoSuchResource,
    /// Anything else the server refused.
    Other,
}

fn last_seen(last: &Option<String>) -> String {
    last.as_ref()
        .map(|m| format!(" (last status: '{m}')"))
        .unwrap_or_default()
}

impl Error {
    /// Wraps a kube error with what the CLI was doing at the time.
    pub fn api(context: impl Into<String>, err: kube::Error) -> Self {
        let (message, class) = match &err {
            kube::Error::Api(status) => {
                let class = if status.is_forbidden() {
                    ApiFailure::Forbidden
                } else if status.is_not_found() {
                    ApiFailure::NoSuchResource
                } else {
                    ApiFailure::Other
                };
                let message = if status.message.is_empty() {
                    format!("HTTP {}", status.code)
                } else {
                    status.message.clone()
                };
                (message, class)
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) => {
                (err.to_string(), ApiFailure::Unreachable)
            }
            other => (other.to_string(), ApiFailure::Other),
        };
        Self::Api {
            context: context.into(),
            message,
            class,
        }
    }

    /// Whether this is an API error saying the resource type is not served
    /// (a kind whose CRD is not installed).
    pub fn is_missing_resource(&self) -> bool {
        matches!(
            self,
            Self::Api {
                class: ApiFailure::NoSuchResource,
                ..
            }
        )
    }

    /// What the user can do about it, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Kubeconfig(_) => Some(
                "pass --kubeconfig PATH (or set KUBECONFIG), and --context NAME to pick a context"
                    .into(),
            ),
            Self::Api { class, .. } => api_hint(*class),
            Self::NotFound {
                namespace,
                list_command: Some(list),
                ..
            } => Some(format!(
                "list them with 'fluxrs get {list} -n {namespace}', or search every namespace with -A"
            )),
            Self::NotFound { .. } => Some("check the name and the namespace (-n)".into()),
            Self::NoObjects { .. } => Some(
                "check the namespace (-n), search every namespace with -A, or create one with 'fluxrs create'"
                    .into(),
            ),
            Self::Suspended {
                name,
                namespace,
                resume_command,
                ..
            } => Some(format!(
                "resume it with 'fluxrs resume {resume_command} {name} -n {namespace}'"
            )),
            Self::ReconciliationFailed { object, .. } => Some(format!(
                "see what happened with 'fluxrs events --for {}'",
                events_target(object)
            )),
            Self::Timeout { object, .. } => Some(match object {
                Some(object) => format!(
                    "is the controller running? see 'fluxrs events --for {}', or raise --timeout",
                    events_target(object)
                ),
                None => "is the controller running? raise --timeout to wait longer".into(),
            }),
            Self::ResumeFailed { .. } => Some("see 'fluxrs events' for the reasons".into()),
            Self::CheckFailed => Some("fix the problems marked ✗ above, then run 'fluxrs check' again".into()),
            Self::UnknownKind(_) => Some("use a kind the cluster serves, e.g. ConfigMap/NAME or deployment/NAME".into()),
            Self::NotManaged(_) => Some(
                "only objects applied by a Kustomization or a HelmRelease carry owner labels".into(),
            ),
            Self::InvalidArgument(_) => Some("see 'fluxrs help' for the usage".into()),
            Self::Build(_) => Some(
                "check the files under --path; 'fluxrs kustomize DIR' builds them without the Kustomization's overrides".into(),
            ),
            Self::Diff(inner) => inner.hint(),
            Self::Io { .. } | Self::Encode(_) | Self::Kustomize(_) | Self::Changes => None,
        }
    }

    /// The process exit code: 1, except 2 for `diff` errors (1 means that
    /// `diff` found changes), as the flux CLI does.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Diff(_) => 2,
            _ => 1,
        }
    }

    /// Whether this is a warning (`⚠️`) rather than a failure (`✗`).
    pub fn is_warning(&self) -> bool {
        matches!(self, Self::Changes)
    }
}

fn api_hint(class: ApiFailure) -> Option<String> {
    match class {
        ApiFailure::Unreachable => Some(
            "check that the cluster is reachable with the current kubeconfig and context".into(),
        ),
        ApiFailure::Forbidden => {
            Some("your identity lacks the RBAC permissions for this request".into())
        }
        ApiFailure::NoSuchResource => {
            Some("are the Flux CRDs installed? run 'fluxrs check' or 'fluxrs install'".into())
        }
        ApiFailure::Other => None,
    }
}

/// `Kind/namespace/name` → `Kind/name -n namespace`, as `events --for` takes it.
fn events_target(object: &str) -> String {
    let mut parts = object.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(kind), Some(namespace), Some(name)) => format!("{kind}/{name} -n {namespace}"),
        _ => object.to_string(),
    }
}

/// Result of every fallible function of the CLI.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspended_hint_names_the_resume_command() {
        let err = Error::Suspended {
            kind: "GitRepository".into(),
            name: "app".into(),
            namespace: "apps".into(),
            resume_command: "source git".into(),
        };
        assert_eq!(
            err.to_string(),
            "GitRepository 'app' in \"apps\" namespace is suspended"
        );
        assert_eq!(
            err.hint().as_deref(),
            Some("resume it with 'fluxrs resume source git app -n apps'")
        );
    }

    #[test]
    fn failure_hint_points_at_the_object_events() {
        let err = Error::ReconciliationFailed {
            object: "Kustomization/flux-system/apps".into(),
            kind: "Kustomization".into(),
            message: "kustomization path not found".into(),
        };
        assert_eq!(
            err.to_string(),
            "Kustomization reconciliation failed: 'kustomization path not found'"
        );
        assert_eq!(
            err.hint().as_deref(),
            Some("see what happened with 'fluxrs events --for Kustomization/apps -n flux-system'")
        );
    }

    #[test]
    fn timeout_shows_the_last_status() {
        let err = Error::Timeout {
            what: "GitRepository reconciliation".into(),
            timeout: "5s".into(),
            last: Some("building artifact".into()),
            object: None,
        };
        assert_eq!(
            err.to_string(),
            "timed out after 5s waiting for GitRepository reconciliation (last status: 'building artifact')"
        );
    }
}
