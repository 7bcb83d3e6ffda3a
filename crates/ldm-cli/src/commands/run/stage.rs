//! The stages of `ldm run`, in order: what each reads from the config, which stages it builds
//! on, where its output goes, and how it is computed.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::Device;
use serde_json::{Map, Value};

use ldm_autoencoder::train::PerceptualKind;
use ldm_core::RunDir;
use ldm_core::checkpoint::{self, Start};
use ldm_data::Splits;

use super::super::{
    data_inspect, encode, eval, report, sample, train_autoencoder, train_denoiser, train_evaluator,
    train_perceptual,
};
use crate::experiment::Experiment;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Perceptual,
    Autoencoder,
    Encode,
    Denoiser,
    Samples,
    /// The evaluator (feature net for FID/KID, text-image scorer) trained on the dataset.
    Evaluator,
    /// Metrics of the samples (`eval/eval.json`).
    Eval,
    Report,
}

pub const ALL: [Stage; 8] = [
    Stage::Perceptual,
    Stage::Autoencoder,
    Stage::Encode,
    Stage::Denoiser,
    Stage::Samples,
    Stage::Evaluator,
    Stage::Eval,
    Stage::Report,
];

/// Config keys that change how fast a stage runs, never what it computes.
const IGNORED_KEYS: [&str; 2] = ["data.workers", "text.cache_batch"];
/// Keys left out of fingerprints while they hold their "off" value (0), so that adding them
/// did not invalidate stages finished before they existed.
const OFF_WHEN_ZERO: [&str; 2] = [
    "autoencoder.train.max_minutes",
    "denoiser.train.max_minutes",
];

/// What a stage needs while it runs; the data splits are opened on first use.
pub struct Ctx<'a> {
    pub exp: &'a Experiment,
    pub run: &'a RunDir,
    pub device: &'a Device,
    pub splits: OnceCell<Splits>,
}

