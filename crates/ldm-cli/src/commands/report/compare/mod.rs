//! The report of a sweep (`ldm report SWEEP_DIR`, and the end of `ldm sweep`): one page
//! comparing the variants, plus `summary.csv` and `summary.md`.
//!
//! - final metrics per variant: the last logged value of each stage's `loss` and `val_*`
//!   metrics (`metrics.jsonl`) and every number in `eval.json` outside lists (its `settings`
//!   and timings aside), as the mean and standard deviation over the variant's seeds; rows equal in every
//!   variant (stages they share) are set apart;
//! - the training and validation curves overlaid, one line per variant (mean over seeds),
//!   and the evaluation's guidance sweep;
//! - the sample grids of every run side by side (same prompts; same noise for equal seeds);
//! - each variant's config against the base (`ldm_core::config::changed_keys`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use super::REPORT_FILE;
use super::html::{CSS, esc, num};
use super::metrics::Metrics;
use crate::commands::sweep::{BASE_CONFIG_FILE, SweepRecord, VariantRecord, VariantStatus};

mod curves;

use curves::plot_curves;
mod summary;

pub const SUMMARY_CSV: &str = "summary.csv";
pub const SUMMARY_MD: &str = "summary.md";

/// One run of the sweep as found on disk.
struct Run<'a> {
    rec: &'a VariantRecord,
    root: PathBuf,
    metrics: Metrics,
    /// Final values by metric name (`denoiser.val_loss`, `eval.chosen.fid`).
    finals: BTreeMap<String, f64>,
    eval: Option<Value>,
}

impl Run<'_> {
    fn done(&self) -> bool {
        self.rec.status == VariantStatus::Done
    }
}

/// The runs of one variant (its seeds).
struct Group {
    name: String,
    runs: Vec<usize>,
}

/// Mean, standard deviation (n - 1; none for one value) and the values, in seed order.
struct Stat {
    mean: f64,
    std: Option<f64>,
    values: Vec<f64>,
}

impl Stat {
    fn of(values: Vec<f64>) -> Option<Stat> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = (values.len() > 1)
            .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        Some(Stat { mean, std, values })
    }

    fn text(&self) -> String {
        match self.std {
            Some(s) => format!("{} ± {}", num(self.mean), num(s)),
            None => num(self.mean),
        }
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Every number in `v` by dotted path, `settings` and timings aside.
fn flatten_numbers(prefix: &str, v: &Value, out: &mut BTreeMap<String, f64>) {
    match v {
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_string(), x);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                if k == "seconds" || (prefix == "eval" && k == "settings") {
                    continue;
                }
                flatten_numbers(&format!("{prefix}.{k}"), x, out);
            }
        }
        // Lists (the guidance sweep) are drawn against their own axis instead.
        _ => {}
    }
}

fn load_run<'a>(sweep: &Path, rec: &'a VariantRecord) -> Run<'a> {
    let root = sweep.join(&rec.run_dir);
    let metrics = Metrics::read(&root.join("metrics.jsonl"));
    let mut finals = BTreeMap::new();
    for stage in &metrics.order {
        // The evaluation's numbers come whole from eval.json.
        if stage == "eval" {
            continue;
        }
        for (k, series) in &metrics.stages[stage] {
            if (k == "loss" || k.starts_with("val_"))
                && let Some((_, v)) = series.iter().next_back()
            {
                finals.insert(format!("{stage}.{k}"), *v);
            }
        }
    }
    let eval = ["eval.json", "eval/eval.json"]
        .iter()
        .find_map(|f| read_json(&root.join(f)));
    if let Some(e) = &eval {
        flatten_numbers("eval", e, &mut finals);
    }
    Run {
        rec,
        root,
        metrics,
        finals,
        eval,
    }
}

