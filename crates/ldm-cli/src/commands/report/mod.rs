//! `ldm report RUN_DIR` (and the last stage of `ldm run`): `report.html`, one self-contained
//! page (inline CSS, images by relative path) with the resolved config, each stage's final
//! metrics, evaluation results, training curves (PNGs in `report/`) and the sample,
//! reconstruction and data grids. For a sweep's folder, the comparison of its variants
//! ([`compare`]).

pub mod compare;
mod html;
pub mod metrics;
pub mod plot;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};
use ldm_data::latents::LatentCache;

use crate::cli::ReportCommand;
use crate::experiment::Experiment;
use metrics::Metrics;
use plot::{Plot, Series, Style};

/// The report, relative to the run directory.
pub const REPORT_FILE: &str = "report.html";
/// Its plots, relative to the run directory.
pub const PLOTS_DIR: &str = "report";

/// `[report]`: what `ldm run` draws for the report beyond the training curves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportSection {
    /// Prompts of the sample grid, one row each; empty: the first `default_prompts`
    /// distinct captions of the validation split.
    pub prompts: Vec<String>,
    pub default_prompts: usize,
    pub samples_per_prompt: usize,
}

impl Default for ReportSection {
    fn default() -> Self {
        Self {
            prompts: Vec::new(),
            default_prompts: 6,
            samples_per_prompt: 8,
        }
    }
}

impl Validate for ReportSection {
    fn validate(&self, c: &mut Checks) {
        c.check("default_prompts", self.default_prompts > 0, || {
            "must be at least 1".into()
        });
        c.check("samples_per_prompt", self.samples_per_prompt > 0, || {
            "must be at least 1".into()
        });
        c.check(
            "prompts",
            self.prompts.iter().all(|p| !p.trim().is_empty()),
            || "prompts must not be empty strings".into(),
        );
    }
}

/// The prompts of the report's sample grid: `[report] prompts`, or distinct captions of the
/// run's latent cache (validation first).
pub fn sample_prompts(exp: &Experiment, run: &Path) -> anyhow::Result<Vec<String>> {
    if !exp.report.prompts.is_empty() {
        return Ok(exp.report.prompts.clone());
    }
    let cache = LatentCache::open(&super::encode::latents_dir(run)).map_err(anyhow::Error::msg)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for split in ["val", "train"] {
        for c in cache
            .splits
            .get(split)
            .map(|s| &s.captions[..])
            .unwrap_or(&[])
        {
            if out.len() == exp.report.default_prompts {
                return Ok(out);
            }
            if !c.trim().is_empty() && seen.insert(c.clone()) {
                out.push(c.clone());
            }
        }
    }
    anyhow::ensure!(
        !out.is_empty(),
        "the latent cache has no captions to draw prompts from"
    );
    Ok(out)
}

pub fn run(cmd: &ReportCommand) -> anyhow::Result<()> {
    let root = &cmd.run_dir;
    if root.join(super::sweep::RECORD_FILE).exists() {
        let path = compare::write(root)?;
        println!("report: {}", path.display());
        return Ok(());
    }
    anyhow::ensure!(
        root.join("config.toml").exists() || root.join("metrics.jsonl").exists(),
        "{} is not a run directory (no config.toml or metrics.jsonl)",
        root.display()
    );
    let path = write(root)?;
    println!("report: {}", path.display());
    Ok(())
}

/// Metric keys that measure speed or bookkeeping, not learning.
const NOT_PLOTTED: [&str; 4] = [
    "images_per_sec",
    "latents_per_sec",
    "skipped",
    "nan_skipped",
];

/// One figure of the report.
pub struct Figure {
    pub stage: String,
    pub title: String,
    /// Relative to the run directory.
    pub file: String,
}

