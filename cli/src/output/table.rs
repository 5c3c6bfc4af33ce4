//! Tables as `flux get` prints them: upper-case headers, no borders, every
//! cell but the last padded to its column's width and followed by a tab.

use anstyle::{AnsiColor, Color, Style};
use serde_json::{Map, Value};

/// Rows of text under headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these headers (upper-cased).
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self {
            headers: headers
                .into_iter()
                .map(|h| h.into().to_uppercase())
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; it must have one cell per header.
    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.headers.len(), "one cell per header");
        self.rows.push(row);
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text. With `styled`, status cells (READY, TYPE) are
    /// coloured; `anstream` strips the colours again when stdout is not a
    /// terminal. With `header` false, only the rows are rendered.
    pub fn render(&self, styled: bool, header: bool) -> String {
        let widths = self.widths();
        let mut out = String::new();
        if header {
            out.push_str(&render_row(&self.headers, &widths, |_, _| None));
        }
        for row in &self.rows {
            out.push_str(&render_row(row, &widths, |column, value| {
                styled
                    .then(|| cell_style(&self.headers[column], value))
                    .flatten()
            }));
        }
        out
    }

    /// The rows as JSON objects keyed by lower-case header (`LAST SCAN` → `last_scan`).
    pub fn records(&self) -> Vec<Value> {
        self.rows
            .iter()
            .map(|row| {
                let record: Map<String, Value> = self
                    .headers
                    .iter()
                    .zip(row)
                    .map(|(h, v)| (record_key(h), Value::String(v.clone())))
                    .collect();
                Value::Object(record)
            })
            .collect()
    }

    fn widths(&self) -> Vec<usize> {
        self.headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([h.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }
}

/// The JSON key of a column.
pub fn record_key(header: &str) -> String {
    header.to_lowercase().replace(' ', "_")
}

fn render_row(
    cells: &[String],
    widths: &[usize],
    style: impl Fn(usize, &str) -> Option<Style>,
) -> String {
    let last = cells.len().saturating_sub(1);
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let styled = match style(i, cell) {
            Some(s) => format!("{s}{cell}{s:#}"),
            None => cell.clone(),
        };
        line.push_str(&styled);
        if i < last {
            let pad = widths[i].saturating_sub(cell.chars().count());
            line.push_str(&" ".repeat(pad));
            line.push('\t');
        }
    }
    line.push('\n');
    line
}

fn cell_style(header: &str, value: &str) -> Option<Style> {
    let color = match (header, value) {
        ("READY", "True") => AnsiColor::Green,
        ("READY", "False") => AnsiColor::Red,
        ("READY", _) => AnsiColor::Yellow,
        ("TYPE", "Warning") => AnsiColor::Yellow,
        _ => return None,
    };
    Some(Style::new().fg_color(Some(Color::Ansi(color))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(["name", "revision", "ready", "message"]);
        t.push(vec![
            "flux-system".into(),
            "main@sha1:6ac3ca0f".into(),
            "True".into(),
            "stored artifact".into(),
        ]);
        t.push(vec![
            "app".into(),
            String::new(),
            "False".into(),
            "waiting to be reconciled".into(),
        ]);
        t
    }

    #[test]
    fn pads_every_cell_but_the_last_and_separates_with_tabs() {
        assert_eq!(
            sample().render(false, true),
            "NAME       \tREVISION          \tREADY\tMESSAGE\n\
             flux-system\tmain@sha1:6ac3ca0f\tTrue \tstored artifact\n\
             app        \t                  \tFalse\twaiting to be reconciled\n"
        );
    }

    #[test]
    fn no_header_renders_rows_only() {
        let text = sample().render(false, false);
        assert!(text.starts_with("flux-system"));
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn styles_ready_cells_without_breaking_alignment() {
        let styled = sample().render(true, true);
        assert!(styled.contains("\u{1b}[32mTrue\u{1b}[0m \t"), "{styled:?}");
        assert!(styled.contains("\u{1b}[31mFalse\u{1b}[0m\t"), "{styled:?}");
    }

    #[test]
    fn records_use_lower_case_keys() {
        let mut t = Table::new(["NAME", "LAST SCAN"]);
        t.push(vec!["repo".into(), "2026-01-01T00:00:00Z".into()]);
        assert_eq!(
            t.records(),
            vec![serde_json::json!({"name": "repo", "last_scan": "2026-01-01T00:00:00Z"})]
        );
    }
}
