//! Archiving a commit straight from its fetched objects (no working tree) gives
//! the artifact a checkout gives, byte for byte, on a repository made with the
//! real `git`: folders and files whose names sort differently in Git and on
//! disk, an executable, a symlink, a submodule, nested `.sourceignore` files
//! and `spec.ignore`.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use fluxrs_e2e::git::GitFixture;
use source_controller::git::{Checkout, GitAuth, GitReference, Remote, Update, Worktree, tree};
use source_controller::ignore::IgnoreFilter;
use source_controller::storage::{ArchiveSummary, ArchiveWriter, write_archive};

fn remote(repo: &GitFixture) -> Result<Remote> {
    let url = format!("file://{}", repo.bare_path().display());
    Ok(Remote::new(
        &url,
        GitAuth::default(),
        Instant::now() + Duration::from_secs(30),
    )?)
}

/// The archive of a checkout, and the checkout.
fn from_checkout(
    repo: &GitFixture,
    ignore: Option<&str>,
    out: &Path,
) -> Result<(ArchiveSummary, Checkout)> {
    let dir = tempfile::tempdir()?;
    let checkout = remote(repo)?.checkout(&GitReference::Branch("main".into()), dir.path())?;
    let filter = IgnoreFilter::for_tree(dir.path(), ignore)?;
    let summary = write_archive(dir.path(), &filter, File::create(out)?, u64::MAX)?;
    Ok((summary, checkout))
}

/// The archive written from the fetched objects, and the fetch.
fn from_objects(
    repo: &GitFixture,
    ignore: Option<&str>,
    out: &Path,
) -> Result<(ArchiveSummary, Checkout)> {
    let dir = tempfile::tempdir()?;
    let main = GitReference::Branch("main".into());
    let Update::Fetched(fetched) = remote(repo)?.update(&main, dir.path(), None, Worktree::Skip)?
    else {
        anyhow::bail!("nothing fetched without a current revision");
    };
    let mut archive = ArchiveWriter::new(File::create(out)?, u64::MAX);
    tree::archive_commit(dir.path(), &fetched.reference.commit, ignore, &mut archive)?;
    Ok((archive.finish()?, fetched))
}

fn entries(archive: &Path) -> Result<Vec<(String, u32)>> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(File::open(archive)?));
    tar.entries()?
        .map(|entry| {
            let entry = entry?;
            Ok((entry.path()?.display().to_string(), entry.header().mode()?))
        })
        .collect()
}

#[test]
fn archive_from_objects_equals_archive_of_checkout() -> Result<()> {
    let sub = GitFixture::new("sub")?;
    sub.write("lib.yaml", "kind: Lib\n")?;
    sub.commit("sub")?;

    let repo = GitFixture::new("main")?;
    repo.write("a/x.yaml", "kind: X\n")?;
    repo.write("a-b.yaml", "kind: AB\n")?;
    repo.write("a.yaml", "kind: A\n")?;
    repo.write("run.sh", "#!/bin/sh\necho hi\n")?;
    repo.make_executable("run.sh")?;
    repo.symlink("/etc/passwd", "evil")?;
    repo.write("logo.png", "png")?;
    repo.write("apps/.sourceignore", "*.md\n/local.yaml\n")?;
    repo.write("apps/README.md", "docs\n")?;
    repo.write("apps/local.yaml", "kind: Local\n")?;
    repo.write("apps/web/local.yaml", "kind: Web\n")?;
    repo.write(".github/workflows/ci.yaml", "on: push\n")?;
    repo.add_submodule(
        &format!("file://{}", sub.bare_path().display()),
        "vendor/sub",
    )?;
    repo.commit("tree with traps")?;

    let out = tempfile::tempdir()?;
    for (case, ignore) in [("no-spec", None), ("spec", Some("/a-b.yaml\n!*.png\n"))] {
        let checkout_file = out.path().join(format!("{case}-checkout.tar.gz"));
        let objects_file = out.path().join(format!("{case}-objects.tar.gz"));
        let (checkout_summary, checkout) = from_checkout(&repo, ignore, &checkout_file)?;
        let (objects_summary, fetched) = from_objects(&repo, ignore, &objects_file)?;
        assert_eq!(fetched, checkout, "{case}: same commit and message");
        assert_eq!(
            entries(&objects_file)?,
            entries(&checkout_file)?,
            "{case}: same entries in the same order"
        );
        assert_eq!(objects_summary, checkout_summary, "{case}: same bytes");
    }

    let names: Vec<String> = entries(&out.path().join("spec-objects.tar.gz"))?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    // With user patterns the default list (`.github/`, `*.png`) is dropped.
    assert_eq!(
        names,
        [
            ".github",
            ".github/workflows",
            ".github/workflows/ci.yaml",
            "a",
            "a/x.yaml",
            "a.yaml",
            "apps",
            "apps/.sourceignore",
            "apps/web",
            "apps/web/local.yaml",
            "logo.png",
            "run.sh",
            "vendor",
            "vendor/sub",
        ]
    );
    Ok(())
}
