//! The `[evaluator]` section: the dual encoder's size and how it is trained. The defaults
//! train in about 1.5 minutes on 2 CPU cores on 32x32 shapes (~0.16 s per step of 64).

use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};
use ldm_core::train::{LrConfig, LrShape};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluatorConfig {
    /// Channels of the image tower's stages; each stage halves the resolution.
    pub channels: Vec<usize>,
    /// GroupNorm groups in the image tower (must divide every stage's channels).
    pub norm_groups: usize,
    /// Width of the joint embedding both towers project to.
    pub dim: usize,
    /// Hidden width of the text tower's MLP; 0 makes it a single linear projection.
    pub text_hidden: usize,
    pub steps: u64,
    pub batch_size: usize,
    pub lr: LrConfig,
    pub weight_decay: f64,
    pub log_every: u64,
    /// Validation images for the held-out retrieval accuracy at the end.
    pub val_images: usize,
    /// Captions each validation image is ranked against (its own among its batch).
    pub val_candidates: usize,
}

impl Default for EvaluatorConfig {
    fn default() -> Self {
        Self {
            channels: vec![32, 64, 128],
            norm_groups: 8,
            dim: 64,
            text_hidden: 128,
            steps: 600,
            batch_size: 64,
            lr: LrConfig {
                lr: 2e-3,
                warmup: 30,
                shape: LrShape::Cosine,
                min_lr: 1e-4,
            },
            weight_decay: 1e-4,
            log_every: 25,
            val_images: 500,
            val_candidates: 100,
        }
    }
}

impl Validate for EvaluatorConfig {
    fn validate(&self, c: &mut Checks) {
        c.check(
            "channels",
            !self.channels.is_empty() && self.channels.iter().all(|&x| x > 0),
            || "needs at least one stage with channels".into(),
        );
        c.check(
            "norm_groups",
            self.norm_groups > 0 && self.channels.iter().all(|&x| x % self.norm_groups == 0),
            || "must divide every stage's channels".into(),
        );
        c.check("dim", self.dim > 0, || "must be at least 1".into());
        c.check("steps", self.steps > 0, || "must be at least 1".into());
        c.check("batch_size", self.batch_size >= 2, || {
            "must be at least 2 (captions need negatives)".into()
        });
        c.check("weight_decay", self.weight_decay >= 0.0, || {
            "must be >= 0".into()
        });
        c.check("log_every", self.log_every > 0, || {
            "must be at least 1".into()
        });
        c.check("val_images", self.val_images > 0, || {
            "must be at least 1".into()
        });
        c.check("val_candidates", self.val_candidates >= 2, || {
            "must be at least 2".into()
        });
        c.section("lr", |c| self.lr.validate(c));
    }
}
