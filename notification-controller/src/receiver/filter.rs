//! CEL filters choosing which of a Receiver's resources a call reconciles.
//!
//! `spec.resourceFilter` and each `spec.resources[].filter` are CEL
//! expressions over `res` (the resource's `apiVersion`, `kind` and
//! `metadata`) and `req` (the call's JSON body; `{}` unless the call says
//! `Content-Type: application/json`). A resource is annotated only when
//! every filter that applies to it is true: upstream ANDs the two fields.
//!
//! The Receiver reconciler checks the expressions ([`Filters::compile`]);
//! an invalid one stalls the Receiver, so calls get 503 rather than
//! failing per call. The call handler compiles them again (parsing is
//! cheap) from the cached Receiver it serves.

use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use fluxrs_api::notification::ReceiverSpec;
use fluxrs_cel::{Activation, CelError, Program};

/// The variables a filter may use.
const VARIABLES: &[&str] = &["res", "req"];

/// Why filtering could not be done.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// An expression that does not parse or names another variable.
    #[error("invalid CEL expression in {field}: {error}")]
    Compile {
        /// The spec field holding the expression.
        field: String,
        /// What is wrong with it.
        error: CelError,
    },
    /// The body is declared JSON but does not parse.
    #[error("failed to parse request body as JSON: {0}")]
    Body(String),
    /// An expression failed, or was not a bool, for one resource.
    #[error("failed to evaluate {field} for {resource}: {error}")]
    Evaluate {
        /// The spec field holding the expression.
        field: String,
        /// `Kind/namespace/name` of the resource.
        resource: String,
        /// The evaluation error.
        error: CelError,
    },
}

/// A compiled filter and the spec field it came from.
struct Filter {
    field: String,
    program: Program,
}

/// A Receiver's compiled filters.
pub struct Filters {
    receiver: Option<Filter>,
    entries: Vec<Option<Filter>>,
}

impl Filters {
    /// Compiles `spec.resourceFilter` and every `spec.resources[].filter`,
    /// refusing variables other than `res` and `req` as cel-go does.
    pub fn compile(spec: &ReceiverSpec) -> Result<Self, FilterError> {
        let receiver = spec
            .resource_filter
            .as_deref()
            .map(|source| compile("spec.resourceFilter", source))
            .transpose()?;
        let entries = spec
            .resources
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let field = format!("spec.resources[{i}].filter");
                entry
                    .filter
                    .as_deref()
                    .map(|s| compile(&field, s))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        Ok(Filters { receiver, entries })
    }

    fn is_empty(&self) -> bool {
        self.receiver.is_none() && self.entries.iter().all(Option::is_none)
    }
}

fn compile(field: &str, source: &str) -> Result<Filter, FilterError> {
    let program = Program::compile(source)
        .and_then(|program| program.check_variables(VARIABLES).map(|()| program))
        .map_err(|error| FilterError::Compile {
            field: field.to_string(),
            error,
        })?;
    Ok(Filter {
        field: field.to_string(),
        program,
    })
}

/// The filters of one webhook call, bound to its body.
pub struct CallFilter {
    filters: Filters,
    req: Activation,
}

