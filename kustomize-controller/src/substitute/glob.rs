//! Bash pattern matching (`*`, `?`, `[...]`) for the `#`, `%` and `/`
//! operators of `${var...}` expressions.
//!
//! Patterns are compiled to a list of single-character matchers and stars
//! and run as a small NFA, so every operator costs O(text × pattern) per
//! starting position and no input can make matching backtrack
//! exponentially. Matching works on characters, not bytes, as bash does in
//! a UTF-8 locale.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A character that must match itself.
    Literal(char),
    /// `?`: any single character.
    Any,
    /// `*`: any run of characters, including none.
    Star,
    /// `[...]`: one character in (or, negated, not in) a set.
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
}

/// One member of a bracket expression.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ClassItem {
    Char(char),
    Range(char, char),
    Named(NamedClass),
}

/// The POSIX character classes bash knows (`[[:alpha:]]`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NamedClass {
    Alnum,
    Alpha,
    Blank,
    Cntrl,
    Digit,
    Graph,
    Lower,
    Print,
    Punct,
    Space,
    Upper,
    Xdigit,
}

impl NamedClass {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "alnum" => Self::Alnum,
            "alpha" => Self::Alpha,
            "blank" => Self::Blank,
            "cntrl" => Self::Cntrl,
            "digit" => Self::Digit,
            "graph" => Self::Graph,
            "lower" => Self::Lower,
            "print" => Self::Print,
            "punct" => Self::Punct,
            "space" => Self::Space,
            "upper" => Self::Upper,
            "xdigit" => Self::Xdigit,
            _ => return None,
        })
    }

    fn contains(self, c: char) -> bool {
        match self {
            Self::Alnum => c.is_alphanumeric(),
            Self::Alpha => c.is_alphabetic(),
            Self::Blank => c == ' ' || c == '\t',
            Self::Cntrl => c.is_control(),
            Self::Digit => c.is_ascii_digit(),
            Self::Graph => !c.is_control() && !c.is_whitespace(),
            Self::Lower => c.is_lowercase(),
            Self::Print => !c.is_control(),
            Self::Punct => c.is_ascii_punctuation(),
            Self::Space => c.is_whitespace(),
            Self::Upper => c.is_uppercase(),
            Self::Xdigit => c.is_ascii_hexdigit(),
        }
    }
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::Any => true,
            Token::Star => true,
            Token::Class { negated, items } => {
                let found = items.iter().any(|item| match item {
                    ClassItem::Char(x) => *x == c,
                    ClassItem::Range(lo, hi) => (*lo..=*hi).contains(&c),
                    ClassItem::Named(n) => n.contains(c),
                });
                found != *negated
            }
        }
    }
}

/// A compiled bash pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    /// Compiles `pattern`. A backslash makes the next character literal; an
    /// unterminated `[` is a literal `[`, as in bash.
    pub(super) fn new(pattern: &str) -> Self {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' if i + 1 < chars.len() => {
                    tokens.push(Token::Literal(chars[i + 1]));
                    i += 2;
                }
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                '[' => match parse_class(&chars, i + 1) {
                    Some((token, next)) => {
                        tokens.push(token);
                        i = next;
                    }
                    None => {
                        tokens.push(Token::Literal('['));
                        i += 1;
                    }
                },
                c => {
                    tokens.push(Token::Literal(c));
                    i += 1;
                }
            }
        }
        Self { tokens }
    }

    /// The same pattern read backwards, for matching reversed text.
    fn reversed(&self) -> Self {
        Self {
            tokens: self.tokens.iter().rev().cloned().collect(),
        }
    }

    /// Every `n` such that the pattern matches exactly `text[..n]`, in
    /// increasing order.
    fn prefix_match_lengths(&self, text: &[char]) -> Vec<usize> {
        let states = self.tokens.len() + 1;
        let mut current = vec![false; states];
        current[0] = true;
        self.close(&mut current);
        let mut lengths = Vec::new();
        if current[states - 1] {
            lengths.push(0);
        }
        for (i, &c) in text.iter().enumerate() {
            let mut next = vec![false; states];
            for (state, active) in current.iter().enumerate() {
                if !active || state == states - 1 {
                    continue;
                }
                let token = &self.tokens[state];
                if token.matches(c) {
                    let target = if *token == Token::Star {
                        state
                    } else {
                        state + 1
                    };
                    next[target] = true;
                }
            }
            self.close(&mut next);
            if !next.iter().any(|s| *s) {
                break;
            }
            if next[states - 1] {
                lengths.push(i + 1);
            }
            current = next;
        }
        lengths
    }

    /// Adds the states reachable by letting stars match nothing.
    fn close(&self, states: &mut [bool]) {
        for state in 0..self.tokens.len() {
            if states[state] && self.tokens[state] == Token::Star {
                states[state + 1] = true;
            }
        }
    }
}

