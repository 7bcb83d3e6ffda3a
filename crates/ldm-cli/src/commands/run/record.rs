//! `stage.json`: what a stage of `ldm run` was computed from and what it produced.
//!
//! The fingerprint is a SHA-256 (first 64 bits, hex) of the canonical JSON (sorted keys, no
//! whitespace) of the stage's name, the config sections it reads and the fingerprints of the
//! stages it builds on; so it changes exactly when the stage would compute something else.
//! `files` lists every output file (paths relative to the run directory) with its size and
//! CRC-32, which is what "the output verifies" means.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Name of the record inside a stage's folder.
pub const RECORD_FILE: &str = "stage.json";

/// Bumped when what a stage computes changes without any config key changing.
const FORMAT: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Started and not finished: its checkpoints, if any, belong to this fingerprint.
    Running,
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    pub size: u64,
    pub crc32: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: String,
    pub fingerprint: String,
    pub status: Status,
    /// The config sections the stage reads, by dotted key.
    pub inputs: Value,
    /// Fingerprints of the stages it builds on.
    pub upstream: BTreeMap<String, String>,
    /// Output files relative to the run directory (empty while running).
    #[serde(default)]
    pub files: BTreeMap<String, FileSum>,
    /// "computed" here, or "share" when linked in from a `--share` cache.
    pub source: String,
    /// The share entry the files came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
}

/// JSON with object keys sorted at every level and no insignificant whitespace, so equal
/// values always give equal bytes.
pub fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// The fingerprint of a stage's inputs: 16 hex digits.
pub fn fingerprint(stage: &str, inputs: &Value, upstream: &BTreeMap<String, String>) -> String {
    let all = serde_json::json!({
        "format": FORMAT,
        "stage": stage,
        "inputs": inputs,
        "upstream": upstream,
    });
    let digest = Sha256::digest(canonical_json(&all).as_bytes());
    digest[..8].iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl StageRecord {
    pub fn read(stage_dir: &Path) -> anyhow::Result<Option<StageRecord>> {
        let p = stage_dir.join(RECORD_FILE);
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
        };
        let r =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid", p.display()))?;
        Ok(Some(r))
    }

    pub fn write(&self, stage_dir: &Path) -> anyhow::Result<()> {
        fs::create_dir_all(stage_dir)
            .with_context(|| format!("creating {}", stage_dir.display()))?;
        let p = stage_dir.join(RECORD_FILE);
        let json = serde_json::to_string_pretty(self).expect("record serializes");
        ldm_core::atomic::write(&p, json.as_bytes())
            .with_context(|| format!("writing {}", p.display()))
    }

    /// Check every listed file under `root` has its recorded size and checksum.
    pub fn verify(&self, root: &Path) -> Result<(), String> {
        if self.files.is_empty() {
            return Err("it lists no files".into());
        }
        for (rel, want) in &self.files {
            let have = checksum(&root.join(rel)).map_err(|e| format!("{rel}: {e}"))?;
            if have != *want {
                return Err(format!(
                    "{rel} changed ({} bytes, expected {})",
                    have.size, want.size
                ));
            }
        }
        Ok(())
    }

    /// Why `self` (what is on disk) is not what `want` would compute: the changed config
    /// keys, or the upstream stages whose inputs changed.
    pub fn differences(&self, want: &StageRecord) -> String {
        let keys: Vec<String> = ldm_core::config::changed_keys("", &self.inputs, &want.inputs)
            .into_iter()
            .map(|(key, old, new)| format!("{key} ({old} -> {new})"))
            .collect();
        if !keys.is_empty() {
            const SHOWN: usize = 6;
            let mut s: Vec<String> = keys.iter().take(SHOWN).cloned().collect();
            if keys.len() > SHOWN {
                s.push(format!("and {} more", keys.len() - SHOWN));
            }
            return s.join(", ");
        }
        let upstream: Vec<&str> = want
            .upstream
            .iter()
            .filter(|(k, v)| self.upstream.get(*k) != Some(v))
            .map(|(k, _)| k.as_str())
            .chain(
                self.upstream
                    .keys()
                    .filter(|k| !want.upstream.contains_key(*k))
                    .map(String::as_str),
            )
            .collect();
        if !upstream.is_empty() {
            return format!("the inputs of stage {} changed", upstream.join(", "));
        }
        "it was made by another version of ldm".into()
    }
}

/// Size and CRC-32 of a file.
pub fn checksum(path: &Path) -> std::io::Result<FileSum> {
    let mut f = fs::File::open(path)?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok(FileSum {
        size,
        crc32: h.finalize(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprint_ignores_key_order_and_names_changed_keys() {
        let a = json!({"data": {"resolution": 32, "channels": 3}, "seed": 0});
        let b = json!({"seed": 0, "data": {"channels": 3, "resolution": 32}});
        let up = BTreeMap::new();
        assert_eq!(fingerprint("x", &a, &up), fingerprint("x", &b, &up));
        assert_eq!(fingerprint("x", &a, &up).len(), 16);
        let c = json!({"seed": 1, "data": {"channels": 3, "resolution": 64}});
        assert_ne!(fingerprint("x", &a, &up), fingerprint("x", &c, &up));
        let rec = |inputs: &Value| StageRecord {
            stage: "x".into(),
            fingerprint: fingerprint("x", inputs, &up),
            status: Status::Done,
            inputs: inputs.clone(),
            upstream: up.clone(),
            files: BTreeMap::new(),
            source: "computed".into(),
            reused_from: None,
        };
        assert_eq!(
            rec(&a).differences(&rec(&c)),
            "data.resolution (32 -> 64), seed (0 -> 1)"
        );
    }
}
