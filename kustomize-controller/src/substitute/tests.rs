//! Unit tests of post-build substitution. The operator table is checked
//! twice: against our renderer, and (`table_agrees_with_bash`) against the
//! real bash for every case whose semantics come from bash.

use std::collections::BTreeMap;
use std::process::Command;

use fluxrs_api::kustomize::{SubstituteKind, SubstituteStrategy};
use serde_json::json;

use super::*;

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The variables every table case sees; `u` is never defined.
fn table_vars() -> BTreeMap<String, String> {
    vars(&[
        ("x", "abcdef"),
        ("U", "ABCDEF"),
        ("e", ""),
        ("f", "/path/to/file"),
        ("fn", "bash.string.txt"),
        ("s", "abcABC123ABCabc"),
        ("y", "héllo"),
        ("p", "a/b/c"),
        ("q", "a.b.c"),
        ("star", "a*b"),
        ("z", "x[1]"),
        ("w", "a-b"),
    ])
}

/// (template, expected) with bash semantics: `bash -c 'printf %s "<template>"'`
/// prints `expected` with [`table_vars`] in the environment.
const BASH_CASES: &[(&str, &str)] = &[
    ("${x}", "abcdef"),
    ("pre-${x}-post ${e}|", "pre-abcdef-post |"),
    ("${u}", ""),
    // length and case
    ("${#x}", "6"),
    ("${#y}", "5"),
    ("${#e}", "0"),
    ("${#u}", "0"),
    ("${x^}", "Abcdef"),
    ("${x^^}", "ABCDEF"),
    ("${U,}", "aBCDEF"),
    ("${U,,}", "abcdef"),
    ("${y^^}", "HÉLLO"),
    ("${e^}", ""),
    // substrings
    ("${x:2}", "cdef"),
    ("${x: 2}", "cdef"),
    ("${x:2:3}", "cde"),
    ("${x: -3}", "def"),
    ("${x: -3:2}", "de"),
    ("${x:2:-1}", "cde"),
    ("${x:10}", ""),
    ("${x: -10}", ""),
    ("${x:1:0}", ""),
    ("${x:0}", "abcdef"),
    ("${x:6}", ""),
    ("${x:4:10}", "ef"),
    ("${y:1:2}", "él"),
    // prefix and suffix removal
    ("${fn#*.}", "string.txt"),
    ("${fn##*.}", "txt"),
    ("${fn%.*}", "bash.string"),
    ("${fn%%.*}", "bash"),
    ("${f#*/}", "path/to/file"),
    ("${f##*/}", "file"),
    ("${f%/*}", "/path/to"),
    ("${f%%/*}", ""),
    ("${x#*}", "abcdef"),
    ("${x##*}", ""),
    ("${x%*}", "abcdef"),
    ("${x%%*}", ""),
    ("${x#}", "abcdef"),
    ("${x#abc}", "def"),
    ("${x%def}", "abc"),
    ("${x#zzz}", "abcdef"),
    ("${q#*.}", "b.c"),
    ("${q##*.}", "c"),
    ("${q%.*}", "a.b"),
    ("${q%%.*}", "a"),
    ("${s#[a-c]?}", "cABC123ABCabc"),
    ("${s%[[:lower:]]}", "abcABC123ABCab"),
    // replacement
    ("${s/abc/xyz}", "xyzABC123ABCabc"),
    ("${s//abc/xyz}", "xyzABC123ABCxyz"),
    ("${s/#abc/XYZ}", "XYZABC123ABCabc"),
    ("${s/%abc/XYZ}", "abcABC123ABCXYZ"),
    ("${s/a*c/X}", "X"),
    ("${s//[0-9]/#}", "abcABC###ABCabc"),
    ("${s/b?/Z}", "aZABC123ABCabc"),
    ("${s//b/}", "acABC123ABCac"),
    ("${s/#/P}", "PabcABC123ABCabc"),
    ("${s/%/S}", "abcABC123ABCabcS"),
    ("${s/[aA]/_}", "_bcABC123ABCabc"),
    ("${s//[!a-z]/}", "abcabc"),
    ("${s/abc}", "ABC123ABCabc"),
    ("${s//abc/}", "ABC123ABC"),
    ("${s/zzz/y}", "abcABC123ABCabc"),
    ("${p/\\//-}", "a-b/c"),
    ("${p//\\//-}", "a-b-c"),
    ("${q//./-}", "a-b-c"),
    ("${x/*/Z}", "Z"),
    ("${x//?/Z}", "ZZZZZZ"),
    ("${x/#*/Z}", "Z"),
    ("${x/%c*/Z}", "abZ"),
    ("${x/%*/Z}", "Z"),
    ("${x/#/}", "abcdef"),
    ("${x//}", "abcdef"),
    ("${x///Z}", "abcdef"),
    ("${e/*/Z}", "Z"),
    ("${e//*/Z}", "Z"),
    ("${star//\\*/S}", "aSb"),
    ("${star//[*]/S}", "aSb"),
    ("${star#a\\*}", "b"),
    ("${z//[[]/(}", "x(1]"),
    ("${z/[]]/)}", "x[1)"),
    ("${z//[^a-z]/_}", "x___"),
    ("${z//[[:digit:]]/D}", "x[D]"),
    ("${z//[![:alpha:]]/_}", "x___"),
    ("${z//[/Z}", "xZ1]"),
    ("${w//[a-]/Z}", "ZZb"),
    ("${w//[]a]/Z}", "Z-b"),
    ("${x/${x:0:1}/Z}", "Zbcdef"),
    // defaults
    ("${e-def}", ""),
    ("${e:-def}", "def"),
    ("${e=def}", ""),
    ("${e:=def}", "def"),
    ("${u-def}", "def"),
    ("${u:-def}", "def"),
    ("${u=def}", "def"),
    ("${u:=def}", "def"),
    ("${x:-def}", "abcdef"),
    ("${x-def}", "abcdef"),
    ("${u:-}", ""),
    ("${u:-a b: c}", "a b: c"),
    // nesting
    ("${u:-${x}}", "abcdef"),
    ("${u:-pre${x^^}post}", "preABCDEFpost"),
    ("${u:=${e:-inner}}", "inner"),
    ("${u-${u-${x:1:2}}}", "bc"),
];

