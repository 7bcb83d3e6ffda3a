//! The experiment config: every section the pipeline reads, composed from the config structs
//! that sit beside what they configure.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use ldm_autoencoder::perceptual::PerceptualSection;
use ldm_autoencoder::train::AutoencoderSection;
use ldm_core::config::{self, Checks, Loaded, Validate};
use ldm_core::{DeviceSpec, RunDir};
use ldm_data::DataConfig;
use ldm_diffusion::DiffusionConfig;
use ldm_diffusion::train::DenoiserSection;
use ldm_eval::evaluator::EvaluatorConfig;
use ldm_text::TextConfig;

use crate::commands::eval::EvalSection;
use crate::commands::report::ReportSection;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Experiment {
    /// Run name; the run directory is runs/<name> unless --run-dir says otherwise.
    pub name: String,
    /// Every random choice (data order, splits, augmentation, init, noise) derives from it.
    pub seed: u64,
    /// "cpu", "wgpu", "wgpu:N", "cuda" or "cuda:N".
    pub device: DeviceSpec,
    pub data: DataConfig,
    /// The contrastively trained feature net behind the perceptual loss.
    pub perceptual: PerceptualSection,
    pub autoencoder: AutoencoderSection,
    /// The text encoder and caption dropout.
    pub text: TextConfig,
    /// The noise schedule, prediction target, loss weighting and timestep sampling.
    pub diffusion: DiffusionConfig,
    pub denoiser: DenoiserSection,
    /// The image-text evaluator behind FID, KID, alignment and R-precision.
    pub evaluator: EvaluatorConfig,
    /// What `ldm eval` generates and measures.
    pub eval: EvalSection,
    /// What `ldm run` draws for its report (the sample grid's prompts).
    pub report: ReportSection,
}

impl Default for Experiment {
    fn default() -> Self {
        Self {
            name: "ldm".into(),
            seed: 0,
            device: DeviceSpec::Cpu,
            data: DataConfig::default(),
            perceptual: PerceptualSection::default(),
            autoencoder: AutoencoderSection::default(),
            text: TextConfig::default(),
            diffusion: DiffusionConfig::default(),
            denoiser: DenoiserSection::default(),
            evaluator: EvaluatorConfig::default(),
            eval: EvalSection::default(),
            report: ReportSection::default(),
        }
    }
}

impl Validate for Experiment {
    fn validate(&self, c: &mut Checks) {
        let ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
        c.check("name", ok, || {
            "must be non-empty letters, digits, '-', '_' or '.'".into()
        });
        c.section("data", |c| self.data.validate(c));
        c.section("perceptual", |c| self.perceptual.validate(c));
        c.section("autoencoder", |c| self.autoencoder.validate(c));
        c.section("text", |c| self.text.validate(c));
        c.section("diffusion", |c| self.diffusion.validate(c));
        c.section("denoiser", |c| self.denoiser.validate(c));
        c.section("evaluator", |c| self.evaluator.validate(c));
        c.section("eval", |c| self.eval.validate(c));
        c.section("report", |c| self.report.validate(c));
        let f = self.autoencoder.model.factor() as u32;
        c.check(
            "autoencoder.model.channel_mult",
            self.data.resolution % f == 0,
            || {
                format!(
                    "f = {f} must divide data.resolution = {}",
                    self.data.resolution
                )
            },
        );
    }
}

impl Experiment {
    pub fn load(path: &Path, sets: &[String]) -> anyhow::Result<Loaded<Experiment>> {
        Ok(config::load(path, sets)?)
    }

    /// The burn device named by `device`.
    pub fn device(&self) -> anyhow::Result<burn::tensor::Device> {
        self.device.device().map_err(anyhow::Error::msg)
    }

    /// The resolved config as TOML, as written to `config.toml` in the run directory.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serializes")
    }

    /// Create the run directory, record the resolved config there, and start logging to it.
    pub fn open_run(&self, run_dir: Option<&Path>) -> anyhow::Result<RunDir> {
        let root = run_dir
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new("runs").join(&self.name));
        let run = RunDir::create(root).map_err(anyhow::Error::msg)?;
        run.write_config(&self.to_toml())
            .with_context(|| format!("writing {}", run.config().display()))?;
        ldm_core::logging::init(Some(&run.log()))
            .with_context(|| format!("opening {}", run.log().display()))?;
        Ok(run)
    }
}
