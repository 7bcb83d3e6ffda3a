//! `ldm eval CONFIG`: measure the run's models and write `<run>/eval.json`.
//!
//! - the autoencoder on validation images: PSNR, SSIM, perceptual distance, and rFID (FID in
//!   evaluator features of the reconstructions against the originals);
//! - generated images for a fixed prompt set (the captions of the first `[eval] samples`
//!   validation images; for shapes these include held-out colour-shape pairs) at each
//!   guidance scale of the sweep: FID and KID against those validation images, beside the
//!   floor (the same distances between the validation images and as many training images);
//!   alignment (mean cosine of an image and its prompt); R-precision against `distractors`
//!   other captions of the dataset (of other labels, where the metadata labels captions, so a
//!   paraphrase of the prompt is never a distractor); for shapes, the detector's per-attribute accuracy on seen
//!   and held-out combinations. The same measures of the real validation images give the
//!   ceiling;
//! - a sample grid per scale (`samples/eval-g<scale>.png`) and plots of the sweep
//!   (`eval/guidance-*.png`).

mod config;
mod images;
mod plots;

pub use config::EvalSection;

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::{Device, Tensor};
use serde_json::{Value, json};

use ldm_autoencoder::artifacts::{
    autoencoder_dir, check_config, load_autoencoder, load_perceptual, perceptual_dir,
};
use ldm_autoencoder::metrics::{psnr, ssim};
use ldm_autoencoder::perceptual::{Perceptual, PretrainedLpips};
use ldm_autoencoder::train::PerceptualKind;
use ldm_core::RunDir;
use ldm_core::metrics::MetricsLog;
use ldm_data::{SourceKind, Splits};
use ldm_eval::detector::{Aggregate, Detector, Prompt, score};
use ldm_eval::evaluator::{
    CaptionEmbedder, Evaluator, EvaluatorInfo, evaluator_dir, load_evaluator, r_precision,
};
use ldm_eval::{Features, fid, kid};

use super::sample::Generator;
use super::train_evaluator::MiniLmEmbedder;
use crate::cli::RunCommand;
use crate::experiment::Experiment;
use images::Images;

/// The results, relative to the run directory.
pub const EVAL_FILE: &str = "eval.json";
/// The sweep's plots, relative to the run directory.
pub const PLOTS_DIR: &str = "eval";

pub fn run(cmd: &RunCommand) -> anyhow::Result<()> {
    let (exp, device, splits, run) = super::open_stage(cmd)?;
    stage(&exp, &run, &device, &splits)?;
    Ok(())
}

