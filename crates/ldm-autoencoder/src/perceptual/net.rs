//! The learned feature network: a small conv net whose stage outputs are the LPIPS layers.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};
use ldm_core::ops::conv2d;

use crate::blocks::norm;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureNetConfig {
    /// Channels of each stage; every stage after the first halves the resolution, and each
    /// stage's output is one layer of the distance.
    pub channels: Vec<usize>,
}

impl Default for FeatureNetConfig {
    fn default() -> Self {
        Self {
            channels: vec![32, 64, 128],
        }
    }
}

impl Validate for FeatureNetConfig {
    fn validate(&self, c: &mut Checks) {
        c.check(
            "channels",
            !self.channels.is_empty() && self.channels.iter().all(|&x| x >= 8 && x % 8 == 0),
            || "needs at least one stage, each a multiple of 8 channels".into(),
        );
    }
}

#[derive(Module, Debug)]
pub struct Stage {
    conv1: Conv2d,
    norm1: GroupNorm,
    conv2: Conv2d,
    norm2: GroupNorm,
}

#[derive(Module, Debug)]
pub struct FeatureNet {
    stages: Vec<Stage>,
}

fn conv3(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

impl FeatureNetConfig {
    pub fn init(&self, image_channels: usize, device: &Device) -> FeatureNet {
        let mut c_in = image_channels;
        let stages = self
            .channels
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let s = Stage {
                    conv1: conv3(c_in, c, if i == 0 { 1 } else { 2 }, device),
                    norm1: norm(8, c, device),
                    conv2: conv3(c, c, 1, device),
                    norm2: norm(8, c, device),
                };
                c_in = c;
                s
            })
            .collect();
        FeatureNet { stages }
    }
}

impl FeatureNet {
    /// Each stage's output, finest first.
    pub fn features(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut h = x;
        let mut out = Vec::with_capacity(self.stages.len());
        // burn's GroupNorm, not `ldm_core::ops::group_norm`: the fused kernel agrees with it to
        // ~1e-5, but this net's short contrastive training is sensitive enough to rounding that
        // the learning test's shift-versus-noise ratio moved from 0.41 to 0.97 at 300 steps and
        // from 0.29 to 0.54 at 600 (bar 0.5). Until that property is made robust, the net keeps
        // the numerics it was validated with.
        for s in &self.stages {
            h = relu(s.norm1.forward(conv2d(&s.conv1, h)));
            h = relu(s.norm2.forward(conv2d(&s.conv2, h)));
            out.push(h.clone());
        }
        out
    }

    /// Per-image perceptual distance `[B]` between two image batches.
    pub fn distance(&self, a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
        let fa = self.features(a);
        let fb = self.features(b);
        super::lpips(&fa, &fb, None)
    }

    pub fn out_channels(&self) -> usize {
        self.stages.last().map_or(0, |s| s.conv2.weight.dims()[0])
    }
}
