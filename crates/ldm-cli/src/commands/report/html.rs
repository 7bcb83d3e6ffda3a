//! The HTML of the report: plain markup and inline CSS, no scripts.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::Figure;
use super::metrics::Metrics;

pub struct Page<'a> {
    pub root: &'a Path,
    pub metrics: &'a Metrics,
    pub figures: &'a [Figure],
    pub reconstructions: Option<String>,
    pub previews: Option<String>,
}

pub(super) const CSS: &str = "
body { font-family: -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em;
     margin-top: 1.6em; } h3 { margin-bottom: 0.3em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; }
.figs img { width: 560px; max-width: 100%; border: 1px solid #eee; }
img.grid { max-width: 100%; image-rendering: pixelated; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.ok { color: #1a7f37; } .warn { color: #9a6700; } .none { color: #888; }
";

pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as a reader wants it: integers whole, others to 4 significant digits.
pub(super) fn num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let a = x.abs();
    if !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.digits$}")
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Number(n) => n.as_f64().map(num).unwrap_or_else(|| n.to_string()),
        Value::String(s) => esc(s),
        Value::Null => "<span class=\"none\">none</span>".into(),
        other => esc(&other.to_string()),
    }
}

fn is_scalar(v: &Value) -> bool {
    !v.is_object() && !v.is_array()
}