/// Evaluate the run's autoencoder and denoiser with its evaluator; writes `<run>/eval.json`
/// (returned), the grids and the plots.
pub fn stage(
    exp: &Experiment,
    run: &RunDir,
    device: &Device,
    splits: &Splits,
) -> anyhow::Result<Value> {
    let cfg = &exp.eval;
    let batch = cfg.batch_size;
    let (ev, ev_info) = load_evaluator(&evaluator_dir(run.root()), device)
        .map_err(anyhow::Error::msg)
        .context("the evaluation needs a trained evaluator: run `ldm train-evaluator` first")?;
    let mut text = MiniLmEmbedder::load(exp, device)?;
    check_evaluator(exp, &ev_info, &text)?;
    println!(
        "evaluator: held-out top-1 retrieval {:.1}% (chance {:.1}%) over {} validation images",
        100.0 * ev_info.val_retrieval,
        100.0 * ev_info.chance,
        ev_info.val_images
    );

    // The real images: the validation images the prompts come from, and as many training
    // images for the floor of the distances.
    let val = images::read(splits.val.clone(), &exp.data, cfg.samples, false, exp.seed)?;
    let train = images::read(splits.train.clone(), &exp.data, val.len(), true, exp.seed)?;
    let val_f = val.features(&ev, batch, device)?;
    let train_f = train.features(&ev, batch, device)?;
    let floor = distances(&train_f, &val_f, cfg)?;
    println!(
        "floor ({} validation vs {} training images): FID {:.3}, KID {:.5}",
        val.len(),
        train.len(),
        floor.fid,
        floor.kid_mean
    );

    let autoencoder = autoencoder_metrics(exp, run, device, splits, &ev)?;

    // Prompts: the validation captions, cycled to `samples`; distractors: other captions of
    // both splits (the distinct ones, each with its label).
    let prompts: Vec<String> = (0..cfg.samples)
        .map(|i| val.captions[i % val.len()].clone())
        .collect();
    let prompt_labels: Vec<String> = (0..cfg.samples)
        .map(|i| val.labels[i % val.len()].clone())
        .collect();
    let (pool, pool_labels): (Vec<String>, Vec<String>) = val
        .captions
        .iter()
        .zip(&val.labels)
        .chain(train.captions.iter().zip(&train.labels))
        .map(|(c, l)| (c.clone(), l.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .unzip();
    let prompt_f = text_features(&ev, &mut text, &prompts, batch)?;
    let pool_f = text_features(&ev, &mut text, &pool, batch)?;
    let shapes = Shapes::new(exp, &prompts)?;
    let scores = Scorer {
        prompts: &prompts,
        prompt_labels: &prompt_labels,
        prompt_f: &prompt_f,
        pool_labels: &pool_labels,
        pool_f: &pool_f,
        val_f: &val_f,
        shapes: shapes.as_ref(),
        cfg,
        seed: exp.seed,
    };

    // The real validation images under the same measures: what a perfect generator scores.
    let real = {
        let reps = Images {
            data: (0..cfg.samples)
                .flat_map(|i| {
                    let p = val.shape.iter().product::<usize>();
                    let j = i % val.len();
                    val.data[j * p..(j + 1) * p].to_vec()
                })
                .collect(),
            shape: val.shape,
            captions: prompts.clone(),
            labels: prompt_labels.clone(),
        };
        let dim = val_f.dim();
        let rows = (0..cfg.samples).flat_map(|i| val_f.row(i % val.len()).to_vec());
        let f = Features::new(rows.collect(), dim).map_err(anyhow::Error::msg)?;
        let mut r = scores.measure(&reps, &f)?;
        // Against itself the distances are 0 by construction: not a ceiling worth a number.
        if let Some(m) = r.as_object_mut() {
            for k in ["fid", "kid", "kid_std"] {
                m.remove(k);
            }
        }
        r
    };

    // Generated images at each guidance scale.
    let generator = Generator::load(exp, run, device)?;
    let mut sampling = exp.denoiser.sampling.clone();
    if let Some(s) = cfg.sampler {
        sampling.sampler = s;
    }
    if let Some(s) = cfg.steps {
        sampling.steps = s;
    }
    let chosen = cfg.guidance_scale.unwrap_or(sampling.guidance_scale);
    let mut sweep = Vec::new();
    for scale in cfg.scales(chosen) {
        let started = std::time::Instant::now();
        sampling.guidance_scale = scale;
        let mut generated = Images::empty(val.shape);
        for start in (0..prompts.len()).step_by(batch) {
            let end = (start + batch).min(prompts.len());
            let imgs = generator.images(
                &prompts[start..end],
                &sampling,
                exp.seed,
                start as u64,
                device,
            );
            generated.push(imgs, &prompts[start..end], &prompt_labels[start..end])?;
        }
        let grid = run.samples().join(format!("eval-g{scale}.png"));
        ldm_data::grid::write_grid(&grid, &generated.to_images(cfg.grid_images), 8, 64)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("writing {}", grid.display()))?;
        let f = generated.features(&ev, batch, device)?;
        let mut m = scores.measure(&generated, &f)?;
        m["guidance"] = json!(scale);
        m["grid"] = json!(format!("samples/eval-g{scale}.png"));
        m["seconds"] = json!(started.elapsed().as_secs_f64());
        print_row(&m, floor.fid);
        sweep.push(m);
    }
    let at_chosen = sweep
        .iter()
        .find(|m| m["guidance"].as_f64() == Some(chosen))
        .cloned()
        .expect("the chosen scale is in the sweep");

    let report = json!({
        "evaluator": {
            "val_retrieval": ev_info.val_retrieval,
            "chance": ev_info.chance,
            "val_images": ev_info.val_images,
            "candidates": ev_info.config.val_candidates,
            "text_encoder": ev_info.text_encoder,
        },
        "settings": {
            "samples": prompts.len(),
            "reference_images": val.len(),
            "sampler": sampling.sampler,
            "steps": sampling.steps,
            "guidance_scale": chosen,
            "distractors": cfg.distractors,
            "kid_subsets": cfg.kid.subsets,
            "kid_subset_size": cfg.kid.subset_size,
            "seed": exp.seed,
        },
        "autoencoder": autoencoder,
        "floor": {
            "fid": floor.fid,
            "kid": floor.kid_mean,
            "kid_std": floor.kid_std,
            "images": val.len(),
        },
        "real": real,
        "chosen": at_chosen,
        "guidance": sweep,
    });
    let path = run.root().join(EVAL_FILE);
    let text_out = serde_json::to_string_pretty(&report).expect("json serializes");
    ldm_core::atomic::write(&path, text_out.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    plots::sweep(
        &run.root().join(PLOTS_DIR),
        &report,
        super::report::plot::line_plot,
    )?;
    log_metrics(run, &at_chosen, floor.fid)?;
    println!("evaluation written to {}", path.display());
    Ok(report)
}

/// The evaluator must take this dataset's images and embed captions as this MiniLM does.
fn check_evaluator(
    exp: &Experiment,
    info: &EvaluatorInfo,
    text: &MiniLmEmbedder,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        info.text_encoder == text.fingerprint(),
        "the evaluator was trained with caption embeddings from {:?}, but eval.minilm and \
         eval.max_len give {:?}; run `ldm train-evaluator` again",
        info.text_encoder,
        text.fingerprint()
    );
    anyhow::ensure!(
        info.image_channels == exp.data.channels as usize && info.resolution == exp.data.resolution,
        "the evaluator takes {}-channel images at {}px but the data are {}-channel at {}px; \
         run `ldm train-evaluator` again",
        info.image_channels,
        info.resolution,
        exp.data.channels,
        exp.data.resolution
    );
    Ok(())
}

struct Distances {
    fid: f64,
    kid_mean: f64,
    kid_std: f64,
}

fn distances(a: &Features, b: &Features, cfg: &EvalSection) -> anyhow::Result<Distances> {
    let f = fid(a, b).map_err(anyhow::Error::msg)?;
    let k = kid(a, b, &cfg.kid).map_err(anyhow::Error::msg)?;
    Ok(Distances {
        fid: f,
        kid_mean: k.mean,
        kid_std: k.std,
    })
}

/// Unit text features `[n, dim]` of captions, row-major.
fn text_features(
    ev: &Evaluator,
    text: &mut MiniLmEmbedder,
    captions: &[String],
    batch: usize,
) -> anyhow::Result<Vec<f32>> {
    let mut out = Vec::new();
    for chunk in captions.chunks(batch.max(1)) {
        let pooled = text.embed(chunk).map_err(anyhow::Error::msg)?;
        let f: Tensor<2> = ev.text_features(pooled);
        out.extend(
            f.into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
    }
    Ok(out)
}

/// The shapes detector and the parsed prompts, for the built-in shapes dataset.
struct Shapes {
    detector: Detector,
    prompts: Vec<Prompt>,
    empty: Aggregate,
}

impl Shapes {
    fn new(exp: &Experiment, prompts: &[String]) -> anyhow::Result<Option<Self>> {
        if exp.data.source != SourceKind::Shapes {
            return Ok(None);
        }
        let parsed = prompts
            .iter()
            .map(|p| Prompt::parse(p).map_err(|e| anyhow::anyhow!("prompt {p:?}: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some(Self {
            detector: Detector::new(&exp.data.shapes),
            prompts: parsed,
            empty: Aggregate::new(&exp.data.shapes),
        }))
    }

    /// Per-attribute accuracy of `images` (one per prompt), seen and held-out pairs apart.
    fn score(&self, images: &Images) -> Value {
        let mut agg = self.empty.clone();
        for (img, prompt) in images.to_images(images.len()).iter().zip(&self.prompts) {
            let found = self.detector.detect(&img.to_rgb8());
            agg.add(prompt, &score(prompt, &found));
        }
        json!({
            "seen": agg.seen.rates(),
            "held_out": agg.held_out.rates(),
            "total": agg.total().rates(),
        })
    }
}

/// Everything one image set (one image per prompt) is measured against.
struct Scorer<'a> {
    prompts: &'a [String],
    prompt_labels: &'a [String],
    prompt_f: &'a [f32],
    pool_labels: &'a [String],
    pool_f: &'a [f32],
    val_f: &'a Features,
    shapes: Option<&'a Shapes>,
    cfg: &'a EvalSection,
    seed: u64,
}

impl Scorer<'_> {
    fn measure(&self, images: &Images, f: &Features) -> anyhow::Result<Value> {
        let n = self.prompts.len();
        let dim = f.dim();
        let image_f: Vec<f32> = (0..n).flat_map(|i| f.row(i).to_vec()).collect();
        let alignment = (0..n)
            .map(|i| {
                f.row(i)
                    .iter()
                    .zip(&self.prompt_f[i * dim..(i + 1) * dim])
                    .map(|(a, b)| (a * b) as f64)
                    .sum::<f64>()
            })
            .sum::<f64>()
            / n as f64;
        let r_prec = r_precision(
            &image_f,
            self.prompt_f,
            self.prompt_labels,
            self.pool_f,
            self.pool_labels,
            dim,
            self.cfg.distractors,
            self.seed,
        )
        .map_err(anyhow::Error::msg)
        .context("R-precision (lower eval.distractors for a dataset with few distinct captions)")?;
        let d = distances(f, self.val_f, self.cfg)?;
        let mut m = json!({
            "fid": d.fid,
            "kid": d.kid_mean,
            "kid_std": d.kid_std,
            "alignment": alignment,
            "r_precision": r_prec,
        });
        if let Some(s) = self.shapes {
            m["detector"] = s.score(images);
        }
        Ok(m)
    }
}

