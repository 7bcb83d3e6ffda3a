//! A sweep file's expansion into variants: named `[[variant]]`s, crossed with the
//! combinations of the `[[axis]]` values (`mode = "grid"`: every combination, first axis
//! slowest; `"zip"`: the i-th value of every axis together), crossed with `seeds`.
//!
//! Every override remembers where in the sweep file it was written, so that a key or value
//! the experiment config rejects is reported at that line.

use std::collections::{BTreeMap, BTreeSet};

use toml::Value;

use ldm_core::config::Layered;

use super::spec::{Axis, Mode, SweepFile, safe_name};

/// One config override of a variant.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// Dotted config key.
    pub key: String,
    pub value: Value,
    /// Where it was written in the sweep file, as a dotted path (`axis.0.key`).
    pub at: String,
}

impl Override {
    /// `KEY=VALUE` as `--set` takes it.
    pub fn as_set(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

/// One run of the sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Its run directory's name: the `[[variant]]` name, then `key-value` per axis, then
    /// `seed-N`, joined by `_`.
    pub name: String,
    /// The name without the seed: runs of one group differ only in the seed.
    pub group: String,
    pub seed: Option<u64>,
    /// In the order they apply: budget, `set`, the variant's `set`, the axes, the seed.
    pub overrides: Vec<Override>,
}

/// Every variant of the sweep, in order. `layered` is the sweep file as read (its origins
/// place conflicting keys); `extra` are overrides for every variant from the command line,
/// which may not touch a key the variants differ in.
pub fn expand(
    spec: &SweepFile,
    layered: &Layered,
    extra: &[Override],
) -> Result<Vec<Variant>, String> {
    let at = |path: &str| {
        layered
            .origin_of(path)
            .map(|o| format!("{o}: "))
            .unwrap_or_default()
    };
    let mut common: Vec<Override> = spec
        .budget
        .overrides()
        .into_iter()
        .map(|(field, key, value)| Override {
            key: key.into(),
            value,
            at: format!("budget.{field}"),
        })
        .collect();
    common.extend(flatten(&spec.set, "", "set"));
    common.extend(extra.iter().cloned());

    // The named variants, or one unnamed one.
    let named: Vec<(Option<&str>, Vec<Override>)> = if spec.variant.is_empty() {
        vec![(None, Vec::new())]
    } else {
        spec.variant
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    Some(v.name.as_str()),
                    flatten(&v.set, "", &format!("variant.{i}.set")),
                )
            })
            .collect()
    };

    // The axes' combinations: indices into each axis's values.
    let combos: Vec<Vec<usize>> = if spec.axis.is_empty() {
        vec![vec![]]
    } else {
        match spec.mode {
            Mode::Zip => (0..spec.axis[0].values.len())
                .map(|j| vec![j; spec.axis.len()])
                .collect(),
            Mode::Grid => {
                let mut out = vec![vec![]];
                for a in &spec.axis {
                    out = out
                        .into_iter()
                        .flat_map(|c: Vec<usize>| {
                            (0..a.values.len()).map(move |j| {
                                let mut c = c.clone();
                                c.push(j);
                                c
                            })
                        })
                        .collect();
                }
                out
            }
        }
    };
    let prefixes = axis_prefixes(&spec.axis);
    let seeds: Vec<Option<u64>> = if spec.seeds.is_empty() {
        vec![None]
    } else {
        spec.seeds.iter().map(|s| Some(*s)).collect()
    };

    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for (vname, vsets) in &named {
        for combo in &combos {
            let mut parts: Vec<String> = vname.iter().map(|s| s.to_string()).collect();
            let mut specific: Vec<Override> = vsets.clone();
            for (i, &j) in combo.iter().enumerate() {
                let a = &spec.axis[i];
                let label = a
                    .labels
                    .get(j)
                    .cloned()
                    .unwrap_or_else(|| value_label(&a.values[j]));
                parts.push(format!("{}-{label}", prefixes[i]));
                specific.push(Override {
                    key: a.key.trim().to_string(),
                    value: a.values[j].clone(),
                    at: format!("axis.{i}.key"),
                });
            }
            let group = if parts.is_empty() {
                "base".to_string()
            } else {
                parts.join("_")
            };
            for seed in &seeds {
                let mut specific = specific.clone();
                if let Some(s) = seed {
                    specific.push(Override {
                        key: "seed".into(),
                        value: Value::Integer(*s as i64),
                        at: "seeds".into(),
                    });
                }
                // One key set twice for one variant (not counting the defaults of `budget`
                // and `set`) is a mistake in the sweep file.
                let mut by_key: BTreeMap<&str, &Override> = BTreeMap::new();
                for o in extra.iter().chain(&specific) {
                    if let Some(prev) = by_key.insert(&o.key, o) {
                        return Err(format!(
                            "{}'{}' is set twice for one variant (also at {}): drop one",
                            at(&o.at),
                            o.key,
                            at(&prev.at).trim_end_matches(": ")
                        ));
                    }
                }
                let name = match seed {
                    Some(s) if parts.is_empty() => format!("seed-{s}"),
                    Some(s) => format!("{group}_seed-{s}"),
                    None => group.clone(),
                };
                if !safe_name(&name) {
                    return Err(format!(
                        "variant name '{name}' is too long for a folder; give the axes a \
                         shorter `name` or `labels`"
                    ));
                }
                if !names.insert(name.clone()) {
                    return Err(format!(
                        "two variants would both be named '{name}'; give the axes `labels` \
                         that tell their values apart"
                    ));
                }
                // Later overrides win; keep each key once, at its last place.
                let mut all: Vec<Override> = common.iter().chain(&specific).cloned().collect();
                let mut kept = BTreeSet::new();
                all.reverse();
                all.retain(|o| kept.insert(o.key.clone()));
                all.reverse();
                out.push(Variant {
                    name,
                    group: group.clone(),
                    seed: *seed,
                    overrides: all,
                });
            }
        }
    }
    Ok(out)
}