impl Ctx<'_> {
    fn splits(&self) -> anyhow::Result<&Splits> {
        if let Some(s) = self.splits.get() {
            return Ok(s);
        }
        let s = ldm_data::open(&self.exp.data, self.exp.seed).map_err(anyhow::Error::msg)?;
        Ok(self.splits.get_or_init(|| s))
    }
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Perceptual => "perceptual",
            Stage::Autoencoder => "autoencoder",
            Stage::Encode => "encode",
            Stage::Denoiser => "denoiser",
            Stage::Samples => "samples",
            Stage::Evaluator => "evaluator",
            Stage::Eval => "eval",
            Stage::Report => "report",
        }
    }

    /// The stage's folder in the run directory (its `stage.json` lives there).
    pub fn dir(self) -> &'static str {
        match self {
            Stage::Perceptual => "perceptual",
            Stage::Autoencoder => "autoencoder",
            Stage::Encode => "latents",
            Stage::Denoiser => "denoiser",
            Stage::Samples => "samples/final",
            Stage::Evaluator => "evaluator",
            Stage::Eval => "eval",
            Stage::Report => "report",
        }
    }

    /// Whether this config runs the stage at all.
    pub fn enabled(self, exp: &Experiment) -> bool {
        match self {
            Stage::Perceptual => {
                exp.autoencoder.loss.perceptual == PerceptualKind::Learned
                    && exp.autoencoder.loss.perceptual_path.is_none()
            }
            _ => true,
        }
    }

    /// Whether this build can compute the stage.
    pub fn available(self) -> bool {
        true
    }

    /// Checkpoints of a training stage, which an interrupted run continues from.
    pub fn checkpoints(self, run: &Path) -> Option<PathBuf> {
        match self {
            Stage::Autoencoder => Some(run.join("checkpoints/autoencoder")),
            Stage::Denoiser => Some(run.join("checkpoints/denoiser")),
            _ => None,
        }
    }

    /// The file whose presence marks the stage's output complete (each model crate writes it
    /// last); used to notice output made outside `ldm run`.
    pub fn marker(self) -> Option<&'static str> {
        match self {
            Stage::Perceptual => Some("perceptual/info.json"),
            Stage::Autoencoder => Some("autoencoder/info.json"),
            Stage::Encode => Some("latents/manifest.json"),
            Stage::Denoiser => Some("denoiser/info.json"),
            _ => None,
        }
    }

    /// The `stage` field of this stage's lines in `metrics.jsonl`.
    pub fn metrics_stage(self) -> Option<&'static str> {
        match self {
            Stage::Perceptual => Some("perceptual"),
            Stage::Autoencoder => Some("autoencoder"),
            Stage::Denoiser => Some("denoiser"),
            Stage::Evaluator => Some("evaluator"),
            Stage::Eval => Some("eval"),
            _ => None,
        }
    }

    /// The config the stage's result depends on: `{dotted section: value}`; the seed is
    /// always part of it.
    pub fn inputs(self, exp: &Experiment) -> Value {
        let keys: &[&str] = match self {
            Stage::Perceptual => &["seed", "data", "perceptual"],
            Stage::Autoencoder => &["seed", "data", "autoencoder"],
            Stage::Encode => &["seed", "data"],
            Stage::Denoiser => &[
                "seed",
                "text",
                "diffusion",
                "denoiser.model",
                "denoiser.train",
            ],
            Stage::Samples => &["seed", "denoiser.sampling", "report"],
            Stage::Evaluator => &["seed", "data", "evaluator", "eval.minilm", "eval.max_len"],
            Stage::Eval => &["seed", "data", "denoiser.sampling", "eval"],
            Stage::Report => &[""],
        };
        let all = serde_json::to_value(exp).expect("config serializes");
        let mut out = Map::new();
        for key in keys {
            let mut v = lookup(&all, key).cloned().unwrap_or(Value::Null);
            for ignored in IGNORED_KEYS {
                remove(&mut v, key, ignored);
            }
            for off in OFF_WHEN_ZERO {
                if lookup(&all, off).and_then(Value::as_f64) == Some(0.0) {
                    remove(&mut v, key, off);
                }
            }
            out.insert(if key.is_empty() { "config" } else { key }.to_string(), v);
        }
        Value::Object(out)
    }

    /// The stages whose output this one reads.
    pub fn upstream(self, exp: &Experiment) -> Vec<Stage> {
        let mut up = match self {
            Stage::Perceptual => vec![],
            Stage::Autoencoder => vec![Stage::Perceptual],
            Stage::Encode => vec![Stage::Autoencoder],
            Stage::Denoiser => vec![Stage::Encode],
            Stage::Samples => vec![Stage::Denoiser, Stage::Autoencoder],
            Stage::Evaluator => vec![],
            Stage::Eval => vec![Stage::Samples, Stage::Evaluator],
            Stage::Report => ALL
                .iter()
                .copied()
                .filter(|s| *s != Stage::Report)
                .collect(),
        };
        up.retain(|s| s.enabled(exp) && s.available());
        up
    }

    /// Every output file of the finished stage, relative to the run directory, except its
    /// `stage.json`.
    pub fn outputs(self, run: &Path) -> anyhow::Result<Vec<String>> {
        let mut files = Vec::new();
        walk(run, Path::new(self.dir()), &mut files)?;
        if self == Stage::Encode {
            // Built later by the denoiser stage for a frozen text encoder; not the encoder's.
            files.retain(|f| !f.ends_with(&format!("/{}", ldm_text::TEXT_CACHE_FILE)));
        }
        // Grids written beside the other samples while training.
        let grids = match self {
            Stage::Autoencoder => Some("autoencoder-"),
            Stage::Denoiser => Some("denoiser-"),
            _ => None,
        };
        if let Some(prefix) = grids
            && let Ok(entries) = std::fs::read_dir(run.join("samples"))
        {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(prefix) && name.ends_with(".png") {
                    files.push(format!("samples/{name}"));
                }
            }
        }
        if self == Stage::Report {
            files.push(report::REPORT_FILE.to_string());
        }
        if self == Stage::Eval {
            files.push(eval::EVAL_FILE.to_string());
            if let Ok(entries) = std::fs::read_dir(run.join("samples")) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with("eval-g") && name.ends_with(".png") {
                        files.push(format!("samples/{name}"));
                    }
                }
            }
        }
        files.sort();
        Ok(files)
    }

    /// Compute the stage into the run directory; training stages continue from their
    /// newest checkpoint.
    pub fn compute(self, ctx: &Ctx) -> anyhow::Result<()> {
        let (exp, run, device) = (ctx.exp, ctx.run, ctx.device);
        let latest = || {
            self.checkpoints(run.root())
                .and_then(|d| checkpoint::latest(&d))
                .map_or(Start::Fresh, Start::Resume)
        };
        match self {
            Stage::Perceptual => {
                train_perceptual::stage(exp, run, device, ctx.splits()?)?;
            }
            Stage::Autoencoder => {
                train_autoencoder::stage(exp, run, device, ctx.splits()?, latest())?;
            }
            Stage::Encode => {
                encode::stage(exp, run, device, ctx.splits()?)?;
            }
            Stage::Denoiser => {
                train_denoiser::stage(exp, run, device, latest())?;
            }
            Stage::Samples => {
                let dir = run.root().join(self.dir());
                let prompts = report::sample_prompts(exp, run.root())?;
                let listing: String = prompts.iter().map(|p| format!("{p}\n")).collect();
                let opts = sample::SampleOptions {
                    prompts,
                    n: exp.report.samples_per_prompt,
                    steps: None,
                    sampler: None,
                    guidance: None,
                    seed: exp.seed,
                    out: Some(dir.join("grid.png")),
                };
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                sample::stage(exp, run, device, &opts)?;
                let p = dir.join("prompts.txt");
                ldm_core::atomic::write(&p, listing.as_bytes())
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            Stage::Evaluator => {
                train_evaluator::stage(exp, run, device, ctx.splits()?)?;
            }
            Stage::Eval => {
                eval::stage(exp, run, device, ctx.splits()?)?;
            }
            Stage::Report => {
                if !run.samples().join("data-grid.png").exists() {
                    data_inspect::write_data_grid(exp, ctx.splits()?, run, 64)?;
                }
                report::write(run.root())?;
            }
        }
        Ok(())
    }
}

