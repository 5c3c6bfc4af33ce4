//! Decryption of files encrypted by the real `sops` v3.13.3 with keys made
//! by the real `age-keygen` (`tests/fixtures/sops/generate.sh`), compared
//! with what `sops --decrypt` printed for them (`expected/`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sops")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn keys(files: &[&str]) -> Keys {
    let data: BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|f| (format!("{f}.agekey"), fixture(&format!("keys/{f}.agekey"))))
        .collect();
    Keys::from_secret_data("flux-system/sops-keys", &data).unwrap()
}

fn test_key() -> Keys {
    keys(&["throwaway-test-1"])
}

fn yaml_docs(bytes: &[u8]) -> Vec<serde_yaml_ng::Value> {
    serde_yaml_ng::Deserializer::from_slice(bytes)
        .map(|d| <serde_yaml_ng::Value as serde::Deserialize>::deserialize(d).unwrap())
        .collect()
}

fn assert_same_yaml(encrypted: &str, expected: &str, keys: &Keys) {
    let out = decrypt_file(Format::Yaml, &fixture(encrypted), keys)
        .unwrap_or_else(|e| panic!("{encrypted}: {e}"));
    assert_eq!(
        yaml_docs(&out),
        yaml_docs(&fixture(expected)),
        "{encrypted}"
    );
}

#[test]
fn yaml_secret_with_encrypted_regex() {
    assert_same_yaml("secret.enc.yaml", "expected/secret.yaml", &test_key());
}

#[test]
fn yaml_with_every_scalar_type_and_the_default_rule() {
    assert_same_yaml("types.enc.yaml", "expected/types.yaml", &test_key());
}

#[test]
fn yaml_stream_with_two_documents() {
    assert_same_yaml("multi.enc.yaml", "expected/multi.yaml", &test_key());
}

#[test]
fn yaml_with_each_encryption_rule() {
    for rule in [
        "encrypted-suffix",
        "unencrypted-suffix",
        "unencrypted-regex",
        "mac-only-encrypted",
    ] {
        assert_same_yaml(
            &format!("{rule}.enc.yaml"),
            &format!("expected/{rule}.yaml"),
            &test_key(),
        );
    }
}