/// Parses a bracket expression whose content starts at `start` (just after
/// the `[`); returns the token and the index after the closing `]`, or
/// `None` when the bracket is not closed.
fn parse_class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start;
    let negated = matches!(chars.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let first = i;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && i > first {
            return Some((Token::Class { negated, items }, i + 1));
        }
        if c == '[' && chars.get(i + 1) == Some(&':') {
            let rest: String = chars[i + 2..].iter().collect();
            if let Some(end) = rest.find(":]")
                && let Some(class) = NamedClass::parse(&rest[..end])
            {
                items.push(ClassItem::Named(class));
                i += 2 + rest[..end].chars().count() + 2;
                continue;
            }
        }
        let (lo, after) = if c == '\\' && i + 1 < chars.len() {
            (chars[i + 1], i + 2)
        } else {
            (c, i + 1)
        };
        if chars.get(after) == Some(&'-') && chars.get(after + 1).is_some_and(|h| *h != ']') {
            let (hi, next) = if chars[after + 1] == '\\' && after + 2 < chars.len() {
                (chars[after + 2], after + 3)
            } else {
                (chars[after + 1], after + 2)
            };
            items.push(ClassItem::Range(lo, hi));
            i = next;
        } else {
            items.push(ClassItem::Char(lo));
            i = after;
        }
    }
}

fn collect(chars: &[char]) -> String {
    chars.iter().collect()
}

/// `${var#pat}` (`longest == false`) and `${var##pat}`: removes the
/// shortest or longest prefix matching the pattern.
pub(super) fn remove_prefix(value: &str, pattern: &Pattern, longest: bool) -> String {
    let text: Vec<char> = value.chars().collect();
    let lengths = pattern.prefix_match_lengths(&text);
    let cut = if longest {
        lengths.last()
    } else {
        lengths.first()
    };
    match cut {
        Some(&n) => collect(&text[n..]),
        None => value.to_string(),
    }
}

/// `${var%pat}` (`longest == false`) and `${var%%pat}`: removes the
/// shortest or longest suffix matching the pattern.
pub(super) fn remove_suffix(value: &str, pattern: &Pattern, longest: bool) -> String {
    let text: Vec<char> = value.chars().collect();
    let reversed: Vec<char> = text.iter().rev().copied().collect();
    let lengths = pattern.reversed().prefix_match_lengths(&reversed);
    let cut = if longest {
        lengths.last()
    } else {
        lengths.first()
    };
    match cut {
        Some(&n) => collect(&text[..text.len() - n]),
        None => value.to_string(),
    }
}

/// Where a `${var/pat/rep}` replacement applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReplaceMode {
    /// `/`: the first (leftmost, longest) match.
    First,
    /// `//`: every non-overlapping match, left to right.
    All,
    /// `/#`: a match anchored at the start.
    Prefix,
    /// `/%`: a match anchored at the end.
    Suffix,
}

/// `${var/pat/rep}` and its `//`, `/#` and `/%` forms, with bash's
/// leftmost-longest matching. An empty pattern changes nothing, except
/// that `/#` and `/%` then insert `replacement` at the start or end.
pub(super) fn replace(value: &str, pattern: &str, replacement: &str, mode: ReplaceMode) -> String {
    let compiled = Pattern::new(pattern);
    let text: Vec<char> = value.chars().collect();
    match mode {
        ReplaceMode::Prefix => match compiled.prefix_match_lengths(&text).last() {
            Some(&n) => format!("{replacement}{}", collect(&text[n..])),
            None => value.to_string(),
        },
        ReplaceMode::Suffix => {
            let reversed: Vec<char> = text.iter().rev().copied().collect();
            match compiled.reversed().prefix_match_lengths(&reversed).last() {
                Some(&n) => format!("{}{replacement}", collect(&text[..text.len() - n])),
                None => value.to_string(),
            }
        }
        ReplaceMode::First | ReplaceMode::All if pattern.is_empty() => value.to_string(),
        ReplaceMode::First | ReplaceMode::All => {
            let mut out = String::new();
            let mut pos = 0;
            while pos <= text.len() {
                let found = (pos..=text.len()).find_map(|start| {
                    compiled
                        .prefix_match_lengths(&text[start..])
                        .last()
                        .map(|&n| (start, n))
                });
                let Some((start, n)) = found else { break };
                out.push_str(&collect(&text[pos..start]));
                out.push_str(replacement);
                pos = start + n;
                if mode == ReplaceMode::First {
                    break;
                }
                if n == 0 {
                    match text.get(pos) {
                        Some(c) => out.push(*c),
                        None => return out,
                    }
                    pos += 1;
                }
            }
            if pos <= text.len() {
                out.push_str(&collect(&text[pos..]));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        Pattern::new(pattern)
            .prefix_match_lengths(&chars)
            .last()
            .is_some_and(|n| *n == chars.len())
    }

    #[test]
    fn wildcards_and_classes() {
        assert!(matches("*", ""));
        assert!(matches("a*c", "abbbc"));
        assert!(!matches("a*c", "abbb"));
        assert!(matches("a?c", "abc"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[!a-c]x", "bx"));
        assert!(matches("[^a-c]x", "dx"));
        assert!(matches("[]]", "]"));
        assert!(matches("[a-]", "-"));
        assert!(matches("[[:digit:]][[:alpha:]]", "1é"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("a\\*", "ab"));
        assert!(matches("x[", "x["));
    }

    #[test]
    fn star_heavy_patterns_stay_linear() {
        let text = "a".repeat(2_000);
        let pattern = Pattern::new(&"*a".repeat(50));
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(pattern.prefix_match_lengths(&chars).last(), Some(&2_000));
    }

    #[test]
    fn empty_match_in_replace_all_advances() {
        assert_eq!(replace("", "*", "Z", ReplaceMode::All), "Z");
        assert_eq!(replace("abc", "", "Z", ReplaceMode::All), "abc");
        assert_eq!(replace("abc", "", "Z", ReplaceMode::Prefix), "Zabc");
    }
}