/// Reconstructions of validation images: PSNR, SSIM, the perceptual distance of the net the
/// autoencoder was trained with (null when it has none), rFID in evaluator features, and for
/// shapes the detector's accuracy on them.
fn autoencoder_metrics(
    exp: &Experiment,
    run: &RunDir,
    device: &Device,
    splits: &Splits,
    ev: &Evaluator,
) -> anyhow::Result<Value> {
    let cfg = &exp.eval;
    let dir = autoencoder_dir(run.root());
    let (ae, info) = load_autoencoder(&dir, device).map_err(anyhow::Error::msg)?;
    check_config(&dir, &info, &exp.autoencoder.model).map_err(anyhow::Error::msg)?;
    let perceptual = perceptual_net(exp, run, device)?;
    let originals = images::read(
        splits.val.clone(),
        &exp.data,
        cfg.recon_images,
        false,
        exp.seed,
    )?;
    let mut recon = Images::empty(originals.shape);
    let (mut sums, n) = ((0.0, 0.0, 0.0), originals.len());
    for start in (0..n).step_by(cfg.batch_size) {
        let end = (start + cfg.batch_size).min(n);
        let x = originals.tensor(start..end, device);
        let r = ae.decode(ae.encode(x.clone()).mode()).clamp(-1.0, 1.0);
        let b = (end - start) as f64;
        sums.0 += psnr(r.clone(), x.clone()) * b;
        sums.1 += ssim(r.clone(), x.clone()) * b;
        if let Some(net) = &perceptual {
            sums.2 += net.distance(r.clone(), x).mean().into_scalar::<f64>() * b;
        }
        recon.push(
            r,
            &originals.captions[start..end],
            &originals.labels[start..end],
        )?;
    }
    let rfid = fid(
        &recon.features(ev, cfg.batch_size, device)?,
        &originals.features(ev, cfg.batch_size, device)?,
    )
    .map_err(anyhow::Error::msg)?;
    let nf = n as f64;
    let perceptual_v = perceptual.as_ref().map(|_| sums.2 / nf);
    println!(
        "autoencoder ({n} validation images): PSNR {:.2} dB, SSIM {:.4}, perceptual {}, rFID {:.3}",
        sums.0 / nf,
        sums.1 / nf,
        perceptual_v.map_or("-".into(), |p| format!("{p:.4}")),
        rfid
    );
    let mut out = json!({
        "images": n,
        "psnr": sums.0 / nf,
        "ssim": sums.1 / nf,
        "perceptual": perceptual_v,
        "rfid": rfid,
    });
    // The detector on reconstructions of real images (each checked against its own caption)
    // bounds what generated images can score: attributes the autoencoder loses are lost.
    if let Some(shapes) = Shapes::new(exp, &originals.captions)? {
        let d = shapes.score(&recon);
        println!(
            "  shapes detector on the reconstructions: all correct {}, shape {}",
            pct(&d["total"]["all"]),
            pct(&d["total"]["shape"])
        );
        out["detector"] = d;
    }
    Ok(out)
}

