//! Decoder: the encoder mirrored, with one more residual block per level and nearest-neighbour
//! upsampling.

use burn::module::Module;
use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};
use ldm_core::ops::{conv2d, group_norm_silu};

use crate::autoencoder::AutoencoderConfig;
use crate::blocks::{AttnBlock, ResBlock, Upsample, conv, norm};

#[derive(Module, Debug)]
pub struct DecoderLevel {
    blocks: Vec<ResBlock>,
    up: Option<Upsample>,
}

#[derive(Module, Debug)]
pub struct Decoder {
    conv_in: Conv2d,
    mid1: ResBlock,
    mid_attn: Option<AttnBlock>,
    mid2: ResBlock,
    /// Coarsest level first.
    levels: Vec<DecoderLevel>,
    norm_out: GroupNorm,
    /// The last layer; its weight is where the adaptive GAN weight compares gradients.
    pub conv_out: Conv2d,
}

impl Decoder {
    pub fn new(cfg: &AutoencoderConfig, image_channels: usize, device: &Device) -> Self {
        let g = cfg.norm_groups;
        let chans: Vec<usize> = cfg
            .channel_mult
            .iter()
            .map(|m| m * cfg.base_channels)
            .collect();
        let top = *chans.last().expect("at least one level");
        let mut c_in = top;
        let mut levels = Vec::new();
        for (i, &c) in chans.iter().enumerate().rev() {
            let blocks = (0..=cfg.res_blocks)
                .map(|j| ResBlock::new(if j == 0 { c_in } else { c }, c, g, device))
                .collect();
            let up = (i > 0).then(|| Upsample::new(c, device));
            levels.push(DecoderLevel { blocks, up });
            c_in = c;
        }
        Self {
            conv_in: conv(cfg.z_channels, top, 3, device),
            mid1: ResBlock::new(top, top, g, device),
            mid_attn: cfg.mid_attention.then(|| AttnBlock::new(top, g, device)),
            mid2: ResBlock::new(top, top, g, device),
            levels,
            norm_out: norm(g, c_in, device),
            conv_out: conv(c_in, image_channels, 3, device),
        }
    }

    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        self.forward_with_features(z).0
    }

    /// The output and the input of `conv_out`.
    pub fn forward_with_features(&self, z: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let mut h = self.mid1.forward(conv2d(&self.conv_in, z));
        if let Some(a) = &self.mid_attn {
            h = a.forward(h);
        }
        h = self.mid2.forward(h);
        for level in &self.levels {
            for b in &level.blocks {
                h = b.forward(h);
            }
            if let Some(u) = &level.up {
                h = u.forward(h);
            }
        }
        let features = group_norm_silu(&self.norm_out, h);
        (conv2d(&self.conv_out, features.clone()), features)
    }
}
