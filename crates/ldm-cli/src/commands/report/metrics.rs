//! `metrics.jsonl` read back as series: stage -> metric -> step -> value. A resumed stage
//! logs some steps again; the later line wins.

use std::collections::BTreeMap;
use std::path::Path;

pub type Series = BTreeMap<u64, f64>;

#[derive(Debug, Default)]
pub struct Metrics {
    pub stages: BTreeMap<String, BTreeMap<String, Series>>,
    /// Stages in the order their first line appears.
    pub order: Vec<String>,
}

impl Metrics {
    /// Read `path`; a missing file is empty, unreadable lines are skipped (a line cut short
    /// by a killed process, say).
    pub fn read(path: &Path) -> Metrics {
        let mut m = Metrics::default();
        let Ok(text) = std::fs::read_to_string(path) else {
            return m;
        };
        for line in text.lines() {
            let Ok(serde_json::Value::Object(obj)) = serde_json::from_str(line) else {
                continue;
            };
            let (Some(stage), Some(step)) = (
                obj.get("stage").and_then(|v| v.as_str()),
                obj.get("step").and_then(|v| v.as_u64()),
            ) else {
                continue;
            };
            if !m.stages.contains_key(stage) {
                m.order.push(stage.to_string());
            }
            let series = m.stages.entry(stage.to_string()).or_default();
            for (k, v) in &obj {
                if k == "stage" || k == "step" {
                    continue;
                }
                if let Some(x) = v.as_f64() {
                    series.entry(k.clone()).or_default().insert(step, x);
                }
            }
        }
        m
    }
}

/// Exponential moving average with bias correction, `weight` in [0, 1).
pub fn smooth(points: &[(f64, f64)], weight: f64) -> Vec<(f64, f64)> {
    let (mut avg, mut norm) = (0.0, 0.0);
    points
        .iter()
        .map(|&(x, y)| {
            avg = weight * avg + (1.0 - weight) * y;
            norm = weight * norm + (1.0 - weight);
            (x, avg / norm)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn later_lines_win_and_bad_lines_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.jsonl");
        std::fs::write(
            &p,
            "{\"stage\":\"a\",\"step\":1,\"loss\":2.0}\n\
             {\"stage\":\"a\",\"step\":2,\"loss\":1.0,\"x\":null}\n\
             {\"stage\":\"b\",\"step\":1,\"val\":5}\n\
             {\"stage\":\"a\",\"step\":2,\"loss\":0.5}\n\
             {\"stage\":\"a\",\"st",
        )
        .unwrap();
        let m = super::Metrics::read(&p);
        assert_eq!(m.order, ["a", "b"]);
        let loss = &m.stages["a"]["loss"];
        assert_eq!(
            loss.iter().map(|(s, v)| (*s, *v)).collect::<Vec<_>>(),
            [(1, 2.0), (2, 0.5)]
        );
        assert!(!m.stages["a"].contains_key("x"));
        let s = super::smooth(&[(0.0, 1.0), (1.0, 3.0)], 0.5);
        assert_eq!(s[0].1, 1.0);
        assert!((s[1].1 - (0.25 + 1.5) / 0.75).abs() < 1e-12);
    }
}