/// Fingerprints of the enabled stages, in order.
pub fn fingerprints(
    exp: &Experiment,
    stages: &[Stage],
) -> BTreeMap<Stage, (Value, BTreeMap<String, String>, String)> {
    let mut out: BTreeMap<Stage, (Value, BTreeMap<String, String>, String)> = BTreeMap::new();
    for &s in stages {
        let inputs = s.inputs(exp);
        let upstream: BTreeMap<String, String> = s
            .upstream(exp)
            .into_iter()
            .filter_map(|u| {
                out.get(&u)
                    .map(|(_, _, fp)| (u.name().to_string(), fp.clone()))
            })
            .collect();
        let fp = super::record::fingerprint(s.name(), &inputs, &upstream);
        out.insert(s, (inputs, upstream, fp));
    }
    out
}

fn lookup<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    if dotted.is_empty() {
        return Some(v);
    }
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

/// Remove `ignored` (a full dotted key) from `v`, the value at `at`.
fn remove(v: &mut Value, at: &str, ignored: &str) {
    let rest = if at.is_empty() {
        Some(ignored)
    } else {
        ignored.strip_prefix(at).and_then(|r| r.strip_prefix('.'))
    };
    let Some(rest) = rest else { return };
    let mut parts: Vec<&str> = rest.split('.').collect();
    let last = parts.pop().expect("non-empty key");
    let mut cur = v;
    for p in parts {
        match cur.get_mut(p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

/// Files under `root/rel`, relative to `root`, skipping temporaries (names starting '.')
/// and stage records.
fn walk(root: &Path, rel: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
    let dir = root.join(rel);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in entries {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == super::record::RECORD_FILE {
            continue;
        }
        let sub = rel.join(&name);
        if e.file_type()?.is_dir() {
            walk(root, &sub, out)?;
        } else {
            out.push(sub.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}
