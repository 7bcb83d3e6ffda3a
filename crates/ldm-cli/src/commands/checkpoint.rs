//! `ldm checkpoint verify PATH...` and `ldm checkpoint diff A B`: what a user (or the fault
//! test) needs to trust a run directory after a crash, and to check that a resumed run
//! reproduced an uninterrupted one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ldm_core::checkpoint;

/// The checkpoint directories under `path`: itself if it is one, a stage folder's
/// `step-*`, or every stage's under a run directory's `checkpoints/`.
fn checkpoints_under(path: &Path) -> Vec<PathBuf> {
    if path.join("manifest.json").exists() {
        return vec![path.to_path_buf()];
    }
    let root = if path.join("checkpoints").is_dir() {
        path.join("checkpoints")
    } else {
        path.to_path_buf()
    };
    let mut found = Vec::new();
    let mut stages = vec![root.clone()];
    if let Ok(entries) = std::fs::read_dir(&root) {
        stages.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    for stage in stages.iter().filter(|p| p.is_dir()) {
        let Ok(entries) = std::fs::read_dir(stage) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            // Every step-* directory counts, with or without a manifest: a missing one
            // would mean a partial checkpoint under a final name.
            if e.file_name().to_string_lossy().starts_with("step-") {
                found.push(e.path());
            }
        }
    }
    found.sort();
    found
}

pub fn verify(paths: &[PathBuf]) -> anyhow::Result<()> {
    let (mut good, mut bad) = (0, Vec::new());
    for path in paths {
        anyhow::ensure!(
            path.exists(),
            "{}: no such file or directory",
            path.display()
        );
        for dir in checkpoints_under(path) {
            match checkpoint::load(&dir) {
                Ok(c) => {
                    good += 1;
                    println!(
                        "ok       {} (step {}, {} files)",
                        dir.display(),
                        c.step,
                        c.files.len()
                    );
                }
                Err(e) => {
                    println!("CORRUPT  {e}");
                    bad.push(dir);
                }
            }
        }
    }
    anyhow::ensure!(
        bad.is_empty(),
        "{} of {} checkpoints failed verification",
        bad.len(),
        good + bad.len()
    );
    println!("{good} checkpoints verified");
    Ok(())
}

/// Weights files by name: every `.bpk` of a checkpoint or model directory, or one file.
fn weight_files(path: &Path) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    if path.is_file() {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into();
        return Ok(BTreeMap::from([(name, std::fs::read(path)?)]));
    }
    let mut out = BTreeMap::new();
    if path.join("manifest.json").exists() {
        // A checkpoint: read through its checksums.
        let c = checkpoint::load(path).map_err(anyhow::Error::msg)?;
        out.extend(c.files.into_iter().filter(|(n, _)| n.ends_with(".bpk")));
    } else {
        for e in std::fs::read_dir(path)?.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".bpk") {
                out.insert(name, std::fs::read(e.path())?);
            }
        }
    }
    Ok(out)
}

pub fn diff(a: &Path, b: &Path) -> anyhow::Result<()> {
    let (fa, fb) = (weight_files(a)?, weight_files(b)?);
    let (mut same, mut differ) = (0usize, Vec::new());
    for (name, bytes) in &fa {
        let Some(other) = fb.get(name) else {
            differ.push(format!("{name}: only in {}", a.display()));
            continue;
        };
        // Optimizer files are keyed by parameter ids (random per process), read by path.
        let read = if name.starts_with("opt_") {
            ldm_core::record::optimizer_state
        } else {
            ldm_core::record::tensors
        };
        let ta = read(bytes).map_err(anyhow::Error::msg)?;
        let tb = read(other).map_err(anyhow::Error::msg)?;
        for (t, data) in &ta {
            match tb.get(t) {
                Some(d) if d == data => same += 1,
                Some(_) => differ.push(format!("{name}: {t} differs")),
                None => differ.push(format!("{name}: {t} only in {}", a.display())),
            }
        }
        differ.extend(
            tb.keys()
                .filter(|t| !ta.contains_key(*t))
                .map(|t| format!("{name}: {t} only in {}", b.display())),
        );
    }
    differ.extend(
        fb.keys()
            .filter(|n| !fa.contains_key(*n))
            .map(|n| format!("{n}: only in {}", b.display())),
    );
    for d in differ.iter().take(20) {
        println!("{d}");
    }
    anyhow::ensure!(
        differ.is_empty(),
        "{} tensors differ ({same} identical)",
        differ.len()
    );
    println!("identical: {same} tensors in {} files", fa.len());
    Ok(())
}
