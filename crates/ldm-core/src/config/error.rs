//! Config errors: one line each, naming the file, line and key, with a suggestion where a
//! key looks mistyped.

use std::fmt;

use super::source::Layered;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The known key closest to `unknown`, if one is close enough to be a likely typo.
pub fn closest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (k, strsim::damerau_levenshtein(unknown, k)))
        .filter(|&(k, d)| d <= 2.max(k.len().min(unknown.len()) / 3))
        .min_by_key(|&(_, d)| d)
        .map(|(k, _)| k)
}

/// Turn a serde error at `path` into a message that names where the bad key was written.
pub fn from_serde(layered: &Layered, path: &str, message: &str) -> ConfigError {
    let message = message.lines().next().unwrap_or_default().trim();
    // serde words unknown fields as: unknown field `x`, expected one of `a`, `b`
    // (or "expected `a`" / "there are no fields"); the variant error is worded alike.
    for (marker, noun) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        if let Some(rest) = message.strip_prefix(marker) {
            let name = rest.split('`').next().unwrap_or_default();
            let known: Vec<&str> = rest
                .split_once("expected")
                .map(|(_, e)| e.split('`').skip(1).step_by(2).collect())
                .unwrap_or_default();
            // The error's path may already end at the unknown key itself.
            let parent = match path.rsplit_once('.') {
                Some((p, last)) if last == name => p,
                None if path == name => "",
                _ => path,
            };
            let (full, section) = if noun == "key" {
                (super::source::join(parent, name), parent.to_string())
            } else {
                (path.to_string(), path.to_string())
            };
            let at = location(layered, &full);
            let section = if section.is_empty() {
                "at the top level".to_string()
            } else if noun == "key" {
                format!("in [{section}]")
            } else {
                format!("for '{section}'")
            };
            let hint = match closest(name, known.iter().copied()) {
                Some(k) => format!(" (did you mean '{k}'?)"),
                None if !known.is_empty() => format!(" (expected one of: {})", known.join(", ")),
                None => String::new(),
            };
            return ConfigError::new(format!("{at}unknown {noun} '{name}' {section}{hint}"));
        }
    }
    let at = location(layered, path);
    let key = if path.is_empty() {
        String::new()
    } else {
        format!("key '{path}': ")
    };
    ConfigError::new(format!("{at}{key}{message}"))
}

/// `file:line: ` for a key, or nothing if it cannot be placed.
pub fn location(layered: &Layered, path: &str) -> String {
    layered
        .origin_of(path)
        .map(|o| format!("{o}: "))
        .unwrap_or_default()
}
