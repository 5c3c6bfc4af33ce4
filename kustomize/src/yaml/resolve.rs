//! Plain-scalar resolution as Go's YAML libraries do it.
//!
//! kustomize reads YAML with go-yaml v3 (YAML 1.2-ish: only `true`/`false`
//! are booleans, but `0755` is octal and `1_000` an integer) and writes it
//! with go-yaml v2 (YAML 1.1: `yes`, `on`, `y` are booleans too, so such
//! strings must be quoted). Both share Go's `strconv` number syntax and the
//! timestamp check, which live here.

use serde_json::{Number, Value};

/// What a plain scalar means.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// `null`, `~` or the empty scalar.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (Go's `strconv.ParseInt`/`ParseUint` with base 0).
    Int(i128),
    /// A finite float.
    Float(f64),
    /// `.inf`, `-.inf` or `.nan`: valid YAML, but not representable in JSON.
    NonFinite,
    /// A timestamp, already rendered as Go's `time.Time` JSON form.
    Timestamp(String),
    /// A string.
    Str,
}

/// Resolves a plain scalar with go-yaml v3 rules (used when reading).
pub fn resolve_v3(s: &str) -> Resolved {
    resolve(s, false)
}

/// Whether go-yaml v2 may write `s` as a plain scalar without it being
/// read back as something other than a string.
pub fn plain_is_string_v2(s: &str) -> bool {
    resolve(s, true) == Resolved::Str && !is_base60_float(s)
}

fn resolve(s: &str, yaml11: bool) -> Resolved {
    let Some(first) = s.bytes().next() else {
        return Resolved::Null;
    };
    let hint = match first {
        b'+' | b'-' => 'S',
        b'0'..=b'9' => 'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => 'M',
        b'.' => '.',
        _ => return Resolved::Str,
    };
    match s {
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => return Resolved::NonFinite,
        _ => {}
    }
    if yaml11 {
        match s {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Resolved::Bool(true),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Resolved::Bool(false),
            _ => {}
        }
    }
    match hint {
        '.' => match parse_go_float(s) {
            Some(f) => Resolved::Float(f),
            None => Resolved::Str,
        },
        'D' | 'S' => {
            if let Some(ts) = parse_timestamp(s) {
                return Resolved::Timestamp(ts);
            }
            let plain: String = s.chars().filter(|c| *c != '_').collect();
            if let Some(i) = parse_go_int(&plain) {
                return Resolved::Int(i);
            }
            if is_yaml_style_float(&plain)
                && let Ok(f) = plain.parse::<f64>()
            {
                return Resolved::Float(f);
            }
            if yaml11
                && let Some(rest) = plain.strip_prefix("0b")
                && let Ok(i) = i128::from_str_radix(rest, 2)
            {
                return Resolved::Int(i);
            }
            Resolved::Str
        }
        _ => Resolved::Str,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` falling back to `ParseUint`.
fn parse_go_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(r) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, r)
    } else if let Some(r) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, r)
    } else if let Some(r) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, r)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    if neg {
        let v = -(i128::try_from(magnitude).ok()?);
        (v >= i128::from(i64::MIN)).then_some(v)
    } else if magnitude <= u128::from(u64::MAX) {
        i128::try_from(magnitude).ok()
    } else {
        None
    }
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn parse_go_float(s: &str) -> Option<f64> {
    if is_yaml_style_float(s) {
        s.parse::<f64>().ok()
    } else {
        None
    }
}

/// go-yaml v2's `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let group = &b[start..i];
        let ok = match group.len() {
            1 => true,
            2 => group[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// Go YAML's timestamp check (`2006-1-2`, `2006-1-2T15:4:5.999999999Z07:00`,
/// with `t` or a space as separator); returns the `time.Time` JSON rendering.
fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let mut p = Cursor { b, i: 5 };
    let year: u32 = s[..4].parse().ok()?;
    let month = p.num(1, 2)?;
    p.lit(b'-')?;
    let day = p.num(1, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if p.done() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let sep = p.next()?;
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    let hour = p.num(1, 2)?;
    p.lit(b':')?;
    let minute = p.num(1, 2)?;
    p.lit(b':')?;
    let second = p.num(1, 2)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut frac = String::new();
    if p.peek() == Some(b'.') {
        p.i += 1;
        while let Some(c) = p.peek().filter(u8::is_ascii_digit) {
            frac.push(c as char);
            p.i += 1;
        }
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
    }
    let zone = if sep == b' ' {
        if !p.done() {
            return None;
        }
        "Z".to_string()
    } else {
        match p.next()? {
            b'Z' => "Z".to_string(),
            c @ (b'+' | b'-') => {
                let zh = p.num(2, 2)?;
                p.lit(b':')?;
                let zm = p.num(2, 2)?;
                if zh == 0 && zm == 0 {
                    "Z".to_string()
                } else {
                    format!("{}{zh:02}:{zm:02}", c as char)
                }
            }
            _ => return None,
        }
    };
    if !p.done() {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    Some(format!(
        "{date}T{hour:02}:{minute:02}:{second:02}{frac}{zone}"
    ))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn lit(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }
    fn num(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        while self.i - start < max && self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i - start < min {
            return None;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Converts a resolved plain scalar into the JSON value kustomize would
/// produce for it, or `None` when kustomize cannot represent it in JSON.
pub fn to_json(s: &str, resolved: Resolved) -> Option<Value> {
    Some(match resolved {
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => {
            if let Ok(v) = i64::try_from(i) {
                Value::Number(v.into())
            } else {
                Value::Number(u64::try_from(i).ok()?.into())
            }
        }
        Resolved::Float(f) => Value::Number(Number::from_f64(f)?),
        Resolved::NonFinite => return None,
        Resolved::Timestamp(t) => Value::String(t),
        Resolved::Str => Value::String(s.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_numbers_follow_go_strconv() {
        assert_eq!(resolve_v3("0755"), Resolved::Int(493));
        assert_eq!(resolve_v3("0o17"), Resolved::Int(15));
        assert_eq!(resolve_v3("1_000"), Resolved::Int(1000));
        assert_eq!(resolve_v3("0x1F"), Resolved::Int(31));
        assert_eq!(resolve_v3("089"), Resolved::Float(89.0));
        assert_eq!(resolve_v3("1e3"), Resolved::Float(1000.0));
        assert_eq!(resolve_v3(".5"), Resolved::Float(0.5));
        assert_eq!(resolve_v3("yes"), Resolved::Str);
        assert_eq!(resolve_v3("10:30"), Resolved::Str);
    }

    #[test]
    fn v2_quotes_yaml11_scalars() {
        for s in [
            "yes",
            "y",
            "on",
            "Off",
            "10:30",
            "1e3",
            "0.1",
            "",
            "~",
            "2001-12-14",
        ] {
            assert!(!plain_is_string_v2(s), "{s}");
        }
        for s in ["it's", "abc", "1.2.3", "v1"] {
            assert!(plain_is_string_v2(s), "{s}");
        }
    }

    #[test]
    fn timestamps_render_like_go_time() {
        assert_eq!(
            parse_timestamp("2001-12-14").as_deref(),
            Some("2001-12-14T00:00:00Z")
        );
        assert_eq!(
            parse_timestamp("2001-12-14t21:59:43.10-05:00").as_deref(),
            Some("2001-12-14T21:59:43.1-05:00")
        );
        assert_eq!(parse_timestamp("2001-13-14"), None);
    }
}
