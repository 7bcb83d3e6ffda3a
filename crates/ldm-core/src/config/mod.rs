//! Experiment configs: TOML files with `extends` chains, `--set` overrides, and typed
//! deserialization whose errors name the file, the line and the key.
//!
//! Each crate defines the config struct for what it builds (beside the model); the binary
//! composes them into the experiment config and loads it through [`load`].

mod diff;
mod error;
mod overrides;
mod source;
mod validate;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use diff::{Change, changed_keys};
pub use error::{ConfigError, closest};
pub use source::{Layered, Origin, deep_merge, load_layered};
pub use validate::{Checks, Validate};

/// A typed config together with the merged table it came from.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    pub value: T,
    /// The merged table after `extends` and `--set`, before defaults are filled in.
    pub table: toml::Table,
    /// Every file read, the requested one first.
    pub files: Vec<PathBuf>,
}

/// Load `path` (following `extends`), apply each `--set KEY=VALUE`, deserialize into `T`
/// rejecting unknown keys, and run its range checks.
pub fn load<T: DeserializeOwned + Validate>(
    path: &Path,
    sets: &[String],
) -> Result<Loaded<T>, ConfigError> {
    let mut layered = load_layered(path)?;
    for arg in sets {
        overrides::apply_set(&mut layered, arg)?;
    }
    let value = parse_table(&layered)?;
    Ok(Loaded {
        value,
        table: layered.table,
        files: layered.files,
    })
}

/// Deserialize and validate an already merged table, placing errors in its source files.
pub fn parse_table<T: DeserializeOwned + Validate>(layered: &Layered) -> Result<T, ConfigError> {
    let value = toml::Value::Table(layered.table.clone());
    let parsed: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        error::from_serde(layered, &path, &e.inner().to_string())
    })?;
    let mut checks = Checks::default();
    parsed.validate(&mut checks);
    if let Some((key, message)) = checks.problems.into_iter().next() {
        let at = error::location(layered, &key);
        let shown = lookup(&layered.table, &key)
            .map(|v| format!(" = {v}"))
            .unwrap_or_else(|| " (default)".to_string());
        return Err(ConfigError::new(format!("{at}{key}{shown}: {message}")));
    }
    Ok(parsed)
}

/// The value at a dotted key path, if present.
pub fn lookup<'a>(table: &'a toml::Table, path: &str) -> Option<&'a toml::Value> {
    let mut parts = path.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = match value {
            toml::Value::Table(t) => t.get(part)?,
            toml::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests;
