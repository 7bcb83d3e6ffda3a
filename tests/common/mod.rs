//! Running the `ldm` binary from end-to-end tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `ldm` with `args` in `cwd`, logging warnings and errors only.
pub fn ldm(cwd: &Path, args: &[&str]) -> Run {
    ldm_logging(cwd, args, "warn")
}

/// Run `ldm` with `args` in `cwd` at log level `level` (`info` is what users get).
pub fn ldm_logging(cwd: &Path, args: &[&str], level: &str) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_ldm"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", level)
        .output()
        .expect("ldm runs");
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The repository root (configs/, tests/fixtures/).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A copy of the folder `from` at `to` (`cp -r`).
pub fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .args(["-r", from.to_str().unwrap(), to.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -r {} {}",
        from.display(),
        to.display()
    );
}
