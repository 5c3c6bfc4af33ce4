//! Flux duration strings and requeue jitter.
//!
//! Every Flux `interval`, `retryInterval` and `timeout` is a Go duration string
//! (`1m30s`, `500ms`, `1.5h`). [`parse_duration`] accepts exactly what Go's
//! `time.ParseDuration` accepts (minus negative values, which no Flux field
//! allows), so a manifest that works with Flux works here, and
//! [`format_duration`] prints durations the way Go does, so messages read the same.
//!
//! [`jitter`] spreads success requeues over `interval ± percentage` so that
//! objects created together do not reconcile in lock step forever
//! (`--interval-jitter-percentage`, fluxcd/pkg `runtime/jitter`).

use std::time::Duration;

use crate::error::{Error, Result};

/// Default of `--interval-jitter-percentage`.
pub const DEFAULT_JITTER_PERCENTAGE: u8 = 5;

const NANOS_PER_MICRO: u128 = 1_000;
const NANOS_PER_MILLI: u128 = 1_000_000;
const NANOS_PER_SECOND: u128 = 1_000_000_000;
const NANOS_PER_MINUTE: u128 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: u128 = 60 * NANOS_PER_MINUTE;
/// Fraction digits beyond this cannot change a nanosecond count of any unit,
/// and keeping at most this many keeps `fraction * scale` far from overflow.
const MAX_FRACTION_DIGITS: usize = 18;

/// Parses a Go duration string (`1m30s`, `500ms`, `1.5h`, `0`).
///
/// Accepts the units `ns`, `us` (`µs`, `μs`), `ms`, `s`, `m` and `h`, decimal
/// fractions and several components in a row, like Go's `time.ParseDuration`.
/// A leading `+` is allowed; negative durations are rejected because no Flux
/// field can be negative and [`Duration`] cannot represent them.
pub fn parse_duration(input: &str) -> Result<Duration> {
    let invalid = |reason: &'static str| Error::ParseDuration {
        input: input.to_owned(),
        reason,
    };
    let mut rest = input.strip_prefix('+').unwrap_or(input);
    if rest.starts_with('-') {
        return Err(invalid("negative durations are not allowed"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid("empty duration"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after_int) = rest.split_at(int_len);
        let (frac_digits, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid("expected a number"));
        }
        let unit_len = after_number
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_number.len(), |(i, _)| i);
        let (unit, after_unit) = after_number.split_at(unit_len);
        let scale = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SECOND,
            "m" => NANOS_PER_MINUTE,
            "h" => NANOS_PER_HOUR,
            "" => return Err(invalid("missing unit")),
            _ => return Err(invalid("unknown unit")),
        };
        let whole = parse_digits(int_digits).ok_or_else(|| invalid("value out of range"))?;
        let mut nanos = whole
            .checked_mul(scale)
            .ok_or_else(|| invalid("value out of range"))?;
        if !frac_digits.is_empty() {
            // Only as many fraction digits as can matter at nanosecond precision.
            let digits = &frac_digits[..frac_digits.len().min(MAX_FRACTION_DIGITS)];
            let numerator = parse_digits(digits).ok_or_else(|| invalid("value out of range"))?;
            let denominator = 10u128.pow(digits.len() as u32);
            nanos += numerator * scale / denominator;
        }
        total = total
            .checked_add(nanos)
            .ok_or_else(|| invalid("value out of range"))?;
        rest = after_unit;
    }
    let secs =
        u64::try_from(total / NANOS_PER_SECOND).map_err(|_| invalid("value out of range"))?;
    // The remainder of a division by 10^9 always fits in u32.
    let sub = u32::try_from(total % NANOS_PER_SECOND).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

fn parse_digits(digits: &str) -> Option<u128> {
    if digits.is_empty() {
        return Some(0);
    }
    digits.parse().ok()
}

