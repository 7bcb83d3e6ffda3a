//! Bad input and numerical faults: each is one clear line on stderr and a non-zero exit, and
//! nothing already written is lost. Config-file mistakes are in config_errors.rs and dataset
//! problems in data_inspect.rs; this file covers what needs trained artifacts, plus the rest
//! of the list (syntax, ranges, empty data). SIGINT is here too: a final checkpoint, exit 130.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{Run, copy_dir, ldm, repo, write};

const CFG: &str = "tests/fixtures/tiny.toml";
const SETS: &[&str] = &[
    "data.shapes.num_train=200",
    "data.shapes.num_val=16",
    "autoencoder.loss.perceptual=none",
    "autoencoder.train.steps=4",
    "autoencoder.train.batch_size=8",
    "autoencoder.train.val_images=16",
    "autoencoder.train.scale_images=32",
    "denoiser.train.steps=4",
    "denoiser.train.batch_size=8",
    "denoiser.train.val_every=2",
    "denoiser.train.val_latents=16",
    "denoiser.train.checkpoint_every=2",
    "denoiser.train.keep_checkpoints=5",
    "denoiser.train.log_every=1",
    "denoiser.train.prompts=[]",
];

/// `ldm <args> tiny.toml --run-dir RUN --set ...` with extra `--set`s.
fn cmd(args: &[&str], run: &Path, extra: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend([CFG, "--run-dir", run.to_str().unwrap()]);
    for s in SETS.iter().chain(extra) {
        all.extend(["--set", s]);
    }
    ldm(&repo(), &all)
}

/// The error line of a failed run: non-zero exit, and the last stderr line is the only one
/// starting with `error:`.
fn error_line(r: &Run) -> String {
    assert_ne!(r.status, 0, "expected a failure: {}", r.stdout);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines.last().copied().unwrap_or_default();
    assert!(last.starts_with("error: "), "stderr: {}", r.stderr);
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("error")).count(),
        1,
        "{}",
        r.stderr
    );
    last.to_string()
}

fn expect_error(r: &Run, needle: &str) {
    let line = error_line(r);
    assert!(line.contains(needle), "wanted '{needle}' in: {line}");
}

/// A tiny run with an autoencoder, latents and a 4-step denoiser, made once per process.
fn trained() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let run = dir.join("run");
        for stage in ["train-autoencoder", "encode", "train-denoiser"] {
            let r = cmd(&[stage], &run, &[]);
            assert_eq!(r.status, 0, "{stage}: {}", r.stderr);
        }
        run
    })
}

/// A copy of the trained run, for tests that write into it.
fn copy_of_trained(name: &str) -> PathBuf {
    let src = trained();
    let dst = src.parent().unwrap().join(name);
    copy_dir(src, &dst);
    dst
}

fn ckpt(run: &Path, stage: &str, step: u64) -> PathBuf {
    run.join(format!("checkpoints/{stage}/step-{step:08}"))
}

#[test]
fn config_syntax_and_ranges() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "s.toml", "name = \"x\"\n[data\nresolution = 32\n");
    let r = ldm(d.path(), &["config", "show", "s.toml"]);
    expect_error(&r, "s.toml:2:");
    let show = |sets: &[&str]| {
        let mut a = vec!["config", "show", "configs/quickstart.toml"];
        for s in sets {
            a.extend(["--set", s]);
        }
        ldm(&repo(), &a)
    };
    expect_error(
        &show(&["denoiser.train.lr.lr=-1e-4"]),
        "denoiser.train.lr.lr = -0.0001: must be > 0",
    );
    // f = 2^(levels - 1) is a power of two by construction; what can be wrong is that it
    // does not divide the image size.
    expect_error(
        &show(&["data.resolution=30"]),
        "f = 4 must divide data.resolution = 30",
    );
}

#[test]
fn empty_dataset() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("empty");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("metadata.jsonl"), "").unwrap();
    let r = ldm(
        &repo(),
        &[
            "train-autoencoder",
            "configs/quickstart.toml",
            "--run-dir",
            d.path().join("run").to_str().unwrap(),
            "--set",
            "data.source=imagefolder",
            "--set",
            &format!("data.path={}", data.display()),
        ],
    );
    expect_error(&r, &format!("dataset at {} is empty", data.display()));
}

#[test]
fn artifacts_that_do_not_fit_the_config() {
    // A copy: commands run here may touch the run directory (logs, locks) while another
    // test copies the shared original (`cp` then failed on a file that came and went).
    let run = &copy_of_trained("misfit");
    // Latent channels that do not match the autoencoder checkpoint.
    let r = cmd(&["encode"], run, &["autoencoder.model.z_channels=8"]);
    expect_error(&r, "autoencoder.model.z_channels = 4 but the config says 8");
    // Sampling with another text encoder than the denoiser was trained with.
    let r = cmd(
        &["sample", "--prompt", "a red circle", "--n", "1"],
        run,
        &["text.max_len=16"],
    );
    expect_error(
        &r,
        "trained with text encoder max_len = 32 but the config gives 16",
    );
    assert!(run.join("denoiser/info.json").exists(), "nothing lost");
}

