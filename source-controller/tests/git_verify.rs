//! `spec.verify`: commits and annotated tags signed by the real `gpg`, and by
//! `git -c gpg.format=ssh` with keys from the real `ssh-keygen`, checked out
//! with the Git client and verified against public keys the way a
//! verification Secret holds them (`*.asc`, `*.sshpub`). Covers every mode,
//! trusted and untrusted keys, Secrets mixing both kinds, unsigned commits,
//! and a tag mode without a tag.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use fluxrs_api::source::GitVerificationMode;
use fluxrs_e2e::git::{GitFixture, GpgKey, SshSigningKey};
use source_controller::git::verify::{Keyring, reasons, verify_checkout};
use source_controller::git::{GitAuth, GitReference, Remote};

fn keyring(keys: &[&GpgKey]) -> Result<Keyring> {
    let armored: Vec<&str> = keys.iter().map(|k| k.public_key()).collect();
    let data = BTreeMap::from([("authors.asc".to_string(), armored.join("\n").into_bytes())]);
    Ok(Keyring::from_secret("keys", &data)?)
}

fn checkout(repo: &GitFixture, reference: GitReference) -> Result<tempfile::TempDir> {
    let url = format!("file://{}", repo.bare_path().display());
    let remote = Remote::new(
        &url,
        GitAuth::default(),
        Instant::now() + Duration::from_secs(30),
    )?;
    let dir = tempfile::tempdir()?;
    remote.checkout(&reference, dir.path())?;
    Ok(dir)
}

fn key_id(key: &GpgKey) -> &str {
    &key.fingerprint()[key.fingerprint().len() - 16..]
}

#[test]
fn signed_commits_and_tags_verify_against_trusted_keys() -> Result<()> {
    let signer = GpgKey::generate("Flux Signer", "signer@flux-rs.dev")?;
    let stranger = GpgKey::generate("Stranger", "stranger@flux-rs.dev")?;
    let repo = GitFixture::new("signed")?;
    repo.write("deploy/app.yaml", "kind: App\n")?;
    let commit = repo.commit_signed("signed commit", &signer)?;
    repo.tag_signed("v1.0.0", &signer)?;
    let dir = checkout(&repo, GitReference::Tag("v1.0.0".into()))?;

    let trusted = keyring(&[&stranger, &signer])?;
    let message = verify_checkout(
        dir.path(),
        &commit,
        Some("v1.0.0"),
        GitVerificationMode::TagAndHEAD,
        &trusted,
    )
    .map_err(|f| anyhow::anyhow!("{f:?}"))?;
    assert_eq!(
        message,
        format!(
            "verified signature of\n\t- tag 'v1.0.0' with key '{id}'\n\t- commit '{commit}' with key '{id}'",
            id = key_id(&signer)
        )
    );

    let untrusted = keyring(&[&stranger])?;
    let tag = verify_checkout(
        dir.path(),
        &commit,
        Some("v1.0.0"),
        GitVerificationMode::Tag,
        &untrusted,
    )
    .unwrap_err();
    assert_eq!(tag.reason, reasons::INVALID_TAG_SIGNATURE);
    assert!(tag.message.contains("no trusted key"), "{}", tag.message);
    let head = verify_checkout(
        dir.path(),
        &commit,
        None,
        GitVerificationMode::Head,
        &untrusted,
    )
    .unwrap_err();
    assert_eq!(head.reason, reasons::INVALID_COMMIT_SIGNATURE);
    assert!(
        head.message.starts_with(&format!(
            "signature verification of commit '{commit}' failed"
        )),
        "{}",
        head.message
    );
    Ok(())
}

#[test]
fn unsigned_commits_and_tag_mode_without_tag_are_refused() -> Result<()> {
    let signer = GpgKey::generate("Flux Signer", "signer@flux-rs.dev")?;
    let repo = GitFixture::new("unsigned")?;
    repo.write("deploy/app.yaml", "kind: App\n")?;
    let commit = repo.commit("unsigned commit")?;
    let dir = checkout(&repo, GitReference::Branch("main".into()))?;
    let trusted = keyring(&[&signer])?;

    let unsigned = verify_checkout(
        dir.path(),
        &commit,
        None,
        GitVerificationMode::Head,
        &trusted,
    )
    .unwrap_err();
    assert_eq!(unsigned.reason, reasons::INVALID_COMMIT_SIGNATURE);
    assert!(
        unsigned.message.contains("not signed"),
        "{}",
        unsigned.message
    );

    let no_tag = verify_checkout(
        dir.path(),
        &commit,
        None,
        GitVerificationMode::Tag,
        &trusted,
    )
    .unwrap_err();
    assert_eq!(no_tag.reason, reasons::VERIFICATION_ERROR);
    Ok(())
}

