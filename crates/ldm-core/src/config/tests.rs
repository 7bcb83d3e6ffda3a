use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
struct Cfg {
    name: String,
    seed: u64,
    train: Train,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
struct Train {
    learning_rate: f64,
    steps: u32,
    schedule: Schedule,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Schedule {
    #[default]
    Linear,
    Cosine,
}

impl Default for Train {
    fn default() -> Self {
        Self {
            learning_rate: 1e-4,
            steps: 10,
            schedule: Schedule::Linear,
        }
    }
}

impl Validate for Cfg {
    fn validate(&self, c: &mut Checks) {
        c.section("train", |c| {
            c.check("learning_rate", self.train.learning_rate > 0.0, || {
                "must be > 0".into()
            })
        });
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn err(path: &Path, sets: &[&str]) -> String {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    load::<Cfg>(path, &sets).unwrap_err().to_string()
}

#[test]
fn extends_chains_merge_deeply_and_set_wins() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    write(
        d.path(),
        "base.toml",
        "name = \"base\"\nseed = 1\n[train]\nsteps = 5\n",
    );
    write(
        d.path(),
        "sub/mid.toml",
        "extends = \"../base.toml\"\n[train]\nlearning_rate = 0.5\n",
    );
    let top = write(
        d.path(),
        "top.toml",
        "extends = \"sub/mid.toml\"\nname = \"top\"\n",
    );
    let loaded = load::<Cfg>(&top, &["train.schedule=cosine".into(), "seed=9".into()]).unwrap();
    let want = Train {
        learning_rate: 0.5,
        steps: 5,
        schedule: Schedule::Cosine,
    };
    assert_eq!(
        loaded.value,
        Cfg {
            name: "top".into(),
            seed: 9,
            train: want
        }
    );
    assert_eq!(loaded.files.len(), 3);
    assert_eq!(loaded.files[0], top);
}

#[test]
fn unknown_key_names_file_line_and_suggestion() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "x.toml",
        "name = \"a\"\n\n[train]\nsteps = 3\nlerning_rate = 0.1\n",
    );
    let e = err(&p, &[]);
    assert_eq!(
        e,
        format!(
            "{}:5: unknown key 'lerning_rate' in [train] (did you mean 'learning_rate'?)",
            p.display()
        )
    );
    let p = write(d.path(), "y.toml", "nmae = \"a\"\n");
    assert!(
        err(&p, &[]).ends_with(":1: unknown key 'nmae' at the top level (did you mean 'name'?)")
    );
}

#[test]
fn unknown_key_in_a_base_file_points_at_the_base() {
    let d = tempfile::tempdir().unwrap();
    let base = write(d.path(), "base.toml", "[train]\nstepz = 3\n");
    let top = write(d.path(), "top.toml", "extends = \"base.toml\"\n");
    assert!(err(&top, &[]).starts_with(&format!("{}:2: unknown key 'stepz'", base.display())));
}

#[test]
fn wrong_type_and_bad_variant_name_the_key() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "x.toml", "[train]\nsteps = \"many\"\n");
    let e = err(&p, &[]);
    assert!(
        e.starts_with(&format!(
            "{}:2: key 'train.steps': invalid type: string \"many\"",
            p.display()
        )),
        "{e}"
    );
    let p = write(d.path(), "y.toml", "[train]\nschedule = \"cosin\"\n");
    let e = err(&p, &[]);
    assert!(
        e.contains(":2: unknown value 'cosin' for 'train.schedule' (did you mean 'cosine'?)"),
        "{e}"
    );
}

#[test]
fn out_of_range_value_names_key_and_value() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "x.toml", "[train]\nlearning_rate = -0.001\n");
    assert_eq!(
        err(&p, &[]),
        format!(
            "{}:2: train.learning_rate = -0.001: must be > 0",
            p.display()
        )
    );
}

#[test]
fn syntax_error_has_line_and_column() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "x.toml", "name = \"a\"\nseed = = 3\n");
    let e = err(&p, &[]);
    assert!(
        e.starts_with(&format!("{}:2:", p.display())) && e.contains("TOML syntax error"),
        "{e}"
    );
}

#[test]
fn extends_problems() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "x.toml", "extends = \"nope.toml\"\n");
    let e = err(&p, &[]);
    assert!(
        e.contains("x.toml:1: `extends` names a file that does not exist: nope.toml"),
        "{e}"
    );
    write(d.path(), "a.toml", "extends = \"b.toml\"\n");
    let b = write(d.path(), "b.toml", "extends = \"a.toml\"\n");
    let e = err(&b, &[]);
    assert!(
        e.contains("`extends` cycle") && e.contains("a.toml -> "),
        "{e}"
    );
    assert!(
        err(&d.path().join("missing.toml"), &[]).ends_with("missing.toml: config file not found")
    );
}

#[test]
fn bad_set_overrides() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "x.toml", "seed = 1\n");
    assert!(err(&p, &["train.steps"]).contains("--set train.steps: expected KEY=VALUE"));
    assert!(err(&p, &["seed.x=1"]).contains("'seed' is a integer, not a table"));
    let e = err(&p, &["train.lerning_rate=1"]);
    assert_eq!(
        e,
        "--set train.lerning_rate=1: unknown key 'lerning_rate' in [train] (did you mean 'learning_rate'?)"
    );
    let e = err(&p, &["train.steps=lots"]);
    assert!(
        e.starts_with("--set train.steps=lots: key 'train.steps': invalid type: string \"lots\""),
        "{e}"
    );
    let e = err(&p, &["train.learning_rate=-1"]);
    assert_eq!(
        e,
        "--set train.learning_rate=-1: train.learning_rate = -1: must be > 0"
    );
}

#[test]
fn set_parses_typed_values_and_bare_strings() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "x.toml", "");
    let l = load::<Cfg>(
        &p,
        &["name=plain words".into(), "train.learning_rate=2e-4".into()],
    )
    .unwrap();
    assert_eq!(l.value.name, "plain words");
    assert_eq!(l.value.train.learning_rate, 2e-4);
    let l = load::<Cfg>(&p, &["name=\"quoted\"".into()]).unwrap();
    assert_eq!(l.value.name, "quoted");
}

#[test]
fn closest_only_suggests_near_misses() {
    assert_eq!(
        closest("lerning_rate", ["learning_rate", "steps"]),
        Some("learning_rate")
    );
    assert_eq!(closest("zzz", ["learning_rate", "steps"]), None);
}
