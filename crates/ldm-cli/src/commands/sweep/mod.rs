//! `ldm sweep SWEEP.toml`: run the variants of a sweep file one after another, each as an
//! `ldm run` of the base config with its overrides in `<sweep>/runs/<variant>/`, all sharing
//! one cache of finished stages (`<sweep>/shared/`, or `--share DIR`), then write the
//! comparison report (`report.html`, `summary.csv`, `summary.md`).
//!
//! Every variant's config is resolved and checked before anything runs, so a bad key stops
//! the sweep with its line in the sweep file. A variant whose run directory already holds
//! every stage finished from its config is skipped, so an interrupted sweep is continued by
//! running it again. A variant that fails is reported and the sweep goes on with the next;
//! the sweep then fails at the end with a summary.

pub mod expand;
pub mod spec;

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use ldm_core::config::{self, Layered, Origin};

use crate::cli::SweepCommand;
use crate::experiment::Experiment;
use expand::{Override, Variant};
use spec::SweepFile;

/// The sweep's record in its folder: the variants, their overrides and how they went.
pub const RECORD_FILE: &str = "sweep.json";
/// The resolved base config, which the report compares each variant's config with.
pub const BASE_CONFIG_FILE: &str = "base-config.toml";
/// A copy of the sweep file as it was run.
pub const SWEEP_FILE: &str = "sweep.toml";
/// The variants' run directories, relative to the sweep's folder.
pub const RUNS_DIR: &str = "runs";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepRecord {
    pub name: String,
    /// The sweep file and the base config, as given.
    pub sweep_file: String,
    pub base: String,
    pub share: String,
    pub variants: Vec<VariantRecord>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariantStatus {
    /// Not finished (not run yet, or interrupted).
    Pending,
    Done,
    Failed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VariantRecord {
    pub name: String,
    /// The variant without its seed; runs of a group are averaged in the report.
    pub group: String,
    pub seed: Option<u64>,
    /// `KEY=VALUE` as given to `ldm run --set`.
    pub overrides: Vec<String>,
    /// Relative to the sweep's folder.
    pub run_dir: String,
    pub status: VariantStatus,
    /// Finished by an earlier `ldm sweep`, so not run this time.
    #[serde(default)]
    pub skipped: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

impl SweepRecord {
    pub fn read(dir: &Path) -> anyhow::Result<SweepRecord> {
        let p = dir.join(RECORD_FILE);
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", p.display()))
    }

    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let p = dir.join(RECORD_FILE);
        let json = serde_json::to_string_pretty(self).expect("record serializes");
        ldm_core::atomic::write(&p, json.as_bytes())
            .with_context(|| format!("writing {}", p.display()))
    }
}

/// A variant ready to run: its resolved config and its `--set` arguments.
struct Planned {
    variant: Variant,
    exp: Experiment,
    sets: Vec<String>,
}

pub fn run(cmd: &SweepCommand) -> anyhow::Result<()> {
    let _ = ldm_core::logging::init(None);
    let mut layered = config::load_layered(&cmd.sweep)?;
    let spec: SweepFile = config::parse_table(&layered)?;
    // `--set`s, placed by their own text.
    let mut extra = Vec::new();
    for (i, arg) in cmd.sets.iter().enumerate() {
        let (key, raw) = arg
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| anyhow::anyhow!("--set {arg}: expected KEY=VALUE"))?;
        let at = format!("--set.{i}");
        layered.origins.insert(at.clone(), Origin::Set(arg.clone()));
        extra.push(Override {
            key: key.trim().to_string(),
            value: parse_value(raw.trim()),
            at,
        });
    }
    let variants = expand::expand(&spec, &layered, &extra).map_err(anyhow::Error::msg)?;

    let base = cmd
        .sweep
        .parent()
        .unwrap_or(Path::new("."))
        .join(&spec.base);
    if !base.is_file() {
        let at = layered
            .origin_of("base")
            .map(|o| format!("{o}: "))
            .unwrap_or_default();
        anyhow::bail!(
            "{at}base names a config that does not exist: {} (resolved to {})",
            spec.base,
            base.display()
        );
    }
    let base_layered = config::load_layered(&base)?;
    let base_exp: Experiment = config::parse_table(&base_layered)?;

    // Every variant's config, checked before anything runs.
    let mut planned = Vec::new();
    for v in variants {
        let mut overrides = vec![Override {
            key: "name".into(),
            value: toml::Value::String(v.name.clone()),
            at: String::new(),
        }];
        overrides.extend(v.overrides.iter().cloned());
        let exp = resolve(&base_layered, &layered, &overrides).map_err(|e| {
            // A check that fails in the base's lines is still due to the variant's keys.
            let file = cmd.sweep.display().to_string();
            let mut why = e.to_string();
            if !why.starts_with(&file) {
                let sets: Vec<String> = v
                    .overrides
                    .iter()
                    .map(|o| format!("{} at {}", o.as_set(), origin(&layered, &o.at)))
                    .map(|s| s.trim_end_matches(": ").to_string())
                    .collect();
                why = format!("{why} (variant {}: {})", v.name, sets.join(", "));
                return anyhow::Error::msg(why);
            }
            anyhow::anyhow!("{why} (variant {})", v.name)
        })?;
        let sets: Vec<String> = overrides.iter().map(Override::as_set).collect();
        let loaded = Experiment::load(&base, &sets)
            .with_context(|| format!("variant {}", v.name))?
            .value;
        anyhow::ensure!(
            loaded == exp,
            "variant {}: its overrides do not give the same config as `--set`s",
            v.name
        );
        planned.push(Planned {
            variant: v,
            exp,
            sets,
        });
    }

    let name = spec.name.clone().unwrap_or_else(|| {
        cmd.sweep
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sweep".into())
    });
    let dir = cmd
        .dir
        .clone()
        .unwrap_or_else(|| Path::new("runs").join("sweeps").join(&name));
    let share = cmd.share.clone().unwrap_or_else(|| dir.join("shared"));
    let n = planned.len();

    if cmd.dry_run {
        println!(
            "sweep {name}: {n} variant{} of {} into {}",
            if n == 1 { "" } else { "s" },
            base.display(),
            dir.display()
        );
        for p in &planned {
            let sets: Vec<String> = p.variant.overrides.iter().map(Override::as_set).collect();
            println!("  {}: {}", p.variant.name, sets.join(" "));
        }
        return Ok(());
    }

    std::fs::create_dir_all(dir.join(RUNS_DIR))
        .with_context(|| format!("creating {}", dir.display()))?;
    let copy = |to: &str, bytes: &[u8]| {
        let p = dir.join(to);
        ldm_core::atomic::write(&p, bytes).with_context(|| format!("writing {}", p.display()))
    };
    copy(SWEEP_FILE, &std::fs::read(&cmd.sweep)?)?;
    copy(BASE_CONFIG_FILE, base_exp.to_toml().as_bytes())?;

    let mut record = SweepRecord {
        name: name.clone(),
        sweep_file: cmd.sweep.display().to_string(),
        base: base.display().to_string(),
        share: share.display().to_string(),
        variants: planned
            .iter()
            .map(|p| VariantRecord {
                name: p.variant.name.clone(),
                group: p.variant.group.clone(),
                seed: p.variant.seed,
                overrides: p.variant.overrides.iter().map(Override::as_set).collect(),
                run_dir: format!("{RUNS_DIR}/{}", p.variant.name),
                status: VariantStatus::Pending,
                skipped: false,
                error: None,
                seconds: None,
            })
            .collect(),
    };
    // What an earlier sweep left: the report can show finished variants at once.
    for (p, r) in planned.iter().zip(&mut record.variants) {
        if crate::commands::run::finished(&p.exp, &dir.join(&r.run_dir)) {
            r.status = VariantStatus::Done;
        }
    }
    record.write(&dir)?;

    println!(
        "sweep {name}: {n} variant{} of {} in {} (stages shared through {})",
        if n == 1 { "" } else { "s" },
        base.display(),
        dir.display(),
        share.display()
    );
    let exe = std::env::current_exe().context("finding the ldm binary")?;
    let mut interrupted = None;
    for (i, p) in planned.iter().enumerate() {
        let r = &mut record.variants[i];
        let label = format!("variant {}/{n} {}", i + 1, r.name);
        let run_dir = dir.join(&r.run_dir);
        if r.status == VariantStatus::Done {
            r.skipped = true;
            println!("{label}: skipped (done)");
            continue;
        }
        println!("{label}: running");
        let started = Instant::now();
        let outcome = run_variant(&exe, &base, &p.sets, &run_dir, &share);
        r.seconds = Some(started.elapsed().as_secs_f64());
        match outcome {
            Ok(()) => {
                r.status = VariantStatus::Done;
                println!("{label}: done ({:.0} s)", started.elapsed().as_secs_f64());
            }
            Err(Failure::Interrupted) => {
                interrupted = Some(r.name.clone());
                break;
            }
            Err(Failure::Error(e)) => {
                println!("{label}: failed ({e})");
                r.status = VariantStatus::Failed;
                r.error = Some(e);
            }
        }
        let name = r.name.clone();
        record.write(&dir)?;
        if ldm_core::stop::check(0).is_some() {
            interrupted = Some(name);
            break;
        }
    }
    record.write(&dir)?;

    let report = super::report::compare::write(&dir);
    if let Some(v) = interrupted {
        anyhow::bail!(
            "sweep interrupted in variant {v}; run the same `ldm sweep` again to continue"
        );
    }
    let report = report?;
    let failed: Vec<&VariantRecord> = record
        .variants
        .iter()
        .filter(|v| v.status == VariantStatus::Failed)
        .collect();
    let skipped = record.variants.iter().filter(|v| v.skipped).count();
    println!(
        "sweep {name}: {} run, {skipped} skipped (done before), {} failed",
        n - skipped - failed.len(),
        failed.len()
    );
    println!("report: {}", report.display());
    if !failed.is_empty() {
        let list: Vec<String> = failed
            .iter()
            .map(|v| format!("{} ({})", v.name, v.error.as_deref().unwrap_or("failed")))
            .collect();
        anyhow::bail!(
            "{} of {n} variants failed: {}",
            failed.len(),
            list.join("; ")
        );
    }
    Ok(())
}

/// The base config with `overrides` merged in, each placed at its line in the sweep file,
/// deserialized and checked as `ldm run` would.
fn resolve(
    base: &Layered,
    sweep: &Layered,
    overrides: &[Override],
) -> Result<Experiment, config::ConfigError> {
    let mut l = base.clone();
    for o in overrides {
        let parts: Vec<&str> = o.key.split('.').collect();
        let mut over = toml::Table::new();
        let mut value = o.value.clone();
        for part in parts[1..].iter().rev() {
            let mut t = toml::Table::new();
            t.insert(part.to_string(), value);
            value = toml::Value::Table(t);
        }
        over.insert(parts[0].to_string(), value);
        // A key the base holds as a plain value cannot take a nested key.
        for depth in 1..parts.len() {
            let prefix = parts[..depth].join(".");
            if let Some(v) = config::lookup(&l.table, &prefix)
                && !v.is_table()
            {
                let at = origin(sweep, &o.at);
                return Err(config::ConfigError::new(format!(
                    "{at}'{prefix}' is a {}, not a table, so it has no key '{}'",
                    v.type_str(),
                    parts[depth]
                )));
            }
        }
        config::deep_merge(&mut l.table, over);
        if let Some(from) = sweep.origins.get(&o.at).cloned() {
            l.origins.insert(o.key.clone(), from.clone());
            // Tables the override creates are placed there too.
            for depth in 1..parts.len() {
                l.origins
                    .entry(parts[..depth].join("."))
                    .or_insert(from.clone());
            }
        }
    }
    config::parse_table(&l)
}

/// A `--set` value: TOML (`128`, `2e-4`, `true`, `"text"`, `[1, 2]`), else a bare string.
fn parse_value(raw: &str) -> toml::Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").expect("parsed table holds v"),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn origin(layered: &Layered, path: &str) -> String {
    layered
        .origin_of(path)
        .map(|o: &Origin| format!("{o}: "))
        .unwrap_or_default()
}

