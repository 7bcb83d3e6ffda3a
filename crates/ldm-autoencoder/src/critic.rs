//! The patch-GAN critic (NLayer style): strided 4x4 convs ending in a map of per-patch logits,
//! so it judges local texture rather than the whole image.
//!
//! GroupNorm replaces the original BatchNorm: it normalizes each image on its own, so real
//! and fake images judged in one pass share no statistics, and it leaves no running
//! statistics to checkpoint.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};

use crate::blocks::norm;
use ldm_core::ops::{conv2d, group_norm, leaky_relu};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CriticConfig {
    /// Channels of the first conv; doubled per layer up to 8x.
    pub channels: usize,
    /// Stride-2 layers; each halves the patch map (and grows the receptive field).
    pub layers: usize,
}

impl Default for CriticConfig {
    fn default() -> Self {
        Self {
            channels: 64,
            layers: 3,
        }
    }
}

impl Validate for CriticConfig {
    fn validate(&self, c: &mut Checks) {
        c.check(
            "channels",
            self.channels >= 8 && self.channels % 8 == 0,
            || "must be a multiple of 8 (GroupNorm uses 8 groups)".into(),
        );
        c.check("layers", (1..=5).contains(&self.layers), || {
            "must be 1 to 5".into()
        });
    }
}

#[derive(Module, Debug)]
pub struct CriticLayer {
    conv: Conv2d,
    norm: Option<GroupNorm>,
}

#[derive(Module, Debug)]
pub struct Critic {
    layers: Vec<CriticLayer>,
    out: Conv2d,
}

fn conv4(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [4, 4])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

impl CriticConfig {
    pub fn init(&self, image_channels: usize, device: &Device) -> Critic {
        let ch = |i: usize| self.channels * (1 << i).min(8);
        let mut layers = vec![CriticLayer {
            conv: conv4(image_channels, ch(0), 2, device),
            norm: None,
        }];
        for i in 1..=self.layers {
            // The last hidden layer keeps the resolution (stride 1), as in the NLayer design.
            let stride = if i < self.layers { 2 } else { 1 };
            layers.push(CriticLayer {
                conv: conv4(ch(i - 1), ch(i), stride, device),
                norm: Some(norm(8, ch(i), device)),
            });
        }
        Critic {
            layers,
            out: conv4(ch(self.layers), 1, 1, device),
        }
    }
}

impl Critic {
    /// Per-patch logits `[B, 1, h', w']` for images in [-1, 1].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = x;
        for l in &self.layers {
            h = conv2d(&l.conv, h);
            if let Some(n) = &l.norm {
                h = group_norm(n, h);
            }
            h = leaky_relu(h, 0.2);
        }
        conv2d(&self.out, h)
    }
}