/// Flux-specific forms bash does not share (`$$` is bash's PID; bash
/// expands `$x`).
const FLUX_CASES: &[(&str, &str)] = &[
    ("$x", "$x"),
    ("$", "$"),
    ("${x}$", "abcdef$"),
    ("$$", "$"),
    ("$$x", "$x"),
    ("$${x}", "${x}"),
    ("a$$b", "a$b"),
    ("$$$${x}", "$${x}"),
    ("$$${x}", "$abcdef"),
    ("$x{x}", "$x{x}"),
    // fluxcd/pkg envsubst's own escaping test
    (
        "some text ${x}$${var$${x}$x${x}",
        "some text abcdef${var${x}$xabcdef",
    ),
    ("something $${var=${x}}", "something ${var=abcdef}"),
    ("${u:-$${x}}", "${x}"),
    ("${p/\\/\\//x}", "a/b/c"),
    ("${x/a/\\/}", "/bcdef"),
    ("${x/a/\\\\}", "\\bcdef"),
    ("\\\\text ${x}", "\\\\text abcdef"),
];

#[test]
fn table_renders() {
    let vars = table_vars();
    for (template, expected) in BASH_CASES.iter().chain(FLUX_CASES) {
        let got = substitute(template, &vars, false)
            .unwrap_or_else(|e| panic!("{template}: unexpected error {e}"));
        assert_eq!(&got, expected, "{template}");
    }
}

#[test]
fn table_agrees_with_bash() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for (template, expected) in BASH_CASES {
        let out = Command::new("bash")
            .env_clear()
            .env("PATH", &path)
            .env("LC_ALL", "C.UTF-8")
            .envs(table_vars())
            .arg("-c")
            .arg(format!("printf '%s' \"{template}\""))
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "{template}: bash failed: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            *expected,
            "{template}: bash disagrees with the table"
        );
    }
}

#[test]
fn strict_mode_refuses_undefined_variables_except_under_defaults() {
    let vars = table_vars();
    for template in [
        "${u}",
        "${#u}",
        "${u^}",
        "${u^^}",
        "${u,}",
        "${u,,}",
        "${u:0}",
        "${u:0:1}",
        "${u/a/b}",
        "${u//a/b}",
        "${u/#a/b}",
        "${u/%a/b}",
        "${u#a}",
        "${u##a}",
        "${u%a}",
        "${u%%a}",
        "${x:-${u}}x${u}",
    ] {
        let err = substitute(template, &vars, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "variable not set (strict mode): \"u\"",
            "{template}"
        );
    }
    for (template, expected) in [
        ("${u:-d}", "d"),
        ("${u-d}", "d"),
        ("${u:=d}", "d"),
        ("${u=d}", "d"),
        ("${e}", ""),
        // A default is evaluated only when used, as in bash.
        ("${x:-${u}}", "abcdef"),
    ] {
        assert_eq!(
            substitute(template, &vars, true).unwrap(),
            expected,
            "{template}"
        );
    }
}