/// Rows of records: a list of objects, or an object whose values are all objects of
/// scalars (e.g. per-split scores); as one table, a column per key.
fn records(rows: &[(Option<&String>, &serde_json::Map<String, Value>)]) -> String {
    let mut cols: Vec<&String> = Vec::new();
    for (_, r) in rows {
        for k in r.keys() {
            if !cols.contains(&k) {
                cols.push(k);
            }
        }
    }
    let named = rows.iter().any(|(n, _)| n.is_some());
    let mut s = String::from("<table><tr>");
    if named {
        s.push_str("<th></th>");
    }
    for c in &cols {
        let _ = write!(s, "<th>{}</th>", esc(c));
    }
    s.push_str("</tr>");
    for (name, r) in rows {
        s.push_str("<tr>");
        if let Some(n) = name {
            let _ = write!(s, "<th>{}</th>", esc(n));
        }
        for c in &cols {
            let cell = r.get(c.as_str()).map(json_table).unwrap_or_default();
            let cls = if r.get(c.as_str()).is_some_and(Value::is_number) {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(s, "<td{cls}>{cell}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

/// Any JSON as nested tables: objects as key/value rows, lists of objects (and objects of
/// flat objects) as one table, lists of scalars inline.
pub fn json_table(v: &Value) -> String {
    match v {
        Value::Object(m)
            if m.len() > 1
                && m.values().all(|x| {
                    x.as_object()
                        .is_some_and(|o| !o.is_empty() && o.values().all(is_scalar))
                }) =>
        {
            let rows: Vec<_> = m
                .iter()
                .map(|(k, x)| (Some(k), x.as_object().expect("objects")))
                .collect();
            records(&rows)
        }
        Value::Object(m) if !m.is_empty() => {
            let mut s = String::from("<table>");
            for (k, v) in m {
                let cls = if matches!(v, Value::Number(_)) {
                    " class=\"num\""
                } else {
                    ""
                };
                let _ = write!(
                    s,
                    "<tr><th>{}</th><td{cls}>{}</td></tr>",
                    esc(k),
                    json_table(v)
                );
            }
            s.push_str("</table>");
            s
        }
        Value::Array(a) if !a.is_empty() && a.iter().all(|x| x.is_object()) => {
            let rows: Vec<_> = a
                .iter()
                .map(|x| (None, x.as_object().expect("objects")))
                .collect();
            records(&rows)
        }
        Value::Array(a) => a.iter().map(json_table).collect::<Vec<_>>().join(", "),
        Value::Object(_) => String::new(),
        other => scalar(other),
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The top-level scalars (and lists of scalars) of an artifact's description.
fn summary(v: &Value) -> String {
    let Some(m) = v.as_object() else {
        return String::new();
    };
    // The latent cache's manifest: its splits' sizes.
    let counts = m.get("splits").and_then(Value::as_object).map(|splits| {
        splits
            .iter()
            .filter_map(|(k, v)| v["count"].as_u64().map(|n| format!("{} = {n}", esc(k))))
            .collect::<Vec<_>>()
    });
    m.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "format" | "version"))
        .filter(|(_, v)| match v {
            Value::Array(a) => a.iter().all(|x| !x.is_object() && !x.is_array()),
            Value::Object(_) => false,
            _ => true,
        })
        .map(|(k, v)| format!("{} = {}", esc(k), json_table(v)))
        .chain(counts.into_iter().flatten())
        .collect::<Vec<_>>()
        .join("<br>")
}

impl Page<'_> {
    pub fn render(&self) -> String {
        let root = self.root;
        let config = std::fs::read_to_string(root.join("config.toml")).ok();
        let name = config
            .as_deref()
            .and_then(|c| c.parse::<toml::Table>().ok())
            .and_then(|t| t.get("name").and_then(|n| n.as_str()).map(String::from))
            .unwrap_or_else(|| {
                root.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>ldm report: {n}</title><style>{CSS}</style></head><body>\n\
             <h1>ldm report: {n}</h1><p class=\"sub\">run directory <code>{d}</code></p>\n",
            n = esc(&name),
            d = esc(&root.display().to_string())
        );
        self.stages(&mut h);
        self.final_metrics(&mut h);
        self.evaluation(&mut h);
        self.samples(&mut h);
        self.curves(&mut h);
        self.grids(&mut h);
        h.push_str("<h2>Config</h2>\n");
        match config {
            Some(c) => {
                let _ = write!(h, "<pre>{}</pre>\n", esc(&c));
            }
            None => h.push_str("<p class=\"none\">no config.toml</p>\n"),
        }
        h.push_str("</body></html>\n");
        h
    }

    fn stages(&self, h: &mut String) {
        h.push_str(
            "<h2>Stages</h2>\n<table><tr><th>stage</th><th>status</th><th>fingerprint</th>\
             <th>output</th></tr>\n",
        );
        for (stage, dir) in super::super::run::stage_dirs() {
            let path = self.root.join(dir);
            let record = read_json(&path.join("stage.json"));
            let status = match &record {
                None if !path.exists() => "<span class=\"none\">not run</span>".to_string(),
                None => "<span class=\"warn\">made outside <code>ldm run</code></span>".into(),
                Some(r) => match (r["status"].as_str(), r["reused_from"].as_str()) {
                    (Some("done"), Some(from)) => format!(
                        "<span class=\"ok\">done</span> (reused from <code>{}</code>)",
                        esc(from)
                    ),
                    (Some("done"), None) => "<span class=\"ok\">done</span>".into(),
                    (s, _) => format!("<span class=\"warn\">{}</span>", esc(s.unwrap_or("?"))),
                },
            };
            let fp = record
                .as_ref()
                .and_then(|r| {
                    r["fingerprint"]
                        .as_str()
                        .map(|s| format!("<code>{}</code>", esc(s)))
                })
                .unwrap_or_default();
            let info = ["info.json", "manifest.json"]
                .iter()
                .find_map(|f| read_json(&path.join(f)))
                .map(|v| summary(&v))
                .unwrap_or_default();
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{status}</td><td>{fp}</td><td>{info}</td></tr>",
                esc(stage)
            );
        }
        h.push_str("</table>\n");
    }

    fn final_metrics(&self, h: &mut String) {
        if self.metrics.order.is_empty() {
            return;
        }
        h.push_str("<h2>Final metrics</h2>\n<p class=\"sub\">the last value logged, at its step, with the range over the run (<code>metrics.jsonl</code>)</p>\n");
        for stage in &self.metrics.order {
            let keys = &self.metrics.stages[stage];
            let _ = write!(
                h,
                "<h3>{}</h3><table><tr><th>metric</th><th>final</th><th>step</th>\
                 <th>min</th><th>max</th></tr>\n",
                esc(stage)
            );
            for (k, series) in keys {
                let Some((step, last)) = series.iter().next_back() else {
                    continue;
                };
                let (lo, hi) = series
                    .values()
                    .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{step}</td>\
                     <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    esc(k),
                    num(*last),
                    num(lo),
                    num(hi)
                );
            }
            h.push_str("</table>\n");
        }
    }

    fn evaluation(&self, h: &mut String) {
        let found = ["eval.json", "eval/eval.json"]
            .iter()
            .find_map(|f| read_json(&self.root.join(f)).map(|v| (f, v)));
        if let Some((file, v)) = found {
            let _ = write!(
                h,
                "<h2>Evaluation</h2>\n<p class=\"sub\"><code>{}</code></p>\n{}\n",
                esc(file),
                json_table(&v)
            );
        }
        // Plots and grids the evaluation made.
        let mut pngs: Vec<String> = std::fs::read_dir(self.root.join("eval"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".png"))
            .map(|n| format!("eval/{n}"))
            .collect();
        pngs.sort();
        let mut grids: Vec<String> = std::fs::read_dir(self.root.join("samples"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("eval-") && n.ends_with(".png"))
            .map(|n| format!("samples/{n}"))
            .collect();
        grids.sort();
        if !pngs.is_empty() {
            h.push_str("<div class=\"figs\">");
            for p in &pngs {
                let _ = write!(h, "<img src=\"{0}\" alt=\"{0}\">", esc(p));
            }
            h.push_str("</div>\n");
        }
        for g in &grids {
            let _ = writeln!(
                h,
                "<h3><code>{0}</code></h3><img class=\"grid\" src=\"{0}\" alt=\"{0}\">",
                esc(g)
            );
        }
    }

    fn samples(&self, h: &mut String) {
        let grid = "samples/final/grid.png";
        if !self.root.join(grid).exists() {
            return;
        }
        h.push_str("<h2>Samples</h2>\n");
        if let Ok(p) = std::fs::read_to_string(self.root.join("samples/final/prompts.txt")) {
            h.push_str("<p class=\"sub\">one row per prompt:</p><ol>");
            for line in p.lines() {
                let _ = write!(h, "<li>{}</li>", esc(line));
            }
            h.push_str("</ol>\n");
        }
        let _ = writeln!(h, "<img class=\"grid\" src=\"{grid}\" alt=\"sample grid\">");
    }

    fn curves(&self, h: &mut String) {
        if self.figures.is_empty() {
            return;
        }
        h.push_str("<h2>Training curves</h2>\n");
        let mut stage = None;
        for f in self.figures {
            if stage != Some(&f.stage) {
                if stage.is_some() {
                    h.push_str("</div>\n");
                }
                let _ = write!(h, "<h3>{}</h3><div class=\"figs\">", esc(&f.stage));
                stage = Some(&f.stage);
            }
            let _ = write!(
                h,
                "<img src=\"{}\" alt=\"{}\">",
                esc(&f.file),
                esc(&f.title)
            );
        }
        h.push_str("</div>\n");
    }

    fn grids(&self, h: &mut String) {
        let mut one = |title: &str, note: &str, file: &str| {
            let _ = writeln!(
                h,
                "<h2>{title}</h2>\n<p class=\"sub\">{note} (<code>{f}</code>)</p>\
                 <img class=\"grid\" src=\"{f}\" alt=\"{title}\">",
                f = esc(file)
            );
        };
        if let Some(f) = &self.reconstructions {
            one(
                "Reconstructions",
                "validation images and the autoencoder's reconstructions at the last validation",
                f,
            );
        }
        if let Some(f) = &self.previews {
            one("Denoiser previews", "the last preview grid of training", f);
        }
        if self.root.join("samples/data-grid.png").exists() {
            one(
                "Data",
                "training samples as the models see them",
                "samples/data-grid.png",
            );
            if let Ok(c) = std::fs::read_to_string(self.root.join("samples/data-grid.txt")) {
                let _ = writeln!(
                    h,
                    "<details><summary>captions</summary><pre>{}</pre></details>",
                    esc(&c)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn json_renders_as_escaped_tables() {
        let v = json!({"fid": 12.3456, "name": "<b>", "rows": [{"a": 1}, {"a": 2, "b": "x"}]});
        let h = super::json_table(&v);
        assert!(
            h.contains("<th>fid</th><td class=\"num\">12.35</td>"),
            "{h}"
        );
        assert!(h.contains("&lt;b&gt;"));
        assert!(h.contains("<th>a</th><th>b</th>"));
        let m = super::json_table(&json!({"seen": {"all": 0.5}, "held_out": {"all": 0.25}}));
        assert!(m.contains("<th></th><th>all</th>"), "{m}");
        assert_eq!(super::num(0.5), "0.5000");
        assert_eq!(super::num(3.0), "3");
    }
}
