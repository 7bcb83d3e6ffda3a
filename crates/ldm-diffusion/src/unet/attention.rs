//! Multi-head attention of image tokens over themselves (self) or over text tokens (cross),
//! with the text's padding mask honoured.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor};
use ldm_core::ops::linear;

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
        let [b, n, dim] = x.dims();
        let l = context.dims()[1];
        let h = self.heads;
        let split = |t: Tensor<3>, len: usize| t.reshape([b, len, h, dim / h]).swap_dims(1, 2);
        let q = split(linear(&self.q, x), n);
        let k = split(linear(&self.k, context.clone()), l);
        let v = split(linear(&self.v, context), l);
        let mask = pad.map(|p| p.reshape([b, 1, 1, l]).expand([b, h, n, l]));
        let o = attention(q, k, v, mask, None, AttentionModuleOptions::default());
        linear(&self.out, o.swap_dims(1, 2).reshape([b, n, dim]))
    }
}
