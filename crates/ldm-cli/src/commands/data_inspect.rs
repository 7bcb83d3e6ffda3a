//! `ldm data inspect CONFIG`: read every sample once, report counts, bad samples and caption
//! lengths, and draw a grid of training samples with their captions in a text file beside it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use image::DynamicImage;
use rayon::prelude::*;
use serde_json::json;

use ldm_core::metrics::MetricsLog;
use ldm_core::{RunDir, progress};
use ldm_data::grid::write_grid;
use ldm_data::{BadSample, Source, Splits, Transform};

use crate::cli::{ConfigArgs, RunArgs};
use crate::experiment::Experiment;

/// What one pass over a split found.
#[derive(Default)]
struct SplitStats {
    ok: usize,
    bad: Vec<BadSample>,
    words: Vec<usize>,
    min_side: u32,
    max_side: u32,
}

fn scan(name: &str, source: &Arc<dyn Source>) -> SplitStats {
    let n = source.len();
    let bar = progress::bar(n as u64, name);
    let mut stats = SplitStats {
        min_side: u32::MAX,
        ..Default::default()
    };
    for start in (0..n).step_by(1024) {
        let chunk: Vec<_> = (start..(start + 1024).min(n))
            .into_par_iter()
            .map(|i| {
                source.get(i).map(|s| {
                    (
                        s.caption.split_whitespace().count(),
                        s.image.width().min(s.image.height()),
                        s.image.width().max(s.image.height()),
                    )
                })
            })
            .collect();
        for r in chunk {
            match r {
                Ok((words, lo, hi)) => {
                    stats.ok += 1;
                    stats.words.push(words);
                    stats.min_side = stats.min_side.min(lo);
                    stats.max_side = stats.max_side.max(hi);
                }
                Err(bad) => stats.bad.push(bad),
            }
        }
        bar.set_position((start + 1024).min(n) as u64);
    }
    bar.finish_and_clear();
    stats
}

fn describe(name: &str, s: &SplitStats) -> String {
    let mut out = format!("{name}: {} samples readable, {} bad", s.ok, s.bad.len());
    if !s.words.is_empty() {
        let mean = s.words.iter().sum::<usize>() as f64 / s.words.len() as f64;
        let (lo, hi) = (s.words.iter().min().unwrap(), s.words.iter().max().unwrap());
        let _ = write!(out, "; caption words min {lo} / mean {mean:.1} / max {hi}");
        let _ = write!(out, "; image sides {}..{} px", s.min_side, s.max_side);
    }
    out
}

pub fn run(args: &ConfigArgs, run_args: &RunArgs, grid_n: usize) -> anyhow::Result<()> {
    let exp = Experiment::load(&args.config, &args.sets)?.value;
    let splits = ldm_data::open(&exp.data, exp.seed).map_err(anyhow::Error::msg)?;
    let run = exp.open_run(run_args.run_dir.as_deref())?;
    tracing::info!(
        "inspecting {:?} data into {}",
        exp.data.source,
        run.root().display()
    );

    let train = scan("train", &splits.train);
    let val = scan("val", &splits.val);
    for (name, s) in [("train", &train), ("val", &val)] {
        println!("{}", describe(name, s));
        for bad in s.bad.iter().take(20) {
            println!("  bad sample {bad}");
        }
        if s.bad.len() > 20 {
            println!(
                "  ... and {} more (all listed in data-summary.json)",
                s.bad.len() - 20
            );
        }
    }
    if exp.data.on_bad_sample == ldm_data::OnBadSample::Fail {
        if let Some(bad) = train.bad.first().or(val.bad.first()) {
            anyhow::bail!("bad sample {bad} (on_bad_sample = \"fail\")");
        }
    }

    let (grid_path, captions_path) = write_data_grid(&exp, &splits, &run, grid_n)?;
    println!(
        "grid: {} (captions: {})",
        grid_path.display(),
        captions_path.display()
    );

    let summary = json!({
        "train": { "readable": train.ok, "bad": train.bad.iter().map(ToString::to_string).collect::<Vec<_>>() },
        "val": { "readable": val.ok, "bad": val.bad.iter().map(ToString::to_string).collect::<Vec<_>>() },
    });
    let summary_path = run.root().join("data-summary.json");
    ldm_core::atomic::write(
        &summary_path,
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    MetricsLog::open(&run.metrics())?.log(
        "data",
        0,
        &[
            ("train_samples", train.ok as f64),
            ("val_samples", val.ok as f64),
            ("skipped", (train.bad.len() + val.bad.len()) as f64),
        ],
    )?;
    Ok(())
}

/// A grid of the first `grid_n` readable training samples as training sees them (the
/// evaluation transform) at `samples/data-grid.png`, and their captions beside it in
/// `samples/data-grid.txt`; returns both paths.
pub fn write_data_grid(
    exp: &Experiment,
    splits: &Splits,
    run: &RunDir,
    grid_n: usize,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let transform = Transform::eval(&exp.data);
    let mut images: Vec<DynamicImage> = Vec::new();
    let mut captions = String::new();
    let cols = (grid_n as f64).sqrt().ceil() as usize;
    for i in 0..splits.train.len() {
        if images.len() == grid_n {
            break;
        }
        let Ok(sample) = splits.train.get(i) else {
            continue;
        };
        let k = images.len();
        let _ = writeln!(
            captions,
            "row {} col {}: {}",
            k / cols,
            k % cols,
            sample.caption
        );
        images.push(transform.image(&sample.image, &mut rand::rng()));
    }
    let grid_path = run.samples().join("data-grid.png");
    let captions_path = run.samples().join("data-grid.txt");
    write_grid(&grid_path, &images, cols, 64).map_err(anyhow::Error::msg)?;
    ldm_core::atomic::write(&captions_path, captions.as_bytes())
        .with_context(|| format!("writing {}", captions_path.display()))?;
    Ok((grid_path, captions_path))
}
