//! Config mistakes give one clear line naming the file, line and key, and a non-zero exit.

mod common;

use common::{ldm, repo, write};

fn show_err(dir: &std::path::Path, file: &str, sets: &[&str]) -> String {
    let mut args = vec!["config", "show", file];
    for s in sets {
        args.extend(["--set", s]);
    }
    let r = ldm(dir, &args);
    assert_ne!(r.status, 0, "expected failure, got stdout {}", r.stdout);
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    r.stderr.trim().to_string()
}

#[test]
fn show_prints_the_resolved_quickstart() {
    let r = ldm(
        &repo(),
        &[
            "config",
            "show",
            "configs/quickstart.toml",
            "--set",
            "seed=5",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("resolved from: configs/quickstart.toml <- configs/base.toml")
    );
    let body: String = r
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let t: toml::Table = body.parse().unwrap();
    assert_eq!(t["name"].as_str(), Some("quickstart"));
    assert_eq!(t["seed"].as_integer(), Some(5));
    assert_eq!(t["data"]["shapes"]["holdout"].as_array().unwrap().len(), 2);
    assert_eq!(t["data"]["resolution"].as_integer(), Some(32));
}

#[test]
fn unknown_key_with_suggestion() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "x.toml",
        "extends = \"base.toml\"\n[data]\nresolutoin = 64\n",
    );
    std::fs::copy(repo().join("configs/base.toml"), d.path().join("base.toml")).unwrap();
    assert_eq!(
        show_err(d.path(), "x.toml", &[]),
        "error: x.toml:3: unknown key 'resolutoin' in [data] (did you mean 'resolution'?)"
    );
}

#[test]
fn wrong_type_and_out_of_range() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "t.toml", "seed = \"zero\"\n");
    assert!(
        show_err(d.path(), "t.toml", &[])
            .starts_with("error: t.toml:1: key 'seed': invalid type: string \"zero\"")
    );
    write(d.path(), "r.toml", "[data]\nchannels = 2\n");
    assert_eq!(
        show_err(d.path(), "r.toml", &[]),
        "error: r.toml:2: data.channels = 2: must be 1 or 3"
    );
    write(
        d.path(),
        "h.toml",
        "[data.shapes]\nholdout = [\"red circle\", \"mauve star\"]\n",
    );
    let e = show_err(d.path(), "h.toml", &[]);
    assert!(
        e.starts_with("error: h.toml:2: data.shapes.holdout.1 = \"mauve star\": "),
        "{e}"
    );
    write(d.path(), "d.toml", "device = \"tpu\"\n");
    assert!(
        show_err(d.path(), "d.toml", &[]).contains("d.toml:1: key 'device': unknown device 'tpu'")
    );
}

#[test]
fn bad_extends_cycle_and_missing_file() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.toml", "extends = \"b.toml\"\n");
    write(d.path(), "b.toml", "extends = \"a.toml\"\n");
    assert!(show_err(d.path(), "a.toml", &[]).contains("`extends` cycle"));
    write(
        d.path(),
        "c.toml",
        "name = \"c\"\nextends = \"gone.toml\"\n",
    );
    assert!(
        show_err(d.path(), "c.toml", &[])
            .contains("c.toml:2: `extends` names a file that does not exist: gone.toml")
    );
    assert_eq!(
        show_err(d.path(), "nothing.toml", &[]),
        "error: nothing.toml: config file not found"
    );
}

#[test]
fn bad_set_paths() {
    let r = repo();
    let cfg = "configs/quickstart.toml";
    assert_eq!(
        show_err(&r, cfg, &["data.resolutoin=64"]),
        "error: --set data.resolutoin=64: unknown key 'resolutoin' in [data] (did you mean 'resolution'?)"
    );
    assert!(show_err(&r, cfg, &["seed.x=1"]).contains("'seed' is a integer, not a table"));
    assert!(
        show_err(&r, cfg, &["data.channels=abc"])
            .contains("key 'data.channels': invalid type: string \"abc\"")
    );
    assert!(show_err(&r, cfg, &["seed"]).contains("expected KEY=VALUE"));
}

#[test]
fn missing_backend_is_named_when_used() {
    // The config itself is valid; only turning it into a device needs the feature.
    let r = ldm(
        &repo(),
        &[
            "config",
            "show",
            "configs/quickstart.toml",
            "--set",
            "device=cuda:1",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stdout.contains("device = \"cuda:1\""));
}
