//! `ldm run` end to end on the smallest config: every stage runs and the report is written;
//! a second run skips every stage and touches nothing; a changed key is refused by name; a
//! run killed inside the denoiser continues from its checkpoint; `--share` links finished
//! upstream stages into a new run directory and computes only what changed.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use common::{Run, ldm, repo};

const CONFIG: &str = "tests/fixtures/tiny-run.toml";

/// The tests run one at a time (two cores; each `ldm run` uses them all) and share one
/// finished run, which also filled the share.
static SERIAL: Mutex<()> = Mutex::new(());
static BASE: OnceLock<(tempfile::TempDir, Run)> = OnceLock::new();

fn dirs() -> (&'static Path, &'static Run) {
    let (d, r) = BASE.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let r = run_ldm(&d.path().join("a"), &d.path().join("share"), &[]);
        (d, r)
    });
    (d.path(), r)
}

fn run_ldm(run_dir: &Path, share: &Path, sets: &[&str]) -> Run {
    let mut args = vec![
        "run",
        CONFIG,
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--share",
        share.to_str().unwrap(),
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    ldm(&repo(), &args)
}

fn ok(r: &Run, what: &str) {
    assert_eq!(r.status, 0, "{what} failed:\n{}\n{}", r.stdout, r.stderr);
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The stages whose folders a finished run has, with their folders.
const STAGES: [(&str, &str); 6] = [
    ("perceptual", "perceptual"),
    ("autoencoder", "autoencoder"),
    ("encode", "latents"),
    ("denoiser", "denoiser"),
    ("samples", "samples/final"),
    ("report", "report"),
];

/// Every output file of every stage (as its stage.json lists them) with its mtime.
fn outputs(run: &Path) -> BTreeMap<String, SystemTime> {
    let mut out = BTreeMap::new();
    for (_, dir) in STAGES {
        let record = json(&run.join(dir).join("stage.json"));
        for rel in record["files"].as_object().unwrap().keys() {
            let m = std::fs::metadata(run.join(rel))
                .unwrap()
                .modified()
                .unwrap();
            out.insert(rel.clone(), m);
        }
        out.insert(
            format!("{dir}/stage.json"),
            std::fs::metadata(run.join(dir).join("stage.json"))
                .unwrap()
                .modified()
                .unwrap(),
        );
    }
    out
}

#[test]
fn run_then_rerun_skips_and_a_changed_key_is_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (d, first) = dirs();
    ok(first, "the first run");
    let run = d.join("a");
    for (stage, dir) in STAGES {
        assert!(
            first.stdout.contains(&format!("stage {stage}: running")),
            "{stage} did not run:\n{}",
            first.stdout
        );
        let record = json(&run.join(dir).join("stage.json"));
        assert_eq!(record["status"], "done", "{stage}");
        assert_eq!(record["source"], "computed", "{stage}");
        assert_eq!(record["fingerprint"].as_str().unwrap().len(), 16);
    }
    assert!(
        first
            .stdout
            .contains(&format!("report: {}", run.join("report.html").display())),
        "{}",
        first.stdout
    );

    // The report: self-contained HTML whose images are all there, and real PNG plots.
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    for needle in [
        "<h2>Stages</h2>",
        "<h2>Final metrics</h2>",
        "<h2>Training curves</h2>",
        "<h2>Config</h2>",
        "samples/final/grid.png",
        "samples/data-grid.png",
        "report/denoiser-loss.png",
        "report/autoencoder-val_psnr.png",
    ] {
        assert!(html.contains(needle), "report lacks {needle}");
    }
    assert!(!html.contains("<script"), "no scripts");
    for src in html.split("src=\"").skip(1) {
        let rel = &src[..src.find('"').unwrap()];
        assert!(run.join(rel).exists(), "report shows a missing {rel}");
    }
    let plot = image::open(run.join("report/denoiser-loss.png"))
        .unwrap()
        .to_rgb8();
    assert!(plot.width() >= 400 && plot.height() >= 200);
    let prompts = std::fs::read_to_string(run.join("samples/final/prompts.txt")).unwrap();
    assert_eq!(prompts.lines().count(), 2, "{prompts}");

    // Again: every stage is skipped and no output file is written.
    let before = outputs(&run);
    let config_before = std::fs::read(run.join("config.toml")).unwrap();
    let again = run_ldm(&run, &d.join("share"), &[]);
    ok(&again, "the second run");
    for (stage, _) in STAGES {
        assert!(
            again
                .stdout
                .contains(&format!("stage {stage}: skipped (done)")),
            "{stage} was not skipped:\n{}",
            again.stdout
        );
    }
    assert!(!again.stdout.contains(": running"), "{}", again.stdout);
    assert_eq!(outputs(&run), before, "a skipped stage rewrote its output");

    // A changed model key with finished work in the run directory: refused, naming the
    // stage and the key, and nothing is touched (not even config.toml).
    let changed = run_ldm(&run, &d.join("share"), &["denoiser.model.base_channels=16"]);
    assert_ne!(changed.status, 0, "{}", changed.stdout);
    let err = changed.stderr.trim_end();
    assert!(err.contains("stage denoiser"), "{err}");
    assert!(
        err.contains("denoiser.model.base_channels (32 -> 16)"),
        "{err}"
    );
    assert!(err.contains("--run-dir"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    let upstream = run_ldm(&run, &d.join("share"), &["autoencoder.model.z_channels=3"]);
    assert_ne!(upstream.status, 0);
    assert!(
        upstream.stderr.contains("stage autoencoder")
            && upstream.stderr.contains("autoencoder.model.z_channels"),
        "{}",
        upstream.stderr
    );
    assert_eq!(outputs(&run), before);
    assert_eq!(
        std::fs::read(run.join("config.toml")).unwrap(),
        config_before
    );
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (ma, mb) = (std::fs::metadata(a).unwrap(), std::fs::metadata(b).unwrap());
    (ma.dev(), ma.ino()) == (mb.dev(), mb.ino())
        || std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

#[test]
fn share_reuses_upstream_stages_and_a_killed_run_continues() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (d, first) = dirs();
    ok(first, "the first run");
    let (a, share) = (d.join("a"), d.join("share"));

    // A new run directory that differs only in a denoiser key: the perceptual net, the
    // autoencoder and the latents come from the share; the denoiser is trained.
    let b = d.join("b");
    let r = run_ldm(&b, &share, &["denoiser.train.lr.lr=2e-3"]);
    ok(&r, "the run with a changed denoiser key");
    for (stage, dir) in [
        ("perceptual", "perceptual"),
        ("autoencoder", "autoencoder"),
        ("encode", "latents"),
    ] {
        assert!(
            r.stdout
                .contains(&format!("stage {stage}: reused from share")),
            "{stage}:\n{}",
            r.stdout
        );
        let record = json(&b.join(dir).join("stage.json"));
        assert_eq!(record["source"], "share", "{stage}");
        assert!(
            record["reused_from"].as_str().unwrap().contains(stage),
            "{record}"
        );
        assert_eq!(
            record["fingerprint"],
            json(&a.join(dir).join("stage.json"))["fingerprint"]
        );
        for rel in record["files"].as_object().unwrap().keys() {
            assert!(same_file(&a.join(rel), &b.join(rel)), "{rel}");
        }
    }
    assert!(r.stdout.contains("stage denoiser: running"), "{}", r.stdout);
    let den = json(&b.join("denoiser/stage.json"));
    assert_eq!(den["source"], "computed");
    assert_ne!(
        den["fingerprint"],
        json(&a.join("denoiser/stage.json"))["fingerprint"]
    );
    // The reused stages' curves are in the new run's metrics and report too.
    let html = std::fs::read_to_string(b.join("report.html")).unwrap();
    assert!(html.contains("report/autoencoder-loss.png"));

    // Killed inside the denoiser once it has a checkpoint: the rerun continues from it.
    let c = d.join("c");
    let sets = [
        "denoiser.train.steps=120",
        "denoiser.train.checkpoint_every=5",
    ];
    let log = std::fs::File::create(d.join("c.out")).unwrap();
    let mut args: Vec<String> = ["run", CONFIG, "--run-dir", c.to_str().unwrap(), "--share"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(share.to_str().unwrap().into());
    for s in sets {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ldm"))
        .args(&args)
        .current_dir(repo())
        .env("RUST_LOG", "warn")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let ckpts = c.join("checkpoints/denoiser");
    let started = Instant::now();
    let first_ckpt = loop {
        if let Some(p) = checkpoint(&ckpts) {
            break p;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "ldm run ended ({status}) before the denoiser's first checkpoint:\n{}",
                std::fs::read_to_string(d.join("c.out")).unwrap()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap(); // SIGKILL: no chance to write anything more
    child.wait().unwrap();
    assert!(
        !c.join("denoiser/info.json").exists(),
        "the denoiser finished before it was killed"
    );
    assert_eq!(json(&c.join("denoiser/stage.json"))["status"], "running");
    println!("killed after {}", first_ckpt.display());

    let r = ldm(
        &repo(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    ok(&r, "the rerun after the kill");
    assert!(
        r.stdout
            .contains("stage denoiser: running (continuing from"),
        "{}",
        r.stdout
    );
    for stage in ["perceptual", "autoencoder", "encode"] {
        assert!(
            r.stdout.contains(&format!("stage {stage}: skipped (done)")),
            "{stage}:\n{}",
            r.stdout
        );
    }
    assert_eq!(json(&c.join("denoiser/stage.json"))["status"], "done");
    assert_eq!(json(&c.join("denoiser/info.json"))["steps"], 120);
    assert!(c.join("report.html").exists());
}

/// The newest finished checkpoint under `root`.
fn checkpoint(root: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("step-")
                && p.join("manifest.json").exists()
        })
        .collect();
    found.sort();
    found.pop()
}
