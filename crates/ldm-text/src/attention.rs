//! Multi-head self-attention shared by the BERT, CLIP and scratch encoders.
//!
//! Written on ldm's attention (and burn's `attention` for the causal CLIP encoder) rather
//! than burn's `MultiHeadAttention`: that one fills masked scores with -1e4 and carries
//! dropout; here masked keys get exactly zero weight, so padding cannot leak into real tokens.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor};
use ldm_core::ops::{attention, linear};

#[derive(Module, Debug)]
pub struct SelfAttention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub out: Linear,
    heads: usize,
}

impl SelfAttention {
    pub fn new(dim: usize, heads: usize, device: &Device) -> Self {
        assert!(
            dim.is_multiple_of(heads),
            "width {dim} is not a multiple of {heads} heads"
        );
        let lin = || LinearConfig::new(dim, dim).init(device);
        Self {
            q: lin(),
            k: lin(),
            v: lin(),
            out: lin(),
            heads,
        }
    }

    /// `x` `[B, L, D]`. `pad` `[B, L]` is true at padding keys, which no query attends to;
    /// `causal` lets each position attend only to itself and earlier ones.
    pub fn forward(&self, x: Tensor<3>, pad: Option<Tensor<2, Bool>>, causal: bool) -> Tensor<3> {
        if !causal {
            let q = linear(&self.q, x.clone());
            let k = linear(&self.k, x.clone());
            let v = linear(&self.v, x);
            return linear(&self.out, attention(q, k, v, pad, self.heads));
        }
        let [b, l, d] = x.dims();
        let h = self.heads;
        let split = |t: Tensor<3>| t.reshape([b, l, h, d / h]).swap_dims(1, 2);
        let q = split(self.q.forward(x.clone()));
        let k = split(self.k.forward(x.clone()));
        let v = split(self.v.forward(x));
        // Expanded to the full [B, H, Lq, Lk] shape: the autodiff fallback does not broadcast.
        let mask = pad.map(|m| m.reshape([b, 1, 1, l]).expand([b, h, l, l]));
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: causal,
        };
        let o = burn::tensor::module::attention(q, k, v, mask, None, options);
        self.out.forward(o.swap_dims(1, 2).reshape([b, l, d]))
    }
}
