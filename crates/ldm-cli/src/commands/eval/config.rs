//! The `[eval]` section: what `ldm eval` generates and how it scores it.

use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};
use ldm_diffusion::Sampler;
use ldm_eval::KidConfig;
use ldm_text::DEFAULT_MINILM_DIR;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalSection {
    /// Images generated at each guidance scale, one per prompt; the prompts are the captions
    /// of the first `samples` validation images (cycled when the split is smaller), and
    /// those images are the reference set of FID and KID.
    pub samples: usize,
    /// Guidance scales of the sweep.
    pub guidance: Vec<f64>,
    /// The scale whose numbers are the headline ones (added to the sweep if missing);
    /// default: denoiser.sampling.guidance_scale.
    pub guidance_scale: Option<f64>,
    /// Default: denoiser.sampling.sampler and .steps.
    pub sampler: Option<Sampler>,
    pub steps: Option<usize>,
    /// Images per batch when generating and computing features.
    pub batch_size: usize,
    /// Distractor captions each image's prompt must beat for R-precision.
    pub distractors: usize,
    /// Validation images reconstructed by the autoencoder (PSNR, SSIM, perceptual, rFID).
    pub recon_images: usize,
    /// Generated images per grid (`samples/eval-g<scale>.png`), 8 per row.
    pub grid_images: usize,
    /// KID's random subsets.
    pub kid: KidConfig,
    /// The frozen MiniLM the evaluator embeds captions with (a Hugging Face BERT folder).
    pub minilm: String,
    /// Tokens per caption for MiniLM, special tokens included.
    pub max_len: usize,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            samples: 512,
            guidance: vec![1.0, 2.0, 4.0, 7.0],
            guidance_scale: None,
            sampler: None,
            steps: None,
            batch_size: 64,
            distractors: 99,
            recon_images: 512,
            grid_images: 64,
            kid: KidConfig {
                subsets: 100,
                subset_size: 100,
                seed: 0,
            },
            minilm: DEFAULT_MINILM_DIR.into(),
            max_len: 32,
        }
    }
}

impl Validate for EvalSection {
    fn validate(&self, c: &mut Checks) {
        c.check("samples", self.samples >= 2, || "must be at least 2".into());
        c.check("guidance", !self.guidance.is_empty(), || {
            "needs at least one guidance scale".into()
        });
        c.check(
            "guidance",
            self.guidance.iter().all(|g| g.is_finite() && *g >= 0.0),
            || "guidance scales must be finite and >= 0".into(),
        );
        c.check(
            "guidance_scale",
            self.guidance_scale
                .is_none_or(|g| g.is_finite() && g >= 0.0),
            || "must be finite and >= 0".into(),
        );
        c.check("steps", self.steps.is_none_or(|s| s >= 1), || {
            "must be >= 1".into()
        });
        c.check("batch_size", self.batch_size >= 1, || {
            "must be at least 1".into()
        });
        c.check("distractors", self.distractors >= 1, || {
            "must be at least 1".into()
        });
        c.check("recon_images", self.recon_images >= 2, || {
            "must be at least 2".into()
        });
        c.check("grid_images", self.grid_images >= 1, || {
            "must be at least 1".into()
        });
        c.check("kid.subsets", self.kid.subsets >= 1, || {
            "must be at least 1".into()
        });
        c.check("kid.subset_size", self.kid.subset_size >= 2, || {
            "must be at least 2".into()
        });
        c.check("minilm", !self.minilm.is_empty(), || {
            "must name the MiniLM folder".into()
        });
        c.check("max_len", (3..=512).contains(&self.max_len), || {
            "must be between 3 and 512".into()
        });
    }
}

impl EvalSection {
    /// The sweep's scales with the headline scale `chosen` among them, in ascending order.
    pub fn scales(&self, chosen: f64) -> Vec<f64> {
        let mut s = self.guidance.clone();
        s.push(chosen);
        s.sort_by(f64::total_cmp);
        s.dedup();
        s
    }
}
