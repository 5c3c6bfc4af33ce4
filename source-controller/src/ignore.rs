//! Which files of a fetched source go into its artifact: `.sourceignore` files,
//! `spec.ignore` and the built-in exclusions, with `.gitignore` semantics.
//!
//! Upstream's rule (fluxcd/pkg `sourceignore`): the VCS entries are always
//! excluded; the default list of CI files and binary extensions applies only
//! when the user gave no pattern at all (no `.sourceignore` anywhere and no
//! `spec.ignore`). Patterns of a nested `.sourceignore` are scoped to its folder,
//! and later patterns win, so `spec.ignore` can re-include with `!`.

use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use walkdir::WalkDir;

use crate::{Error, Result};

/// Name of the per-folder ignore file.
pub const SOURCEIGNORE: &str = ".sourceignore";

/// Always excluded: version-control metadata.
const VCS_PATTERNS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];

/// Excluded only when the user gave no pattern.
const DEFAULT_PATTERNS: &[&str] = &[
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// A compiled exclusion filter for one source tree.
pub struct IgnoreFilter {
    matcher: Gitignore,
}

impl IgnoreFilter {
    /// Builds the filter for the tree at `root` from its `.sourceignore` files
    /// and the object's `spec.ignore`.
    pub fn for_tree(root: &Path, spec_ignore: Option<&str>) -> Result<Self> {
        Self::from_sourceignores(root, &sourceignore_files(root)?, spec_ignore)
    }

    /// Builds the filter from `.sourceignore` files already read, as
    /// `(folder, text)` pairs (folder relative to the root, `""` for the root)
    /// in walk order: parents before children, siblings by file name. For
    /// trees that are not on disk, such as a Git commit archived directly.
    pub fn from_sourceignores(
        root: &Path,
        files: &[(String, String)],
        spec_ignore: Option<&str>,
    ) -> Result<Self> {
        let file_patterns: Vec<String> = files
            .iter()
            .flat_map(|(folder, text)| {
                pattern_lines(text)
                    .into_iter()
                    .map(|p| scope(folder, &p))
                    .collect::<Vec<_>>()
            })
            .collect();
        let spec_patterns: Vec<String> = spec_ignore.map(pattern_lines).unwrap_or_default();
        let mut patterns: Vec<String> = VCS_PATTERNS.iter().map(|p| p.to_string()).collect();
        if file_patterns.is_empty() && spec_patterns.is_empty() {
            patterns.extend(DEFAULT_PATTERNS.iter().map(|p| p.to_string()));
        }
        patterns.extend(file_patterns);
        patterns.extend(spec_patterns);
        Self::from_patterns(root, &patterns)
    }

    fn from_patterns(root: &Path, patterns: &[String]) -> Result<Self> {
        let mut builder = GitignoreBuilder::new(root);
        for pattern in patterns {
            builder
                .add_line(None, pattern)
                .map_err(|e| Error::InvalidIgnorePattern(format!("{pattern:?}: {e}")))?;
        }
        let matcher = builder
            .build()
            .map_err(|e| Error::InvalidIgnorePattern(e.to_string()))?;
        Ok(Self { matcher })
    }

    /// Whether the entry at `relative` (a path relative to the tree root) is excluded.
    pub fn is_ignored(&self, relative: &Path, is_dir: bool) -> bool {
        self.matcher.matched(relative, is_dir).is_ignore()
    }
}

/// Non-comment, non-blank lines of an ignore file, in order.
fn pattern_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Every `.sourceignore` in the tree as `(folder, text)`, parents before
/// children.
fn sourceignore_files(root: &Path) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    let walker = WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git");
    for entry in walker {
        let entry = entry.map_err(|e| Error::Io {
            path: root.to_path_buf(),
            message: e.to_string(),
        })?;
        if !entry.file_type().is_file() || entry.file_name() != SOURCEIGNORE {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).map_err(|e| Error::Io {
            path: entry.path().to_path_buf(),
            message: e.to_string(),
        })?;
        let folder = entry
            .path()
            .parent()
            .and_then(|p| p.strip_prefix(root).ok())
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        files.push((folder, text));
    }
    Ok(files)
}

/// Rewrites `pattern` from a `.sourceignore` in `folder` into a root-relative one.
fn scope(folder: &str, pattern: &str) -> String {
    if folder.is_empty() {
        return pattern.to_string();
    }
    let (negation, body) = match pattern.strip_prefix('!') {
        Some(rest) => ("!", rest),
        None => ("", pattern),
    };
    let anchored = body.trim_end_matches('/').contains('/');
    let body = body.trim_start_matches('/');
    if anchored {
        format!("{negation}/{folder}/{body}")
    } else {
        format!("{negation}/{folder}/**/{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        dir
    }

    #[test]
    fn defaults_apply_without_user_patterns() {
        let dir = tree(&[("logo.png", ""), ("app.yaml", "")]);
        let filter = IgnoreFilter::for_tree(dir.path(), None).unwrap();
        assert!(filter.is_ignored(Path::new("logo.png"), false));
        assert!(filter.is_ignored(Path::new(".github"), true));
        assert!(filter.is_ignored(Path::new(".git"), true));
        assert!(filter.is_ignored(Path::new("sub/.sops.yaml"), false));
        assert!(!filter.is_ignored(Path::new("app.yaml"), false));
    }

    #[test]
    fn any_user_pattern_drops_the_default_list() {
        let dir = tree(&[("logo.png", "")]);
        let filter = IgnoreFilter::for_tree(dir.path(), Some("*.txt")).unwrap();
        assert!(!filter.is_ignored(Path::new("logo.png"), false));
        assert!(filter.is_ignored(Path::new("notes.txt"), false));
        assert!(
            filter.is_ignored(Path::new(".gitignore"), false),
            "VCS entries always go"
        );
    }

    #[test]
    fn seed_ignore_keeps_only_the_deploy_folder() {
        let dir = tree(&[
            ("deploy/app.yaml", ""),
            ("src/main.go", ""),
            ("README.md", ""),
        ]);
        let spec = "# exclude all\n/*\n# include deploy dir\n!/deploy\n";
        let filter = IgnoreFilter::for_tree(dir.path(), Some(spec)).unwrap();
        assert!(filter.is_ignored(Path::new("src"), true));
        assert!(filter.is_ignored(Path::new("README.md"), false));
        assert!(!filter.is_ignored(Path::new("deploy"), true));
        assert!(!filter.is_ignored(Path::new("deploy/app.yaml"), false));
    }

    #[test]
    fn nested_sourceignore_is_scoped_to_its_folder() {
        let dir = tree(&[
            ("apps/.sourceignore", "*.md\n/local.yaml\n"),
            ("apps/x/README.md", ""),
        ]);
        let filter = IgnoreFilter::for_tree(dir.path(), None).unwrap();
        assert!(filter.is_ignored(Path::new("apps/x/README.md"), false));
        assert!(filter.is_ignored(Path::new("apps/local.yaml"), false));
        assert!(!filter.is_ignored(Path::new("README.md"), false));
        assert!(!filter.is_ignored(Path::new("apps/x/local.yaml"), false));
    }

    #[test]
    fn spec_ignore_wins_over_files() {
        let dir = tree(&[(".sourceignore", "*.yaml\n")]);
        let filter = IgnoreFilter::for_tree(dir.path(), Some("!keep.yaml")).unwrap();
        assert!(filter.is_ignored(Path::new("drop.yaml"), false));
        assert!(!filter.is_ignored(Path::new("keep.yaml"), false));
    }
}
