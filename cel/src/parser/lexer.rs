//! Turns CEL source text into tokens.
//!
//! Number, string and identifier rules follow the CEL language definition
//! (github.com/google/cel-spec, doc/langdef.md, "Syntax"): decimal and hex
//! integers with an optional `u` suffix, doubles with a `.` or exponent,
//! single-, double- and triple-quoted strings with C-like escapes, raw
//! strings (`r'...'`) without escapes, and backtick-quoted field names.
//! Bytes literals are refused with a clear message; nothing in Flux's CEL
//! fields needs them.

use crate::error::{CelError, Result};

/// A lexical token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An integer literal without sign; range is checked by the parser,
    /// which knows whether a `-` precedes it.
    Int(u64),
    Uint(u64),
    Double(f64),
    String(String),
    Ident(String),
    /// A backtick-quoted field name (`` a.`b-c` ``).
    QuotedIdent(String),
    True,
    False,
    Null,
    In,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Colon,
    Question,
    Not,
    Minus,
    Plus,
    Star,
    Slash,
    Percent,
    Lt,
    Le,
    Gt,
    Ge,
    EqEq,
    Ne,
    AndAnd,
    OrOr,
    Eof,
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: usize,
}

/// Words CEL reserves; using one as an identifier is a syntax error.
const RESERVED: &[&str] = &[
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Splits `source` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>> {
    let mut lexer = Lexer { source, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_trivia();
        let pos = lexer.pos;
        let tok = lexer.next_token()?;
        let done = tok == Tok::Eof;
        tokens.push(Token { tok, pos });
        if done {
            return Ok(tokens);
        }
    }
}

struct Lexer<'s> {
    source: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    fn rest(&self) -> &'s str {
        &self.source[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn error(&self, pos: usize, message: impl Into<String>) -> CelError {
        CelError::syntax(self.source, pos, message)
    }

    fn skip_trivia(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\n' | '\r' | '\x0c') => {
                    self.bump();
                }
                Some('/') if self.peek_at(1) == Some('/') => {
                    let end = self.rest().find('\n').unwrap_or(self.rest().len());
                    self.pos += end;
                }
                _ => return,
            }
        }
    }

    fn next_token(&mut self) -> Result<Tok> {
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Tok::Eof);
        };
        if c.is_ascii_digit() || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) {
            return self.number();
        }
        if c == '\'' || c == '"' {
            return self.string(false).map(Tok::String);
        }
        if c == '`' {
            return self.quoted_ident();
        }
        if c == '_' || c.is_ascii_alphabetic() {
            return self.word();
        }
        self.bump();
        let two = |lexer: &mut Self, next: char, yes: Tok, no: Tok| {
            if lexer.peek() == Some(next) {
                lexer.bump();
                yes
            } else {
                no
            }
        };
        Ok(match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            ',' => Tok::Comma,
            '.' => Tok::Dot,
            ':' => Tok::Colon,
            '?' => Tok::Question,
            '-' => Tok::Minus,
            '+' => Tok::Plus,
            '*' => Tok::Star,
            '/' => Tok::Slash,
            '%' => Tok::Percent,
            '<' => two(self, '=', Tok::Le, Tok::Lt),
            '>' => two(self, '=', Tok::Ge, Tok::Gt),
            '!' => two(self, '=', Tok::Ne, Tok::Not),
            '=' if self.peek() == Some('=') => two(self, '=', Tok::EqEq, Tok::EqEq),
            '&' if self.peek() == Some('&') => two(self, '&', Tok::AndAnd, Tok::AndAnd),
            '|' if self.peek() == Some('|') => two(self, '|', Tok::OrOr, Tok::OrOr),
            other => return Err(self.error(start, format!("unexpected character '{other}'"))),
        })
    }

    fn word(&mut self) -> Result<Tok> {
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
            .unwrap_or(self.rest().len());
        let word = &self.source[start..start + len];
        let prefix_of_string =
            matches!(self.source[start + len..].chars().next(), Some('\'' | '"'));
        if prefix_of_string && matches!(word, "r" | "R") {
            self.pos += len;
            return self.string(true).map(Tok::String);
        }
        if prefix_of_string && word.len() <= 2 && word.chars().all(|c| "bBrR".contains(c)) {
            return Err(self.error(start, "bytes literals are not supported"));
        }
        self.pos += len;
        Ok(match word {
            "true" => Tok::True,
            "false" => Tok::False,
            "null" => Tok::Null,
            "in" => Tok::In,
            w if RESERVED.contains(&w) => {
                return Err(self.error(start, format!("reserved identifier '{w}'")));
            }
            w => Tok::Ident(w.to_string()),
        })
    }

    fn quoted_ident(&mut self) -> Result<Tok> {
        let start = self.pos;
        self.bump();
        let len = self
            .rest()
            .find('`')
            .ok_or_else(|| self.error(start, "unterminated quoted identifier"))?;
        let name = self.rest()[..len].to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-/ ".contains(c))
        {
            return Err(self.error(start, format!("invalid quoted identifier `{name}`")));
        }
        self.pos += len + 1;
        Ok(Tok::QuotedIdent(name))
    }

    fn number(&mut self) -> Result<Tok> {
        let start = self.pos;
        let rest = self.rest();
        if rest.starts_with("0x") || rest.starts_with("0X") {
            let len = rest[2..]
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(rest.len() - 2);
            let value = u64::from_str_radix(&rest[2..2 + len], 16)
                .map_err(|_| self.error(start, "invalid hex integer literal"))?;
            self.pos += 2 + len;
            return Ok(self.int_suffix(value));
        }
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mut len = int_len;
        let mut is_double = false;
        let after = &rest[len..];
        if after.starts_with('.') && after[1..].starts_with(|c: char| c.is_ascii_digit()) {
            is_double = true;
            len += 1 + after[1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len() - 1);
        }
        if let Some(exp_len) = exponent_len(&rest[len..]) {
            is_double = true;
            len += exp_len;
        }
        let text = &rest[..len];
        self.pos += len;
        if is_double {
            let value = text
                .parse()
                .map_err(|_| self.error(start, "invalid double literal"))?;
            return Ok(Tok::Double(value));
        }
        let value = text
            .parse()
            .map_err(|_| self.error(start, "integer literal out of range"))?;
        Ok(self.int_suffix(value))
    }

    fn int_suffix(&mut self, value: u64) -> Tok {
        if matches!(self.peek(), Some('u' | 'U')) {
            self.bump();
            Tok::Uint(value)
        } else {
            Tok::Int(value)
        }
    }

    /// Reads a string literal whose opening quote is at the cursor.
    fn string(&mut self, raw: bool) -> Result<String> {
        let start = self.pos;
        let quote = self.bump().unwrap_or('"');
        let triple: String = [quote; 3].iter().collect();
        let is_triple = self.source[start..].starts_with(&triple);
        if is_triple {
            self.pos = start + 3;
        }
        let mut out = String::new();
        loop {
            if is_triple && self.rest().starts_with(&triple) {
                self.pos += 3;
                return Ok(out);
            }
            match self.bump() {
                None => return Err(self.error(start, "unterminated string literal")),
                Some(c) if c == quote && !is_triple => return Ok(out),
                Some('\n' | '\r') if !is_triple => {
                    return Err(self.error(start, "unterminated string literal"));
                }
                Some('\\') if !raw => out.push(self.escape()?),
                Some(c) => out.push(c),
            }
        }
    }

    /// Decodes the escape sequence after a backslash.
    fn escape(&mut self) -> Result<char> {
        let start = self.pos - 1;
        let c = self
            .bump()
            .ok_or_else(|| self.error(start, "unterminated string literal"))?;
        let code = match c {
            '\\' | '?' | '"' | '\'' | '`' => return Ok(c),
            'a' => return Ok('\x07'),
            'b' => return Ok('\x08'),
            'f' => return Ok('\x0c'),
            'n' => return Ok('\n'),
            'r' => return Ok('\r'),
            't' => return Ok('\t'),
            'v' => return Ok('\x0b'),
            'x' | 'X' => self.hex_digits(2),
            'u' => self.hex_digits(4),
            'U' => self.hex_digits(8),
            '0'..='3' => self.octal(c),
            _ => None,
        };
        code.and_then(char::from_u32)
            .ok_or_else(|| self.error(start, format!("invalid escape sequence '\\{c}'")))
    }

    fn hex_digits(&mut self, n: usize) -> Option<u32> {
        let digits = self.rest().get(..n)?;
        let value = u32::from_str_radix(digits, 16).ok()?;
        self.pos += n;
        Some(value)
    }

    fn octal(&mut self, first: char) -> Option<u32> {
        let digits = self.rest().get(..2)?;
        if !digits.chars().all(|c| ('0'..='7').contains(&c)) {
            return None;
        }
        self.pos += 2;
        u32::from_str_radix(&format!("{first}{digits}"), 8).ok()
    }
}

