//! `ldm run CONFIG [--share DIR]`: every stage in order (perceptual net, autoencoder, latent
//! cache, denoiser, sample grids, evaluation, report), each skipped when its output is there
//! and was made from the same inputs, continued from its checkpoint when interrupted, or
//! linked in from a shared cache of finished stages.
//!
//! Each stage's folder holds a `stage.json` ([`record`]): the fingerprint of its inputs (the
//! config sections it reads and the fingerprints of the stages it builds on) and the size
//! and checksum of each output file. Output made from other inputs is never replaced: the
//! run stops and names the keys that differ.

mod record;
mod share;
mod stage;

use std::cell::OnceCell;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::cli::PipelineCommand;
use crate::experiment::Experiment;
use record::{StageRecord, Status};
use stage::{ALL, Ctx, Stage};

pub fn run(cmd: &PipelineCommand) -> anyhow::Result<()> {
    let exp = Experiment::load(&cmd.config.config, &cmd.config.sets)?.value;
    let device = exp.device()?;
    let root = cmd
        .run
        .run_dir
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(&exp.name));
    let stages: Vec<Stage> = ALL.into_iter().filter(|s| s.enabled(&exp)).collect();
    let wanted: Vec<(Stage, StageRecord)> = stage::fingerprints(&exp, &stages)
        .into_iter()
        .map(|(s, (inputs, upstream, fingerprint))| {
            let r = StageRecord {
                stage: s.name().into(),
                fingerprint,
                status: Status::Running,
                inputs,
                upstream,
                files: Default::default(),
                source: "computed".into(),
                reused_from: None,
            };
            (s, r)
        })
        .collect();

    // Before anything is written (the run's config.toml included): refuse a run directory
    // whose work was done from other inputs.
    for (s, want) in &wanted {
        check_compatible(&root, *s, want)?;
    }

    let run = exp.open_run(Some(&root))?;
    let ctx = Ctx {
        exp: &exp,
        run: &run,
        device: &device,
        splits: OnceCell::new(),
    };
    for (s, want) in wanted {
        run_stage(&ctx, s, want, cmd.share.as_deref())?;
    }
    println!(
        "report: {}",
        run.root().join(super::report::REPORT_FILE).display()
    );
    Ok(())
}

