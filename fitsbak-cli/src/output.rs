//! Human output (aligned tables, human sizes) and JSON output.

use comfy_table::{Cell, CellAlignment, ContentArrangement, LineStyle, Table, TableStyle};
use serde::Serialize;

pub use fitsbak_core::model::{human_bytes, human_duration};

/// Columns separated by spaces, the header underlined with dashes.
const STYLE: TableStyle =
    TableStyle::new().header_separator(LineStyle::none().fill('-').junction(' '));

/// A table with a header row, aligned columns and no borders; numeric columns
/// (named in `right`) are right-aligned.
pub fn table(header: &[&str], right: &[usize]) -> Table {
    let mut table = Table::new();
    table
        .load_style(STYLE)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for &column in right {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// The time at the start of a stderr line when stderr is not a terminal (a cron
/// mail, a log file), so that every line says when it happened; empty at a terminal.
pub fn stamp() -> String {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        String::new()
    } else {
        format!("{} ", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

/// Prints a failure on stderr, where it always reaches a person (also with `-q`,
/// and when stdout goes to a file): `error: {message}`, stamped off a terminal.
pub fn print_error(message: impl std::fmt::Display) {
    eprintln!("{}error: {message}", stamp());
    tracing::error!(target: crate::context::REPORT, "{message}");
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    println!("{text}");
    Ok(())
}

/// `error: a: b: c` from an error and its causes, without repeating a cause that
/// the message above it already includes.
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// A thousands-separated count (`12,543`).
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Dollars, with the precision small sums need.
pub fn usd(v: f64) -> String {
    match v.abs() {
        0.0 => "$0.00".to_owned(),
        a if a < 0.0001 => "< $0.0001".to_owned(),
        a if a < 0.01 => format!("${v:.4}"),
        _ => format!("${v:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(12_543), "12,543");
        assert_eq!(count(1_000_000), "1,000,000");
    }

    #[test]
    fn error_chains_do_not_repeat_causes() {
        let inner = std::io::Error::other("disk full");
        let err = anyhow::Error::new(inner).context("writing x");
        assert_eq!(error_chain(&err), "writing x: disk full");
        let err = anyhow::anyhow!("failed: disk full").context("upload");
        assert_eq!(error_chain(&err), "upload: failed: disk full");
    }
}
