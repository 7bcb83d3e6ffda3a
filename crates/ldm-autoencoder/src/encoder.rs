//! Encoder: conv in, residual blocks with a stride-2 downsample after each level but the last,
//! a middle block with attention, then the posterior's moments (2 * z channels).

use burn::module::Module;
use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};
use ldm_core::ops::{conv2d, group_norm_silu};

use crate::autoencoder::AutoencoderConfig;
use crate::blocks::{AttnBlock, Downsample, ResBlock, conv, norm};

#[derive(Module, Debug)]
pub struct EncoderLevel {
    blocks: Vec<ResBlock>,
    down: Option<Downsample>,
}

#[derive(Module, Debug)]
pub struct Encoder {
    conv_in: Conv2d,
    levels: Vec<EncoderLevel>,
    mid1: ResBlock,
    mid_attn: Option<AttnBlock>,
    mid2: ResBlock,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Encoder {
    pub fn new(cfg: &AutoencoderConfig, image_channels: usize, device: &Device) -> Self {
        let g = cfg.norm_groups;
        let chans: Vec<usize> = cfg
            .channel_mult
            .iter()
            .map(|m| m * cfg.base_channels)
            .collect();
        let mut c_in = cfg.base_channels;
        let mut levels = Vec::new();
        for (i, &c) in chans.iter().enumerate() {
            let blocks = (0..cfg.res_blocks)
                .map(|j| ResBlock::new(if j == 0 { c_in } else { c }, c, g, device))
                .collect();
            let down = (i + 1 < chans.len()).then(|| Downsample::new(c, device));
            levels.push(EncoderLevel { blocks, down });
            c_in = c;
        }
        let c = *chans.last().expect("at least one level");
        Self {
            conv_in: conv(image_channels, cfg.base_channels, 3, device),
            levels,
            mid1: ResBlock::new(c, c, g, device),
            mid_attn: cfg.mid_attention.then(|| AttnBlock::new(c, g, device)),
            mid2: ResBlock::new(c, c, g, device),
            norm_out: norm(g, c, device),
            conv_out: conv(c, 2 * cfg.z_channels, 3, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = conv2d(&self.conv_in, x);
        for level in &self.levels {
            for b in &level.blocks {
                h = b.forward(h);
            }
            if let Some(d) = &level.down {
                h = d.forward(h);
            }
        }
        h = self.mid1.forward(h);
        if let Some(a) = &self.mid_attn {
            h = a.forward(h);
        }
        h = self.mid2.forward(h);
        conv2d(&self.conv_out, group_norm_silu(&self.norm_out, h))
    }
}
