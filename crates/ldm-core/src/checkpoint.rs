//! Checkpoints: a directory `step-NNNNNNNN/` of named files plus `manifest.json` (format
//! version, step, each file's size and CRC-32, and free-form metadata). A checkpoint is built
//! under a temporary name, fsynced, and renamed into place, so a crash never leaves a partial
//! one; loading verifies every checksum.
//!
//! Training loops put in `meta`: `stage` (which loop wrote it), `config` (that stage's
//! config section, so a resume can name each changed key) and optionally `best`
//! (`{"name", "value", "higher_is_better"}`, the validation metric pruning keeps the best of).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const FORMAT: &str = "ldm-checkpoint";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    step: u64,
    files: BTreeMap<String, FileEntry>,
    meta: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    size: u64,
    crc32: u32,
}

/// Where a training stage starts: fresh, or from a checkpoint directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    Fresh,
    Resume(PathBuf),
}

impl Start {
    /// From `--resume`: `latest` is the newest checkpoint under `root` (fresh if there is
    /// none yet, so an interrupted command can always be rerun with it); anything else is a
    /// checkpoint path.
    pub fn from_flag(resume: Option<&str>, root: &Path) -> Start {
        match resume {
            None => Start::Fresh,
            Some("latest") => latest(root).map_or(Start::Fresh, Start::Resume),
            Some(path) => Start::Resume(PathBuf::from(path)),
        }
    }
}

/// A loaded, verified checkpoint.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub step: u64,
    pub meta: serde_json::Value,
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Checkpoint {
    /// The bytes of `name`, or an error naming the checkpoint.
    pub fn file(&self, name: &str) -> Result<&[u8], String> {
        self.files
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| format!("{}: checkpoint has no '{name}'", self.dir.display()))
    }
}

fn step_dir(root: &Path, step: u64) -> PathBuf {
    root.join(format!("step-{step:08}"))
}

