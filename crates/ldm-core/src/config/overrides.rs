//! `--set key.path=VALUE` overrides, applied after all files are merged.

use toml::{Table, Value};

use super::ConfigError;
use super::source::{Layered, Origin};

/// Apply one `KEY=VALUE` override. VALUE is read as a TOML value (`128`, `2e-4`, `true`,
/// `"text"`, `[1, 2]`); anything that is not valid TOML is taken as a bare string, so
/// `--set data.source=shapes` works without shell-escaped quotes.
pub fn apply_set(layered: &mut Layered, arg: &str) -> Result<(), ConfigError> {
    let (key, raw) = arg.split_once('=').ok_or_else(|| {
        ConfigError::new(format!(
            "--set {arg}: expected KEY=VALUE (e.g. --set train.lr=2e-4)"
        ))
    })?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if key.is_empty() || parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::new(format!(
            "--set {arg}: '{key}' is not a dotted key path (e.g. train.lr)"
        )));
    }
    let value = parse_value(raw.trim());

    let mut table: &mut Table = &mut layered.table;
    for (depth, part) in parts[..parts.len() - 1].iter().enumerate() {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        table = match entry {
            Value::Table(t) => t,
            other => {
                return Err(ConfigError::new(format!(
                    "--set {arg}: '{}' is a {}, not a table, so it has no key '{}'",
                    parts[..=depth].join("."),
                    other.type_str(),
                    parts[depth + 1]
                )));
            }
        };
    }
    table.insert(parts[parts.len() - 1].to_string(), value);
    layered
        .origins
        .insert(key.to_string(), Origin::Set(arg.to_string()));
    Ok(())
}

fn parse_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<Table>() {
        Ok(mut t) => t.remove("v").expect("parsed table holds v"),
        Err(_) => Value::String(raw.to_string()),
    }
}
