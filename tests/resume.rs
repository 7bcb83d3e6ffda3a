//! Resume is exact: training N+M steps in one go, and in pieces stopped with `--until-step`
//! and continued with `--resume latest`, give the same weights, byte for byte (CPU backend).
//! The autoencoder's pieces straddle `disc_start` (critic and both optimizers in play); the
//! denoiser's run has EMA, a trainable text encoder, caption dropout and gradient accumulation.
//! Optimizer states are compared too (entry by entry, through their parameter paths). The
//! denoiser is resumed in f16 as well, with its loss scale.

mod common;

use std::path::{Path, PathBuf};

use common::{Run, copy_dir, ldm, ldm_logging, repo};

/// A tiny config for one stage at a time: no perceptual net (not what is under test here).
const SETS: &[&str] = &[
    "data.shapes.num_train=200",
    "data.shapes.num_val=16",
    "autoencoder.loss.perceptual=none",
    "autoencoder.loss.disc_start=6",
    "autoencoder.train.steps=12",
    "autoencoder.train.batch_size=8",
    "autoencoder.train.ema_decay=0.9",
    "autoencoder.train.val_every=6",
    "autoencoder.train.val_images=16",
    "autoencoder.train.checkpoint_every=4",
    "autoencoder.train.keep_checkpoints=10",
    "autoencoder.train.scale_images=32",
    "text.p_uncond=0.3",
    "denoiser.train.steps=10",
    "denoiser.train.batch_size=8",
    "denoiser.train.grad_accum=2",
    "denoiser.train.val_every=5",
    "denoiser.train.val_latents=16",
    "denoiser.train.checkpoint_every=3",
    "denoiser.train.keep_checkpoints=10",
    "denoiser.train.prompts=[]",
];

fn run(args: &[&str], run_dir: &Path) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["tests/fixtures/tiny.toml", "--run-dir"]);
    all.push(run_dir.to_str().unwrap());
    for s in SETS {
        all.extend(["--set", s]);
    }
    ldm(&repo(), &all)
}

fn ok(r: Run, what: &str) -> Run {
    assert_eq!(r.status, 0, "{what}: {}\n{}", r.stdout, r.stderr);
    r
}

/// Every tensor of a weights file (by module path), without parameter ids; for optimizer
/// files (`opt_*`) every state tensor and scalar, by parameter path.
fn weights(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().unwrap().to_string_lossy();
    if name.starts_with("opt_") {
        ldm_core::record::optimizer_state(&bytes).unwrap()
    } else {
        ldm_core::record::tensors(&bytes).unwrap()
    }
}

fn assert_same(a: &Path, b: &Path, files: &[&str]) {
    for f in files {
        let (wa, wb) = (weights(&a.join(f)), weights(&b.join(f)));
        assert!(!wa.is_empty(), "{f} has no tensors");
        assert_eq!(
            wa.keys().collect::<Vec<_>>(),
            wb.keys().collect::<Vec<_>>(),
            "{f}: tensor names"
        );
        for (name, bytes) in &wa {
            assert!(
                bytes == &wb[name],
                "{f}: {name} differs between the uninterrupted and the resumed run"
            );
        }
    }
}

fn ckpt(run: &Path, stage: &str, step: u64) -> PathBuf {
    run.join("checkpoints")
        .join(stage)
        .join(format!("step-{step:08}"))
}

/// Continue `command` in `dir` from its latest checkpoint up to each step of `untils`.
fn continue_through(command: &str, dir: &Path, untils: &[&str]) {
    for until in untils {
        ok(
            run(&[command, "--resume", "latest", "--until-step", until], dir),
            &format!("{command} resumed to {until}"),
        );
    }
}