/// Write a checkpoint for `step` under `root` and return its directory.
pub fn save(
    root: &Path,
    step: u64,
    files: &[(&str, Vec<u8>)],
    meta: serde_json::Value,
) -> io::Result<PathBuf> {
    fs::create_dir_all(root)?;
    let final_dir = step_dir(root, step);
    let tmp = root.join(format!(".partial-step-{step:08}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let result = (|| {
        fs::create_dir(&tmp)?;
        let mut entries = BTreeMap::new();
        for (name, bytes) in files {
            let mut f = File::create(tmp.join(name))?;
            f.write_all(bytes)?;
            f.sync_all()?;
            entries.insert(
                name.to_string(),
                FileEntry {
                    size: bytes.len() as u64,
                    crc32: crc32fast::hash(bytes),
                },
            );
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            step,
            files: entries,
            meta,
        };
        let mut f = File::create(tmp.join("manifest.json"))?;
        f.write_all(serde_json::to_string_pretty(&manifest)?.as_bytes())?;
        f.sync_all()?;
        File::open(&tmp)?.sync_all()?;
        if final_dir.exists() {
            // Re-saving a step replaces the old copy whole: moved aside first, so there is
            // no moment without a complete copy of this step under one of the two names.
            let old = root.join(format!(".replaced-step-{step:08}-{}", std::process::id()));
            fs::rename(&final_dir, &old)?;
            fs::rename(&tmp, &final_dir)?;
            File::open(root)?.sync_all()?;
            return fs::remove_dir_all(&old);
        }
        fs::rename(&tmp, &final_dir)?;
        File::open(root)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result.map(|_| final_dir)
}

/// Save a training checkpoint, keep the newest `keep` plus the best by `meta.best`, and log
/// it; on failure the previous checkpoints are untouched and the error says so.
pub fn save_and_prune(
    root: &Path,
    step: u64,
    files: &[(&str, Vec<u8>)],
    meta: serde_json::Value,
    keep: usize,
) -> Result<PathBuf, String> {
    let dir = save(root, step, files, meta).map_err(|e| {
        format!(
            "writing checkpoint at step {step} under {}: {e} (the previous checkpoint is kept)",
            root.display()
        )
    })?;
    let best = best(root);
    prune(root, keep, best.as_deref()).map_err(|e| format!("pruning old checkpoints: {e}"))?;
    tracing::info!("checkpoint {}", dir.display());
    Ok(dir)
}

/// The checkpoint under `root` with the best `meta.best` value (the newest among equals).
pub fn best(root: &Path) -> Option<PathBuf> {
    let mut found: Option<(f64, PathBuf)> = None;
    for (_, dir) in list(root) {
        let Ok(text) = fs::read_to_string(dir.join("manifest.json")) else {
            continue;
        };
        let Ok(m) = serde_json::from_str::<Manifest>(&text) else {
            continue;
        };
        let b = &m.meta["best"];
        let (Some(v), higher) = (b["value"].as_f64(), b["higher_is_better"].as_bool()) else {
            continue;
        };
        // Compare as "bigger is better" so one ordering serves both kinds of metric.
        let v = if higher == Some(true) { v } else { -v };
        if v.is_finite() && found.as_ref().is_none_or(|(bv, _)| v >= *bv) {
            found = Some((v, dir));
        }
    }
    found.map(|(_, d)| d)
}

/// Before resuming `stage` from `c`: refuse a checkpoint of another stage; compare the
/// saved `meta.config` with `current` (both objects of config sections, e.g.
/// `{"denoiser": .., "diffusion": ..}`), refuse a change under any of `shape_keys` (dotted
/// prefixes such as `denoiser.model`, whose change would not fit the saved tensors) naming
/// the key, and log every other changed key as a warning.
pub fn check_resume(
    c: &Checkpoint,
    stage: &str,
    current: &serde_json::Value,
    shape_keys: &[&str],
) -> Result<(), String> {
    let saved_stage = c.meta["stage"].as_str().unwrap_or("unknown");
    if saved_stage != stage {
        return Err(format!(
            "{} is a checkpoint of the {saved_stage}, not of the {stage}",
            c.dir.display()
        ));
    }
    let changes = crate::config::changed_keys("", &c.meta["config"], current);
    let is_shape = |key: &str| {
        shape_keys
            .iter()
            .any(|s| key == *s || key.starts_with(&format!("{s}.")))
    };
    if let Some((key, old, new)) = changes.iter().find(|(k, _, _)| is_shape(k)) {
        return Err(format!(
            "cannot resume from {}: {key} was {old} there but is {new} in the config; \
             it changes the model's shape (restore it, or use a fresh run directory)",
            c.dir.display()
        ));
    }
    for (key, old, new) in changes {
        tracing::warn!("resuming with a changed key: {key} = {new} (was {old})");
    }
    Ok(())
}

/// Load and verify the checkpoint in `dir`.
pub fn load(dir: &Path) -> Result<Checkpoint, String> {
    let at = |what: String| format!("checkpoint {}: {what}", dir.display());
    let text = fs::read_to_string(dir.join("manifest.json"))
        .map_err(|e| at(format!("cannot read manifest.json: {e}")))?;
    let m: Manifest =
        serde_json::from_str(&text).map_err(|e| at(format!("manifest.json is not valid: {e}")))?;
    if m.format != FORMAT {
        return Err(at(format!("not an ldm checkpoint (format '{}')", m.format)));
    }
    if m.version != VERSION {
        return Err(at(format!(
            "format version {} is not supported (expected {VERSION})",
            m.version
        )));
    }
    let mut files = BTreeMap::new();
    for (name, entry) in m.files {
        let bytes =
            fs::read(dir.join(&name)).map_err(|e| at(format!("cannot read {name}: {e}")))?;
        if bytes.len() as u64 != entry.size || crc32fast::hash(&bytes) != entry.crc32 {
            return Err(at(format!(
                "{name} is corrupt or truncated ({} bytes, expected {})",
                bytes.len(),
                entry.size
            )));
        }
        files.insert(name, bytes);
    }
    Ok(Checkpoint {
        dir: dir.to_path_buf(),
        step: m.step,
        meta: m.meta,
        files,
    })
}

/// Finished checkpoints under `root`, oldest first.
pub fn list(root: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            e.path()
                .join("manifest.json")
                .exists()
                .then(|| (step, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The newest checkpoint under `root`, if any.
pub fn latest(root: &Path) -> Option<PathBuf> {
    list(root).pop().map(|(_, p)| p)
}

/// Remove what killed writers left under `root` (`.partial-*`, `.replaced-*`, `.pruned-*`
/// of other processes): never checkpoints, only their temporaries. Called when a training
/// stage starts and after each save.
pub fn sweep_stale(root: &Path) -> io::Result<()> {
    let Ok(entries) = fs::read_dir(root) else {
        return Ok(());
    };
    let own = format!("-{}", std::process::id());
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let stale = [".partial-step-", ".replaced-step-", ".pruned-step-"]
            .iter()
            .any(|p| name.starts_with(p))
            && !name.ends_with(&own);
        if !stale {
            continue;
        }
        // A writer killed between moving an old copy aside and renaming the new one in:
        // the old copy is still a whole checkpoint, so it goes back.
        if let Some(rest) = name.strip_prefix(".replaced-") {
            let step_name = rest.rsplit_once('-').map_or(rest, |(s, _)| s);
            let back = root.join(step_name);
            if !back.exists() {
                fs::rename(e.path(), back)?;
                continue;
            }
        }
        fs::remove_dir_all(e.path())?;
    }
    Ok(())
}

/// Delete all but the newest `keep` checkpoints (and any `keep_also`, e.g. the best one),
/// and stale temporaries.
pub fn prune(root: &Path, keep: usize, keep_also: Option<&Path>) -> io::Result<()> {
    sweep_stale(root)?;
    let all = list(root);
    let n = all.len();
    for (_, dir) in all.into_iter().take(n.saturating_sub(keep.max(1))) {
        if Some(dir.as_path()) != keep_also {
            // Renamed out of the way first: a crash mid-delete must not leave a half-deleted
            // checkpoint under its final name.
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            let doomed = root.join(format!(".pruned-{name}-{}", std::process::id()));
            fs::rename(&dir, &doomed)?;
            fs::remove_dir_all(doomed)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_prune_and_corruption() {
        let d = tempfile::tempdir().unwrap();
        for step in [10, 20, 30] {
            save(
                d.path(),
                step,
                &[("a.bin", vec![step as u8; 100])],
                serde_json::json!({ "s": step }),
            )
            .unwrap();
        }
        let c = load(&latest(d.path()).unwrap()).unwrap();
        assert_eq!((c.step, c.file("a.bin").unwrap()[0]), (30, 30));
        assert_eq!(c.meta["s"], 30);
        prune(d.path(), 2, None).unwrap();
        assert_eq!(
            list(d.path()).iter().map(|x| x.0).collect::<Vec<_>>(),
            [20, 30]
        );
        // Truncate a file: loading says which and why.
        let f = d.path().join("step-00000030/a.bin");
        fs::write(&f, vec![30u8; 50]).unwrap();
        let err = load(&d.path().join("step-00000030")).err().unwrap();
        assert!(
            err.contains("a.bin is corrupt or truncated (50 bytes, expected 100)"),
            "{err}"
        );
        // No temporaries are left behind.
        assert!(
            fs::read_dir(d.path()).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.'))
        );
    }

    #[test]
    fn pruning_keeps_the_best_and_sweeps_temporaries() {
        let d = tempfile::tempdir().unwrap();
        let val = [(1, 0.9), (2, 0.4), (3, 0.7), (4, 0.8)];
        for (step, loss) in val {
            let meta = serde_json::json!({
                "best": { "name": "val_loss", "value": loss, "higher_is_better": false }
            });
            save_and_prune(d.path(), step, &[("w", vec![1])], meta, 2).unwrap();
        }
        // Newest two, plus step 2 with the lowest validation loss.
        let steps: Vec<u64> = list(d.path()).iter().map(|x| x.0).collect();
        assert_eq!(steps, [2, 3, 4]);
        assert_eq!(best(d.path()).unwrap(), d.path().join("step-00000002"));

        // A writer killed mid-replace left the old copy aside: it is put back, while
        // other temporaries are removed.
        fs::rename(
            d.path().join("step-00000004"),
            d.path().join(".replaced-step-00000004-1"),
        )
        .unwrap();
        fs::create_dir(d.path().join(".partial-step-00000005-1")).unwrap();
        sweep_stale(d.path()).unwrap();
        let names: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(load(&d.path().join("step-00000004")).is_ok());
    }
}
