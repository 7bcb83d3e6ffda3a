//! `--share DIR`: finished stages shared between runs (a sweep's runs differ in a few keys and
//! share everything upstream of them).
//!
//! An entry `DIR/<stage>-<fingerprint>/` holds the stage's output files at their paths in a
//! run directory, its `stage.json` and its lines of `metrics.jsonl`. Entries are built under
//! a temporary name and renamed into place, so a reader sees a whole entry or none; files
//! are hard-linked where the file system allows (every writer in ldm replaces files by
//! renaming, never in place, so a link never changes under a reader) and copied otherwise.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::record::{RECORD_FILE, StageRecord, Status};
use super::stage::Stage;

const METRICS_FILE: &str = "metrics.jsonl";

pub fn entry_dir(share: &Path, stage: Stage, fingerprint: &str) -> PathBuf {
    share.join(format!("{}-{fingerprint}", stage.name()))
}

/// A finished, verified entry for this stage and fingerprint, with its record.
pub fn find(share: &Path, stage: Stage, fingerprint: &str) -> Option<(PathBuf, StageRecord)> {
    let dir = entry_dir(share, stage, fingerprint);
    let text = fs::read_to_string(dir.join(RECORD_FILE)).ok()?;
    let record: StageRecord = serde_json::from_str(&text).ok()?;
    if record.fingerprint != fingerprint || record.status != Status::Done {
        return None;
    }
    match record.verify(&dir) {
        Ok(()) => Some((dir, record)),
        Err(why) => {
            tracing::warn!("ignoring share entry {}: {why}", dir.display());
            None
        }
    }
}

/// Link (or copy) the entry's files into the run directory, replacing what is there, and
/// append its metrics to the run's `metrics.jsonl`.
pub fn reuse(entry: &Path, record: &StageRecord, run: &Path) -> anyhow::Result<()> {
    for rel in record.files.keys() {
        let to = run.join(rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        // Beside the target, then renamed over it: the target is always whole.
        let tmp = temp_beside(&to);
        let _ = fs::remove_file(&tmp);
        link_or_copy(&entry.join(rel), &tmp)?;
        fs::rename(&tmp, &to).with_context(|| format!("replacing {}", to.display()))?;
    }
    if let Ok(lines) = fs::read(entry.join(METRICS_FILE))
        && !lines.is_empty()
    {
        let p = run.join(METRICS_FILE);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .with_context(|| format!("opening {}", p.display()))?;
        f.write_all(&lines)
            .with_context(|| format!("appending to {}", p.display()))?;
    }
    Ok(())
}

/// Publish a finished stage of `run` as an entry; an entry already there (another run got
/// there first) is kept.
pub fn publish(
    share: &Path,
    stage: Stage,
    record: &StageRecord,
    run: &Path,
) -> anyhow::Result<PathBuf> {
    let dest = entry_dir(share, stage, &record.fingerprint);
    if dest.exists() {
        return Ok(dest);
    }
    fs::create_dir_all(share).with_context(|| format!("creating {}", share.display()))?;
    let tmp = share.join(format!(
        ".partial-{}-{}-{}",
        stage.name(),
        record.fingerprint,
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&tmp);
    let result = (|| -> anyhow::Result<()> {
        for rel in record.files.keys() {
            let to = tmp.join(rel);
            fs::create_dir_all(to.parent().expect("a file under the entry"))?;
            link_or_copy(&run.join(rel), &to)?;
        }
        if let Some(name) = stage.metrics_stage() {
            let lines = stage_metrics(&run.join(METRICS_FILE), name);
            fs::write(tmp.join(METRICS_FILE), lines)?;
        }
        let shared = StageRecord {
            source: "computed".into(),
            reused_from: None,
            ..record.clone()
        };
        fs::write(
            tmp.join(RECORD_FILE),
            serde_json::to_string_pretty(&shared).expect("record serializes"),
        )?;
        match fs::rename(&tmp, &dest) {
            Ok(()) => Ok(()),
            // Published meanwhile by a run working in parallel: theirs is as good.
            Err(_) if dest.exists() => Ok(fs::remove_dir_all(&tmp)?),
            Err(e) => Err(e.into()),
        }
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result.with_context(|| format!("publishing stage {} to {}", stage.name(), share.display()))?;
    Ok(dest)
}

/// The lines of `metrics.jsonl` that belong to `stage`.
fn stage_metrics(path: &Path, stage: &str) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return String::new();
    };
    text.lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["stage"].as_str() == Some(stage))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn temp_beside(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.link-{}", std::process::id()))
}

fn link_or_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))
}
