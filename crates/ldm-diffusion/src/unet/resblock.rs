//! Residual block with the timestep embedding added between its two convs.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use ldm_core::ops::{conv2d, group_norm_silu, linear, silu};

pub fn conv(c_in: usize, c_out: usize, k: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .init(device)
}

/// A conv whose weights and bias start at zero, so a residual branch starts as the identity.
pub fn zero_conv(c_in: usize, c_out: usize, k: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_initializer(Initializer::Zeros)
        .init(device)
}

pub fn norm(groups: usize, c: usize, device: &Device) -> GroupNorm {
    GroupNormConfig::new(groups, c)
        .with_epsilon(1e-5)
        .init(device)
}

#[derive(Module, Debug)]
pub struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    pub fn new(c_in: usize, c_out: usize, time_dim: usize, groups: usize, device: &Device) -> Self {
        Self {
            norm1: norm(groups, c_in, device),
            conv1: conv(c_in, c_out, 3, device),
            time: LinearConfig::new(time_dim, c_out).init(device),
            norm2: norm(groups, c_out, device),
            conv2: zero_conv(c_out, c_out, 3, device),
            skip: (c_in != c_out).then(|| conv(c_in, c_out, 1, device)),
        }
    }

    pub fn forward(&self, x: Tensor<4>, temb: Tensor<2>) -> Tensor<4> {
        let h = conv2d(&self.conv1, group_norm_silu(&self.norm1, x.clone()));
        let [b, c, _, _] = h.dims();
        let h = h + linear(&self.time, silu(temb)).reshape([b, c, 1, 1]);
        let h = conv2d(&self.conv2, group_norm_silu(&self.norm2, h));
        match &self.skip {
            Some(s) => conv2d(s, x) + h,
            None => x + h,
        }
    }
}