#[test]
fn malformed_expressions_are_errors_with_their_position() {
    let vars = table_vars();
    let cases: &[(&str, SyntaxError)] = &[
        ("${}", SyntaxError::MissingName),
        ("${ x}", SyntaxError::MissingName),
        ("${#}", SyntaxError::MissingName),
        ("${x", SyntaxError::MissingClosingBrace),
        ("${x:-abc", SyntaxError::MissingClosingBrace),
        ("${x/a/b", SyntaxError::MissingClosingBrace),
        ("${x+y}", SyntaxError::Unsupported("+")),
        ("${x:+y}", SyntaxError::Unsupported(":+")),
        ("${x?y}", SyntaxError::Unsupported("?")),
        ("${x:?y}", SyntaxError::Unsupported(":?")),
        ("${x!}", SyntaxError::BadOperator),
        ("${x.y}", SyntaxError::BadOperator),
        ("${x^y}", SyntaxError::BadOperator),
        ("${#x:1}", SyntaxError::BadOperator),
    ];
    for (template, kind) in cases {
        match substitute(template, &vars, false) {
            Err(SubstituteError::Syntax { kind: got, .. }) => assert_eq!(got, *kind, "{template}"),
            other => panic!("{template}: {other:?}"),
        }
    }
    let err = substitute("a: 1\nb: x${}\n", &vars, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid expression at line 2, column 5: missing variable name after '${'"
    );
}

#[test]
fn bad_substrings_are_errors() {
    let vars = table_vars();
    let err = substitute("${x:a}", &vars, false).unwrap_err();
    assert!(
        matches!(err, SubstituteError::NotAnInteger { what: "offset", .. }),
        "{err}"
    );
    let err = substitute("${x:1:b}", &vars, false).unwrap_err();
    assert!(
        matches!(err, SubstituteError::NotAnInteger { what: "length", .. }),
        "{err}"
    );
    // bash: "substring expression < 0"
    let err = substitute("${x:4:-3}", &vars, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the substring of 'x' at line 1, column 1 ends before its offset"
    );
}

#[test]
fn variable_names_are_validated() {
    for name in ["1a", "a-b", "app.name", "é", ""] {
        let err = substitute("x", &vars(&[(name, "v")]), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "'{name}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"
            )
        );
    }
    assert_eq!(
        substitute("${_a1}${B_}", &vars(&[("_a1", "x"), ("B_", "y")]), true).unwrap(),
        "xy"
    );
}

fn source(kind: SubstituteKind, name: &str, data: Option<&[(&str, &str)]>) -> VarSource {
    VarSource {
        kind,
        name: name.to_string(),
        optional: false,
        data: data.map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect()
        }),
    }
}

#[test]
fn vars_from_merges_in_order_and_inline_wins() {
    let merged = vars_from(
        &vars(&[("c", "inline")]),
        vec![
            source(
                SubstituteKind::ConfigMap,
                "first",
                Some(&[("a", "1"), ("b", "1")]),
            ),
            source(
                SubstituteKind::Secret,
                "second",
                Some(&[("b", "2"), ("c", "2")]),
            ),
        ],
    )
    .unwrap();
    assert_eq!(merged, vars(&[("a", "1"), ("b", "2"), ("c", "inline")]));
}

#[test]
fn vars_from_strips_newlines() {
    let merged = vars_from(
        &vars(&[("inline", "x\ny\n")]),
        vec![source(
            SubstituteKind::Secret,
            "s",
            Some(&[("token", "abc\n")]),
        )],
    )
    .unwrap();
    assert_eq!(merged, vars(&[("inline", "xy"), ("token", "abc")]));
}

#[test]
fn vars_from_handles_missing_sources() {
    let mut optional = source(SubstituteKind::ConfigMap, "maybe", None);
    optional.optional = true;
    assert_eq!(
        vars_from(&BTreeMap::new(), vec![optional]).unwrap(),
        BTreeMap::new()
    );

    let err = vars_from(
        &BTreeMap::new(),
        vec![source(SubstituteKind::ConfigMap, "vars", None)],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "substitute from 'ConfigMap/vars' error: not found"
    );
    let err = vars_from(
        &BTreeMap::new(),
        vec![source(SubstituteKind::Secret, "creds", None)],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "substitute from 'Secret/creds' error: not found"
    );
}

#[test]
fn vars_from_refuses_bad_names_and_binary_secrets() {
    let err = vars_from(
        &BTreeMap::new(),
        vec![source(
            SubstituteKind::ConfigMap,
            "cm",
            Some(&[("app.name", "x")]),
        )],
    )
    .unwrap_err();
    assert!(
        matches!(err, SubstituteError::InvalidVarName { .. }),
        "{err}"
    );

    let mut binary = source(SubstituteKind::Secret, "bin", Some(&[]));
    binary.data = Some([("k".to_string(), vec![0xff, 0xfe])].into());
    let err = vars_from(&BTreeMap::new(), vec![binary]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "substitute from 'Secret/bin' error: the value of key 'k' is not valid UTF-8"
    );
}