/// The leaves of a `set` table as dotted keys: `{ "a.b" = 1 }` and `{ a = { b = 1 } }` both
/// give `a.b`. `at` is the table's dotted path in the sweep file.
fn flatten(t: &toml::Table, prefix: &str, at: &str) -> Vec<Override> {
    let mut out = Vec::new();
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.trim().to_string()
        } else {
            format!("{prefix}.{}", k.trim())
        };
        let here = format!("{at}.{k}");
        match v {
            Value::Table(sub) if !sub.is_empty() => out.extend(flatten(sub, &key, &here)),
            _ => out.push(Override {
                key,
                value: v.clone(),
                at: here,
            }),
        }
    }
    out
}

/// Each axis's part of variant names: its `name`, or the shortest ending of its key (whole
/// dotted segments) that no other axis's key shares.
fn axis_prefixes(axes: &[Axis]) -> Vec<String> {
    let keys: Vec<Vec<&str>> = axes
        .iter()
        .map(|a| a.key.trim().split('.').collect())
        .collect();
    axes.iter()
        .enumerate()
        .map(|(i, a)| {
            if let Some(n) = &a.name {
                return n.clone();
            }
            let k = &keys[i];
            for len in 1..=k.len() {
                let tail = &k[k.len() - len..];
                let shared = keys
                    .iter()
                    .enumerate()
                    .any(|(o, other)| o != i && other.ends_with(tail));
                if !shared {
                    return sanitize(&tail.join("."));
                }
            }
            sanitize(&k.join("."))
        })
        .collect()
}

/// A value as part of a folder name: strings as written, numbers in their shortest form,
/// lists joined by `-`; anything but letters, digits, `.` and `-` becomes `-`.
pub fn value_label(v: &Value) -> String {
    let raw = match v {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => format!("{f}"),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.to_string(),
        Value::Array(a) => a.iter().map(value_label).collect::<Vec<_>>().join("-"),
        Value::Table(t) => t
            .iter()
            .map(|(k, v)| format!("{k}-{}", value_label(v)))
            .collect::<Vec<_>>()
            .join("-"),
    };
    let s = sanitize(&raw);
    if s.is_empty() { "empty".into() } else { s }
}

