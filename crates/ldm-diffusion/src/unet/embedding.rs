//! The timestep embedding: sinusoidal features of t, then an MLP (as in DDPM/LDM).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use ldm_core::ops::{linear, silu};

#[derive(Module, Debug)]
pub struct TimeEmbedding {
    fc1: Linear,
    fc2: Linear,
    freq_dim: usize,
}

impl TimeEmbedding {
    pub fn new(freq_dim: usize, dim: usize, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(freq_dim, dim).init(device),
            fc2: LinearConfig::new(dim, dim).init(device),
            freq_dim,
        }
    }

    /// `[B]` timesteps (may be fractional) -> `[B, dim]`.
    pub fn forward(&self, t: Tensor<1>) -> Tensor<2> {
        let h = silu(linear(&self.fc1, sinusoidal(t, self.freq_dim)));
        linear(&self.fc2, h)
    }
}

/// cos/sin features at geometric frequencies from 1 to 1/10000 (diffusers' layout: cos first
/// when flipped; here [cos | sin], as in LDM's openaimodel).
pub fn sinusoidal(t: Tensor<1>, dim: usize) -> Tensor<2> {
    let half = dim / 2;
    let device = t.device();
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10000f32.ln()) * i as f32 / half as f32).exp())
        .collect();
    let freqs = Tensor::<1>::from_floats(freqs.as_slice(), &device).reshape([1, half]);
    let [b] = t.dims();
    let args = t.reshape([b, 1]) * freqs;
    Tensor::cat(vec![args.clone().cos(), args.sin()], 1)
}
