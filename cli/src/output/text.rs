//! Small text rules shared by the tables: hash shortening, booleans and ages.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

static HEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[a-f0-9]{40,128}\b").expect("static regex is valid"));

/// Shortens every run of 40 to 128 hex characters to its first 8, as `flux get`
/// does for revisions and messages (`main@sha1:132f4e71`).
pub fn truncate_hex(text: &str) -> String {
    HEX.replace_all(text, |caps: &regex::Captures<'_>| caps[0][..8].to_string())
        .into_owned()
}

/// `True`/`False`, as Go's `strings.Title(strconv.FormatBool(b))` prints them.
pub fn title_bool(value: bool) -> String {
    if value { "True" } else { "False" }.to_string()
}

/// A short age like `kubectl get` shows (`45s`, `5m30s`, `3h`, `2d5h`),
/// following apimachinery's `duration.HumanDuration`.
pub fn human_age(age: Duration) -> String {
    let seconds = age.as_secs();
    let minutes = seconds / 60;
    let hours = seconds / 3600;
    let days = hours / 24;
    let years = days / 365;
    match () {
        () if seconds < 120 => format!("{seconds}s"),
        () if minutes < 10 => with_rest(minutes, "m", seconds % 60, "s"),
        () if minutes < 180 => format!("{minutes}m"),
        () if hours < 8 => with_rest(hours, "h", minutes % 60, "m"),
        () if hours < 48 => format!("{hours}h"),
        () if hours < 24 * 8 => with_rest(days, "d", hours % 24, "h"),
        () if hours < 24 * 365 * 2 => format!("{days}d"),
        () if hours < 24 * 365 * 8 => with_rest(years, "y", days % 365, "d"),
        () => format!("{years}y"),
    }
}

fn with_rest(major: u64, major_unit: &str, minor: u64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_sha1_and_sha256_runs() {
        let sha1 = "132f4e719209eb10b9485302f8593fc0e680f4fc";
        assert_eq!(
            truncate_hex(&format!("main@sha1:{sha1}")),
            "main@sha1:132f4e71"
        );
        let sha256 = "a".repeat(64);
        assert_eq!(
            truncate_hex(&format!("stored artifact for digest 'sha256:{sha256}'")),
            "stored artifact for digest 'sha256:aaaaaaaa'"
        );
    }

    #[test]
    fn leaves_short_or_embedded_hex_alone() {
        assert_eq!(truncate_hex("v1.2.3@sha1:abcdef"), "v1.2.3@sha1:abcdef");
        let glued = format!("x{}", "a".repeat(40));
        assert_eq!(truncate_hex(&glued), glued, "no word boundary, no match");
        assert_eq!(
            truncate_hex(&"A".repeat(40)),
            "A".repeat(40),
            "upper case is not hex here"
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        let s = Duration::from_secs;
        assert_eq!(human_age(s(5)), "5s");
        assert_eq!(human_age(s(119)), "119s");
        assert_eq!(human_age(s(150)), "2m30s");
        assert_eq!(human_age(s(300)), "5m");
        assert_eq!(human_age(s(45 * 60)), "45m");
        assert_eq!(human_age(s(4 * 3600 + 5 * 60)), "4h5m");
        assert_eq!(human_age(s(30 * 3600)), "30h");
        assert_eq!(human_age(s(3 * 86400 + 2 * 3600)), "3d2h");
        assert_eq!(human_age(s(100 * 86400)), "100d");
        assert_eq!(human_age(s(3 * 365 * 86400)), "3y");
        assert_eq!(human_age(s(9 * 365 * 86400)), "9y");
    }

    #[test]
    fn booleans_are_title_case() {
        assert_eq!(title_bool(true), "True");
        assert_eq!(title_bool(false), "False");
    }
}
