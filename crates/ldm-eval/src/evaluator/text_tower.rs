//! The text side: a projection of a pooled embedding from a frozen text encoder (which one is
//! the caller's choice) into the joint space; with `text_hidden > 0` a one-hidden-layer MLP,
//! so the evaluator can reweight what the frozen encoder emphasises.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use ldm_core::ops::silu;

use super::EvaluatorConfig;
use super::normalize;

#[derive(Module, Debug)]
pub struct TextTower {
    hidden: Option<Linear>,
    proj: Linear,
}

impl TextTower {
    pub fn new(cfg: &EvaluatorConfig, text_dim: usize, device: &Device) -> Self {
        let (hidden, c_in) = match cfg.text_hidden {
            0 => (None, text_dim),
            h => (Some(LinearConfig::new(text_dim, h).init(device)), h),
        };
        Self {
            hidden,
            proj: LinearConfig::new(c_in, cfg.dim).init(device),
        }
    }

    /// Unit-norm embeddings `[B, dim]` of pooled text embeddings `[B, text_dim]`.
    pub fn forward(&self, pooled: Tensor<2>) -> Tensor<2> {
        let h = match &self.hidden {
            Some(l) => silu(l.forward(pooled)),
            None => pooled,
        };
        normalize(self.proj.forward(h))
    }
}
