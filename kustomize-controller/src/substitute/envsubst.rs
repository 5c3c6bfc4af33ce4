//! The `${var}` template language of Flux's post-build substitution
//! (fluxcd/pkg `envsubst`), with bash's semantics for each operator.
//!
//! Text is copied as is except for three forms: `${...}` is an expression,
//! `$$` is an escaped `$` (so `$${var}` renders `${var}`), and a `$` followed
//! by anything else, including `$var`, is left untouched.
//!
//! Where fluxcd/pkg and bash disagree, this follows bash (documented
//! behaviour of the upstream README): `${var-x}` and `${var=x}` only use `x`
//! when `var` is undefined, not when it is empty; patterns of the `/`
//! operators are globs; default words are evaluated only when used; offsets
//! and lengths count characters, not bytes. `${var=x}` does not assign.

use std::collections::BTreeMap;

use super::SubstituteError;
use super::glob::{self, Pattern, ReplaceMode};

/// A parsed template: literal text and expressions, in order.
type Word = Vec<Part>;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Expr(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
struct Expr {
    name: String,
    op: Op,
    /// Byte offset of the `${` in the template, for error messages.
    at: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    /// `${var-word}`, `${var=word}` (`if_empty == false`), `${var:-word}`,
    /// `${var:=word}` (`if_empty == true`): the only operators that accept
    /// an undefined variable in strict mode.
    Default { if_empty: bool, word: Word },
    /// Every other operator: reads the variable's value.
    Transform(Transform),
}

#[derive(Debug, Clone, PartialEq)]
enum Transform {
    /// `${var}`.
    Value,
    /// `${#var}`.
    Length,
    /// `${var^}`, `${var^^}`, `${var,}`, `${var,,}`.
    Case { upper: bool, all: bool },
    /// `${var:offset}`, `${var:offset:length}`.
    Substring { offset: Word, length: Option<Word> },
    /// `${var#pat}`, `${var##pat}`.
    RemovePrefix { longest: bool, pattern: Word },
    /// `${var%pat}`, `${var%%pat}`.
    RemoveSuffix { longest: bool, pattern: Word },
    /// `${var/pat/rep}` and its `//`, `/#`, `/%` forms.
    Replace {
        mode: ReplaceMode,
        pattern: Word,
        replacement: Word,
    },
}

/// Why a `${...}` expression could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxError {
    /// `${` is not followed by a variable name (`${}`, `${ x}`).
    MissingName,
    /// The input ends inside an expression.
    MissingClosingBrace,
    /// The variable name is followed by something that is no operator.
    BadOperator,
    /// An operator Flux does not support (`+`, `:+`, `?`, `:?`).
    Unsupported(&'static str),
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyntaxError::MissingName => f.write_str("missing variable name after '${'"),
            SyntaxError::MissingClosingBrace => f.write_str("missing closing brace '}'"),
            SyntaxError::BadOperator => f.write_str("bad substitution"),
            SyntaxError::Unsupported(op) => write!(f, "operator '{op}' is not supported"),
        }
    }
}

