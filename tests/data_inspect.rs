//! `ldm data inspect`: counts, bad samples, and the grid of samples with captions.

mod common;

use common::{ldm, repo};

fn inspect(run_dir: &std::path::Path, config: &str, sets: &[&str]) -> common::Run {
    let mut args = vec![
        "data",
        "inspect",
        config,
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--grid",
        "9",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    ldm(&repo(), &args)
}

#[test]
fn shapes_run_dir_holds_config_log_metrics_and_grid() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    let r = inspect(
        &run,
        "configs/quickstart.toml",
        &["data.shapes.num_train=200", "data.shapes.num_val=20"],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("train: 200 samples readable, 0 bad"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("val: 20 samples readable, 0 bad"),
        "{}",
        r.stdout
    );

    let resolved: toml::Table = std::fs::read_to_string(run.join("config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        resolved["data"]["shapes"]["num_train"].as_integer(),
        Some(200)
    );
    assert!(run.join("log.txt").exists());
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let m: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    assert_eq!(
        (
            m["stage"].as_str(),
            m["step"].as_u64(),
            m["train_samples"].as_f64()
        ),
        (Some("data"), Some(0), Some(200.0))
    );

    let grid = image::open(run.join("samples/data-grid.png")).unwrap();
    // 3x3 cells of 32 px scaled to 64, with 2 px gaps.
    assert_eq!((grid.width(), grid.height()), (3 * 66 + 2, 3 * 66 + 2));
    let captions = std::fs::read_to_string(run.join("samples/data-grid.txt")).unwrap();
    assert_eq!(captions.lines().count(), 9);
    assert!(captions.starts_with("row 0 col 0: a "));
}

#[test]
fn imagefolder_with_bad_samples_reports_each() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("bad.toml");
    let fixtures = repo().join("tests/fixtures/imagefolder-bad");
    std::fs::write(
        &cfg,
        format!(
            "[data]\nsource = \"imagefolder\"\npath = \"{}\"\nval_fraction = 0.0\nresolution = 8\n",
            fixtures.display()
        ),
    )
    .unwrap();
    let r = inspect(&d.path().join("run"), cfg.to_str().unwrap(), &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("train: 2 samples readable, 3 bad"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("corrupt.png: corrupt image"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("missing.png: image file not found"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("no-caption.png: missing caption"),
        "{}",
        r.stdout
    );

    let r = inspect(
        &d.path().join("run2"),
        cfg.to_str().unwrap(),
        &["data.on_bad_sample=fail"],
    );
    assert_ne!(r.status, 0);
    assert!(
        r.stderr.contains("corrupt.png: corrupt image")
            && r.stderr.contains("on_bad_sample = \"fail\""),
        "{}",
        r.stderr
    );
}

#[test]
fn missing_dataset_and_unwritable_run_dir_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let r = inspect(
        &d.path().join("run"),
        "configs/fashion-mnist.toml",
        &["data.path=/nonexistent/fm"],
    );
    assert_ne!(r.status, 0);
    assert!(
        r.stderr
            .contains("dataset folder not found: /nonexistent/fm"),
        "{}",
        r.stderr
    );

    let blocker = d.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let r = inspect(
        &blocker.join("run"),
        "configs/quickstart.toml",
        &["data.shapes.num_train=10"],
    );
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("is not writable"), "{}", r.stderr);
}

#[test]
fn webdataset_split_counts() {
    let d = tempfile::tempdir().unwrap();
    let pattern = repo().join("tests/fixtures/webdataset/shard-{0000..0001}.tar");
    let path_set = format!("data.path=\"{}\"", pattern.display());
    let r = inspect(
        &d.path().join("run"),
        "configs/quickstart.toml",
        &[
            "data.source=webdataset",
            &path_set,
            "data.val_fraction=0.34",
            "data.resolution=8",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    // 6 samples: 2 held out for validation, one of the 6 lacks a caption.
    let train_ok: usize = r
        .stdout
        .lines()
        .find(|l| l.starts_with("train:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let val_ok: usize = r
        .stdout
        .lines()
        .find(|l| l.starts_with("val:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(train_ok + val_ok, 5, "{}", r.stdout);
    assert!(r.stdout.contains("missing caption"), "{}", r.stdout);
}