impl CallFilter {
    /// The filters of `spec` for a call with `headers` and `body`, or
    /// `None` when the Receiver has no filter (the body is then not read).
    pub fn new(
        spec: &ReceiverSpec,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Option<Self>, FilterError> {
        let filters = Filters::compile(spec)?;
        if filters.is_empty() {
            return Ok(None);
        }
        let req = if is_json(headers) {
            serde_json::from_slice(body).map_err(|e| FilterError::Body(e.to_string()))?
        } else {
            serde_json::json!({})
        };
        Ok(Some(CallFilter {
            filters,
            req: Activation::new().with("req", &req),
        }))
    }

    /// Whether the resource `res` (its `apiVersion`, `kind` and
    /// `metadata`) of the `entry`-th `spec.resources` item passes every
    /// filter that applies to it.
    pub fn accepts(&self, entry: usize, res: &serde_json::Value) -> Result<bool, FilterError> {
        let mut vars = self.req.clone();
        vars.insert("res", res);
        let applicable = [
            self.filters.receiver.as_ref(),
            self.filters.entries.get(entry).and_then(Option::as_ref),
        ];
        for filter in applicable.into_iter().flatten() {
            let accepted =
                filter
                    .program
                    .evaluate_bool(&vars)
                    .map_err(|error| FilterError::Evaluate {
                        field: filter.field.clone(),
                        resource: describe(res),
                        error,
                    })?;
            if !accepted {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Whether any `Content-Type` media type is `application/json`.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONTENT_TYPE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let media = t.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/json")
        })
}

/// `Kind/namespace/name` of a resource value, for messages.
fn describe(res: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    format!(
        "{}/{}/{}",
        text(&res["kind"]),
        text(&res["metadata"]["namespace"]),
        text(&res["metadata"]["name"])
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxrs_api::notification::{ReceiverResource, ReceiverType};
    use serde_json::json;

    fn spec(resource_filter: Option<&str>, entry_filter: Option<&str>) -> ReceiverSpec {
        let entry: ReceiverResource = serde_json::from_value(json!({
            "kind": "GitRepository", "name": "*", "matchLabels": {"app": "x"}, "filter": entry_filter
        }))
        .expect("resource");
        ReceiverSpec {
            r#type: ReceiverType::Generic,
            interval: None,
            events: None,
            resources: vec![entry],
            resource_filter: resource_filter.map(str::to_string),
            secret_ref: None,
            oidc_providers: None,
            suspend: None,
        }
    }

    fn res(name: &str) -> serde_json::Value {
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": name, "namespace": "apps"}})
    }

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().expect("header"),
        );
        headers
    }

    #[test]
    fn filters_are_anded() {
        let spec = spec(
            Some("req.ref == 'refs/heads/main'"),
            Some("res.metadata.name != 'skip'"),
        );
        let body = br#"{"ref": "refs/heads/main"}"#;
        let filter = CallFilter::new(&spec, &json_headers(), body)
            .unwrap()
            .expect("filters");
        assert!(filter.accepts(0, &res("app")).unwrap());
        assert!(!filter.accepts(0, &res("skip")).unwrap());
        let other = br#"{"ref": "refs/heads/dev"}"#;
        let filter = CallFilter::new(&spec, &json_headers(), other)
            .unwrap()
            .expect("filters");
        assert!(!filter.accepts(0, &res("app")).unwrap());
    }

    #[test]
    fn non_json_bodies_are_an_empty_req() {
        let spec = spec(Some("size(req) == 0"), None);
        let filter = CallFilter::new(&spec, &HeaderMap::new(), b"not json")
            .unwrap()
            .expect("filters");
        assert!(filter.accepts(0, &res("app")).unwrap());
        let error = CallFilter::new(&spec, &json_headers(), b"not json")
            .err()
            .expect("error");
        assert!(matches!(error, FilterError::Body(_)), "{error}");
    }

    #[test]
    fn no_filters_means_no_filtering() {
        assert!(
            CallFilter::new(&spec(None, None), &json_headers(), b"{")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn invalid_expressions_name_their_field() {
        let error = Filters::compile(&spec(Some("res.metadata.name =="), None))
            .err()
            .expect("error");
        assert_eq!(
            error.to_string(),
            "invalid CEL expression in spec.resourceFilter: syntax error at line 1, column 21: unexpected end of expression"
        );
        let error = Filters::compile(&spec(None, Some("resource.name == 'x'")))
            .err()
            .expect("error");
        assert_eq!(
            error.to_string(),
            "invalid CEL expression in spec.resources[0].filter: undeclared reference to 'resource'"
        );
    }

    #[test]
    fn evaluation_errors_name_the_resource() {
        let spec = spec(Some("req.ref == 'x'"), None);
        let filter = CallFilter::new(&spec, &json_headers(), b"{}")
            .unwrap()
            .expect("filters");
        assert_eq!(
            filter.accepts(0, &res("app")).unwrap_err().to_string(),
            "failed to evaluate spec.resourceFilter for GitRepository/apps/app: no such key: ref"
        );
    }
}
