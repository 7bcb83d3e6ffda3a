//! The sweep file: named `[[variant]]`s, `[[axis]]` values (`mode = "grid"` or `"zip"`),
//! `seeds`, a step budget, and the checks that place a mistake in it. `expand.rs` turns it
//! into the variants to run.

use std::collections::BTreeSet;

use serde::Deserialize;
use toml::Value;

use ldm_core::config::{Checks, Validate};

/// `ldm sweep SWEEP.toml`: what to run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// The experiment config every variant starts from, relative to the sweep file.
    pub base: String,
    /// The sweep's folder is runs/sweeps/<name> (default: the sweep file's name).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    /// Each variant is run once per seed (the `seed` key); empty: the base's seed, once.
    #[serde(default)]
    pub seeds: Vec<u64>,
    /// Overrides for every variant (dotted keys, or nested tables).
    #[serde(default)]
    pub set: toml::Table,
    #[serde(default)]
    pub budget: Budget,
    #[serde(default)]
    pub axis: Vec<Axis>,
    #[serde(default)]
    pub variant: Vec<VariantSpec>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every combination of the axes' values.
    #[default]
    Grid,
    /// The axes' values taken side by side (all axes as long as each other).
    Zip,
}

/// Training budget per variant: overrides of the stages' `steps` keys and of their
/// wall-clock limits (`max_minutes`). With both, a stage ends at whichever comes first.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub perceptual_steps: Option<u64>,
    pub autoencoder_steps: Option<u64>,
    pub denoiser_steps: Option<u64>,
    pub autoencoder_minutes: Option<f64>,
    pub denoiser_minutes: Option<f64>,
}

impl Budget {
    /// (field, config key, value) of each budget given.
    pub(super) fn overrides(&self) -> Vec<(&'static str, &'static str, Value)> {
        let steps = |v: Option<u64>| v.map(|v| Value::Integer(v as i64));
        let minutes = |v: Option<f64>| v.map(Value::Float);
        [
            (
                "perceptual_steps",
                "perceptual.steps",
                steps(self.perceptual_steps),
            ),
            (
                "autoencoder_steps",
                "autoencoder.train.steps",
                steps(self.autoencoder_steps),
            ),
            (
                "denoiser_steps",
                "denoiser.train.steps",
                steps(self.denoiser_steps),
            ),
            (
                "autoencoder_minutes",
                "autoencoder.train.max_minutes",
                minutes(self.autoencoder_minutes),
            ),
            (
                "denoiser_minutes",
                "denoiser.train.max_minutes",
                minutes(self.denoiser_minutes),
            ),
        ]
        .into_iter()
        .filter_map(|(f, k, v)| v.map(|v| (f, k, v)))
        .collect()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// A dotted config key.
    pub key: String,
    pub values: Vec<Value>,
    /// The key's part of variant names (default: the shortest ending of the key that tells
    /// the axes apart, e.g. `prediction`).
    #[serde(default)]
    pub name: Option<String>,
    /// Each value's part of variant names (default: the value itself).
    #[serde(default)]
    pub labels: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    pub name: String,
    #[serde(default)]
    pub set: toml::Table,
}

impl Validate for SweepFile {
    fn validate(&self, c: &mut Checks) {
        c.check("base", !self.base.trim().is_empty(), || {
            "must name the experiment config every variant starts from".into()
        });
        if let Some(n) = &self.name {
            c.check("name", safe_name(n), || NAME_RULE.into());
        }
        c.check(
            "axis",
            !self.axis.is_empty() || !self.variant.is_empty() || !self.seeds.is_empty(),
            || "nothing to sweep: add [[axis]], [[variant]] or seeds".into(),
        );
        let mut seen = BTreeSet::new();
        for (i, s) in self.seeds.iter().enumerate() {
            c.check(&format!("seeds.{i}"), seen.insert(*s), || {
                format!("seed {s} is listed twice")
            });
        }
        let mut keys = BTreeSet::new();
        for (i, a) in self.axis.iter().enumerate() {
            c.section(&format!("axis.{i}"), |c| {
                c.check("key", is_dotted_key(&a.key), || {
                    "must be a dotted config key, e.g. diffusion.prediction".into()
                });
                c.check("key", keys.insert(a.key.clone()), || {
                    format!("'{}' has two axes", a.key)
                });
                c.check("values", !a.values.is_empty(), || {
                    "must list at least one value".into()
                });
                c.check(
                    "labels",
                    a.labels.is_empty() || a.labels.len() == a.values.len(),
                    || {
                        format!(
                            "has {} labels for {} values",
                            a.labels.len(),
                            a.values.len()
                        )
                    },
                );
                for (j, l) in a.labels.iter().enumerate() {
                    c.check(&format!("labels.{j}"), safe_name(l), || NAME_RULE.into());
                }
                if let Some(n) = &a.name {
                    c.check("name", safe_name(n), || NAME_RULE.into());
                }
            });
            if self.mode == Mode::Zip {
                let first = self.axis[0].values.len();
                c.check(&format!("axis.{i}.values"), a.values.len() == first, || {
                    format!(
                        "mode = \"zip\" takes the axes' values side by side, so every axis \
                         needs as many values as the first ({first}), not {}",
                        a.values.len()
                    )
                });
            }
        }
        let mut names = BTreeSet::new();
        for (i, v) in self.variant.iter().enumerate() {
            c.check(&format!("variant.{i}.name"), safe_name(&v.name), || {
                NAME_RULE.into()
            });
            c.check(&format!("variant.{i}.name"), names.insert(&v.name), || {
                format!("two variants are named '{}'", v.name)
            });
        }
    }
}

const NAME_RULE: &str = "must be non-empty letters, digits, '-', '_' or '.', not starting with '.'";

/// A name that is safe as a folder name everywhere.
pub fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.len() <= 200
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn is_dotted_key(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|p| !p.trim().is_empty())
}