#[test]
fn a_secret_without_public_keys_is_refused() {
    let empty = Keyring::from_secret("keys", &BTreeMap::new()).err();
    assert!(
        empty.is_some_and(|e| e
            .to_string()
            .contains("no PGP ('*.asc') or SSH ('*.sshpub') public keys")),
        "an empty Secret is refused"
    );
    let garbage = BTreeMap::from([("a.asc".to_string(), b"not a key".to_vec())]);
    assert!(Keyring::from_secret("keys", &garbage).is_err());
    let garbage = BTreeMap::from([("a.sshpub".to_string(), b"ssh-ed25519 nope".to_vec())]);
    assert!(Keyring::from_secret("keys", &garbage).is_err());
}

/// A Secret as `flux create secret` users write it: one `authorized_keys`
/// style entry per author, a comment and a blank line included.
fn ssh_keyring(keys: &[&SshSigningKey]) -> Result<Keyring> {
    let lines: Vec<&str> = keys.iter().map(|k| k.public_key()).collect();
    let text = format!("# trusted authors\n\n{}\n", lines.join("\n"));
    let data = BTreeMap::from([("authors.sshpub".to_string(), text.into_bytes())]);
    Ok(Keyring::from_secret("keys", &data)?)
}

#[test]
fn ssh_signed_commits_and_tags_verify_against_authorized_keys() -> Result<()> {
    let signer = SshSigningKey::generate("ed25519")?;
    let stranger = SshSigningKey::generate("ecdsa")?;
    let repo = GitFixture::new("ssh-signed")?;
    repo.write("deploy/app.yaml", "kind: App\n")?;
    let commit = repo.commit_signed("ssh signed commit", &signer)?;
    repo.tag_signed("v1.0.0", &signer)?;
    let dir = checkout(&repo, GitReference::Tag("v1.0.0".into()))?;

    let message = verify_checkout(
        dir.path(),
        &commit,
        Some("v1.0.0"),
        GitVerificationMode::TagAndHEAD,
        &ssh_keyring(&[&stranger, &signer])?,
    )
    .map_err(|f| anyhow::anyhow!("{f:?}"))?;
    assert_eq!(
        message,
        format!(
            "verified signature of\n\t- tag 'v1.0.0' with key '{id}'\n\t- commit '{commit}' with key '{id}'",
            id = signer.fingerprint()
        )
    );

    let untrusted = ssh_keyring(&[&stranger])?;
    let head = verify_checkout(
        dir.path(),
        &commit,
        None,
        GitVerificationMode::Head,
        &untrusted,
    )
    .unwrap_err();
    assert_eq!(head.reason, reasons::INVALID_COMMIT_SIGNATURE);
    assert!(head.message.contains("no trusted key"), "{}", head.message);
    let tag = verify_checkout(
        dir.path(),
        &commit,
        Some("v1.0.0"),
        GitVerificationMode::Tag,
        &untrusted,
    )
    .unwrap_err();
    assert_eq!(tag.reason, reasons::INVALID_TAG_SIGNATURE);
    Ok(())
}

#[test]
fn one_secret_holds_pgp_and_ssh_keys() -> Result<()> {
    let gpg = GpgKey::generate("Flux Signer", "signer@flux-rs.dev")?;
    let rsa = SshSigningKey::generate("rsa")?;
    let repo = GitFixture::new("mixed")?;
    repo.write("a.yaml", "kind: A\n")?;
    let pgp_commit = repo.commit_signed("pgp", &gpg)?;
    let pgp_dir = checkout(&repo, GitReference::Branch("main".into()))?;
    repo.write("b.yaml", "kind: B\n")?;
    let ssh_commit = repo.commit_signed("ssh", &rsa)?;
    let ssh_dir = checkout(&repo, GitReference::Branch("main".into()))?;

    let data = BTreeMap::from([
        ("flux.asc".to_string(), gpg.public_key().as_bytes().to_vec()),
        (
            "flux.sshpub".to_string(),
            rsa.public_key().as_bytes().to_vec(),
        ),
    ]);
    let keyring = Keyring::from_secret("keys", &data)?;
    let verify = |dir: &tempfile::TempDir, commit: &str| {
        verify_checkout(
            dir.path(),
            commit,
            None,
            GitVerificationMode::Head,
            &keyring,
        )
        .map_err(|f| anyhow::anyhow!("{f:?}"))
    };
    assert!(verify(&pgp_dir, &pgp_commit)?.contains(key_id(&gpg)));
    assert!(verify(&ssh_dir, &ssh_commit)?.contains(rsa.fingerprint()));
    Ok(())
}
