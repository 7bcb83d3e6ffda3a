//! Sampling settings: which sampler, how many steps on which grid, guidance.

use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};

use super::Sampler;
use crate::config::DiffusionConfig;
use crate::sigmas::Spacing;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// "ddpm", "ddim", "euler", "heun" or "dpmpp-2m".
    pub sampler: Sampler,
    /// Sampling steps (Heun evaluates the network up to 2 · steps − 1 times).
    pub steps: usize,
    /// Grid placement: "trailing", "leading", "linspace" or "karras".
    pub spacing: Spacing,
    /// DDIM's stochasticity: 0 deterministic, 1 as much noise as DDPM.
    pub eta: f64,
    /// Classifier-free guidance scale w: 1 conditional only, 0 unconditional.
    pub guidance_scale: f64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            sampler: Sampler::DpmPp2m,
            steps: 25,
            spacing: Spacing::Trailing,
            eta: 0.0,
            guidance_scale: 5.0,
        }
    }
}

impl Validate for SamplingConfig {
    fn validate(&self, c: &mut Checks) {
        c.check("steps", self.steps >= 1, || "must be >= 1".into());
        c.check("eta", (0.0..=1.0).contains(&self.eta), || {
            "must be in [0, 1]".into()
        });
        c.check(
            "guidance_scale",
            self.guidance_scale >= 0.0 && self.guidance_scale.is_finite(),
            || "must be >= 0".into(),
        );
    }
}

impl SamplingConfig {
    /// The check that needs the schedule too (call it from the section holding `steps`):
    /// a grid cannot have more steps than there are training timesteps.
    pub fn validate_for(&self, diffusion: &DiffusionConfig, c: &mut Checks) {
        c.check("steps", self.steps <= diffusion.timesteps, || {
            format!("must be <= diffusion.timesteps ({})", diffusion.timesteps)
        });
    }
}
