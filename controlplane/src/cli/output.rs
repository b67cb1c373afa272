//! Results for people (tables) or for scripts (the API's JSON), and
//! messages on standard error; colour only when the stream is a terminal
//! and `NO_COLOR` is unset (`anstream` strips it otherwise).

use super::Format;
use anstyle::{AnsiColor, Style};
use comfy_table::{Cell, Table, presets};
use serde_json::Value;

const HEADER: Style = Style::new().bold();
const ERROR: Style = AnsiColor::Red.on_default().bold();
const DONE: Style = AnsiColor::Green.on_default();

/// Prints `value`: as JSON, or as a table of `columns` (an array of
/// objects: a row each; an object: a row per column).
pub fn print(format: Format, value: &Value, columns: &[&str]) {
    match format {
        Format::Json => anstream::println!("{}", pretty(value)),
        Format::Table => match value {
            Value::Array(rows) => rows_table(rows, columns),
            Value::Object(_) => fields_table(value, columns),
            other => anstream::println!("{}", shown(other)),
        },
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A cell of column `column`: times (`..._ms`) as UTC dates, else as
/// [`text`].
fn cell(column: &str, value: &Value) -> Cell {
    let time = value
        .as_i64()
        .filter(|_| column.ends_with("_ms"))
        .and_then(chrono::DateTime::from_timestamp_millis);
    Cell::new(match time {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => shown(value),
    })
}

/// A value as a table cell: strings bare, nothing for null, else JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// [`text`] safe to print on a terminal: control characters (escape
/// sequences a function's log line or a tenant's name could carry) are
/// written as `\u{1b}` instead of being sent to the terminal.
pub fn shown(value: &Value) -> String {
    let text = text(value);
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t
}

fn rows_table(rows: &[Value], columns: &[&str]) {
    if rows.is_empty() {
        anstream::println!("(none)");
        return;
    }
    let mut t = table();
    t.set_header(columns.iter().map(|c| Cell::new(c.to_uppercase())));
    for row in rows {
        t.add_row(columns.iter().map(|c| cell(c, &row[*c])));
    }
    print_table(&mut t);
}

fn fields_table(value: &Value, columns: &[&str]) {
    let mut t = table();
    let shown: Vec<&str> = if columns.is_empty() {
        value
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    } else {
        columns.to_vec()
    };
    for c in shown {
        t.add_row(vec![Cell::new(c), cell(c, &value[c])]);
    }
    print_table(&mut t);
}

fn print_table(t: &mut Table) {
    for column in t.column_iter_mut() {
        column.set_padding((0, 2));
    }
    // The header's first line in bold (stripped off a terminal).
    let rendered = t.to_string();
    let mut lines = rendered.lines();
    if t.header().is_some()
        && let Some(first) = lines.next()
    {
        anstream::println!("{HEADER}{}{HEADER:#}", first.trim_end());
    }
    for line in lines {
        anstream::println!("{}", line.trim_end());
    }
}

/// A line saying what was done, on standard error (so standard output
/// holds only results).
pub fn done(message: &str) {
    anstream::eprintln!("{DONE}{message}{DONE:#}");
}

/// An error, on standard error.
pub fn error(message: &str) {
    anstream::eprintln!("{ERROR}error:{ERROR:#} {message}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What a tenant or a guest wrote cannot drive the terminal.
    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(shown(&json!("plain")), "plain");
        assert_eq!(shown(&json!("\u{1b}[2Jgone\r")), "\\u{1b}[2Jgone\\u{d}");
        assert_eq!(shown(&json!(null)), "");
    }
}
