//! The run directory: `config.toml` (fully resolved), `log.txt`, `metrics.jsonl`,
//! `checkpoints/` and `samples/`.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Create (or reopen) the run directory and its sub-folders, checking it is writable
    /// before any work starts.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, String> {
        let root = root.into();
        let fail = |e: io::Error| format!("run directory {} is not writable: {e}", root.display());
        for sub in ["checkpoints", "samples"] {
            std::fs::create_dir_all(root.join(sub)).map_err(fail)?;
        }
        let probe = root.join(".write-test");
        std::fs::write(&probe, b"")
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(fail)?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn log(&self) -> PathBuf {
        self.root.join("log.txt")
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    pub fn samples(&self) -> PathBuf {
        self.root.join("samples")
    }

    /// Record the fully resolved config the run uses.
    pub fn write_config(&self, resolved_toml: &str) -> io::Result<()> {
        crate::atomic::write(&self.config(), resolved_toml.as_bytes())
    }
}