/// The frozen net of the autoencoder's perceptual loss, if it has one and it can be found.
fn perceptual_net(
    exp: &Experiment,
    run: &RunDir,
    device: &Device,
) -> anyhow::Result<Option<Perceptual>> {
    let loss = &exp.autoencoder.loss;
    Ok(match loss.perceptual {
        PerceptualKind::None => None,
        PerceptualKind::Learned => {
            let dir = loss
                .perceptual_path
                .as_ref()
                .map(PathBuf::from)
                .unwrap_or_else(|| perceptual_dir(run.root()));
            match load_perceptual(&dir, device) {
                Ok((net, _)) => Some(Perceptual::Learned(net)),
                Err(e) => {
                    tracing::warn!("no perceptual distance: {e}");
                    None
                }
            }
        }
        kind => {
            let net = kind.lpips_net().expect("an LPIPS kind");
            let backbone = loss
                .lpips_backbone
                .as_deref()
                .map(PathBuf::from)
                .context("autoencoder.loss.lpips_backbone is required for an LPIPS distance")?;
            let linear = loss.lpips_linear.as_deref().map(PathBuf::from);
            let lpips = PretrainedLpips::load(net, &backbone, linear.as_deref(), device)
                .map_err(anyhow::Error::msg)
                .context("loading the pretrained LPIPS weights")?;
            Some(Perceptual::Lpips(lpips))
        }
    })
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or("-".into(), |x| format!("{:.1}%", 100.0 * x))
}

