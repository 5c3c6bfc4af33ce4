//! CEL `google.protobuf.Timestamp` and `google.protobuf.Duration` values.
//!
//! Both are kept as nanoseconds in an `i128`, so arithmetic cannot wrap,
//! and checked against CEL's ranges (years 0001 to 9999; durations of at
//! most ±10000 years) after every operation. Parsing follows what cel-go
//! accepts: RFC 3339 for timestamps and Go's `time.ParseDuration` syntax
//! (`1h30m`, `1.5s`, `-250ms`) for durations; formatting matches cel-go's
//! `string()` (RFC 3339 with trailing zeros trimmed, seconds with an `s`).

use crate::error::{CelError, Result};

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const SECONDS_PER_DAY: i128 = 86_400;
/// 0001-01-01T00:00:00Z in seconds since the Unix epoch.
const MIN_TIMESTAMP_SECONDS: i128 = -62_135_596_800;
/// 9999-12-31T23:59:59Z in seconds since the Unix epoch.
const MAX_TIMESTAMP_SECONDS: i128 = 253_402_300_799;
/// CEL's duration limit, about ±10000 years, in seconds.
const MAX_DURATION_SECONDS: i128 = 315_576_000_000;

/// A point in time, in nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i128);

/// A signed span of time, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(i128);

impl Timestamp {
    /// The timestamp `nanos` after the epoch, if within CEL's range.
    pub fn from_nanos(nanos: i128) -> Result<Self> {
        let seconds = nanos.div_euclid(NANOS_PER_SECOND);
        if (MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
            Ok(Timestamp(nanos))
        } else {
            Err(CelError::invalid("timestamp", "timestamp out of range"))
        }
    }

    /// Nanoseconds since the epoch.
    pub fn nanos(self) -> i128 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down), what `int(t)` gives.
    pub fn seconds(self) -> i128 {
        self.0.div_euclid(NANOS_PER_SECOND)
    }

    /// Parses an RFC 3339 timestamp such as `2024-01-02T15:04:05.5+01:00`.
    pub fn parse(text: &str) -> Result<Self> {
        parse_rfc3339(text).ok_or_else(|| {
            CelError::invalid(
                "timestamp",
                format!("'{text}' is not an RFC 3339 timestamp"),
            )
        })
    }

    /// `self + d`, or an error outside CEL's range.
    pub fn checked_add(self, d: Duration) -> Result<Self> {
        Timestamp::from_nanos(self.0 + d.0)
    }

    /// `self - other` as a duration.
    pub fn since(self, other: Timestamp) -> Result<Duration> {
        Duration::from_nanos(self.0 - other.0)
    }
}

impl Duration {
    /// The duration of `nanos` nanoseconds, if within CEL's range.
    pub fn from_nanos(nanos: i128) -> Result<Self> {
        if nanos.abs() <= MAX_DURATION_SECONDS * NANOS_PER_SECOND {
            Ok(Duration(nanos))
        } else {
            Err(CelError::invalid("duration", "duration out of range"))
        }
    }

    /// Length in nanoseconds.
    pub fn nanos(self) -> i128 {
        self.0
    }

    /// Parses a Go duration string such as `1h30m`, `1.5s` or `-250ms`.
    pub fn parse(text: &str) -> Result<Self> {
        let nanos = parse_go_duration(text)
            .ok_or_else(|| CelError::invalid("duration", format!("'{text}' is not a duration")))?;
        Duration::from_nanos(nanos)
    }

    /// `self + other`.
    pub fn checked_add(self, other: Duration) -> Result<Self> {
        Duration::from_nanos(self.0 + other.0)
    }

    /// `-self`.
    pub fn negate(self) -> Self {
        Duration(-self.0)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds = self.seconds();
        let nanos = self.0.rem_euclid(NANOS_PER_SECOND);
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let of_day = seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            of_day / 3600,
            of_day / 60 % 60,
            of_day % 60
        )?;
        write_fraction(f, nanos)?;
        f.write_str("Z")
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let abs = self.0.abs();
        write!(f, "{}", abs / NANOS_PER_SECOND)?;
        write_fraction(f, abs % NANOS_PER_SECOND)?;
        f.write_str("s")
    }
}

