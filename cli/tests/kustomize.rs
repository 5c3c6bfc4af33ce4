//! `fluxrs kustomize DIR` against the reference, `kubectl kustomize DIR`, on
//! the fixtures of `tests/fixtures/kustomize`: the same stdout byte for byte,
//! and a failure (exit 1, message on stderr) where kubectl fails. kubectl is
//! required: without it these tests fail, they never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CASES: &[&str] = &[
    "overlay/prod",
    "generators",
    "json-patch",
    "components/base",
];

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kustomize")
        .join(case)
}

fn kubectl_kustomize(dir: &Path) -> Output {
    Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("`kubectl kustomize` is the reference of this test and could not run (is kubectl installed?): {e}")
        })
}

fn fluxrs_kustomize(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fluxrs"))
        .arg("kustomize")
        .arg(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("running fluxrs")
}

#[test]
fn output_is_kubectl_kustomize_byte_for_byte() {
    for case in CASES {
        let dir = fixture(case);
        let theirs = kubectl_kustomize(&dir);
        assert!(
            theirs.status.success(),
            "{case}: kubectl kustomize failed: {}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        let ours = fluxrs_kustomize(&dir);
        assert_eq!(
            ours.status.code(),
            Some(0),
            "{case}: {}",
            String::from_utf8_lossy(&ours.stderr)
        );
        let (ours, theirs) = (
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
        );
        assert!(
            ours == theirs,
            "{case}: fluxrs differs from kubectl:\n{}",
            similar::TextDiff::from_lines(theirs.as_ref(), ours.as_ref())
                .unified_diff()
                .header("kubectl", "fluxrs")
        );
    }
}

#[test]
fn failures_exit_1_with_the_reason_on_stderr() {
    let dir = fixture("err-missing-resource");
    assert!(!kubectl_kustomize(&dir).status.success());
    let ours = fluxrs_kustomize(&dir);
    assert_eq!(ours.status.code(), Some(1));
    assert!(ours.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&ours.stderr);
    assert!(
        stderr.starts_with("✗ kustomize build failed: ") && stderr.contains("missing.yaml"),
        "{stderr}"
    );

    let missing = fluxrs_kustomize(&fixture("no-such-dir"));
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no-such-dir"),
        "{missing:?}"
    );
}