/// Metric names in a stable order: the training stages as logged, then the evaluation.
fn metric_order(runs: &[Run]) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    for r in runs {
        for s in &r.metrics.order {
            if !stages.contains(s) {
                stages.push(s.clone());
            }
        }
    }
    let rank = |k: &str| {
        let stage = k.split('.').next().unwrap_or_default();
        if k.starts_with("eval.") {
            stages.len()
        } else {
            stages
                .iter()
                .position(|s| s == stage)
                .unwrap_or(stages.len())
        }
    };
    let mut keys: Vec<String> = runs
        .iter()
        .flat_map(|r| r.finals.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // Within a stage: the training loss, then validation, alphabetically.
    keys.sort_by_key(|k| (rank(k), !k.ends_with(".loss"), k.clone()));
    keys
}

struct Table {
    groups: Vec<Group>,
    metrics: Vec<String>,
    /// metric -> one entry per group.
    stats: BTreeMap<String, Vec<Option<Stat>>>,
}

impl Table {
    fn build(runs: &[Run]) -> Table {
        let mut groups: Vec<Group> = Vec::new();
        for (i, r) in runs.iter().enumerate() {
            match groups.iter_mut().find(|g| g.name == r.rec.group) {
                Some(g) => g.runs.push(i),
                None => groups.push(Group {
                    name: r.rec.group.clone(),
                    runs: vec![i],
                }),
            }
        }
        let metrics = metric_order(runs);
        let stats = metrics
            .iter()
            .map(|m| {
                let per_group = groups
                    .iter()
                    .map(|g| {
                        Stat::of(
                            g.runs
                                .iter()
                                .filter(|&&i| runs[i].done())
                                .filter_map(|&i| runs[i].finals.get(m).copied())
                                .collect(),
                        )
                    })
                    .collect();
                (m.clone(), per_group)
            })
            .collect();
        Table {
            groups,
            metrics,
            stats,
        }
    }

    /// Whether every variant that has `m` has the same values (a stage they share, say),
    /// and at least two do.
    fn same_everywhere(&self, m: &str) -> bool {
        let s: Vec<&Stat> = self.stats[m].iter().flatten().collect();
        if s.len() < 2 {
            return false;
        }
        s.iter().all(|x| {
            x.values.len() == s[0].values.len()
                && x.values
                    .iter()
                    .zip(&s[0].values)
                    .all(|(a, b)| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0))
        })
    }
}

fn status_text(runs: &[Run], g: &Group) -> String {
    let done = g.runs.iter().filter(|&&i| runs[i].done()).count();
    let failed = g
        .runs
        .iter()
        .filter(|&&i| runs[i].rec.status == VariantStatus::Failed)
        .count();
    let mut s = format!("{done}/{} done", g.runs.len());
    if failed > 0 {
        let _ = write!(s, ", {failed} failed");
    }
    s
}

fn seeds_text(runs: &[Run], g: &Group) -> String {
    let seeds: Vec<String> = g
        .runs
        .iter()
        .filter_map(|&i| runs[i].rec.seed.map(|s| s.to_string()))
        .collect();
    if seeds.is_empty() {
        "base".into()
    } else {
        seeds.join(" ")
    }
}

/// A resolved config as JSON (from its TOML file).
fn config_json(path: &Path) -> Option<Value> {
    let t: toml::Table = std::fs::read_to_string(path).ok()?.parse().ok()?;
    serde_json::to_value(t).ok()
}