/// Writes `.nnn` with trailing zeros trimmed, nothing for zero.
fn write_fraction(f: &mut std::fmt::Formatter<'_>, nanos: i128) -> std::fmt::Result {
    if nanos == 0 {
        return Ok(());
    }
    let digits = format!("{nanos:09}");
    write!(f, ".{}", digits.trim_end_matches('0'))
}

fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't') {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return None;
        }
        nanos = digits(&fraction[..len])? * 10i128.pow(9 - len as u32);
        rest = &fraction[len..];
    }
    let offset = parse_offset(rest)?;
    let days = days_from_civil(year, month, day);
    let seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset;
    Timestamp::from_nanos(seconds * NANOS_PER_SECOND + nanos).ok()
}

/// The zone offset in seconds: `Z`, `+hh:mm` or `-hh:mm`.
fn parse_offset(b: &[u8]) -> Option<i128> {
    match b {
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            Some(if *sign == b'-' { -offset } else { offset })
        }
        _ => None,
    }
}

fn digits(b: &[u8]) -> Option<i128> {
    b.iter().try_fold(0i128, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i128::from(c - b'0'))
    })
}

fn is_leap(year: i128) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i128, month: i128) -> i128 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i128, month: i128, day: i128) -> i128 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    (year, month, day)
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?unit)+` or `0`.
fn parse_go_duration(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let (nanos, after) = parse_duration_part(rest)?;
        total = total.checked_add(nanos)?;
        rest = after;
    }
    Some(if negative { -total } else { total })
}

/// One `<number><unit>` component, in nanoseconds, and the remaining text.
fn parse_duration_part(text: &str) -> Option<(i128, &str)> {
    let int_len = text.bytes().take_while(u8::is_ascii_digit).count();
    let (int_part, rest) = text.split_at(int_len);
    let (frac_part, rest) = match rest.strip_prefix('.') {
        Some(after) => {
            let len = after.bytes().take_while(u8::is_ascii_digit).count();
            after.split_at(len)
        }
        None => ("", rest),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let unit_len = rest
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(rest.len());
    let (unit, rest) = rest.split_at(unit_len);
    let scale: i128 = match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SECOND,
        "m" => 60 * NANOS_PER_SECOND,
        "h" => 3600 * NANOS_PER_SECOND,
        _ => return None,
    };
    let whole = if int_part.is_empty() {
        0
    } else {
        int_part.parse::<i128>().ok()?.checked_mul(scale)?
    };
    // Digits past the 18th are below a nanosecond even for hours.
    let frac_digits = &frac_part.as_bytes()[..frac_part.len().min(18)];
    let frac = digits(frac_digits)? * scale / 10i128.pow(frac_digits.len() as u32);
    Some((whole + frac, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_rfc3339() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59.5Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "1969-12-31T23:59:59.000000001Z",
        ] {
            assert_eq!(Timestamp::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn timestamp_offsets_are_normalised_to_utc() {
        let t = Timestamp::parse("2024-01-02T15:04:05+01:30").unwrap();
        assert_eq!(t.to_string(), "2024-01-02T13:34:05Z");
        assert_eq!(t.seconds(), 1_704_202_445);
    }

    #[test]
    fn invalid_timestamps_are_refused() {
        for text in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-02 15:04:05Z",
            "2024-01-02T15:04:05",
            "2024-01-02T24:00:00Z",
            "2024-01-02T15:04:05.Z",
        ] {
            assert!(Timestamp::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn go_durations_parse() {
        let secs = |s: &str| Duration::parse(s).unwrap().nanos() as f64 / 1e9;
        assert_eq!(secs("1h30m"), 5400.0);
        assert_eq!(secs("1.5s"), 1.5);
        assert_eq!(secs("-250ms"), -0.25);
        assert_eq!(secs("0"), 0.0);
        assert_eq!(secs("2us"), 0.000002);
        assert_eq!(Duration::parse("0.3s").unwrap().nanos(), 300_000_000);
        assert_eq!(Duration::parse("90s").unwrap().to_string(), "90s");
        assert_eq!(Duration::parse("-1.25s").unwrap().to_string(), "-1.25s");
        for bad in ["", "1", "s", "1x", "1h-2m", "."] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }
}