#[test]
fn json_is_byte_for_byte_what_sops_prints() {
    for name in ["secret", "types"] {
        let out = decrypt_file(
            Format::Json,
            &fixture(&format!("{name}.enc.json")),
            &test_key(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(fixture(&format!("expected/{name}.json"))).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn dotenv_is_byte_for_byte_what_sops_prints() {
    let out = decrypt_file(Format::Dotenv, &fixture("app.enc.env"), &test_key()).unwrap();
    assert_eq!(out, fixture("expected/app.env"));
}

#[test]
fn binary_is_byte_for_byte_the_original() {
    let out = decrypt_file(Format::Binary, &fixture("blob.enc.json"), &test_key()).unwrap();
    assert_eq!(out, fixture("plain/blob.bin"));
}

#[test]
fn any_recipient_decrypts() {
    assert_same_yaml(
        "two-recipients.enc.yaml",
        "expected/two-recipients.yaml",
        &keys(&["throwaway-test-2"]),
    );
    assert_same_yaml(
        "two-recipients.enc.yaml",
        "expected/two-recipients.yaml",
        &keys(&["throwaway-unrelated", "throwaway-test-2"]),
    );
}

#[test]
fn a_wrong_key_fails_and_names_the_recipients() {
    let err = decrypt_file(
        Format::Yaml,
        &fixture("secret.enc.yaml"),
        &keys(&["throwaway-unrelated"]),
    )
    .unwrap_err();
    let message = err.to_string();
    let recipient = String::from_utf8(fixture("keys/throwaway-test-1.agekey"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();
    assert!(matches!(err, DecryptError::DataKey(_)), "{message}");
    assert!(message.contains(&recipient), "{message}");
    assert!(!message.contains("AGE-SECRET-KEY"), "{message}");
}

#[test]
fn no_key_at_all_fails() {
    let empty = Keys::from_secret_data("ns/empty", &BTreeMap::new()).unwrap();
    assert!(empty.is_empty());
    let err = decrypt_file(Format::Yaml, &fixture("secret.enc.yaml"), &empty).unwrap_err();
    assert!(matches!(err, DecryptError::DataKey(_)), "{err}");
}

#[test]
fn a_modified_unencrypted_value_fails_mac_verification() {
    let err = decrypt_file(
        Format::Yaml,
        &fixture("tampered-unencrypted.enc.yaml"),
        &test_key(),
    )
    .unwrap_err();
    assert!(matches!(err, DecryptError::MacMismatch), "{err}");
}

#[test]
fn swapped_encrypted_values_fail_authentication() {
    let err = decrypt_file(
        Format::Yaml,
        &fixture("tampered-swapped.enc.yaml"),
        &test_key(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the value at 'stringData:password:' failed authentication: it was modified or moved"
    );
}

#[test]
fn comment_rules_are_refused_clearly() {
    let err = decrypt_file(
        Format::Yaml,
        &fixture("encrypted-comment-regex.enc.yaml"),
        &test_key(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "sops files using encrypted_comment_regex are not supported"
    );
}

#[test]
fn unencrypted_files_pass_through() {
    for (format, name) in [
        (Format::Yaml, "plain/secret.yaml"),
        (Format::Json, "plain/types.json"),
        (Format::Dotenv, "plain/app.env"),
        (Format::Binary, "plain/blob.bin"),
    ] {
        let plain = fixture(name);
        assert_eq!(
            decrypt_file(format, &plain, &test_key()).unwrap(),
            plain,
            "{name}"
        );
    }
}

#[test]
fn ini_is_refused_only_when_encrypted() {
    assert_eq!(Format::for_path("app.ini"), Format::Ini);
    assert_eq!(
        decrypt_file(Format::Ini, b"[app]\nk=v\n", &test_key()).unwrap(),
        b"[app]\nk=v\n"
    );
    let err = decrypt_file(Format::Ini, b"[sops]\nmac=x\n", &test_key()).unwrap_err();
    assert_eq!(err.to_string(), "sops INI files are not supported");
}

#[test]
fn formats_follow_file_names() {
    assert_eq!(Format::for_path("a/b.yaml"), Format::Yaml);
    assert_eq!(Format::for_path("b.yml"), Format::Yaml);
    assert_eq!(Format::for_path("b.json"), Format::Json);
    assert_eq!(Format::for_path(".dockerconfigjson"), Format::Json);
    assert_eq!(Format::for_path("b.env"), Format::Dotenv);
    assert_eq!(Format::for_path("tls.crt"), Format::Binary);
}

/// The encrypted manifest as kustomize hands it over: parsed, keys sorted,
/// and a namespace and label added by the kustomization.
fn built(name: &str) -> Value {
    let text = String::from_utf8(fixture(name)).unwrap();
    let mut obj = fluxrs_kustomize::yaml::parse_documents(&text)
        .unwrap()
        .remove(0);
    obj["metadata"]["namespace"] = json!("prod");
    obj["metadata"]["labels"]["team"] = json!("payments");
    obj
}

#[test]
fn built_secrets_are_decrypted_despite_kustomize_changes() {
    let out = decrypt_object(built("secret.enc.yaml"), &test_key()).unwrap();
    let plain = fluxrs_kustomize::yaml::parse_documents(
        &String::from_utf8(fixture("plain/secret.yaml")).unwrap(),
    )
    .unwrap()
    .remove(0);
    assert_eq!(out["stringData"], plain["stringData"]);
    assert_eq!(out["data"], plain["data"]);
    assert_eq!(out["metadata"]["namespace"], "prod");
    assert!(out.get("sops").is_none());
}

#[test]
fn built_json_secrets_are_decrypted() {
    let obj: Value = serde_json::from_slice(&fixture("secret.enc.json")).unwrap();
    let out = decrypt_object(obj, &test_key()).unwrap();
    let plain: Value = serde_json::from_slice(&fixture("plain/secret.json")).unwrap();
    assert_eq!(out, plain);
}

#[test]
fn built_objects_still_authenticate_each_value() {
    let obj = built("tampered-swapped.enc.yaml");
    let err = decrypt_object(obj, &test_key()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to decrypt Secret/prod/db-credentials: the value at 'data:token:' failed \
         authentication: it was modified or moved"
    );
}

#[test]
fn disabled_objects_are_not_decrypted() {
    let mut obj = built("secret.enc.yaml");
    obj["metadata"]["annotations"] = json!({DECRYPT_KEY: "Disabled"});
    assert_eq!(decrypt_object(obj.clone(), &test_key()).unwrap(), obj);
    assert!(require_decrypted(&obj).is_ok());
}

#[test]
fn other_objects_are_untouched() {
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    assert_eq!(decrypt_object(obj.clone(), &test_key()).unwrap(), obj);
}

fn generated_secret(fields: &[(&str, &[u8])]) -> Value {
    let data: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(STANDARD.encode(v))))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gen", "namespace": "apps"}, "data": data})
}

#[test]
fn secret_generator_fields_holding_sops_files_are_decrypted() {
    let obj = generated_secret(&[
        ("app.env", &fixture("app.enc.env")),
        ("types.json", &fixture("types.enc.json")),
        ("blob.bin", &fixture("blob.enc.json")),
        ("plain.txt", b"not encrypted"),
        ("not-base64", b""),
    ]);
    let out = decrypt_object(obj, &test_key()).unwrap();
    let field = |k: &str| STANDARD.decode(out["data"][k].as_str().unwrap()).unwrap();
    assert_eq!(field("app.env"), fixture("expected/app.env"));
    assert_eq!(field("types.json"), fixture("expected/types.json"));
    assert_eq!(field("blob.bin"), fixture("plain/blob.bin"));
    assert_eq!(field("plain.txt"), b"not encrypted");
}

#[test]
fn secret_generator_fields_are_mac_verified() {
    // The MAC's associated data is `lastmodified`: changing it must fail.
    let original = String::from_utf8(fixture("app.enc.env")).unwrap();
    let tampered = original.replace("sops_lastmodified=20", "sops_lastmodified=19");
    assert_ne!(tampered, original);
    let obj = generated_secret(&[("app.env", tampered.as_bytes())]);
    assert_eq!(
        decrypt_object(obj, &test_key()).unwrap_err().to_string(),
        "failed to decrypt Secret/apps/gen field 'app.env': failed to verify sops data \
         integrity: MAC mismatch (the file was modified after encryption)"
    );
}

#[test]
fn encrypted_secrets_need_decryption_configured() {
    let obj = built("secret.enc.yaml");
    assert_eq!(
        require_decrypted(&obj).unwrap_err().to_string(),
        "Secret/prod/db-credentials is SOPS encrypted, configuring decryption is required for \
         this secret to be reconciled"
    );
    let decrypted = decrypt_object(obj, &test_key()).unwrap();
    assert!(require_decrypted(&decrypted).is_ok());
}

#[test]
fn key_import_accepts_age_keygen_files_and_refuses_garbage() {
    let both = [
        fixture("keys/throwaway-unrelated.agekey"),
        b"\r\n# another key\n".to_vec(),
        fixture("keys/throwaway-test-1.agekey"),
    ]
    .concat();
    let data = BTreeMap::from([
        ("identities.agekey".to_string(), both),
        ("pgp.asc".to_string(), b"-----BEGIN PGP".to_vec()),
    ]);
    let keys = Keys::from_secret_data("ns/keys", &data).unwrap();
    assert_same_yaml("secret.enc.yaml", "expected/secret.yaml", &keys);
    assert!(format!("{keys:?}").contains("age_identities: 2"));

    let secret_line = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    for (text, reason) in [
        (secret_line, "line 1 is not a valid age identity"),
        ("not a key", "line 1: unknown identity type"),
        (
            "# c\nAGE-PLUGIN-YUBIKEY-1XYZ",
            "line 2: age plugin and post-quantum identities are not supported",
        ),
    ] {
        let data = BTreeMap::from([("bad.agekey".to_string(), text.as_bytes().to_vec())]);
        let message = Keys::from_secret_data("ns/keys", &data)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            format!(
                "failed to import 'bad.agekey' data from sops decryption Secret 'ns/keys': {reason}"
            )
        );
        assert!(!message.contains("QQQQ"), "{message}");
    }
}

#[test]
fn unsupported_key_types_are_mentioned_when_nothing_decrypts() {
    let data = BTreeMap::from([
        ("pgp.asc".to_string(), b"-----BEGIN PGP".to_vec()),
        ("sops.vault-token".to_string(), b"token".to_vec()),
    ]);
    let keys = Keys::from_secret_data("ns/keys", &data).unwrap();
    let message = decrypt_file(Format::Yaml, &fixture("secret.enc.yaml"), &keys)
        .unwrap_err()
        .to_string();
    assert!(message.contains("OpenPGP keys ('pgp.asc')"), "{message}");
    assert!(
        message.contains("'sops.vault-token' credentials"),
        "{message}"
    );
}

#[test]
fn errors_never_carry_plaintext() {
    let secrets = ["admin", "s3cr3t", "c2VjcmV0LXRva2Vu", "postgres://"];
    let failures = [
        decrypt_file(
            Format::Yaml,
            &fixture("tampered-unencrypted.enc.yaml"),
            &test_key(),
        ),
        decrypt_file(
            Format::Yaml,
            &fixture("tampered-swapped.enc.yaml"),
            &test_key(),
        ),
        decrypt_file(
            Format::Yaml,
            &fixture("secret.enc.yaml"),
            &keys(&["throwaway-unrelated"]),
        ),
    ];
    for failure in failures {
        let message = failure.unwrap_err().to_string();
        for secret in secrets {
            assert!(!message.contains(secret), "{message}");
        }
    }
}

#[test]
fn generator_inputs_are_decrypted_through_bases_and_confined_to_the_root() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("artifact");
    std::fs::write(scratch.path().join("outside.env"), fixture("app.enc.env")).unwrap();
    let write = |path: &str, data: &[u8]| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    write(
        "overlay/kustomization.yaml",
        b"resources:\n- ../base\nsecretGenerator:\n- name: blob\n  files:\n  - data.bin=blob.enc\n",
    );
    write("overlay/blob.enc", &fixture("blob.enc.json"));
    write(
        "base/kustomization.yaml",
        b"secretGenerator:\n- name: app\n  envs:\n  - app.secret\n",
    );
    write("base/app.secret", &fixture("app.enc.env"));
    write("base/plain.txt", b"left alone\n");

    decrypt_generator_sources(&root, &root.join("overlay"), &test_key()).unwrap();
    let read = |path: &str| std::fs::read(root.join(path)).unwrap();
    assert_eq!(read("base/app.secret"), fixture("expected/app.env"));
    assert_eq!(read("overlay/blob.enc"), fixture("expected/blob.bin"));

    write(
        "escape/kustomization.yaml",
        b"secretGenerator:\n- name: x\n  files:\n  - ../../outside.env\n",
    );
    let err = decrypt_generator_sources(&root, &root.join("escape"), &test_key())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'../../outside.env' leaves the artifact"),
        "{err}"
    );
}

#[test]
fn generator_input_errors_name_the_file() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("kustomization.yaml"),
        b"secretGenerator:\n- name: app\n  envs:\n  - app.env\n",
    )
    .unwrap();
    std::fs::write(root.path().join("app.env"), fixture("app.enc.env")).unwrap();
    let empty = Keys::from_secret_data("ns/none", &BTreeMap::new()).unwrap();
    let err = decrypt_generator_sources(root.path(), root.path(), &empty)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("failed to decrypt generator input 'app.env'"),
        "{err}"
    );
}
