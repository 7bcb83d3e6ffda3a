//! The `[denoiser]` section: the UNet, its training, and the sample grids made during it.

use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};
use ldm_core::train::{LrConfig, LrShape, OnNan, Precision};

use crate::samplers::SamplingConfig;
use crate::unet::UNetConfig;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DenoiserSection {
    pub model: UNetConfig,
    pub train: DenoiserTrainConfig,
    /// How preview grids (and `ldm sample` by default) are drawn.
    pub sampling: SamplingConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DenoiserTrainConfig {
    pub steps: u64,
    pub batch_size: usize,
    /// Micro-batches whose gradients are summed before each optimizer step.
    pub grad_accum: usize,
    pub lr: LrConfig,
    pub weight_decay: f64,
    /// Global gradient-norm clip (0 = off).
    pub grad_clip: f64,
    /// EMA of the weights, used for validation samples and saved as the final model.
    pub ema_decay: f64,
    /// What the training steps compute in: "f32", "bf16" or "f16" (mixed precision:
    /// convolutions and linear layers in that dtype on f32 weights; norms, attention and the
    /// loss in f32; f16 with dynamic loss scaling). Validation, preview grids and the saved
    /// model use the f32 weights as they are.
    pub precision: Precision,
    pub log_every: u64,
    pub val_every: u64,
    /// Held-out latents in the validation loss (each at every validation timestep).
    pub val_latents: usize,
    /// Timesteps of the validation loss, evenly spread over the schedule.
    pub val_timesteps: usize,
    pub checkpoint_every: u64,
    pub keep_checkpoints: usize,
    /// Preview grid every N steps (0 = only at the end).
    pub sample_every: u64,
    /// Prompts of the preview grids; each row of a grid is one prompt.
    pub prompts: Vec<String>,
    pub samples_per_prompt: usize,
    /// A NaN or infinite loss: "stop" (the last good checkpoint stays) or "skip" the update.
    pub on_nan: OnNan,
    /// With on_nan = "skip": stop anyway after this many skipped steps.
    pub max_nan_skips: u64,
    /// Wall-clock budget in minutes (0 = none): the step during which it runs out is the
    /// last. Counts time before a resume. Not reproducible to the bit, unlike `steps`.
    pub max_minutes: f64,
}

impl Default for DenoiserTrainConfig {
    fn default() -> Self {
        Self {
            steps: 10_000,
            batch_size: 64,
            grad_accum: 1,
            lr: LrConfig {
                lr: 2e-4,
                warmup: 200,
                shape: LrShape::Cosine,
                min_lr: 2e-5,
            },
            weight_decay: 0.0,
            grad_clip: 1.0,
            ema_decay: 0.999,
            precision: Precision::F32,
            log_every: 25,
            val_every: 500,
            val_latents: 256,
            val_timesteps: 10,
            checkpoint_every: 500,
            keep_checkpoints: 3,
            sample_every: 0,
            prompts: Vec::new(),
            samples_per_prompt: 8,
            on_nan: OnNan::Stop,
            max_nan_skips: 10,
            max_minutes: 0.0,
        }
    }
}

impl Validate for DenoiserSection {
    fn validate(&self, c: &mut Checks) {
        c.section("model", |c| self.model.validate(c));
        c.section("sampling", |c| self.sampling.validate(c));
        c.section("train", |c| {
            let t = &self.train;
            c.check("steps", t.steps > 0, || "must be at least 1".into());
            c.check("batch_size", t.batch_size > 0, || {
                "must be at least 1".into()
            });
            c.check("grad_accum", t.grad_accum > 0, || {
                "must be at least 1".into()
            });
            c.section("lr", |c| t.lr.validate(c));
            c.check("ema_decay", (0.0..1.0).contains(&t.ema_decay), || {
                "must be in [0, 1)".into()
            });
            c.check("val_every", t.val_every > 0, || "must be at least 1".into());
            c.check("val_timesteps", t.val_timesteps > 0, || {
                "must be at least 1".into()
            });
            c.check("checkpoint_every", t.checkpoint_every > 0, || {
                "must be at least 1".into()
            });
            c.check("max_minutes", t.max_minutes >= 0.0, || {
                "must be 0 (no limit) or more".into()
            });
            c.check("samples_per_prompt", t.samples_per_prompt > 0, || {
                "must be at least 1".into()
            });
        });
    }
}