/// The denoiser trained 10 steps in one go in `a`, and 4 + 3 + 3 in `b` (stopped with
/// `--until-step`, continued with `--resume latest`), both with `extra` arguments: the same
/// checkpoint and model, byte for byte.
fn denoiser_resumes_bit_exactly(a: &Path, b: &Path, extra: &[&str]) {
    let with = |args: &[&'static str]| -> Vec<&str> { args.iter().chain(extra).copied().collect() };
    ok(run(&with(&["train-denoiser"]), a), "denoiser, one go");
    ok(
        run(&with(&["train-denoiser", "--until-step", "4"]), b),
        "to 4",
    );
    for until in ["7", "10"] {
        let args = with(&[
            "train-denoiser",
            "--resume",
            "latest",
            "--until-step",
            until,
        ]);
        ok(run(&args, b), &format!("denoiser resumed to {until}"));
    }
    assert_same(
        &ckpt(a, "denoiser", 10),
        &ckpt(b, "denoiser", 10),
        &[
            "unet.bpk",
            "ema.bpk",
            "text.bpk",
            "opt_unet.bpk",
            "opt_text.bpk",
        ],
    );
    assert_same(a, b, &["denoiser/model.bpk", "denoiser/text.bpk"]);
}

#[test]
fn autoencoder_and_denoiser_resume_bit_exactly() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));

    // Autoencoder: 12 steps in one go; then 3 + 6 + 3 across disc_start = 6. The first stop
    // comes before the first periodic checkpoint (4) and before the critic is first used.
    ok(run(&["train-autoencoder"], &a), "autoencoder, one go");
    let r = ok(run(&["train-autoencoder", "--until-step", "3"], &b), "to 3");
    assert!(
        r.stdout.contains("stopped at --until-step 3"),
        "{}",
        r.stdout
    );
    assert!(
        ckpt(&b, "autoencoder", 3).exists(),
        "a checkpoint at the stop"
    );
    continue_through("train-autoencoder", &b, &["9", "12"]);
    assert_same(
        &ckpt(&a, "autoencoder", 12),
        &ckpt(&b, "autoencoder", 12),
        &[
            "autoencoder.bpk",
            "critic.bpk",
            "ema.bpk",
            "opt_autoencoder.bpk",
            "opt_critic.bpk",
        ],
    );
    assert_same(&a, &b, &["autoencoder/model.bpk"]);
    // The critic really trained after disc_start (so its resume was exercised).
    assert_ne!(
        weights(&ckpt(&a, "autoencoder", 4).join("critic.bpk")),
        weights(&ckpt(&a, "autoencoder", 12).join("critic.bpk")),
    );

    // Denoiser on each run's own latents: 10 steps in one go; then 4 + 3 + 3.
    for dir in [&a, &b] {
        ok(run(&["encode"], dir), "encode");
    }
    // The same latents for an f16 denoiser, below.
    let (a16, b16) = (d.path().join("a16"), d.path().join("b16"));
    let (p1, p2) = (d.path().join("p1"), d.path().join("p2"));
    for (from, to) in [(&a, &a16), (&b, &b16), (&a, &p1), (&a, &p2)] {
        copy_dir(from, to);
    }
    denoiser_resumes_bit_exactly(&a, &b, &[]);
    // In f16 too, with its loss scale carried in the checkpoints (an f32 run keeps none).
    denoiser_resumes_bit_exactly(&a16, &b16, &["--set", "denoiser.train.precision=\"f16\""]);
    let scale = |dir: &Path| {
        let m = std::fs::read_to_string(ckpt(dir, "denoiser", 10).join("manifest.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&m).unwrap()["meta"]["loss_scale"].clone()
    };
    assert_eq!(scale(&b16), scale(&a16));
    assert_eq!(scale(&a16)["scale"], 65536.0, "{}", scale(&a16));
    assert!(scale(&a).is_null(), "{}", scale(&a));

    // Two fresh runs in separate processes give the same bits, also at the log level users
    // get: logging the text encoder's width once drew its token table before the device was
    // seeded, and preview prompts encode captions before training starts.
    for dir in [&p1, &p2] {
        let mut args = vec!["train-denoiser", "tests/fixtures/tiny.toml", "--run-dir"];
        args.push(dir.to_str().unwrap());
        for s in SETS.iter().filter(|s| !s.contains("prompts")) {
            args.extend(["--set", s]);
        }
        args.extend(["--set", "denoiser.train.steps=3"]);
        ok(ldm_logging(&repo(), &args, "info"), "fresh run, logging");
    }
    assert_same(&p1, &p2, &["denoiser/model.bpk", "denoiser/text.bpk"]);

    // A wall-clock budget makes the step during which it runs out the last one (here the
    // first: 6 ms is less than any step), saved as a finished stage would be.
    let c = d.path().join("c");
    for (stage, command) in [
        ("autoencoder", "train-autoencoder"),
        ("denoiser", "train-denoiser"),
    ] {
        if stage == "denoiser" {
            ok(run(&["encode"], &c), "encode");
        }
        let set = format!("{stage}.train.max_minutes=0.0001");
        ok(run(&[command, "--set", &set], &c), "time budget");
        let manifest = std::fs::read_to_string(ckpt(&c, stage, 1).join("manifest.json")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        let spent = manifest["meta"]["train_seconds"].as_f64();
        assert!(spent.is_some_and(|s| s >= 0.006), "{manifest}");
        assert!(
            !ckpt(&c, stage, 2).exists(),
            "{stage} went on past its budget"
        );
        assert!(
            c.join(stage).join("model.bpk").exists(),
            "{stage} model saved"
        );
    }
}
