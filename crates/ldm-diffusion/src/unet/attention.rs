//! Multi-head attention of image tokens over themselves (self) or over text tokens (cross),
//! with the text's padding mask honoured.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Bool, Device, Tensor};
use ldm_core::ops::{attention, linear};

#[derive(Module, Debug)]
pub struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
}

impl Attention {
    /// Queries of width `dim`; keys and values from tokens of width `context_dim`.
    pub fn new(dim: usize, context_dim: usize, heads: usize, device: &Device) -> Self {
        let lin = |i, o, bias| LinearConfig::new(i, o).with_bias(bias).init(device);
        Self {
            q: lin(dim, dim, false),
            k: lin(context_dim, dim, false),
            v: lin(context_dim, dim, false),
            out: lin(dim, dim, true),
            heads,
        }
    }

    /// `x` `[B, N, dim]` attends to `context` `[B, L, context_dim]`; `pad` `[B, L]` is true
    /// at padding positions, which receive no attention.
    pub fn forward(
        &self,
        x: Tensor<3>,
        context: Tensor<3>,
        pad: Option<Tensor<2, Bool>>,
    ) -> Tensor<3> {
        // The heads stay in the projections' [B, tokens, H·D] layout: ldm's attention reads
        // them there, so no split or merge is copied.
        let q = linear(&self.q, x);
        let k = linear(&self.k, context.clone());
        let v = linear(&self.v, context);
        linear(&self.out, attention(q, k, v, pad, self.heads))
    }
}