/// Formats a duration like Go's `time.Duration.String()`: `1h30m0s`, `1m30s`,
/// `500ms`, `1.5µs`, `0s`.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < NANOS_PER_SECOND {
        let (scale, unit) = if nanos < NANOS_PER_MICRO {
            (1, "ns")
        } else if nanos < NANOS_PER_MILLI {
            (NANOS_PER_MICRO, "µs")
        } else {
            (NANOS_PER_MILLI, "ms")
        };
        return format!("{}{unit}", decimal(nanos, scale));
    }
    let hours = nanos / NANOS_PER_HOUR;
    let minutes = nanos % NANOS_PER_HOUR / NANOS_PER_MINUTE;
    let seconds = decimal(nanos % NANOS_PER_MINUTE, NANOS_PER_SECOND);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `value / scale` as a decimal without trailing zeros.
fn decimal(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Applies `± percentage` jitter to `interval`, using `unit` (a value in
/// `[0, 1)`, normally random) to pick the point in that range.
///
/// Guarantees `interval * (1 - p) <= result <= interval * (1 + p)` with
/// `p = percentage / 100`; `unit = 0.5` yields `interval` unchanged.
/// Percentages above 100 are treated as 100 so the result is never negative.
pub fn jitter_with(interval: Duration, percentage: u8, unit: f64) -> Duration {
    let fraction = f64::from(percentage.min(100)) / 100.0;
    let unit = unit.clamp(0.0, 1.0);
    let factor = 1.0 + fraction * (2.0 * unit - 1.0);
    interval.mul_f64(factor.max(0.0))
}

/// Applies random `± percentage` jitter to `interval` (see [`jitter_with`]).
pub fn jitter(interval: Duration, percentage: u8) -> Duration {
    jitter_with(interval, percentage, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        match parse_duration(s) {
            Ok(d) => d,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_flux_intervals() {
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("10m"), Duration::from_secs(600));
        assert_eq!(ok("1h0m0s"), Duration::from_secs(3600));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("+5s"), Duration::from_secs(5));
    }

    #[test]
    fn parses_go_extras() {
        assert_eq!(ok("1ns"), Duration::from_nanos(1));
        assert_eq!(ok("2us"), Duration::from_micros(2));
        assert_eq!(ok("2µs"), Duration::from_micros(2));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("1.s"), Duration::from_secs(1));
        assert_eq!(ok("1.000000001s"), Duration::new(1, 1));
        assert_eq!(ok("2h45m3.5s"), Duration::from_millis(9_903_500));
    }

    #[test]
    fn rejects_invalid_durations() {
        for bad in [
            "", "10", "1x", "-1s", "s", ".s", "1m30", "1.5.5s", "abc", " 1s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn rejects_overflow() {
        assert!(parse_duration("99999999999999999999999999999999999999h").is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(format_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(format_duration(Duration::from_secs(15 * 60)), "15m0s");
        assert_eq!(format_duration(Duration::from_millis(750)), "750ms");
    }

    #[test]
    fn format_and_parse_round_trip() {
        for d in [
            Duration::from_millis(1),
            Duration::from_millis(90_250),
            Duration::from_secs(5400),
        ] {
            assert_eq!(ok(&format_duration(d)), d);
        }
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let interval = Duration::from_secs(600);
        assert_eq!(jitter_with(interval, 5, 0.0), Duration::from_secs(570));
        assert_eq!(jitter_with(interval, 5, 0.5), interval);
        assert_eq!(jitter_with(interval, 5, 1.0), Duration::from_secs(630));
        for _ in 0..1000 {
            let d = jitter(interval, 5);
            assert!(
                d >= Duration::from_secs(570) && d <= Duration::from_secs(630),
                "{d:?}"
            );
        }
    }

    #[test]
    fn zero_jitter_keeps_interval() {
        let interval = Duration::from_secs(60);
        assert_eq!(jitter_with(interval, 0, 0.0), interval);
        assert_eq!(jitter_with(interval, 0, 0.99), interval);
    }

    #[test]
    fn jitter_never_goes_negative() {
        assert_eq!(
            jitter_with(Duration::from_secs(10), 200, 0.0),
            Duration::ZERO
        );
    }
}