#[test]
fn var_source_new_reads_the_reference() {
    let reference = fluxrs_api::kustomize::SubstituteReference {
        kind: SubstituteKind::Secret,
        name: "creds".to_string(),
        optional: Some(true),
    };
    let source = VarSource::new(&reference, None);
    assert_eq!(source.kind, SubstituteKind::Secret);
    assert_eq!(source.name, "creds");
    assert!(source.optional);
}

#[test]
fn disabled_by_label_or_annotation() {
    let with = |field: &str, value: &str| json!({"kind": "ConfigMap", "metadata": {"name": "a", field: {SUBSTITUTE_KEY: value}}});
    assert!(is_disabled(&with("labels", "disabled")));
    assert!(is_disabled(&with("annotations", "disabled")));
    assert!(is_disabled(&with("annotations", "Disabled")));
    assert!(!is_disabled(&with("annotations", "enabled")));
    assert!(!is_disabled(
        &json!({"kind": "ConfigMap", "metadata": {"name": "a"}})
    ));
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps", "labels": {"env": "${env:=dev}"}},
        "spec": {
            "replicas": "${replicas}",
            "template": {"spec": {"containers": [{
                "name": "web",
                "image": "ghcr.io/org/web:${tag}",
                "args": ["--literal=$${HOME}", "--shell=$HOME"],
            }]}},
        },
    })
}

#[test]
fn objects_are_substituted_and_retyped() {
    let out = substitute_objects(
        vec![deployment()],
        &vars(&[("replicas", "3"), ("tag", "v1.2.3")]),
        true,
        SubstituteStrategy::WithVariables,
    )
    .unwrap();
    assert_eq!(
        out,
        vec![json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "apps", "labels": {"env": "dev"}},
            "spec": {
                "replicas": 3,
                "template": {"spec": {"containers": [{
                    "name": "web",
                    "image": "ghcr.io/org/web:v1.2.3",
                    "args": ["--literal=${HOME}", "--shell=$HOME"],
                }]}},
            },
        })]
    );
}

#[test]
fn with_variables_strategy_skips_when_no_variable_is_defined() {
    let out = substitute_objects(
        vec![deployment()],
        &BTreeMap::new(),
        true,
        SubstituteStrategy::WithVariables,
    )
    .unwrap();
    assert_eq!(out, vec![deployment()]);
}

#[test]
fn always_strategy_substitutes_without_variables() {
    let config = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-vars", "namespace": "apps", "labels": {"environment": "${cluster_env:=dev}"}},
        "data": {"region": "${cluster_region:=eu-central-1}"},
    });
    let out = substitute_objects(
        vec![config],
        &BTreeMap::new(),
        true,
        SubstituteStrategy::Always,
    )
    .unwrap();
    assert_eq!(out[0]["metadata"]["labels"]["environment"], "dev");
    assert_eq!(out[0]["data"]["region"], "eu-central-1");

    let err = substitute_objects(
        vec![deployment()],
        &BTreeMap::new(),
        true,
        SubstituteStrategy::Always,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "variable substitution failed for Deployment/apps/web: variable not set (strict mode): \"replicas\""
    );
}

#[test]
fn non_strict_renders_undefined_variables_empty() {
    let out = substitute_objects(
        vec![deployment()],
        &vars(&[("tag", "v1")]),
        false,
        SubstituteStrategy::WithVariables,
    )
    .unwrap();
    assert_eq!(out[0]["spec"]["replicas"], Value::Null);
}

#[test]
fn disabled_objects_are_left_alone() {
    let mut obj = deployment();
    obj["metadata"]["annotations"] = json!({SUBSTITUTE_KEY: "disabled"});
    let out = substitute_objects(
        vec![obj.clone()],
        &vars(&[("replicas", "3")]),
        true,
        SubstituteStrategy::Always,
    )
    .unwrap();
    assert_eq!(out, vec![obj]);
}

#[test]
fn results_that_are_not_yaml_are_refused_naming_the_object() {
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "${v}"}});
    let err = substitute_objects(
        vec![obj],
        &vars(&[("v", "[unclosed")]),
        true,
        SubstituteStrategy::WithVariables,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("ConfigMap/c: the substituted YAML is invalid: "),
        "{err}"
    );
}

#[test]
fn errors_never_quote_the_document() {
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
        "stringData": {"password": "hunter2 ${ oops"},
    });
    let err = substitute_objects(
        vec![secret],
        &vars(&[("a", "b")]),
        true,
        SubstituteStrategy::WithVariables,
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        message.starts_with(
            "variable substitution failed for Secret/ns/s: invalid expression at line"
        ),
        "{message}"
    );
}

#[test]
fn var_source_debug_hides_values() {
    let source = source(
        SubstituteKind::Secret,
        "creds",
        Some(&[("password", "hunter2")]),
    );
    let debug = format!("{source:?}");
    assert!(debug.contains("password"), "{debug}");
    assert!(!debug.contains("hunter2"), "{debug}");
}
