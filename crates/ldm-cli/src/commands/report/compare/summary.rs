//! The sweep's tables as files: `summary.csv` (one row per variant) and `summary.md` (the
//! same tables in Markdown, with each variant's overrides).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::{Group, Run, SUMMARY_CSV, SUMMARY_MD, Stat, Table, seeds_text, status_text};
use crate::commands::sweep::SweepRecord;

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `summary.csv`: one row per variant; its overrides, runs finished, and each metric's mean
/// (and, with seeds, `<metric>.std`).
pub(super) fn write_csv(dir: &Path, runs: &[Run], t: &Table) -> anyhow::Result<()> {
    let with_std = t.groups.iter().any(|g| g.runs.len() > 1);
    let mut s = String::from("variant,seeds,status,overrides");
    for m in &t.metrics {
        let _ = write!(s, ",{}", csv_field(m));
        if with_std {
            let _ = write!(s, ",{}", csv_field(&format!("{m}.std")));
        }
    }
    s.push('\n');
    for (gi, g) in t.groups.iter().enumerate() {
        let overrides = group_overrides(runs, g).join(" ");
        let _ = write!(
            s,
            "{},{},{},{}",
            csv_field(&g.name),
            csv_field(&seeds_text(runs, g)),
            csv_field(&status_text(runs, g)),
            csv_field(&overrides)
        );
        for m in &t.metrics {
            let stat = &t.stats[m][gi];
            let _ = write!(
                s,
                ",{}",
                stat.as_ref()
                    .map(|x| x.mean.to_string())
                    .unwrap_or_default()
            );
            if with_std {
                let std = stat.as_ref().and_then(|x| x.std);
                let _ = write!(s, ",{}", std.map(|x| x.to_string()).unwrap_or_default());
            }
        }
        s.push('\n');
    }
    let p = dir.join(SUMMARY_CSV);
    ldm_core::atomic::write(&p, s.as_bytes()).with_context(|| format!("writing {}", p.display()))
}

/// A variant's overrides without its seed (the seeds are a column of their own).
fn group_overrides(runs: &[Run], g: &Group) -> Vec<String> {
    runs[g.runs[0]]
        .rec
        .overrides
        .iter()
        .filter(|o| !(g.runs.len() > 1 && o.starts_with("seed=")))
        .cloned()
        .collect()
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// `summary.md`: the variants and the metrics that differ between them, as Markdown tables.
pub(super) fn write_md(
    dir: &Path,
    rec: &SweepRecord,
    runs: &[Run],
    t: &Table,
) -> anyhow::Result<()> {
    let mut s = format!(
        "# Sweep {}\n\nBase config `{}`, sweep file `{}`; {} run{} in {} variant{}.\n\n\
         ## Variants\n\n| variant | seeds | status | overrides |\n| --- | --- | --- | --- |\n",
        rec.name,
        rec.base,
        rec.sweep_file,
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        t.groups.len(),
        if t.groups.len() == 1 { "" } else { "s" },
    );
    for g in &t.groups {
        let overrides: Vec<String> = group_overrides(runs, g)
            .iter()
            .map(|o| format!("`{}`", md_cell(o)))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            md_cell(&g.name),
            seeds_text(runs, g),
            status_text(runs, g),
            overrides.join(" ")
        );
    }
    for r in runs {
        if let Some(e) = &r.rec.error {
            let _ = write!(s, "\n{} failed: {}\n", r.rec.name, e);
        }
    }
    let (differ, same): (Vec<&String>, Vec<&String>) =
        t.metrics.iter().partition(|m| !t.same_everywhere(m));
    s.push_str("\n## Final metrics\n\nMean ± standard deviation over seeds.\n\n| metric |");
    for g in &t.groups {
        let _ = write!(s, " {} |", md_cell(&g.name));
    }
    s.push_str("\n| --- |");
    for _ in &t.groups {
        s.push_str(" ---: |");
    }
    s.push('\n');
    for m in &differ {
        let _ = write!(s, "| `{m}` |");
        for stat in &t.stats[*m] {
            let _ = write!(
                s,
                " {} |",
                stat.as_ref().map(Stat::text).unwrap_or_default()
            );
        }
        s.push('\n');
    }
    if !same.is_empty() {
        s.push_str("\nThe same in every variant:\n\n");
        for m in &same {
            let v = t.stats[*m][0].as_ref().map(Stat::text).unwrap_or_default();
            let _ = writeln!(s, "- `{m}` = {v}");
        }
    }
    let p = dir.join(SUMMARY_MD);
    ldm_core::atomic::write(&p, s.as_bytes()).with_context(|| format!("writing {}", p.display()))
}
