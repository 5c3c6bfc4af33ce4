//! Progress lines on stderr with the `flux` CLI's prefixes: `►` action,
//! `✚` generate, `◎` waiting, `✔` success, `⚠️` warning, `✗` failure.

use anstyle::{AnsiColor, Style};

const ACTION: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
const SUCCESS: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const WARNING: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
const FAILURE: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const DIM: Style = Style::new().dimmed();

fn line(style: Style, symbol: &str, message: &str) {
    anstream::eprintln!("{style}{symbol}{style:#} {message}");
}

/// `► message`: the CLI is about to change something.
pub fn action(message: &str) {
    line(ACTION, "►", message);
}

/// `✚ message`: the CLI generated something.
pub fn generate(message: &str) {
    line(ACTION, "✚", message);
}

/// `◎ message`: the CLI waits for a controller.
pub fn waiting(message: &str) {
    line(WARNING, "◎", message);
}

/// `✔ message`: a step succeeded.
pub fn success(message: &str) {
    line(SUCCESS, "✔", message);
}

/// `⚠️ message`: something the user should know, not a failure.
pub fn warning(message: &str) {
    line(WARNING, "⚠️", message);
}

/// `✗ message`: a step failed.
pub fn failure(message: &str) {
    line(FAILURE, "✗", message);
}

/// A dimmed, indented line under the previous one (progress details, hints).
pub fn detail(message: &str) {
    anstream::eprintln!("  {DIM}{message}{DIM:#}");
}