enum Failure {
    /// Stopped by Ctrl-C / SIGTERM after its checkpoint.
    Interrupted,
    Error(String),
}

/// `ldm run BASE --set ... --run-dir DIR --share SHARE` in a child process, its output
/// passed through; the error it ended with, in one line.
fn run_variant(
    exe: &Path,
    base: &Path,
    sets: &[String],
    run_dir: &Path,
    share: &Path,
) -> Result<(), Failure> {
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .arg(base)
        .arg("--run-dir")
        .arg(run_dir)
        .arg("--share")
        .arg(share);
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure::Error(format!("starting {}: {e}", exe.display())))?;
    let mut error = None;
    let mut panic = None;
    if let Some(err) = child.stderr.take() {
        let mut reader = BufReader::new(err);
        let mut buf = Vec::new();
        let stderr = std::io::stderr();
        while let Ok(n) = reader.read_until(b'\n', &mut buf) {
            if n == 0 {
                break;
            }
            let _ = stderr.lock().write_all(&buf);
            let line = String::from_utf8_lossy(&buf).trim_end().to_string();
            if let Some(e) = line.strip_prefix("error: ") {
                error.get_or_insert_with(|| e.to_string());
            } else if line.contains("panicked at") {
                panic.get_or_insert(line);
            }
            buf.clear();
        }
    }
    let status = child
        .wait()
        .map_err(|e| Failure::Error(format!("waiting for ldm run: {e}")))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(130) => Err(Failure::Interrupted),
        code => Err(Failure::Error(error.or(panic).unwrap_or_else(
            || match code {
                Some(c) => format!("ldm run exited with status {c}"),
                None => "ldm run was killed by a signal".into(),
            },
        ))),
    }
}
