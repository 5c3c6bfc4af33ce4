//! Go durations (`90s`, `1m30s`, `5m`), as Flux users write them in flags
//! and as the `flux` CLI writes them into manifests (`1m0s`).

use std::time::Duration;

/// Parses a Go duration string: one or more `<number><unit>` pairs, units
/// `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, fractions allowed (`1.5h`); `0`
/// alone is zero. Negative durations are refused: no flag takes one.
pub fn parse(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("invalid duration \"\"".into());
    }
    let invalid = || format!("invalid duration {text:?}, expected e.g. 30s, 5m or 1h30m");
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1e0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(invalid()),
        };
        total += number * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Formats a duration like Go's `time.Duration.String()`: `1m0s`, `1h30m0s`,
/// `1.5s`, `500ms`, `0s`.
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        return format_fraction_unit(nanos);
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{seconds}s"));
    out
}

fn format_fraction_unit(nanos: u128) -> String {
    let (scale, unit) = match nanos {
        n if n < 1_000 => (1, "ns"),
        n if n < 1_000_000 => (1_000, "µs"),
        _ => (1_000_000, "ms"),
    };
    format!("{}{unit}", fraction(nanos, scale))
}

/// `value / scale` with the remainder as a decimal fraction without trailing zeros.
fn fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("2us"), Ok(Duration::from_micros(2)));
    }

    #[test]
    fn refuses_garbage() {
        for bad in ["", "5", "m", "5x", "-1s", "1..5s", "5 m"] {
            assert!(parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_secs(60)), "1m0s");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(500)), "500ms");
        assert_eq!(format(Duration::from_micros(2)), "2µs");
        assert_eq!(format(Duration::from_secs(10)), "10s");
    }

    #[test]
    fn round_trips_flux_intervals() {
        for (given, written) in [
            ("1m", "1m0s"),
            ("10m", "10m0s"),
            ("30s", "30s"),
            ("2h", "2h0m0s"),
        ] {
            assert_eq!(format(parse(given).unwrap()), written);
        }
    }
}
