//! The sweep report's figures: each stage's curves and the guidance sweep, one line per
//! variant (mean over its finished seeds).

use std::collections::BTreeMap;
use std::path::Path;

use super::{Group, Run, Table};
use crate::commands::report::PLOTS_DIR;
use crate::commands::report::metrics::smooth;

/// A metric's series averaged over the finished runs of a group, at the steps all of them
/// logged.
fn mean_series(runs: &[Run], g: &Group, stage: &str, key: &str) -> Vec<(f64, f64)> {
    let series: Vec<&BTreeMap<u64, f64>> = g
        .runs
        .iter()
        .filter(|&&i| runs[i].done())
        .filter_map(|&i| runs[i].metrics.stages.get(stage)?.get(key))
        .collect();
    let Some(first) = series.first() else {
        return Vec::new();
    };
    first
        .keys()
        .filter_map(|step| {
            let vals: Vec<f64> = series.iter().filter_map(|s| s.get(step).copied()).collect();
            (vals.len() == series.len())
                .then(|| (*step as f64, vals.iter().sum::<f64>() / vals.len() as f64))
        })
        .collect()
}

pub(super) struct Figure {
    pub(super) title: String,
    pub(super) file: String,
}

fn plot_file(name: &str) -> String {
    format!(
        "{PLOTS_DIR}/sweep-{}.png",
        crate::commands::report::file_stem(name)
    )
}

/// Overlaid curves, one line per variant: each stage's training loss (smoothed) and
/// validation metrics, and the evaluation's guidance sweep. Curves that are the same in
/// every variant are named in the second list instead of drawn.
pub(super) fn plot_curves(
    dir: &Path,
    runs: &[Run],
    t: &Table,
) -> anyhow::Result<(Vec<Figure>, Vec<String>)> {
    let plots = dir.join(PLOTS_DIR);
    if let Ok(entries) = std::fs::read_dir(&plots) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "png") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let mut stages: Vec<&String> = Vec::new();
    for r in runs {
        for s in &r.metrics.order {
            if s != "eval" && !stages.contains(&s) {
                stages.push(s);
            }
        }
    }
    let (mut figures, mut same) = (Vec::new(), Vec::new());
    for stage in stages {
        let mut keys: Vec<&String> = runs
            .iter()
            .filter_map(|r| r.metrics.stages.get(stage))
            .flat_map(|m| m.keys())
            .filter(|k| *k == "loss" || k.starts_with("val_"))
            .collect();
        keys.sort_by_key(|k| (k.as_str() != "loss", k.as_str()));
        keys.dedup();
        for key in keys {
            let series: Vec<(String, Vec<(f64, f64)>)> = t
                .groups
                .iter()
                .map(|g| (g.name.clone(), mean_series(runs, g, stage, key)))
                .filter(|(_, pts)| !pts.is_empty())
                .collect();
            if series.is_empty() {
                continue;
            }
            if series.len() > 1 && series.iter().all(|s| s.1 == series[0].1) {
                same.push(format!("{stage}: {key}"));
                continue;
            }
            let (title, series) = if key == "loss" {
                let smoothed = series
                    .into_iter()
                    .map(|(n, pts)| {
                        let w = (1.0 - 5.0 / pts.len() as f64).clamp(0.0, 0.9);
                        (n, smooth(&pts, w))
                    })
                    .collect();
                (format!("{stage}: loss (smoothed)"), smoothed)
            } else {
                (format!("{stage}: {key}"), series)
            };
            let file = plot_file(&format!("{stage}-{key}"));
            crate::commands::report::plot::line_plot(
                &dir.join(&file),
                &title,
                "step",
                key,
                &series,
            )?;
            figures.push(Figure { title, file });
        }
    }

    // The evaluation's guidance sweep: each number of its entries against the scale.
    let mut keys: Vec<String> = Vec::new();
    for r in runs {
        for e in r
            .eval
            .iter()
            .flat_map(|e| e["guidance"].as_array())
            .flatten()
        {
            for (k, v) in e.as_object().into_iter().flatten() {
                if v.is_number()
                    && !matches!(k.as_str(), "guidance" | "seconds")
                    && !k.ends_with("_std")
                    && !keys.contains(k)
                {
                    keys.push(k.clone());
                }
            }
        }
    }
    for key in keys {
        let series: Vec<(String, Vec<(f64, f64)>)> = t
            .groups
            .iter()
            .map(|g| {
                let mut at: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
                for &i in &g.runs {
                    if !runs[i].done() {
                        continue;
                    }
                    for e in runs[i]
                        .eval
                        .iter()
                        .flat_map(|e| e["guidance"].as_array())
                        .flatten()
                    {
                        if let (Some(s), Some(v)) = (e["guidance"].as_f64(), e[&key].as_f64()) {
                            at.entry(s.to_bits()).or_default().push(v);
                        }
                    }
                }
                let mut pts: Vec<(f64, f64)> = at
                    .into_iter()
                    .map(|(s, v)| (f64::from_bits(s), v.iter().sum::<f64>() / v.len() as f64))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                (g.name.clone(), pts)
            })
            .filter(|(_, pts)| !pts.is_empty())
            .collect();
        if series.is_empty() {
            continue;
        }
        let title = format!("eval: {key} against guidance scale");
        let file = plot_file(&format!("eval-guidance-{key}"));
        crate::commands::report::plot::line_plot(
            &dir.join(&file),
            &title,
            "guidance scale",
            &key,
            &series,
        )?;
        figures.push(Figure { title, file });
    }
    Ok((figures, same))
}