/// Which characters end a word inside an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// `}`.
    Brace,
    /// `:` or `}` (substring offset).
    ColonOrBrace,
    /// An unescaped `/` or `}` (replace pattern).
    SlashOrBrace,
    /// `}`, with `\/` and `\\` unescaped (replacement).
    Replacement,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut chars = self.src[self.pos..].chars();
        chars.next();
        chars.next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn error(&self, at: usize, kind: SyntaxError) -> SubstituteError {
        let (line, column) = line_column(self.src, at);
        SubstituteError::Syntax { line, column, kind }
    }

    /// Top level: text up to the end of input.
    fn template(&mut self) -> Result<Word, SubstituteError> {
        self.word(None)
    }

    /// Parses text and expressions until `until` (or the end of input when
    /// `None`). `$$` is an escaped `$`; in a replace pattern a backslash
    /// escape is kept for the glob; in a replacement `\/` and `\\` are
    /// unescaped, as in fluxcd/pkg.
    fn word(&mut self, until: Option<Until>) -> Result<Word, SubstituteError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        while let Some(c) = self.peek() {
            match (c, until) {
                ('}', Some(_)) => break,
                (':', Some(Until::ColonOrBrace)) => break,
                ('/', Some(Until::SlashOrBrace)) => break,
                ('\\', Some(Until::SlashOrBrace)) if self.peek2().is_some() => {
                    // Kept escaped: the glob reads `\x` as a literal `x`, and
                    // an escaped `/` does not end the pattern.
                    let escaped = self.peek2().map_or(0, char::len_utf8);
                    text.push_str(&self.src[self.pos..self.pos + 1 + escaped]);
                    self.pos += 1 + escaped;
                }
                ('\\', Some(Until::Replacement)) if matches!(self.peek2(), Some('/' | '\\')) => {
                    text.push(self.peek2().unwrap_or('\\'));
                    self.pos += 2;
                }
                ('$', _) if self.peek2() == Some('$') => {
                    text.push('$');
                    self.pos += 2;
                }
                ('$', _) if self.peek2() == Some('{') => {
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    let expr = self.expr()?;
                    parts.push(Part::Expr(Box::new(expr)));
                }
                _ => {
                    text.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(parts)
    }

    /// An expression; the parser is at its `${`.
    fn expr(&mut self) -> Result<Expr, SubstituteError> {
        let at = self.pos;
        self.pos += 2;
        let length = self.peek() == Some('#') && self.peek2() != Some('}');
        if length {
            self.pos += 1;
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.pos += self.peek().map_or(0, char::len_utf8);
        }
        let name = self.src[start..self.pos].to_string();
        if name.is_empty() {
            return Err(self.error(at, SyntaxError::MissingName));
        }
        let op = if length {
            Op::Transform(Transform::Length)
        } else {
            self.operator(at)?
        };
        if !self.eat('}') {
            let kind = if self.peek().is_none() {
                SyntaxError::MissingClosingBrace
            } else {
                SyntaxError::BadOperator
            };
            return Err(self.error(at, kind));
        }
        Ok(Expr { name, op, at })
    }

    /// The operator after a variable name, up to (not including) the `}`.
    fn operator(&mut self, at: usize) -> Result<Op, SubstituteError> {
        let Some(c) = self.peek() else {
            return Err(self.error(at, SyntaxError::MissingClosingBrace));
        };
        let op = match c {
            '}' => return Ok(Op::Transform(Transform::Value)),
            ':' => {
                self.pos += 1;
                match self.peek() {
                    Some('-') | Some('=') => {
                        self.pos += 1;
                        Op::Default {
                            if_empty: true,
                            word: self.word(Some(Until::Brace))?,
                        }
                    }
                    Some('+') => return Err(self.error(at, SyntaxError::Unsupported(":+"))),
                    Some('?') => return Err(self.error(at, SyntaxError::Unsupported(":?"))),
                    _ => {
                        let offset = self.word(Some(Until::ColonOrBrace))?;
                        let length = if self.eat(':') {
                            Some(self.word(Some(Until::Brace))?)
                        } else {
                            None
                        };
                        Op::Transform(Transform::Substring { offset, length })
                    }
                }
            }
            '-' | '=' => {
                self.pos += 1;
                Op::Default {
                    if_empty: false,
                    word: self.word(Some(Until::Brace))?,
                }
            }
            '+' => return Err(self.error(at, SyntaxError::Unsupported("+"))),
            '?' => return Err(self.error(at, SyntaxError::Unsupported("?"))),
            '^' | ',' => {
                self.pos += 1;
                let all = self.eat(c);
                Op::Transform(Transform::Case {
                    upper: c == '^',
                    all,
                })
            }
            '#' | '%' => {
                self.pos += 1;
                let longest = self.eat(c);
                let pattern = self.word(Some(Until::Brace))?;
                Op::Transform(if c == '#' {
                    Transform::RemovePrefix { longest, pattern }
                } else {
                    Transform::RemoveSuffix { longest, pattern }
                })
            }
            '/' => {
                self.pos += 1;
                let mode = match self.peek() {
                    Some('/') => ReplaceMode::All,
                    Some('#') => ReplaceMode::Prefix,
                    Some('%') => ReplaceMode::Suffix,
                    _ => ReplaceMode::First,
                };
                if mode != ReplaceMode::First {
                    self.pos += 1;
                }
                let pattern = self.word(Some(Until::SlashOrBrace))?;
                let replacement = if self.eat('/') {
                    self.word(Some(Until::Replacement))?
                } else {
                    Vec::new()
                };
                Op::Transform(Transform::Replace {
                    mode,
                    pattern,
                    replacement,
                })
            }
            _ => return Err(self.error(at, SyntaxError::BadOperator)),
        };
        Ok(op)
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_column(src: &str, at: usize) -> (usize, usize) {
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

struct Evaluator<'a> {
    src: &'a str,
    vars: &'a BTreeMap<String, String>,
    strict: bool,
}

impl Evaluator<'_> {
    fn word(&self, word: &Word) -> Result<String, SubstituteError> {
        let mut out = String::new();
        for part in word {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e) => out.push_str(&self.expr(e)?),
            }
        }
        Ok(out)
    }

    fn expr(&self, expr: &Expr) -> Result<String, SubstituteError> {
        let value = self.vars.get(&expr.name).map(String::as_str);
        let transform = match &expr.op {
            Op::Default { if_empty, word } => {
                return match value {
                    Some(v) if !(*if_empty && v.is_empty()) => Ok(v.to_string()),
                    _ => self.word(word),
                };
            }
            Op::Transform(t) => t,
        };
        let value = match value {
            Some(v) => v,
            None if self.strict => {
                return Err(SubstituteError::VariableNotSet {
                    name: expr.name.clone(),
                });
            }
            None => "",
        };
        Ok(match transform {
            Transform::Value => value.to_string(),
            Transform::Length => value.chars().count().to_string(),
            Transform::Case { upper, all } => change_case(value, *upper, *all),
            Transform::Substring { offset, length } => {
                let offset = self.integer(expr, "offset", offset)?;
                let length = match length {
                    Some(l) => Some(self.integer(expr, "length", l)?),
                    None => None,
                };
                substring(value, offset, length).ok_or_else(|| {
                    let (line, column) = line_column(self.src, expr.at);
                    SubstituteError::NegativeSubstring {
                        name: expr.name.clone(),
                        line,
                        column,
                    }
                })?
            }
            Transform::RemovePrefix { longest, pattern } => {
                glob::remove_prefix(value, &Pattern::new(&self.word(pattern)?), *longest)
            }
            Transform::RemoveSuffix { longest, pattern } => {
                glob::remove_suffix(value, &Pattern::new(&self.word(pattern)?), *longest)
            }
            Transform::Replace {
                mode,
                pattern,
                replacement,
            } => glob::replace(value, &self.word(pattern)?, &self.word(replacement)?, *mode),
        })
    }

    fn integer(
        &self,
        expr: &Expr,
        what: &'static str,
        word: &Word,
    ) -> Result<i64, SubstituteError> {
        self.word(word)?.trim().parse().map_err(|_| {
            let (line, column) = line_column(self.src, expr.at);
            SubstituteError::NotAnInteger {
                name: expr.name.clone(),
                what,
                line,
                column,
            }
        })
    }
}