fn print_row(m: &Value, floor: f64) {
    let det = &m["detector"];
    let shapes = if det.is_null() {
        String::new()
    } else {
        format!(
            ", all correct: seen {} ({} images), held-out {} ({} images)",
            pct(&det["seen"]["all"]),
            det["seen"]["images"],
            pct(&det["held_out"]["all"]),
            det["held_out"]["images"]
        )
    };
    println!(
        "guidance {}: FID {:.3} (floor {:.3}), KID {:.5}, alignment {:.3}, R-precision {}{shapes}",
        m["guidance"],
        m["fid"].as_f64().unwrap_or(f64::NAN),
        floor,
        m["kid"].as_f64().unwrap_or(f64::NAN),
        m["alignment"].as_f64().unwrap_or(f64::NAN),
        pct(&m["r_precision"]),
    );
}

/// The chosen scale's numbers in metrics.jsonl (stage "eval").
fn log_metrics(run: &RunDir, m: &Value, floor: f64) -> anyhow::Result<()> {
    let get = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let mut row = vec![
        ("guidance", get(&m["guidance"])),
        ("fid", get(&m["fid"])),
        ("fid_floor", floor),
        ("kid", get(&m["kid"])),
        ("alignment", get(&m["alignment"])),
        ("r_precision", get(&m["r_precision"])),
    ];
    if !m["detector"].is_null() {
        row.push(("all_seen", get(&m["detector"]["seen"]["all"])));
        row.push(("all_held_out", get(&m["detector"]["held_out"]["all"])));
    }
    let mut log = MetricsLog::open(&run.metrics()).context("opening metrics.jsonl")?;
    log.log("eval", 0, &row).context("writing metrics.jsonl")?;
    Ok(())
}