/// Length of an exponent (`e10`, `E-3`) at the start of `s`, if any.
fn exponent_len(s: &str) -> Option<usize> {
    let rest = s.strip_prefix(['e', 'E'])?;
    let sign = usize::from(rest.starts_with(['+', '-']));
    let digits = rest[sign..]
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len() - sign);
    (digits > 0).then_some(1 + sign + digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(source: &str) -> Vec<Tok> {
        tokenize(source)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn string(source: &str) -> String {
        match &toks(source)[..] {
            [Tok::String(s), Tok::Eof] => s.clone(),
            other => panic!("{source}: {other:?}"),
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(
            toks("1 2u 0x1F 0x1fU 1.5 .5 1e3 2.5E-1 7"),
            vec![
                Tok::Int(1),
                Tok::Uint(2),
                Tok::Int(31),
                Tok::Uint(31),
                Tok::Double(1.5),
                Tok::Double(0.5),
                Tok::Double(1000.0),
                Tok::Double(0.25),
                Tok::Int(7),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn member_call_on_int_is_not_a_double() {
        assert_eq!(
            toks("1.size")[..3],
            [Tok::Int(1), Tok::Dot, Tok::Ident("size".into())]
        );
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(string(r#""a\n\t\"b""#), "a\n\t\"b");
        assert_eq!(string(r"'\x41\u00e9\U0001F600\101'"), "Aé😀A");
        assert_eq!(string("'''multi\nline ' quote'''"), "multi\nline ' quote");
        assert_eq!(string(r#""""x""""#), "x");
        assert_eq!(string(r"r'\d+\.'"), r"\d+\.");
        assert_eq!(string(r#"R"a\b""#), r"a\b");
    }

    #[test]
    fn operators_and_comments() {
        assert_eq!(
            toks("a<=b // comment\n&& !c != d || e in f"),
            vec![
                Tok::Ident("a".into()),
                Tok::Le,
                Tok::Ident("b".into()),
                Tok::AndAnd,
                Tok::Not,
                Tok::Ident("c".into()),
                Tok::Ne,
                Tok::Ident("d".into()),
                Tok::OrOr,
                Tok::Ident("e".into()),
                Tok::In,
                Tok::Ident("f".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn refused_input_reports_position() {
        let err = tokenize("a &&\n  b'x'").unwrap_err();
        assert_eq!(
            err.to_string(),
            "syntax error at line 2, column 3: bytes literals are not supported"
        );
        for bad in [
            "'abc",
            "'a\nb'",
            r"'\q'",
            "a & b",
            "a = b",
            "99999999999999999999",
            "if",
            "#",
        ] {
            assert!(tokenize(bad).is_err(), "{bad}");
        }
    }
}