fn sanitize(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_start_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Variant>, String> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sweep.toml");
        std::fs::write(&p, text).unwrap();
        let layered = ldm_core::config::load_layered(&p).map_err(|e| e.to_string())?;
        let spec: SweepFile = ldm_core::config::parse_table(&layered).map_err(|e| e.to_string())?;
        expand(&spec, &layered, &[])
    }

    fn names(v: &[Variant]) -> Vec<&str> {
        v.iter().map(|v| v.name.as_str()).collect()
    }

    fn sets(v: &Variant) -> Vec<String> {
        v.overrides.iter().map(Override::as_set).collect()
    }

    const GRID: &str = r#"
base = "../quickstart.toml"
mode = "grid"
[[axis]]
key = "diffusion.prediction"
values = ["eps", "v"]
[[axis]]
key = "diffusion.schedule"
values = ["linear", "cosine"]
"#;

    #[test]
    fn grid_crosses_axes_first_slowest_with_stable_names() {
        let v = parse(GRID).unwrap();
        assert_eq!(
            names(&v),
            [
                "prediction-eps_schedule-linear",
                "prediction-eps_schedule-cosine",
                "prediction-v_schedule-linear",
                "prediction-v_schedule-cosine",
            ]
        );
        assert_eq!(
            sets(&v[3]),
            [
                "diffusion.prediction=\"v\"",
                "diffusion.schedule=\"cosine\""
            ]
        );
        assert_eq!(v[3].group, v[3].name);
        assert_eq!(v[3].seed, None);
        // The same file expands the same way every time.
        assert_eq!(parse(GRID).unwrap(), v);
    }

    #[test]
    fn zip_pairs_values_and_needs_equal_lengths() {
        let zip = GRID.replace("\"grid\"", "\"zip\"");
        let v = parse(&zip).unwrap();
        assert_eq!(
            names(&v),
            [
                "prediction-eps_schedule-linear",
                "prediction-v_schedule-cosine"
            ]
        );
        let bad = zip.replace("[\"linear\", \"cosine\"]", "[\"linear\"]");
        let e = parse(&bad).unwrap_err();
        assert!(e.contains("sweep.toml:9: axis.1.values"), "{e}");
        assert!(e.contains("as many values as the first (2)"), "{e}");
    }

    #[test]
    fn variants_budget_and_seeds() {
        let v = parse(
            r#"
base = "b.toml"
seeds = [0, 1]
set = { "text.p_uncond" = 0.1 }
[budget]
denoiser_steps = 300
denoiser_minutes = 2.5
[[variant]]
name = "baseline"
[[variant]]
name = "no-gan"
set = { autoencoder.loss.disc_weight = 0.0, "denoiser.train.steps" = 100 }
"#,
        )
        .unwrap();
        assert_eq!(
            names(&v),
            [
                "baseline_seed-0",
                "baseline_seed-1",
                "no-gan_seed-0",
                "no-gan_seed-1"
            ]
        );
        assert_eq!(v[1].group, "baseline");
        assert_eq!(v[1].seed, Some(1));
        assert_eq!(
            sets(&v[0]),
            [
                "denoiser.train.steps=300",
                "denoiser.train.max_minutes=2.5",
                "text.p_uncond=0.1",
                "seed=0"
            ]
        );
        // A variant's own key wins over the budget, in its place.
        assert_eq!(
            sets(&v[3]),
            [
                "denoiser.train.max_minutes=2.5",
                "text.p_uncond=0.1",
                "autoencoder.loss.disc_weight=0.0",
                "denoiser.train.steps=100",
                "seed=1"
            ]
        );
        assert_eq!(
            v[3].overrides[2].at,
            "variant.1.set.autoencoder.loss.disc_weight"
        );
        assert_eq!(v[3].overrides[3].at, "variant.1.set.denoiser.train.steps");
        assert_eq!(v[3].overrides[0].at, "budget.denoiser_minutes");
        // Seeds alone sweep the base.
        let s = parse("base = \"b.toml\"\nseeds = [3]\n").unwrap();
        assert_eq!(names(&s), ["seed-3"]);
        assert_eq!(s[0].group, "base");
    }

    #[test]
    fn variants_cross_axes_and_names_stay_apart() {
        let v = parse(
            r#"
base = "b.toml"
[[variant]]
name = "ztsnr"
set = { "diffusion.zero_terminal_snr" = true, "diffusion.prediction" = "v" }
[[axis]]
key = "autoencoder.train.steps"
values = [100, 200]
[[axis]]
key = "denoiser.train.steps"
values = [1.5e-3, 2]
[[axis]]
key = "autoencoder.model.channel_mult"
name = "f"
values = [[1, 2, 2], [1, 2, 2, 2]]
labels = ["4", "8"]
"#,
        )
        .unwrap();
        assert_eq!(v.len(), 8);
        assert_eq!(
            v[0].name,
            "ztsnr_autoencoder.train.steps-100_denoiser.train.steps-0.0015_f-4"
        );
        assert_eq!(
            v[7].name,
            "ztsnr_autoencoder.train.steps-200_denoiser.train.steps-2_f-8"
        );
        assert_eq!(value_label(&Value::from("a b/c")), "a-b-c");
        assert_eq!(value_label(&Value::Float(1.0)), "1");
        assert_eq!(value_label(&Value::Boolean(true)), "true");
    }

    #[test]
    fn mistakes_are_placed_in_the_sweep_file() {
        let e = parse("base = \"b.toml\"\nmdoe = \"zip\"\n").unwrap_err();
        assert!(
            e.contains("sweep.toml:2: unknown key 'mdoe' at the top level (did you mean 'mode'?)"),
            "{e}"
        );
        let e =
            parse("base = \"b.toml\"\nmode = \"cross\"\n[[axis]]\nkey = \"seed\"\nvalues = [1]\n")
                .unwrap_err();
        assert!(e.contains("sweep.toml:2: unknown value 'cross'"), "{e}");
        let e = parse("base = \"b.toml\"\n[budget]\nminutes = 3\n").unwrap_err();
        assert!(
            e.contains("sweep.toml:3: unknown key 'minutes' in [budget]"),
            "{e}"
        );
        let e = parse("base = \"b.toml\"\n").unwrap_err();
        assert!(e.contains("nothing to sweep"), "{e}");
        let e = parse("base = \"b.toml\"\n[[variant]]\nname = \"a\"\n[[variant]]\nname = \"a\"\n")
            .unwrap_err();
        assert!(e.contains("sweep.toml:5: variant.1.name"), "{e}");
        let e = parse("base = \"b.toml\"\n[[variant]]\nname = \"../x\"\n").unwrap_err();
        assert!(e.contains("sweep.toml:3: variant.0.name"), "{e}");
        // An axis and a variant setting the same key.
        let e = parse(
            "base = \"b.toml\"\n[[variant]]\nname = \"a\"\nset = { \"diffusion.prediction\" = \"v\" }\n\
             [[axis]]\nkey = \"diffusion.prediction\"\nvalues = [\"eps\"]\n",
        )
        .unwrap_err();
        assert!(
            e.contains(
                "sweep.toml:6: 'diffusion.prediction' is set twice for one variant (also at "
            ) && e.contains("sweep.toml:4)"),
            "{e}"
        );
        // Labels that do not tell values apart.
        let e = parse(
            "base = \"b.toml\"\n[[axis]]\nkey = \"text.encoder\"\nvalues = [\"a b\", \"a-b\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("both be named 'encoder-a-b'"), "{e}");
    }
}
