//! Reading TOML files into one merged table while remembering where every key came from, so
//! that later errors (unknown key, wrong type, out of range) can name the file and the line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use toml::Table;
use toml::de::{DeTable, DeValue};

use super::ConfigError;

/// Where a key's value was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File { path: PathBuf, line: usize },
    Set(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Set(arg) => write!(f, "--set {arg}"),
        }
    }
}

/// A merged table plus the origin of each dotted key path (`train.lr`, `axis.0.key`).
#[derive(Clone, Debug, Default)]
pub struct Layered {
    pub table: Table,
    pub origins: BTreeMap<String, Origin>,
    /// Every file read, the requested one first.
    pub files: Vec<PathBuf>,
}

impl Layered {
    /// The origin of `path` or, when the key was not written anywhere (a default), of the
    /// closest enclosing table that was.
    pub fn origin_of(&self, path: &str) -> Option<&Origin> {
        let mut p = path;
        loop {
            if let Some(o) = self.origins.get(p) {
                return Some(o);
            }
            p = &p[..p.rfind('.')?];
        }
    }
}

/// Load `path`, following `extends = "base.toml"` chains (relative to the extending file) and
/// deep-merging each file over its base.
pub fn load_layered(path: &Path) -> Result<Layered, ConfigError> {
    let mut stack = Vec::new();
    let mut layered = load_chain(path, &mut stack)?;
    layered.files.reverse();
    Ok(layered)
}

fn load_chain(path: &Path, stack: &mut Vec<PathBuf>) -> Result<Layered, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::NotFound {
            "config file not found".to_string()
        } else {
            format!("cannot read config file: {e}")
        };
        ConfigError::new(format!("{}: {what}", path.display()))
    })?;
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if stack.contains(&canonical) {
        let chain: Vec<String> = stack
            .iter()
            .chain(std::iter::once(&canonical))
            .map(|p| p.display().to_string())
            .collect();
        return Err(ConfigError::new(format!(
            "{}: `extends` cycle: {}",
            path.display(),
            chain.join(" -> ")
        )));
    }
    stack.push(canonical);

    let (mut table, origins) = parse_file(path, &text)?;
    let mut layered = match table.remove("extends") {
        None => Layered::default(),
        Some(toml::Value::String(base)) => {
            let base_path = path.parent().unwrap_or(Path::new(".")).join(&base);
            if !base_path.exists() {
                let at = &origins["extends"];
                return Err(ConfigError::new(format!(
                    "{at}: `extends` names a file that does not exist: {} (resolved to {})",
                    base,
                    base_path.display()
                )));
            }
            load_chain(&base_path, stack)?
        }
        Some(other) => {
            return Err(ConfigError::new(format!(
                "{}: `extends` must be a string path, found {}",
                origins["extends"],
                other.type_str()
            )));
        }
    };
    stack.pop();

    for (key, origin) in origins {
        if key != "extends" {
            layered.origins.insert(key, origin);
        }
    }
    deep_merge(&mut layered.table, table);
    layered.files.push(path.to_path_buf());
    Ok(layered)
}

/// Parse one file: its values, and the line of every key in it.
fn parse_file(path: &Path, text: &str) -> Result<(Table, BTreeMap<String, Origin>), ConfigError> {
    let syntax = |e: toml::de::Error| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::new(format!(
            "{}:{line}:{col}: TOML syntax error: {}",
            path.display(),
            e.message().trim()
        ))
    };
    let table: Table = toml::from_str(text).map_err(syntax)?;
    let spanned = DeTable::parse(text).map_err(syntax)?;
    let mut origins = BTreeMap::new();
    collect_table(spanned.get_ref(), "", path, text, &mut origins);
    Ok((table, origins))
}

fn collect_table(
    table: &DeTable<'_>,
    prefix: &str,
    file: &Path,
    text: &str,
    out: &mut BTreeMap<String, Origin>,
) {
    for (key, value) in table.iter() {
        let path = join(prefix, key.get_ref());
        let line = line_col(text, key.span().start).0;
        out.insert(
            path.clone(),
            Origin::File {
                path: file.to_path_buf(),
                line,
            },
        );
        collect_value(value.get_ref(), &path, file, text, out);
    }
}

fn collect_value(
    value: &DeValue<'_>,
    path: &str,
    file: &Path,
    text: &str,
    out: &mut BTreeMap<String, Origin>,
) {
    match value {
        DeValue::Table(t) => collect_table(t, path, file, text, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = join(path, &i.to_string());
                let line = line_col(text, item.span().start).0;
                out.insert(
                    item_path.clone(),
                    Origin::File {
                        path: file.to_path_buf(),
                        line,
                    },
                );
                collect_value(item.get_ref(), &item_path, file, text, out);
            }
        }
        _ => {}
    }
}

pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Tables merge key by key; anything else (scalars, arrays) is replaced whole.
pub fn deep_merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => deep_merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}