fn change_case(value: &str, upper: bool, all: bool) -> String {
    let convert = |c: char| -> String {
        if upper {
            c.to_uppercase().collect()
        } else {
            c.to_lowercase().collect()
        }
    };
    if all {
        return value.chars().map(convert).collect();
    }
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => convert(first) + chars.as_str(),
        None => String::new(),
    }
}

/// Bash's `${var:offset:length}` on characters; `None` when a negative
/// length ends before the offset (bash: "substring expression < 0").
fn substring(value: &str, offset: i64, length: Option<i64>) -> Option<String> {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len() as i64;
    let start = if offset < 0 { n + offset } else { offset };
    if start < 0 || start > n {
        return Some(String::new());
    }
    let end = match length {
        None => n,
        Some(l) if l < 0 => {
            let end = n + l;
            if end < start {
                return None;
            }
            end
        }
        Some(l) => (start + l).min(n),
    };
    Some(chars[start as usize..end as usize].iter().collect())
}

/// Renders `template` with `vars`; see the module documentation for the
/// syntax. Undefined variables render empty unless `strict`, where they are
/// an error (except under a default operator).
pub(super) fn render(
    template: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, SubstituteError> {
    let mut parser = Parser {
        src: template,
        pos: 0,
    };
    let word = parser.template()?;
    Evaluator {
        src: template,
        vars,
        strict,
    }
    .word(&word)
}
