//! `metrics.jsonl`: one JSON object per line with `stage`, `step` and named metrics.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use serde_json::{Map, Value};

pub struct MetricsLog {
    file: File,
}

impl MetricsLog {
    /// Open for appending, so a resumed run continues the same file.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { file })
    }

    /// Append one record. Non-finite values are written as `null` (JSON has no NaN).
    pub fn log(&mut self, stage: &str, step: u64, metrics: &[(&str, f64)]) -> io::Result<()> {
        let mut obj = Map::new();
        obj.insert("stage".into(), Value::from(stage));
        obj.insert("step".into(), Value::from(step));
        for (name, v) in metrics {
            let v = serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number);
            obj.insert((*name).to_string(), v);
        }
        let mut line = serde_json::to_string(&Value::Object(obj)).expect("json of plain values");
        line.push('\n');
        // One write per line keeps records whole even if the process dies mid-run.
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_one_object_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.jsonl");
        let mut m = super::MetricsLog::open(&p).unwrap();
        m.log("ae", 1, &[("loss", 0.5)]).unwrap();
        m.log("ae", 2, &[("loss", f64::NAN)]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["stage"], "ae");
        assert_eq!(lines[0]["loss"], 0.5);
        assert!(lines[1]["loss"].is_null());
    }
}