/// Stop unless the stage's folder is empty, or holds work from the same inputs.
fn check_compatible(root: &Path, s: Stage, want: &StageRecord) -> anyhow::Result<()> {
    let dir = root.join(s.dir());
    match StageRecord::read(&dir)? {
        Some(have) if have.fingerprint != want.fingerprint && s != Stage::Report => {
            let what = if have.status == Status::Done {
                "finished"
            } else {
                "unfinished"
            };
            anyhow::bail!(
                "stage {}: {} holds {what} work from a different config ({}); \
                 use a new --run-dir, or delete {} to redo it",
                s.name(),
                root.display(),
                have.differences(want),
                dir.display()
            )
        }
        None => {
            if let Some(marker) = s.marker()
                && root.join(marker).exists()
            {
                anyhow::bail!(
                    "stage {}: {} was not made by `ldm run` (no {}), so its config is unknown; \
                     use a new --run-dir, or delete {} to redo it",
                    s.name(),
                    root.join(marker).display(),
                    record::RECORD_FILE,
                    dir.display()
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn say(ctx: &Ctx, line: &str) {
    println!("{line}");
    // Also in the run's log, where the training loops' lines are.
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(ctx.run.log()) {
        let _ = writeln!(f, "{line}");
    }
}

fn run_stage(ctx: &Ctx, s: Stage, want: StageRecord, share: Option<&Path>) -> anyhow::Result<()> {
    let root = ctx.run.root();
    let dir = root.join(s.dir());
    let name = s.name();
    if !s.available() {
        say(
            ctx,
            &format!("stage {name}: skipped (not available in this build)"),
        );
        return Ok(());
    }
    let have = StageRecord::read(&dir)?;
    if let Some(have) = &have
        && have.fingerprint == want.fingerprint
        && have.status == Status::Done
    {
        match have.verify(root) {
            Ok(()) => {
                say(ctx, &format!("stage {name}: skipped (done)"));
                // A share given only now (or emptied since) gets the finished stage too.
                if let Some(share) = share {
                    publish(share, s, have, root);
                }
                return Ok(());
            }
            // `ldm report` rewrites the report; that is no damage worth a word.
            Err(_) if s == Stage::Report => {}
            Err(why) => say(
                ctx,
                &format!("stage {name}: its output does not verify ({why}); computing it again"),
            ),
        }
    }

    if let Some(share) = share
        && s != Stage::Report
        && let Some((entry, shared)) = share::find(share, s, &want.fingerprint)
    {
        share::reuse(&entry, &shared, root)?;
        let record = StageRecord {
            status: Status::Done,
            files: shared.files.clone(),
            source: "share".into(),
            reused_from: Some(entry.display().to_string()),
            ..want
        };
        record.write(&dir)?;
        say(
            ctx,
            &format!("stage {name}: reused from share ({})", entry.display()),
        );
        return Ok(());
    }

    // Checkpoints here are of these inputs: other ones were refused before the run began.
    let resume = s
        .checkpoints(root)
        .and_then(|d| ldm_core::checkpoint::latest(&d));
    match &resume {
        Some(ckpt) => say(
            ctx,
            &format!("stage {name}: running (continuing from {})", ckpt.display()),
        ),
        None => say(ctx, &format!("stage {name}: running")),
    }
    want.write(&dir)?;
    if let Err(e) = s.compute(ctx) {
        let message = format!("{e:#}");
        if ldm_core::stop::reason().is_some() {
            // Stopped on purpose after a checkpoint: `ldm run` itself is how to continue.
            anyhow::bail!(
                "stage {name}: {}",
                message.replace(
                    "rerun with --resume latest to continue",
                    "run the same `ldm run` again to continue"
                )
            );
        }
        return Err(e.context(format!("stage {name}")));
    }
    let mut files = std::collections::BTreeMap::new();
    for rel in s.outputs(root)? {
        let sum = record::checksum(&root.join(&rel)).with_context(|| format!("reading {rel}"))?;
        files.insert(rel, sum);
    }
    let done = StageRecord {
        status: Status::Done,
        files,
        ..want
    };
    done.write(&dir)?;
    if let Some(share) = share {
        publish(share, s, &done, root);
    }
    Ok(())
}

/// Add a finished stage to the share unless it is there already. The run itself has
/// succeeded; a share that cannot be written only costs reuse, so failure is a warning.
fn publish(share: &Path, s: Stage, record: &StageRecord, root: &Path) {
    if s == Stage::Report || share::entry_dir(share, s, &record.fingerprint).exists() {
        return;
    }
    match share::publish(share, s, record, root) {
        Ok(entry) => tracing::info!("stage {} shared as {}", s.name(), entry.display()),
        Err(e) => tracing::warn!("{e:#}"),
    }
}

/// Every stage's name and folder (relative to the run directory), in order.
pub fn stage_dirs() -> Vec<(&'static str, &'static str)> {
    ALL.iter().map(|s| (s.name(), s.dir())).collect()
}

/// Whether `root` holds every stage of `exp` finished from this very config, its output
/// verified: what `ldm run` would skip entirely.
pub fn finished(exp: &Experiment, root: &Path) -> bool {
    let stages: Vec<Stage> = ALL.into_iter().filter(|s| s.enabled(exp)).collect();
    stage::fingerprints(exp, &stages)
        .into_iter()
        .filter(|(s, _)| s.available())
        .all(|(s, (_, _, fingerprint))| {
            matches!(
                StageRecord::read(&root.join(s.dir())),
                Ok(Some(r)) if r.fingerprint == fingerprint
                    && r.status == Status::Done
                    && r.verify(root).is_ok()
            )
        })
}
