//! The image side: a small conv net (stride-2 3x3 convs, GroupNorm, SiLU, a residual 3x3 conv
//! per stage), global average pooling and a linear projection to the joint space.
//!
//! Two coordinate channels (x and y in [-1, 1]) are appended to the image: after global
//! pooling a plain conv net keeps little of *where* things were, and captions say "above" and
//! "to the left of".

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use ldm_core::ops::{conv2d, group_norm_silu};

use super::EvaluatorConfig;
use super::normalize;

#[derive(Module, Debug)]
pub struct Stage {
    down: Conv2d,
    norm1: GroupNorm,
    conv: Conv2d,
    norm2: GroupNorm,
}

#[derive(Module, Debug)]
pub struct ImageTower {
    stages: Vec<Stage>,
    proj: Linear,
}

fn conv3(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

fn norm(groups: usize, channels: usize, device: &Device) -> GroupNorm {
    GroupNormConfig::new(groups, channels).init(device)
}

impl ImageTower {
    pub fn new(cfg: &EvaluatorConfig, image_channels: usize, device: &Device) -> Self {
        let mut c_in = image_channels + 2;
        let stages = cfg
            .channels
            .iter()
            .map(|&c| {
                let s = Stage {
                    down: conv3(c_in, c, 2, device),
                    norm1: norm(cfg.norm_groups, c, device),
                    conv: conv3(c, c, 1, device),
                    norm2: norm(cfg.norm_groups, c, device),
                };
                c_in = c;
                s
            })
            .collect();
        Self {
            stages,
            proj: LinearConfig::new(c_in, cfg.dim).init(device),
        }
    }

    /// Unit-norm embeddings `[B, dim]` of images `[B, C, H, W]` in [-1, 1].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = with_coordinates(x);
        for s in &self.stages {
            h = group_norm_silu(&s.norm1, conv2d(&s.down, h));
            h = h.clone() + group_norm_silu(&s.norm2, conv2d(&s.conv, h));
        }
        let [b, c, _, _] = h.dims();
        let pooled = h.mean_dims(&[2, 3]).reshape([b, c]);
        normalize(self.proj.forward(pooled))
    }
}

/// `x` with two more channels holding each pixel's x and y coordinate in [-1, 1].
fn with_coordinates(x: Tensor<4>) -> Tensor<4> {
    let [b, _, h, w] = x.dims();
    let device = x.device();
    let ramp = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| (2 * i + 1) as f32 / n as f32 - 1.0)
            .collect()
    };
    let xs = Tensor::<1>::from_floats(ramp(w).as_slice(), &device)
        .reshape([1, 1, 1, w])
        .expand([b, 1, h, w]);
    let ys = Tensor::<1>::from_floats(ramp(h).as_slice(), &device)
        .reshape([1, 1, h, 1])
        .expand([b, 1, h, w]);
    Tensor::cat(vec![x, xs, ys], 1)
}
