//! The spatial transformer of LDM: image positions as tokens; self-attention, cross-attention
//! to the text, and a GEGLU feed-forward, each pre-normed and residual; zero-initialised
//! output projection so the block starts as the identity.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Tensor};
use ldm_core::ops::{contiguous, conv2d, geglu, group_norm, layer_norm, linear};

use super::attention::Attention;
use super::resblock::{conv, norm, zero_conv};

/// The blocks' LayerNorm epsilon (LDM's); ldm's `layer_norm` is handed it, as burn keeps a
/// built norm's epsilon private.
const LN_EPS: f64 = 1e-5;

#[derive(Module, Debug)]
pub struct TransformerBlock {
    norm1: LayerNorm,
    self_attn: Attention,
    norm2: LayerNorm,
    cross_attn: Attention,
    norm3: LayerNorm,
    ff_in: Linear,
    ff_out: Linear,
}

impl TransformerBlock {
    fn new(dim: usize, context_dim: usize, heads: usize, device: &Device) -> Self {
        Self {
            norm1: LayerNormConfig::new(dim).with_epsilon(LN_EPS).init(device),
            self_attn: Attention::new(dim, dim, heads, device),
            norm2: LayerNormConfig::new(dim).with_epsilon(LN_EPS).init(device),
            cross_attn: Attention::new(dim, context_dim, heads, device),
            norm3: LayerNormConfig::new(dim).with_epsilon(LN_EPS).init(device),
            // GEGLU: one projection gives the value and its gate.
            ff_in: LinearConfig::new(dim, dim * 8).init(device),
            ff_out: LinearConfig::new(dim * 4, dim).init(device),
        }
    }

    fn forward(&self, x: Tensor<3>, context: Tensor<3>, pad: Option<Tensor<2, Bool>>) -> Tensor<3> {
        let norm = |n: &LayerNorm, x: Tensor<3>| layer_norm(n, LN_EPS, x);
        let n = norm(&self.norm1, x.clone());
        let x = x + self.self_attn.forward(n.clone(), n, None);
        let x = x.clone() + self.cross_attn.forward(norm(&self.norm2, x), context, pad);
        let h = linear(&self.ff_in, norm(&self.norm3, x.clone()));
        x + linear(&self.ff_out, geglu(h))
    }
}

#[derive(Module, Debug)]
pub struct SpatialTransformer {
    norm: GroupNorm,
    proj_in: Conv2d,
    blocks: Vec<TransformerBlock>,
    proj_out: Conv2d,
}

impl SpatialTransformer {
    pub fn new(
        c: usize,
        context_dim: usize,
        heads: usize,
        depth: usize,
        groups: usize,
        device: &Device,
    ) -> Self {
        Self {
            norm: norm(groups, c, device),
            proj_in: conv(c, c, 1, device),
            blocks: (0..depth)
                .map(|_| TransformerBlock::new(c, context_dim, heads, device))
                .collect(),
            proj_out: zero_conv(c, c, 1, device),
        }
    }

    pub fn forward(
        &self,
        x: Tensor<4>,
        context: Tensor<3>,
        pad: Option<Tensor<2, Bool>>,
    ) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let t = conv2d(&self.proj_in, group_norm(&self.norm, x.clone()));
        // Tokens [B, H·W, C] copied into order once here, not by every kernel that reads them.
        let mut t = contiguous(t.reshape([b, c, h * w]).swap_dims(1, 2));
        for blk in &self.blocks {
            t = blk.forward(t, context.clone(), pad.clone());
        }
        let t = contiguous(t.swap_dims(1, 2)).reshape([b, c, h, w]);
        x + conv2d(&self.proj_out, t)
    }
}
