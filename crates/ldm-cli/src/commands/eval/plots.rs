//! Plots of the guidance sweep from `eval.json`: distances (FID with its floor, KID) and
//! scores (alignment, R-precision, the detector's all-correct rates) against the scale.

use std::path::Path;

use serde_json::Value;

/// Draws one PNG: path, title, x label, y label, named series of (x, y).
pub type LinePlot = fn(&Path, &str, &str, &str, &[(String, Vec<(f64, f64)>)]) -> anyhow::Result<()>;

/// `guidance-fid.png` and `guidance-scores.png` in `dir`, drawn with `plot`.
pub fn sweep(dir: &Path, report: &Value, plot: LinePlot) -> anyhow::Result<()> {
    let rows = report["guidance"].as_array().cloned().unwrap_or_default();
    let series = |name: &str, pick: &dyn Fn(&Value) -> Option<f64>| -> (String, Vec<(f64, f64)>) {
        let points = rows
            .iter()
            .filter_map(|r| Some((r["guidance"].as_f64()?, pick(r)?)))
            .collect();
        (name.to_string(), points)
    };
    let floor = report["floor"]["fid"].as_f64();
    let fid = vec![
        series("FID", &|r| r["fid"].as_f64()),
        series("floor (validation vs training)", &|_| floor),
    ];
    plot(
        &dir.join("guidance-fid.png"),
        "FID against the validation images",
        "guidance scale",
        "FID (evaluator features)",
        &fid,
    )?;
    let mut scores = vec![
        series("alignment", &|r| r["alignment"].as_f64()),
        series("R-precision", &|r| r["r_precision"].as_f64()),
    ];
    if rows.iter().any(|r| !r["detector"].is_null()) {
        // A group without images has no rate (the tally says 0).
        let rate = |r: &Value, group: &str| {
            let g = &r["detector"][group];
            (g["images"].as_u64()? > 0).then(|| g["all"].as_f64())?
        };
        scores.push(series("all correct, seen pairs", &|r| rate(r, "seen")));
        scores.push(series("all correct, held-out pairs", &|r| {
            rate(r, "held_out")
        }));
    }
    plot(
        &dir.join("guidance-scores.png"),
        "Prompt following",
        "guidance scale",
        "score",
        &scores,
    )
}
