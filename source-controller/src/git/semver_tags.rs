//! `spec.ref.semver`: picks the highest tag matching a Masterminds-style
//! constraint, the syntax Flux users write (`>=1.0.0`, `1.2.x`, `~1.2`,
//! `^1.0`, `1.0 - 1.4`, `>=1.0 <2.0`, `1.x || 2.x`).

use semver::{Version, VersionReq};

/// A parsed constraint: any of several AND-groups.
#[derive(Debug)]
pub struct Constraint {
    alternatives: Vec<VersionReq>,
}

impl Constraint {
    /// Parses a constraint, or explains why it is invalid.
    pub fn parse(text: &str) -> Result<Self, String> {
        let alternatives = text
            .split("||")
            .map(|alternative| {
                let translated = translate(alternative.trim());
                VersionReq::parse(&translated)
                    .map_err(|e| format!("invalid semver constraint {text:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { alternatives })
    }

    /// Whether `version` satisfies the constraint.
    pub fn matches(&self, version: &Version) -> bool {
        self.alternatives.iter().any(|req| req.matches(version))
    }

    /// The highest of `tags` that parses as a version and matches; ties (`v1.0.0`
    /// and `1.0.0`) go to the later tag in the input.
    pub fn best<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        tags.into_iter()
            .filter_map(|tag| parse_version(tag).map(|v| (v, tag)))
            .filter(|(v, _)| self.matches(v))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, tag)| tag)
    }
}

/// Parses a tag as a version the way Masterminds does: an optional `v`, and
/// missing minor/patch numbers taken as zero.
pub fn parse_version(tag: &str) -> Option<Version> {
    let raw = tag.strip_prefix('v').unwrap_or(tag);
    let (core, rest) = match raw.find(['-', '+']) {
        Some(i) => raw.split_at(i),
        None => (raw, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let numbers: Vec<String> = (0..3)
        .map(|i| {
            parts
                .get(i)
                .map(|p| p.trim_start_matches('0'))
                .map(|p| if p.is_empty() { "0" } else { p })
                .unwrap_or("0")
                .to_string()
        })
        .collect();
    Version::parse(&format!("{}{rest}", numbers.join("."))).ok()
}

/// Rewrites one AND-group into the `semver` crate's comma-separated syntax.
fn translate(group: &str) -> String {
    if let Some((low, high)) = group.split_once(" - ") {
        return format!(">={}, <={}", low.trim(), high.trim());
    }
    let mut comparators = Vec::new();
    let mut pending_operator = String::new();
    for token in group.split([' ', ',']).filter(|t| !t.is_empty()) {
        if token.chars().all(|c| "<>=!~^".contains(c)) {
            pending_operator.push_str(token);
            continue;
        }
        let token = format!("{pending_operator}{token}");
        pending_operator.clear();
        comparators.push(strip_v(&token));
    }
    if comparators.is_empty() {
        return "*".to_string();
    }
    comparators.join(", ")
}

/// `>=v1.2` → `>=1.2`.
fn strip_v(comparator: &str) -> String {
    let split = comparator
        .find(|c: char| !"<>=!~^".contains(c))
        .unwrap_or(comparator.len());
    let (operator, version) = comparator.split_at(split);
    let operator = if operator == "==" { "=" } else { operator };
    format!("{operator}{}", version.strip_prefix('v').unwrap_or(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn best(constraint: &str, tags: &[&str]) -> Option<String> {
        Constraint::parse(constraint)
            .unwrap()
            .best(tags.iter().copied())
            .map(str::to_string)
    }

    #[test]
    fn picks_the_highest_matching_tag() {
        let tags = [
            "v0.9.0",
            "v1.0.0",
            "v1.2.3",
            "v2.0.0",
            "latest",
            "v1.3.0-rc.1",
        ];
        assert_eq!(best(">=1.0.0", &tags).as_deref(), Some("v2.0.0"));
        assert_eq!(best(">=1.0.0 <2.0.0", &tags).as_deref(), Some("v1.2.3"));
        assert_eq!(best("1.x", &tags).as_deref(), Some("v1.2.3"));
        assert_eq!(best("~1.2", &tags).as_deref(), Some("v1.2.3"));
        assert_eq!(best("^1.0", &tags).as_deref(), Some("v1.2.3"));
        assert_eq!(best("1.0.0 - 1.2.0", &tags).as_deref(), Some("v1.0.0"));
        assert_eq!(best("0.x || 2.x", &tags).as_deref(), Some("v2.0.0"));
        assert_eq!(best(">= 3.0", &tags), None);
    }

    #[test]
    fn versions_parse_like_masterminds() {
        assert_eq!(parse_version("v1.2").unwrap(), Version::new(1, 2, 0));
        assert_eq!(
            parse_version("2025.02.03").unwrap(),
            Version::new(2025, 2, 3)
        );
        assert!(parse_version("latest").is_none());
        assert!(parse_version("1.2.3.4").is_none());
    }

    #[test]
    fn invalid_constraints_are_reported() {
        assert!(
            Constraint::parse(">=banana")
                .unwrap_err()
                .contains("invalid semver constraint")
        );
    }
}
