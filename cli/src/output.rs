//! How answers are shown: a table for people (columns picked from the JSON
//! the API answers), the JSON itself with `--json` for scripts.

use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

/// One column: its header and the field it shows (a JSON pointer such as
/// `/status` or `/details/kind`).
pub type Column = (&'static str, &'static str);

/// Prints `value` as pretty JSON.
pub fn json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// Prints `rows` (a JSON array, or one object) as a table of `columns`, or
/// as JSON when `as_json`.
pub fn list(rows: &Value, columns: &[Column], as_json: bool) {
    if as_json {
        return json(rows);
    }
    let items: Vec<&Value> = match rows {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(columns.iter().map(|(header, _)| *header));
    for item in items {
        table.add_row(
            columns
                .iter()
                .map(|(_, pointer)| cell(item.pointer(pointer))),
        );
    }
    // Columns start at the left edge, two blanks apart, as `docker ps`.
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    // comfy-table pads every line to the widest; people and `grep` prefer
    // lines without trailing blanks.
    for line in table.to_string().lines() {
        println!("{}", line.trim_end());
    }
}

/// Prints one object as `key: value` lines, or as JSON when `as_json`.
pub fn object(value: &Value, as_json: bool) {
    if as_json {
        return json(value);
    }
    match value {
        Value::Object(fields) => {
            let width = fields.keys().map(String::len).max().unwrap_or(0);
            for (key, field) in fields {
                println!("{key:<width$}  {}", cell(Some(field)));
            }
        }
        other => println!("{}", cell(Some(other))),
    }
}

/// A JSON value as table text: strings bare, nothing as `-`.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_show_strings_bare_and_nothing_as_a_dash() {
        assert_eq!(cell(Some(&json!("x"))), "x");
        assert_eq!(cell(Some(&json!(3))), "3");
        assert_eq!(cell(Some(&json!(null))), "-");
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some(&json!(["sh", "-c"]))), "sh -c");
    }
}