/// Plot every stage's curves from `metrics.jsonl` into `<run>/report/`.
fn plot_curves(root: &Path, m: &Metrics) -> anyhow::Result<Vec<Figure>> {
    let dir = root.join(PLOTS_DIR);
    // Stale plots (of metrics no longer logged) would otherwise linger beside new ones.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "png") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let mut figures = Vec::new();
    for stage in &m.order {
        let keys = &m.stages[stage];
        let pts =
            |k: &str| -> Vec<(f64, f64)> { keys[k].iter().map(|(s, v)| (*s as f64, *v)).collect() };
        let mut train: Vec<&String> = keys
            .keys()
            .filter(|k| !k.starts_with("val_") && !NOT_PLOTTED.contains(&k.as_str()))
            .collect();
        // The total loss first.
        train.sort_by_key(|k| (k.as_str() != "loss", k.as_str()));
        for k in train {
            let raw = pts(k);
            if raw.len() < 2 {
                continue;
            }
            let weight = (1.0 - 5.0 / raw.len() as f64).clamp(0.0, 0.9);
            let smoothed = metrics::smooth(&raw, weight);
            let p = Plot {
                title: format!("{stage}: {k}"),
                x_label: "step".into(),
                y_label: k.clone(),
                log_y: wide_positive(&raw),
                series: vec![
                    Series {
                        name: format!("{k} (raw)"),
                        points: raw,
                        style: Style::Faint,
                        color: 0,
                    },
                    Series {
                        name: format!("{k} (smoothed)"),
                        points: smoothed,
                        style: Style::Line,
                        color: 0,
                    },
                ],
            };
            figures.push(figure(root, stage, k, p)?);
        }
        // Validation metrics; the losses share a plot (same scale), the rest one each.
        let val: Vec<&String> = keys.keys().filter(|k| k.starts_with("val_")).collect();
        let (losses, others): (Vec<&String>, Vec<&String>) =
            val.into_iter().partition(|k| k.contains("loss"));
        let mut groups: Vec<Vec<&String>> = others.into_iter().map(|k| vec![k]).collect();
        if !losses.is_empty() {
            groups.insert(0, losses);
        }
        for group in groups {
            let series: Vec<Series> = group
                .iter()
                .enumerate()
                .map(|(i, k)| Series {
                    name: k.to_string(),
                    points: pts(k),
                    style: Style::Points,
                    color: i + 1,
                })
                .collect();
            if series.iter().all(|s| s.points.is_empty()) {
                continue;
            }
            let name = group
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join("+");
            let p = Plot {
                title: format!("{stage}: validation {}", name.replace('+', ", ")),
                x_label: "step".into(),
                y_label: if group.len() == 1 {
                    group[0].clone()
                } else {
                    "value".into()
                },
                log_y: false,
                series,
            };
            figures.push(figure(root, stage, &name, p)?);
        }
    }
    Ok(figures)
}

/// Whether values are all positive and spread over more than two decades.
fn wide_positive(points: &[(f64, f64)]) -> bool {
    let ys: Vec<f64> = points
        .iter()
        .map(|p| p.1)
        .filter(|y| y.is_finite())
        .collect();
    let (lo, hi) = ys
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &y| (a.min(y), b.max(y)));
    !ys.is_empty() && lo > 0.0 && hi / lo > 100.0
}

/// `name` with every character but ASCII letters, digits, '-' and '_' replaced by '_'.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn figure(root: &Path, stage: &str, key: &str, p: Plot) -> anyhow::Result<Figure> {
    let file = format!("{PLOTS_DIR}/{}.png", file_stem(&format!("{stage}-{key}")));
    plot::draw(&root.join(&file), &p)?;
    Ok(Figure {
        stage: stage.into(),
        title: p.title,
        file,
    })
}

/// The newest grid `samples/<prefix>NNNNNNNN.png`, relative to the run directory.
fn newest_grid(root: &Path, prefix: &str) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("samples"))
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".png"))
        .collect();
    names.sort();
    names.pop().map(|n| format!("samples/{n}"))
}

/// Write `<run>/report.html` and its plots; returns the report's path.
pub fn write(root: &Path) -> anyhow::Result<PathBuf> {
    let m = Metrics::read(&root.join("metrics.jsonl"));
    let figures = plot_curves(root, &m)?;
    let page = html::Page {
        root,
        metrics: &m,
        figures: &figures,
        reconstructions: newest_grid(root, "autoencoder-"),
        previews: newest_grid(root, "denoiser-"),
    }
    .render();
    let path = root.join(REPORT_FILE);
    ldm_core::atomic::write(&path, page.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