#[test]
fn checkpoints_of_another_model_truncated_or_reshaped() {
    let run = copy_of_trained("ckpt");
    let ae = ckpt(&run, "autoencoder", 4);
    let r = cmd(
        &["train-denoiser", "--resume", ae.to_str().unwrap()],
        &run,
        &[],
    );
    expect_error(
        &r,
        "is a checkpoint of the autoencoder, not of the denoiser",
    );

    // A truncated weights file fails its size/CRC check, naming the file.
    let cut = run.join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    let src = ckpt(&run, "denoiser", 4);
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), cut.join(e.file_name())).unwrap();
    }
    let unet = std::fs::read(cut.join("unet.bpk")).unwrap();
    std::fs::write(cut.join("unet.bpk"), &unet[..unet.len() / 2]).unwrap();
    let r = cmd(
        &["train-denoiser", "--resume", cut.to_str().unwrap()],
        &run,
        &[],
    );
    expect_error(&r, "unet.bpk is corrupt or truncated");

    // A changed model shape is refused by key; a changed learning rate is a warning.
    let r = cmd(
        &["train-denoiser", "--resume", "latest"],
        &run,
        &["denoiser.model.base_channels=16"],
    );
    expect_error(
        &r,
        "denoiser.model.base_channels was 32 there but is 16 in the config",
    );
    let r = cmd(
        &["train-denoiser", "--resume", "latest"],
        &run,
        &["denoiser.train.lr.lr=5e-4", "denoiser.train.steps=6"],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("resuming with a changed key: denoiser.train.lr.lr = 0.0005 (was 0.001)"),
        "{}",
        r.stderr
    );
    assert!(ckpt(&run, "denoiser", 6).exists());
}

#[test]
fn non_finite_loss_stops_or_skips_with_the_checkpoint_intact() {
    let run = copy_of_trained("nan");
    // A learning rate that sends the weights to infinity: the next loss is not finite.
    let boom = ["denoiser.train.lr.lr=1e38", "denoiser.train.steps=20"];
    let r = cmd(&["train-denoiser", "--resume", "latest"], &run, &boom);
    expect_error(&r, "non-finite denoiser loss at step");
    let line = error_line(&r);
    assert!(line.contains("weighted_mse = "), "{line}");
    assert!(
        line.contains(&format!(
            "the last good checkpoint {} is intact",
            ckpt(&run, "denoiser", 4).display()
        )),
        "{line}"
    );
    let verify = ldm(&repo(), &["checkpoint", "verify", run.to_str().unwrap()]);
    assert_eq!(verify.status, 0, "{}", verify.stdout);

    let mut skip = boom.to_vec();
    skip.extend([
        "denoiser.train.on_nan=skip",
        "denoiser.train.max_nan_skips=3",
    ]);
    let r = cmd(&["train-denoiser", "--resume", "latest"], &run, &skip);
    expect_error(&r, "(after 3 skipped steps, the cap of on_nan = \"skip\")");
    assert!(
        r.stderr.contains("update skipped (1 of at most 3)"),
        "{}",
        r.stderr
    );
}

#[test]
fn sigint_writes_a_final_checkpoint_and_resume_continues() {
    let run = copy_of_trained("sigint");
    let mut args: Vec<String> = ["train-denoiser", CFG, "--run-dir", run.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let long = [
        "denoiser.train.steps=100000",
        "denoiser.train.checkpoint_every=100000",
    ];
    for s in SETS.iter().chain(&long) {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    std::fs::remove_dir_all(run.join("checkpoints/denoiser")).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ldm"))
        .args(&args)
        .current_dir(repo())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it has trained a few steps (metrics are logged every step here).
    let metrics = run.join("metrics.jsonl");
    let steps = || {
        std::fs::read_to_string(&metrics)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"denoiser\"") && l.contains("\"loss\""))
            .count()
    };
    let before = steps();
    let start = std::time::Instant::now();
    while steps() < before + 3 {
        assert!(start.elapsed().as_secs() < 300, "no training progress");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("denoiser interrupted after step"),
        "{stderr}"
    );
    let latest = ldm_core::checkpoint::latest(&run.join("checkpoints/denoiser"))
        .expect("a final checkpoint");
    let step = ldm_core::checkpoint::load(&latest).unwrap().step;
    assert!(step >= 3, "checkpoint at step {step}");

    let until = (step + 2).to_string();
    let mut resume = args.clone();
    resume.extend(["--resume", "latest", "--until-step", &until].map(String::from));
    let r = ldm(
        &repo(),
        &resume.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("stopped at --until-step {until}"))
    );
}
