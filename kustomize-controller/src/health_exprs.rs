//! `spec.healthCheckExprs`: CEL expressions that say when objects of a kind
//! are healthy, for custom resources kstatus cannot judge. For an object of a
//! matching group (and kind, when set), `inProgress`, then `failed`, then
//! `current` are evaluated with the object's top-level fields as variables;
//! the first that holds decides, and none holding means still in progress.
//! An expression that cannot be evaluated yet (typically `status` not written
//! by the object's controller so far) also means in progress, with the error
//! in the message, so the timeout names it.

use fluxrs_api::meta::CustomHealthCheck;
use fluxrs_cel::{Activation, CelError, Program};
use serde_json::Value;

use crate::health::Health;

/// Condition reason for an expression that does not compile.
pub const INVALID_CEL_EXPRESSION: &str = "InvalidCELExpression";

/// One compiled `healthCheckExprs` entry.
pub struct HealthExpr {
    group: String,
    kind: Option<String>,
    current: Program,
    in_progress: Option<Program>,
    failed: Option<Program>,
}

/// An expression that failed to compile, named by its place in the spec.
#[derive(Debug, thiserror::Error)]
#[error("healthCheckExprs[{index}].{field}: {source}")]
pub struct InvalidExpr {
    index: usize,
    field: &'static str,
    source: CelError,
}

/// Compiles every entry, failing on the first invalid expression.
pub fn compile(checks: &[CustomHealthCheck]) -> Result<Vec<HealthExpr>, InvalidExpr> {
    checks
        .iter()
        .enumerate()
        .map(|(index, check)| {
            let program = |field: &'static str, source: &str| {
                Program::compile(source).map_err(|source| InvalidExpr {
                    index,
                    field,
                    source,
                })
            };
            let optional = |field: &'static str, source: &Option<String>| {
                source.as_deref().map(|s| program(field, s)).transpose()
            };
            Ok(HealthExpr {
                group: group_of(&check.api_version).to_string(),
                kind: check.kind.clone(),
                current: program("current", &check.current)?,
                in_progress: optional("inProgress", &check.in_progress)?,
                failed: optional("failed", &check.failed)?,
            })
        })
        .collect()
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// The expression set for `object`'s kind, if any.
pub fn find<'a>(exprs: &'a [HealthExpr], object: &Value) -> Option<&'a HealthExpr> {
    let api_version = object.get("apiVersion").and_then(Value::as_str)?;
    let kind = object.get("kind").and_then(Value::as_str)?;
    exprs
        .iter()
        .find(|e| e.group == group_of(api_version) && e.kind.as_deref().is_none_or(|k| k == kind))
}

impl HealthExpr {
    /// The health of `object` by these expressions.
    pub fn health(&self, object: &Value) -> Health {
        let vars = Activation::from_object(object);
        let holds = |program: &Program| program.evaluate_bool(&vars);
        let checks = [
            (self.in_progress.as_ref(), "inProgress"),
            (self.failed.as_ref(), "failed"),
            (Some(&self.current), "current"),
        ];
        for (program, field) in checks {
            let Some(program) = program else { continue };
            match holds(program) {
                Ok(true) => {
                    let message = format!("healthCheckExprs {field} expression holds");
                    return match field {
                        "current" => Health::Current,
                        "failed" => Health::Failed(message),
                        _ => Health::InProgress(message),
                    };
                }
                Ok(false) => {}
                Err(error) => {
                    return Health::InProgress(format!(
                        "healthCheckExprs {field} expression '{}' failed: {error}",
                        program.source()
                    ));
                }
            }
        }
        Health::InProgress("healthCheckExprs current expression does not hold yet".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn certificate_checks() -> Vec<CustomHealthCheck> {
        vec![CustomHealthCheck {
            api_version: "cert-manager.io/v1".into(),
            kind: Some("Certificate".into()),
            current: "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"
                .into(),
            in_progress: None,
            failed: Some(
                "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')".into(),
            ),
        }]
    }

    fn certificate(ready: &str) -> Value {
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "web"},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}
        })
    }

    #[test]
    fn expressions_decide_health_of_matching_kinds() {
        let exprs = compile(&certificate_checks()).unwrap();
        let check = find(&exprs, &certificate("True")).unwrap();
        assert_eq!(check.health(&certificate("True")), Health::Current);
        assert!(matches!(
            check.health(&certificate("False")),
            Health::Failed(_)
        ));
        assert!(matches!(
            check.health(&certificate("Unknown")),
            Health::InProgress(_)
        ));
        let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        assert!(find(&exprs, &other).is_none());
    }

    #[test]
    fn evaluation_errors_wait_naming_the_expression() {
        let exprs = compile(&certificate_checks()).unwrap();
        let object = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate"});
        match find(&exprs, &object).unwrap().health(&object) {
            Health::InProgress(message) => {
                assert!(message.contains("failed expression"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_expressions_are_refused_with_their_place() {
        let mut checks = certificate_checks();
        checks[0].current = "status.conditions.filter(".into();
        let error = compile(&checks).err().unwrap().to_string();
        assert!(error.starts_with("healthCheckExprs[0].current:"), "{error}");
    }
}
