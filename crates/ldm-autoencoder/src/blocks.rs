//! The building blocks shared by encoder and decoder: residual blocks, stride-2 downsampling,
//! nearest-neighbour upsampling and single-head spatial self-attention (as in LDM's VAE).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::tensor::module::{attention, interpolate};
use burn::tensor::ops::{AttentionModuleOptions, InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use ldm_core::ops::{conv2d, group_norm, group_norm_silu};

pub fn conv(c_in: usize, c_out: usize, k: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .init(device)
}

pub fn norm(groups: usize, channels: usize, device: &Device) -> GroupNorm {
    GroupNormConfig::new(groups, channels)
        .with_epsilon(1e-6)
        .init(device)
}

#[derive(Module, Debug)]
pub struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    norm2: GroupNorm,
    conv2: Conv2d,
    /// 1x1 projection when the channel count changes.
    skip: Option<Conv2d>,
}

impl ResBlock {
    pub fn new(c_in: usize, c_out: usize, groups: usize, device: &Device) -> Self {
        Self {
            norm1: norm(groups, c_in, device),
            conv1: conv(c_in, c_out, 3, device),
            norm2: norm(groups, c_out, device),
            conv2: conv(c_out, c_out, 3, device),
            skip: (c_in != c_out).then(|| conv(c_in, c_out, 1, device)),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = conv2d(&self.conv1, group_norm_silu(&self.norm1, x.clone()));
        let h = conv2d(&self.conv2, group_norm_silu(&self.norm2, h));
        match &self.skip {
            Some(s) => conv2d(s, x) + h,
            None => x + h,
        }
    }
}

/// Halves the resolution with a stride-2 3x3 conv, padded on the bottom and right only (so
/// even sizes halve exactly, as in LDM).
#[derive(Module, Debug)]
pub struct Downsample {
    conv: Conv2d,
}

impl Downsample {
    pub fn new(c: usize, device: &Device) -> Self {
        let conv = Conv2dConfig::new([c, c], [3, 3])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1))
            .init(device);
        Self { conv }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(&self.conv, x)
    }
}

/// Doubles the resolution (nearest neighbour) then mixes with a 3x3 conv.
#[derive(Module, Debug)]
pub struct Upsample {
    conv: Conv2d,
}

impl Upsample {
    pub fn new(c: usize, device: &Device) -> Self {
        Self {
            conv: conv(c, c, 3, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let opts = InterpolateOptions::new(InterpolateMode::Nearest).with_scale_factor([2.0, 2.0]);
        conv2d(&self.conv, interpolate(x, opts))
    }
}

/// Single-head self-attention over all spatial positions, with a residual connection.
#[derive(Module, Debug)]
pub struct AttnBlock {
    norm: GroupNorm,
    q: Conv2d,
    k: Conv2d,
    v: Conv2d,
    proj: Conv2d,
}

impl AttnBlock {
    pub fn new(c: usize, groups: usize, device: &Device) -> Self {
        Self {
            norm: norm(groups, c, device),
            q: conv(c, c, 1, device),
            k: conv(c, c, 1, device),
            v: conv(c, c, 1, device),
            proj: conv(c, c, 1, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let n = group_norm(&self.norm, x.clone());
        // [B, C, H, W] -> [B, 1, HW, C]: one head over H*W tokens.
        let tokens = |t: Tensor<4>| {
            t.reshape([b, c, h * w])
                .swap_dims(1, 2)
                .unsqueeze_dim::<4>(1)
        };
        let q = tokens(conv2d(&self.q, n.clone()));
        let k = tokens(conv2d(&self.k, n.clone()));
        let v = tokens(conv2d(&self.v, n));
        let o = attention(q, k, v, None, None, AttentionModuleOptions::default());
        let o = o.squeeze_dim::<3>(1).swap_dims(1, 2).reshape([b, c, h, w]);
        x + conv2d(&self.proj, o)
    }
}
