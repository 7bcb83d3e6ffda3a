//! The KL autoencoder: encoder -> diagonal Gaussian posterior over a latent grid -> decoder.
//! The compression factor per side is f = 2^(levels - 1).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};

use crate::blocks::conv;
use crate::decoder::Decoder;
use crate::encoder::Encoder;
use crate::posterior::Posterior;
use ldm_core::ops::conv2d;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoencoderConfig {
    /// Channels of the first level; level i has base_channels * channel_mult[i].
    pub base_channels: usize,
    /// One entry per level; f = 2^(levels - 1): [1, 2] is f=2, [1, 2, 2] f=4, [1, 2, 4, 4] f=8.
    pub channel_mult: Vec<usize>,
    /// Residual blocks per level (the decoder has one more, as in LDM).
    pub res_blocks: usize,
    /// Latent channels.
    pub z_channels: usize,
    /// Self-attention in the middle blocks.
    pub mid_attention: bool,
    /// GroupNorm groups; every channel count must be divisible by it.
    pub norm_groups: usize,
}

impl Default for AutoencoderConfig {
    fn default() -> Self {
        Self {
            base_channels: 64,
            channel_mult: vec![1, 2, 2],
            res_blocks: 1,
            z_channels: 4,
            mid_attention: true,
            norm_groups: 32,
        }
    }
}

impl Validate for AutoencoderConfig {
    fn validate(&self, c: &mut Checks) {
        c.check(
            "channel_mult",
            (1..=5).contains(&self.channel_mult.len()),
            || "needs 1 to 5 levels (f = 1 to 16)".into(),
        );
        c.check("z_channels", self.z_channels > 0, || {
            "must be at least 1".into()
        });
        let g = self.norm_groups.max(1);
        let ok = self
            .channel_mult
            .iter()
            .all(|m| m * self.base_channels % g == 0 && *m > 0);
        c.check("norm_groups", self.norm_groups > 0 && ok, || {
            format!(
                "every level's channels (base_channels * channel_mult) must be divisible by {}",
                self.norm_groups
            )
        });
    }
}

impl AutoencoderConfig {
    /// Downsampling factor per side.
    pub fn factor(&self) -> usize {
        1 << (self.channel_mult.len() - 1)
    }

    /// The model for images with `image_channels` channels (the data's).
    pub fn init(&self, image_channels: usize, device: &Device) -> Autoencoder {
        let z = self.z_channels;
        Autoencoder {
            encoder: Encoder::new(self, image_channels, device),
            decoder: Decoder::new(self, image_channels, device),
            quant: conv(2 * z, 2 * z, 1, device),
            post_quant: conv(z, z, 1, device),
            logvar_min: -30.0,
            logvar_max: 20.0,
        }
    }
}

#[derive(Module, Debug)]
pub struct Autoencoder {
    pub encoder: Encoder,
    pub decoder: Decoder,
    quant: Conv2d,
    post_quant: Conv2d,
    logvar_min: f64,
    logvar_max: f64,
}

impl Autoencoder {
    /// The posterior over latents of images in [-1, 1], `[B, C, H, W]` -> `[B, z, H/f, W/f]`.
    pub fn encode(&self, x: Tensor<4>) -> Posterior {
        let moments = conv2d(&self.quant, self.encoder.forward(x));
        Posterior::from_moments(moments, self.logvar_min, self.logvar_max)
    }

    /// Images from latents (not scaled by the diffusion scale factor).
    pub fn decode(&self, z: Tensor<4>) -> Tensor<4> {
        self.decoder.forward(conv2d(&self.post_quant, z))
    }

    /// Decode, returning also the input of the decoder's last conv (needed for the adaptive
    /// GAN weight, which compares gradients at that layer).
    pub fn decode_with_features(&self, z: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        self.decoder
            .forward_with_features(conv2d(&self.post_quant, z))
    }
}
