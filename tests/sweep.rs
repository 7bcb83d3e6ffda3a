//! `ldm sweep` end to end on the smallest config: mistakes in the sweep file are reported at
//! their line before anything runs; variants that differ only in a denoiser key share the
//! perceptual net, the autoencoder and the latents; a failing variant does not stop the
//! others; the comparison report lists every variant; a second sweep skips what is done.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use common::{Run, ldm, repo, write};

fn base() -> String {
    repo()
        .join("tests/fixtures/tiny-run.toml")
        .display()
        .to_string()
}

fn sweep(dir: &Path, file: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "sweep",
        file.to_str().unwrap(),
        "--dir",
        dir.to_str().unwrap(),
    ];
    args.extend(extra);
    ldm(&repo(), &args)
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Every file under `dir` with its modification time.
fn files(dir: &Path) -> BTreeMap<String, SystemTime> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, SystemTime>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let m = e.metadata().unwrap().modified().unwrap();
                out.insert(p.strip_prefix(root).unwrap().display().to_string(), m);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn mistakes_in_the_sweep_file_are_placed_before_anything_runs() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let head = format!("base = {:?}\n", base());
    let cases = [
        // An unknown key of the sweep file itself.
        (
            format!("{head}mdoe = \"zip\"\n[[axis]]\nkey = \"seed\"\nvalues = [1]\n"),
            "s.toml:2: unknown key 'mdoe' at the top level (did you mean 'mode'?)",
        ),
        // An axis over a key the experiment config does not have.
        (
            format!("{head}[[axis]]\nkey = \"diffusion.predicton\"\nvalues = [\"eps\", \"v\"]\n"),
            "s.toml:3: unknown key 'predicton' in [diffusion] (did you mean 'prediction'?)",
        ),
        // A value the config refuses, in a variant's `set`.
        (
            format!(
                "{head}[[variant]]\nname = \"a\"\n[[variant]]\nname = \"b\"\n\
                 set = {{ \"diffusion.prediction\" = \"q\" }}\n"
            ),
            "s.toml:6: unknown value 'q' for 'diffusion.prediction'",
        ),
        // A combination the config's checks refuse: named with the variant and its line.
        (
            format!(
                "{head}[[axis]]\nkey = \"diffusion.zero_terminal_snr\"\nvalues = [false, true]\n"
            ),
            "(variant zero-terminal-snr-true: diffusion.zero_terminal_snr=true at ",
        ),
        (
            format!("{head}[budget]\ndenoiser_steps = 10\nminutes = 5\n"),
            "s.toml:4: unknown key 'minutes' in [budget]",
        ),
    ];
    for (text, want) in cases {
        let file = write(d.path(), "s.toml", &text);
        let r = sweep(&out, &file, &[]);
        assert_eq!(r.status, 1, "{text}\n{}\n{}", r.stdout, r.stderr);
        let err = r.stderr.trim_end();
        assert!(err.contains(want), "{text}\nwanted {want}\ngot {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(!out.exists(), "nothing is written for a bad sweep file");
    }

    // A good one, listed without running: names from the overrides, grid order.
    let file = write(
        d.path(),
        "s.toml",
        &format!(
            "{head}seeds = [0, 1]\n[[axis]]\nkey = \"diffusion.prediction\"\nvalues = [\"eps\", \"v\"]\n\
             [[axis]]\nkey = \"diffusion.schedule\"\nvalues = [\"linear\", \"cosine\"]\n"
        ),
    );
    let r = sweep(&out, &file, &["--dry-run"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let names: Vec<&str> = r
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.trim().split(':').next().unwrap())
        .collect();
    assert_eq!(names.len(), 8, "{}", r.stdout);
    assert_eq!(names[0], "prediction-eps_schedule-linear_seed-0");
    assert_eq!(names[7], "prediction-v_schedule-cosine_seed-1");
    assert!(
        r.stdout
            .contains("diffusion.prediction=\"v\" diffusion.schedule=\"cosine\" seed=1"),
        "{}",
        r.stdout
    );
    assert!(!out.exists());
}

#[test]
fn a_sweep_shares_stages_survives_a_failure_reports_and_resumes() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("sweep");
    // Two variants differing in a denoiser key, and one that fails in the autoencoder.
    let file = write(
        d.path(),
        "s.toml",
        &format!(
            "base = {:?}\n[budget]\ndenoiser_steps = 20\n\
             [[variant]]\nname = \"eps\"\n\
             [[variant]]\nname = \"broken\"\n\
             set = {{ \"autoencoder.loss.perceptual_path\" = \"/nonexistent/perceptual\" }}\n\
             [[variant]]\nname = \"v\"\nset = {{ diffusion.prediction = \"v\" }}\n",
            base()
        ),
    );
    let r = sweep(&dir, &file, &[]);
    assert_eq!(r.status, 1, "{}\n{}", r.stdout, r.stderr);
    let out = &r.stdout;
    for line in [
        "variant 1/3 eps: running",
        "variant 2/3 broken: running",
        "variant 2/3 broken: failed (stage autoencoder: ",
        "variant 3/3 v: running",
        "sweep s: 2 run, 0 skipped (done before), 1 failed",
    ] {
        assert!(out.contains(line), "no '{line}' in\n{out}");
    }
    // The failure is summed up at the end, after the last variant ran.
    let err = r.stderr.lines().last().unwrap();
    assert!(
        err.starts_with("error: 1 of 3 variants failed: broken (stage autoencoder"),
        "{err}"
    );
    assert!(out.find("variant 3/3 v: running").unwrap() > out.find("broken: failed").unwrap());

    // The second variant took every stage upstream of the denoiser from the share.
    let (eps, v) = (dir.join("runs/eps"), dir.join("runs/v"));
    for stage_dir in ["perceptual", "autoencoder", "latents", "evaluator"] {
        let a = json(&eps.join(stage_dir).join("stage.json"));
        let b = json(&v.join(stage_dir).join("stage.json"));
        assert_eq!(a["source"], "computed", "{stage_dir}");
        assert_eq!(b["source"], "share", "{stage_dir}");
        assert_eq!(a["fingerprint"], b["fingerprint"], "{stage_dir}");
        assert!(
            b["reused_from"]
                .as_str()
                .unwrap()
                .starts_with(dir.join("shared").to_str().unwrap()),
            "{b}"
        );
    }
    for stage_dir in ["denoiser", "samples/final", "eval"] {
        let b = json(&v.join(stage_dir).join("stage.json"));
        assert_eq!(b["status"], "done", "{stage_dir}");
        assert_eq!(b["source"], "computed", "{stage_dir}");
    }
    let config = std::fs::read_to_string(v.join("config.toml")).unwrap();
    assert!(config.contains("prediction = \"v\""), "{config}");
    assert!(config.contains("name = \"v\""), "{config}");

    // The report, the CSV and the Markdown list every variant.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    for name in ["eps", "broken", "v"] {
        assert!(
            html.contains(&format!("<td>{name}</td>")),
            "html lacks {name}"
        );
        assert!(
            csv.lines().any(|l| l.starts_with(&format!("{name},"))),
            "csv lacks {name}:\n{csv}"
        );
        assert!(
            md.contains(&format!("| {name} |")),
            "md lacks {name}:\n{md}"
        );
    }
    for needle in [
        "<h2>Final metrics</h2>",
        "<h2>Curves</h2>",
        "<h2>Samples</h2>",
        "<h2>Configs</h2>",
        "report/sweep-denoiser-val_loss.png",
        "runs/eps/samples/final/grid.png",
        "runs/v/samples/final/grid.png",
        "diffusion.prediction",
        "failed</span>: stage autoencoder",
    ] {
        assert!(html.contains(needle), "report lacks {needle}");
    }
    assert!(!html.contains("<script"));
    for src in html.split("src=\"").skip(1) {
        let rel = &src[..src.find('"').unwrap()];
        assert!(dir.join(rel).exists(), "report shows a missing {rel}");
    }
    // Metrics of the denoiser differ between the variants; the shared autoencoder's do not.
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |k: &str| {
        header
            .iter()
            .position(|h| *h == k)
            .unwrap_or_else(|| panic!("{k}"))
    };
    let row = |n: &str| -> Vec<String> {
        csv.lines()
            .find(|l| l.starts_with(&format!("{n},")))
            .unwrap()
            .split(',')
            .map(String::from)
            .collect()
    };
    let (re, rv) = (row("eps"), row("v"));
    let (dv, ap) = (col("denoiser.val_loss"), col("autoencoder.val_psnr"));
    assert_ne!(re[dv], rv[dv]);
    assert!(!re[dv].is_empty() && re[ap] == rv[ap] && !re[ap].is_empty());
    assert!(row("broken")[dv].is_empty());
    assert!(md.contains("`denoiser.val_loss`"), "{md}");
    let record = json(&dir.join("sweep.json"));
    assert_eq!(record["variants"][1]["status"], "failed");

    // Again: the finished variants are skipped and nothing of theirs is written.
    let before = (files(&eps), files(&v));
    let again = sweep(&dir, &file, &[]);
    assert_eq!(again.status, 1);
    for line in [
        "variant 1/3 eps: skipped (done)",
        "variant 2/3 broken: running",
        "variant 3/3 v: skipped (done)",
        "sweep s: 0 run, 2 skipped (done before), 1 failed",
    ] {
        assert!(
            again.stdout.contains(line),
            "no '{line}' in\n{}",
            again.stdout
        );
    }
    assert_eq!(
        (files(&eps), files(&v)),
        before,
        "a skipped variant was touched"
    );

    // `ldm report` on the sweep's folder writes the same page.
    let r = ldm(&repo(), &["report", dir.to_str().unwrap()]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stdout.contains("report.html"));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<h1>ldm sweep: s</h1>"));
}
