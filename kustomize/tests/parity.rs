//! Parity with the reference: every fixture under `tests/fixtures/<case>/`
//! is built by this engine and by `kubectl kustomize` (kustomize v5.5.0),
//! and the outputs must be identical byte for byte. Each case also stores
//! kubectl's output as `expected.yaml`, so a change of the reference tool is
//! noticed too; regenerate them with
//! `FLUXRS_UPDATE_PARITY=1 cargo test -p fluxrs-kustomize --test parity`.
//! Cases named `err-*` must fail with both tools; their
//! `expected-error.txt` holds a fragment our error message must contain.
//!
//! `kubectl` is required: without it the test fails rather than skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

use fluxrs_kustomize::fs::DiskFs;
use fluxrs_kustomize::yaml::parse_documents;
use fluxrs_kustomize::{build, to_yaml};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn kubectl_kustomize(dir: &Path) -> Result<String, String> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run kubectl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn require_kubectl() {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the parity suite needs `kubectl` (with kustomize v5.5.0) on PATH; install it \
         (xtask test installs the cluster binaries) — refusing to skip"
    );
}

/// The path of the first difference between two values.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(xv), Some(yv)) => {
                        if let Some(d) = first_difference(xv, yv, &p) {
                            return Some(d);
                        }
                    }
                    _ => return Some(p),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path} (length {} vs {})", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (xv, yv))| first_difference(xv, yv, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

/// Explains how `new` differs from `old` (`labels`: old, new).
fn describe_mismatch(new: &str, old: &str, labels: (&str, &str)) -> String {
    let mut msg = String::new();
    match (parse_documents(new), parse_documents(old)) {
        (Ok(a), Ok(b)) if a.len() != b.len() => {
            msg.push_str(&format!(
                "document count: {} {} vs {} {}\n",
                labels.1,
                a.len(),
                labels.0,
                b.len()
            ));
        }
        (Ok(a), Ok(b)) => {
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                if let Some(d) = first_difference(x, y, "") {
                    msg.push_str(&format!("document {i}: first difference at {d}\n"));
                    break;
                }
            }
        }
        _ => msg.push_str("(outputs could not both be parsed)\n"),
    }
    let diff = similar::TextDiff::from_lines(old, new);
    msg.push_str(&format!("--- {}\n+++ {}\n", labels.0, labels.1));
    msg.push_str(&diff.unified_diff().context_radius(3).to_string());
    msg
}

fn check_case(root: &Path, name: &str) -> Result<(), String> {
    let dir = root.join(name);
    let fs = DiskFs::new(root).map_err(|e| e.to_string())?;
    let ours = build(&fs, name).map(|r| to_yaml(&r));
    let theirs = kubectl_kustomize(&dir);
    if name.starts_with("err-") {
        let expected = std::fs::read_to_string(dir.join("expected-error.txt"))
            .map_err(|e| format!("{name}: expected-error.txt: {e}"))?;
        return match (ours, theirs) {
            (Err(e), Err(_)) if e.to_string().contains(expected.trim()) => Ok(()),
            (Err(e), Err(_)) => Err(format!(
                "{name}: error {:?} does not contain {:?}",
                e.to_string(),
                expected.trim()
            )),
            (Ok(_), _) => Err(format!("{name}: we succeeded, kustomize must fail")),
            (_, Ok(_)) => Err(format!(
                "{name}: kubectl succeeded, the case is not an error case"
            )),
        };
    }
    let theirs = theirs.map_err(|e| format!("{name}: kubectl kustomize failed:\n{e}"))?;
    let expected_path = dir.join("expected.yaml");
    if std::env::var_os("FLUXRS_UPDATE_PARITY").is_some() {
        std::fs::write(&expected_path, &theirs).map_err(|e| format!("{name}: {e}"))?;
    }
    let expected = std::fs::read_to_string(&expected_path).map_err(|e| {
        format!("{name}: expected.yaml: {e} (regenerate with FLUXRS_UPDATE_PARITY=1)")
    })?;
    if expected != theirs {
        return Err(format!(
            "{name}: kubectl kustomize no longer produces expected.yaml (a different kustomize?)\n{}",
            describe_mismatch(&theirs, &expected, ("expected.yaml", "kubectl kustomize"))
        ));
    }
    let ours = ours.map_err(|e| format!("{name}: we failed: {e}"))?;
    if ours == theirs {
        Ok(())
    } else {
        Err(format!(
            "{name}: output differs\n{}",
            describe_mismatch(&ours, &theirs, ("kubectl kustomize", "fluxrs-kustomize"))
        ))
    }
}

#[test]
fn fixtures_match_kubectl_kustomize() {
    require_kubectl();
    let root = fixtures();
    let mut cases: Vec<String> = std::fs::read_dir(&root)
        .expect("fixtures directory")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "expected the fixture corpus, found {} cases",
        cases.len()
    );
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check_case(&root, c).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from kubectl kustomize:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
