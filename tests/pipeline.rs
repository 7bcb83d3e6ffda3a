//! The stages end to end through the binary on a tiny config: perceptual net, autoencoder,
//! latent cache, denoiser, sampling, evaluator, evaluation. The denoiser must learn
//! (validation loss well below predicting zeros), guidance must change the samples, and
//! eval.json must hold every section with finite numbers.

mod common;

use common::{copy_dir, ldm, repo};

fn metrics(run: &std::path::Path, stage: &str, key: &str) -> Vec<f64> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["stage"] == stage)
        .filter_map(|v| v[key].as_f64())
        .collect()
}

#[test]
fn every_stage_runs_and_the_denoiser_learns() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    let run_s = run.to_str().unwrap();
    let cfg = "tests/fixtures/tiny.toml";
    for stage in ["train-perceptual", "train-autoencoder", "encode"] {
        let r = ldm(&repo(), &[stage, cfg, "--run-dir", run_s]);
        assert_eq!(r.status, 0, "{stage} failed: {}", r.stderr);
    }
    // The same latents for the denoisers trained in mixed precision, below.
    let half_base = d.path().join("run-latents");
    copy_dir(&run, &half_base);
    let r = ldm(&repo(), &["train-denoiser", cfg, "--run-dir", run_s]);
    assert_eq!(r.status, 0, "train-denoiser failed: {}", r.stderr);
    for f in [
        "perceptual/info.json",
        "autoencoder/info.json",
        "latents/manifest.json",
        "denoiser/info.json",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }

    // 3x below the trivial predictor after 200 small steps (measured: about 5x).
    let val = metrics(&run, "denoiser", "val_loss");
    let zero = metrics(&run, "denoiser", "val_zero_loss");
    let (last, base) = (*val.last().unwrap(), *zero.last().unwrap());
    println!("denoiser val loss {last:.4}, predicting zeros {base:.4}");
    assert!(last * 3.0 < base, "val loss {last} vs zeros {base}");

    // Mixed precision (bf16 or f16 steps on f32 weights) learns as well as f32 from the same
    // start: the same bar, and within 1.5x of the f32 run's validation loss.
    for precision in ["bf16", "f16"] {
        let dir = d.path().join(format!("run-{precision}"));
        copy_dir(&half_base, &dir);
        let set = format!("denoiser.train.precision=\"{precision}\"");
        let r = ldm(
            &repo(),
            &[
                "train-denoiser",
                cfg,
                "--run-dir",
                dir.to_str().unwrap(),
                "--set",
                &set,
            ],
        );
        assert_eq!(
            r.status, 0,
            "{precision} train-denoiser failed: {}",
            r.stderr
        );
        let half = *metrics(&dir, "denoiser", "val_loss").last().unwrap();
        println!("{precision} denoiser val loss {half:.4}");
        assert!(
            half * 3.0 < base,
            "{precision} val loss {half} vs zeros {base}"
        );
        assert!(
            half < 1.5 * last,
            "{precision} val loss {half} vs f32 {last}"
        );
    }
    // f16 logs its loss scale; a run that skipped most of its steps for overflow would not
    // have learned above, but the count is checked too (measured: none skipped).
    let f16 = d.path().join("run-f16");
    let scale = metrics(&f16, "denoiser", "loss_scale");
    let skipped = metrics(&f16, "denoiser", "overflow_skipped");
    println!("f16 loss scale {scale:?}, overflow skips {skipped:?}");
    assert!(!scale.is_empty() && scale.iter().all(|s| *s >= 1.0));
    assert!(*skipped.last().unwrap() < 20.0, "{skipped:?}");
    assert!(
        metrics(&run, "denoiser", "loss_scale").is_empty(),
        "f32 logs no scale"
    );
    assert!(
        run.join("samples/denoiser-00000200.png").exists(),
        "preview grid"
    );

    let sample = |guidance: &str, out: &str| {
        let out = d.path().join(out);
        let r = ldm(
            &repo(),
            &[
                "sample",
                cfg,
                "--run-dir",
                run_s,
                "--prompt",
                "a red circle",
                "--n",
                "4",
                "--steps",
                "10",
                "--guidance",
                guidance,
                "--seed",
                "3",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(r.status, 0, "sample failed: {}", r.stderr);
        image::open(out).unwrap().to_rgb8()
    };
    let (a, a_again, b) = (
        sample("1", "g1.png"),
        sample("1", "g1b.png"),
        sample("5", "g5.png"),
    );
    assert_eq!(a, a_again, "sampling is reproducible from the seed");
    let diff: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.as_raw().len() as f64;
    println!("mean |guided - unguided| = {diff:.2} grey levels");
    assert!(diff > 1.0, "guidance w = 5 should change the samples");

    // A denoiser trained with one text encoder is not sampled with another.
    let r = ldm(
        &repo(),
        &[
            "sample",
            cfg,
            "--run-dir",
            run_s,
            "--prompt",
            "x",
            "--set",
            "text.scratch.dim=32",
        ],
    );
    assert_ne!(r.status, 0);
    assert!(
        r.stderr.contains("was trained with text encoder"),
        "{}",
        r.stderr
    );

    // The evaluator, then the evaluation of both models.
    for stage in ["train-evaluator", "eval"] {
        let r = ldm(&repo(), &[stage, cfg, "--run-dir", run_s]);
        assert_eq!(r.status, 0, "{stage} failed: {}", r.stderr);
        print!("{}", r.stdout);
    }
    check_eval_json(&run);
}

/// Every section of eval.json is there with finite numbers.
fn check_eval_json(run: &std::path::Path) {
    let text = std::fs::read_to_string(run.join("eval.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let finite = |v: &serde_json::Value, what: &str| {
        let x = v
            .as_f64()
            .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
        assert!(x.is_finite(), "{what} = {x}");
        x
    };
    let retrieval = finite(&v["evaluator"]["val_retrieval"], "evaluator.val_retrieval");
    let chance = finite(&v["evaluator"]["chance"], "evaluator.chance");
    assert!(
        retrieval > chance,
        "evaluator retrieval {retrieval} vs chance {chance}"
    );
    for k in ["psnr", "ssim", "perceptual", "rfid"] {
        finite(&v["autoencoder"][k], &format!("autoencoder.{k}"));
    }
    // Shapes: the detector on the reconstructions, every one of them scored.
    let recon = &v["autoencoder"]["detector"]["total"];
    assert_eq!(recon["images"], v["autoencoder"]["images"], "{recon}");
    for k in ["color", "shape", "all"] {
        let r = finite(&recon[k], &format!("autoencoder.detector.total.{k}"));
        assert!((0.0..=1.0).contains(&r), "{k} = {r}");
    }
    // The floor: two real sets of the same distribution are close, but not identical.
    let floor = finite(&v["floor"]["fid"], "floor.fid");
    assert!(floor >= 0.0, "floor {floor}");
    finite(&v["floor"]["kid"], "floor.kid");
    for k in ["alignment", "r_precision"] {
        finite(&v["real"][k], &format!("real.{k}"));
    }
    // The tiny config sweeps guidance 1 and 3, 3 being the chosen one.
    let sweep = v["guidance"].as_array().expect("guidance sweep");
    let scales: Vec<f64> = sweep
        .iter()
        .map(|m| m["guidance"].as_f64().unwrap())
        .collect();
    assert_eq!(scales, [1.0, 3.0]);
    assert_eq!(v["chosen"]["guidance"], 3.0);
    for m in sweep.iter().chain([&v["chosen"]]) {
        let g = &m["guidance"];
        for k in ["fid", "kid", "kid_std", "alignment", "r_precision"] {
            finite(&m[k], &format!("guidance {g}: {k}"));
        }
        // Shapes: the detector's rates, seen and held-out prompts apart (the validation
        // prompts include held-out pairs), adding up to all of them.
        let det = &m["detector"];
        let images = |group: &str| det[group]["images"].as_u64().unwrap();
        assert_eq!(images("seen") + images("held_out"), images("total"));
        assert_eq!(images("total"), 32);
        assert!(images("held_out") > 0, "no held-out prompts");
        for group in ["seen", "held_out", "total"] {
            for k in ["count", "color", "shape", "size", "all"] {
                let x = finite(&det[group][k], &format!("guidance {g}: {group}.{k}"));
                assert!((0.0..=1.0).contains(&x));
            }
        }
        let grid = m["grid"].as_str().unwrap();
        assert!(run.join(grid).exists(), "{grid}");
    }
    // The detector reads real shapes images nearly perfectly.
    let real_all = finite(&v["real"]["detector"]["total"]["all"], "real detector");
    assert!(real_all > 0.9, "detector on real images: {real_all}");
    for f in ["eval/guidance-fid.png", "eval/guidance-scores.png"] {
        assert!(run.join(f).exists(), "{f}");
    }
}

#[test]
fn the_evaluator_without_minilm_weights_names_the_fetch_script() {
    let d = tempfile::tempdir().unwrap();
    let r = ldm(
        &repo(),
        &[
            "train-evaluator",
            "tests/fixtures/tiny.toml",
            "--run-dir",
            d.path().to_str().unwrap(),
            "--set",
            "eval.minilm=/nonexistent/minilm",
        ],
    );
    assert_ne!(r.status, 0);
    assert!(
        r.stderr.contains("scripts/fetch-weights.sh"),
        "{}",
        r.stderr
    );
}

#[test]
fn sampling_without_trained_models_says_what_is_missing() {
    let d = tempfile::tempdir().unwrap();
    let r = ldm(
        &repo(),
        &[
            "sample",
            "tests/fixtures/tiny.toml",
            "--run-dir",
            d.path().to_str().unwrap(),
            "--prompt",
            "x",
        ],
    );
    assert_ne!(r.status, 0);
    assert!(
        r.stderr.contains("autoencoder") || r.stderr.contains("denoiser"),
        "{}",
        r.stderr
    );
}