/// Write the sweep's report, `summary.csv` and `summary.md` into `dir`; returns the report.
pub fn write(dir: &Path) -> anyhow::Result<PathBuf> {
    let rec = SweepRecord::read(dir)?;
    let runs: Vec<Run> = rec.variants.iter().map(|v| load_run(dir, v)).collect();
    let t = Table::build(&runs);
    summary::write_csv(dir, &runs, &t)?;
    summary::write_md(dir, &rec, &runs, &t)?;
    let (figures, same_curves) = plot_curves(dir, &runs, &t)?;

    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>ldm sweep: {n}</title><style>{CSS}\
         figure {{ margin: 0; }} figcaption {{ font-size: 0.85em; color: #444; }}\
         .figs img.grid {{ width: auto; min-width: 160px; }}</style></head><body>\n\
         <h1>ldm sweep: {n}</h1><p class=\"sub\">sweep folder <code>{d}</code>; base config \
         <code>{b}</code>; sweep file <code>{f}</code>; summaries in \
         <a href=\"{SUMMARY_CSV}\">{SUMMARY_CSV}</a> and <a href=\"{SUMMARY_MD}\">{SUMMARY_MD}</a></p>\n",
        n = esc(&rec.name),
        d = esc(&dir.display().to_string()),
        b = esc(&rec.base),
        f = esc(&rec.sweep_file),
    );

    // The variants.
    h.push_str(
        "<h2>Variants</h2>\n<table><tr><th>variant</th><th>run</th><th>seed</th><th>status</th>\
         <th>time</th><th>overrides</th></tr>\n",
    );
    for r in &runs {
        let status = match r.rec.status {
            VariantStatus::Done => "<span class=\"ok\">done</span>".to_string(),
            VariantStatus::Pending => "<span class=\"none\">not finished</span>".to_string(),
            VariantStatus::Failed => format!(
                "<span class=\"warn\">failed</span>: {}",
                esc(r.rec.error.as_deref().unwrap_or(""))
            ),
        };
        let link = if r.root.join(REPORT_FILE).exists() {
            format!(
                "<a href=\"{0}/{REPORT_FILE}\">{1}</a>",
                esc(&r.rec.run_dir),
                esc(&r.rec.name)
            )
        } else {
            esc(&r.rec.name)
        };
        let time = r
            .rec
            .seconds
            .map(|s| format!("{s:.0} s"))
            .unwrap_or_default();
        let overrides: Vec<String> = r
            .rec
            .overrides
            .iter()
            .map(|o| format!("<code>{}</code>", esc(o)))
            .collect();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{link}</td><td class=\"num\">{}</td><td>{status}</td>\
             <td class=\"num\">{time}</td><td>{}</td></tr>",
            esc(&r.rec.group),
            r.rec.seed.map(|s| s.to_string()).unwrap_or_default(),
            overrides.join(" ")
        );
    }
    h.push_str("</table>\n");

    // Final metrics.
    if !t.metrics.is_empty() {
        let head: String = t
            .groups
            .iter()
            .map(|g| format!("<th>{}</th>", esc(&g.name)))
            .collect();
        let row = |m: &str| -> String {
            let cells: String = t.stats[m]
                .iter()
                .map(|s| {
                    format!(
                        "<td class=\"num\">{}</td>",
                        s.as_ref().map(Stat::text).unwrap_or_default()
                    )
                })
                .collect();
            format!("<tr><td><code>{}</code></td>{cells}</tr>\n", esc(m))
        };
        let (differ, same): (Vec<&String>, Vec<&String>) =
            t.metrics.iter().partition(|m| !t.same_everywhere(m));
        let _ = write!(
            h,
            "<h2>Final metrics</h2>\n<p class=\"sub\">the last logged value of each stage's loss \
             and validation metrics (<code>metrics.jsonl</code>) and the numbers of \
             <code>eval.json</code>; mean ± standard deviation over seeds, finished runs only</p>\n\
             <table><tr><th>metric</th>{head}</tr>\n"
        );
        for m in &differ {
            h.push_str(&row(m));
        }
        h.push_str("</table>\n");
        if !same.is_empty() {
            let _ = write!(
                h,
                "<details><summary>{} metrics equal in every variant (those of shared stages, and ties)</summary>\
                 <table><tr><th>metric</th>{head}</tr>\n",
                same.len()
            );
            for m in &same {
                h.push_str(&row(m));
            }
            h.push_str("</table></details>\n");
        }
    }

    // Curves.
    if !figures.is_empty() {
        h.push_str(
            "<h2>Curves</h2>\n<p class=\"sub\">one line per variant (mean over its seeds)</p>\
             <div class=\"figs\">",
        );
        for f in &figures {
            let _ = write!(
                h,
                "<img src=\"{}\" alt=\"{}\">",
                esc(&f.file),
                esc(&f.title)
            );
        }
        h.push_str("</div>\n");
    }
    if !same_curves.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"sub\">the same in every variant (shared stages), not drawn: {}</p>",
            esc(&same_curves.join(", "))
        );
    }

    // Samples side by side.
    let grids: Vec<(&Run, String)> = runs
        .iter()
        .map(|r| (r, format!("{}/samples/final/grid.png", r.rec.run_dir)))
        .filter(|(_, g)| dir.join(g).exists())
        .collect();
    if !grids.is_empty() {
        h.push_str("<h2>Samples</h2>\n");
        if let Some(p) = grids.iter().find_map(|(r, _)| {
            std::fs::read_to_string(r.root.join("samples/final/prompts.txt")).ok()
        }) {
            h.push_str("<p class=\"sub\">one row per prompt, the same in every run:</p><ol>");
            for line in p.lines() {
                let _ = write!(h, "<li>{}</li>", esc(line));
            }
            h.push_str("</ol>\n");
        }
        h.push_str("<div class=\"figs\">");
        for (r, g) in &grids {
            let _ = write!(
                h,
                "<figure><img class=\"grid\" src=\"{0}\" alt=\"{1}\"><figcaption>{1}</figcaption></figure>",
                esc(g),
                esc(&r.rec.name)
            );
        }
        h.push_str("</div>\n");
    }
    let eval_grids: Vec<(&Run, String, String)> = runs
        .iter()
        .filter_map(|r| {
            let chosen = &r.eval.as_ref()?["chosen"];
            let g = format!("{}/{}", r.rec.run_dir, chosen["grid"].as_str()?);
            let scale = chosen["guidance"].as_f64().map(num).unwrap_or_default();
            dir.join(&g).exists().then_some((r, g, scale))
        })
        .collect();
    if !eval_grids.is_empty() {
        h.push_str(
            "<h3>Evaluation samples</h3><p class=\"sub\">the evaluation's grid at its chosen \
             guidance scale</p><div class=\"figs\">",
        );
        for (r, g, scale) in &eval_grids {
            let _ = write!(
                h,
                "<figure><img class=\"grid\" src=\"{0}\" alt=\"{1}\"><figcaption>{1} \
                 (guidance {2})</figcaption></figure>",
                esc(g),
                esc(&r.rec.name),
                esc(scale)
            );
        }
        h.push_str("</div>\n");
    }

    // Config differences.
    h.push_str(
        "<h2>Configs</h2>\n<p class=\"sub\">each variant's resolved config against the base's \
         (<code>base-config.toml</code>)</p>\n",
    );
    let base = config_json(&dir.join(BASE_CONFIG_FILE));
    for g in &t.groups {
        let r = &runs[g.runs[0]];
        let _ = write!(h, "<h3>{}</h3>", esc(&g.name));
        let mine = config_json(&r.root.join("config.toml"));
        let (Some(base), Some(mine)) = (&base, &mine) else {
            let _ = writeln!(
                h,
                "<p class=\"none\">no config yet; overrides: {}</p>",
                esc(&r.rec.overrides.join(" "))
            );
            continue;
        };
        let several = g.runs.len() > 1;
        let changes: Vec<_> = ldm_core::config::changed_keys("", base, mine)
            .into_iter()
            .filter(|(k, _, _)| k != "name" && !(several && k == "seed"))
            .collect();
        if several {
            let _ = write!(
                h,
                "<p class=\"sub\">seeds {}</p>",
                esc(&seeds_text(&runs, g))
            );
        }
        if changes.is_empty() {
            h.push_str("<p class=\"none\">the base config</p>\n");
            continue;
        }
        h.push_str("<table><tr><th>key</th><th>base</th><th>variant</th></tr>");
        for (k, old, new) in changes {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                esc(&k),
                esc(&old),
                esc(&new)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</body></html>\n");

    let path = dir.join(REPORT_FILE);
    ldm_core::atomic::write(&path, h.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
