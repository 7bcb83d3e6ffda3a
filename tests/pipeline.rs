//! The stages end to end through the binary on a tiny config: perceptual net, autoencoder,
//! latent cache, denoiser, sampling. The denoiser must learn (validation loss well below
//! predicting zeros) and guidance must change the samples.

mod common;

use common::{ldm, repo};

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
    for stage in [
        "train-perceptual",
        "train-autoencoder",
        "encode",
        "train-denoiser",
    ] {
        let r = ldm(&repo(), &[stage, cfg, "--run-dir", run_s]);
        assert_eq!(r.status, 0, "{stage} failed: {}", r.stderr);
    }
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
