//! Latents for prompts: text conditioning, classifier-free guidance and a sampler from pure
//! noise. Decoding to pixels is the caller's (the pipeline knows the autoencoder).

use burn::tensor::{Device, Tensor};

use crate::config::DiffusionConfig;
use crate::guidance::Cfg;
use crate::samplers::{SamplingConfig, generate};
use crate::unet::UNet;

use super::text::{Conditioning, TextModel};

/// Clean latents (still multiplied by the scale factor) `[N, c, h, w]` for `prompts`; image
/// `i` uses noise stream `first + i` of `seed`. Guidance scale 1 skips the unconditional pass.
#[allow(clippy::too_many_arguments)]
pub fn sample_latents<T: TextModel>(
    unet: &UNet,
    text: &T,
    diffusion: &DiffusionConfig,
    sampling: &SamplingConfig,
    prompts: &[String],
    shape: [usize; 3],
    seed: u64,
    first: u64,
    device: &Device,
) -> Tensor<4> {
    let n = prompts.len();
    let [c, h, w] = shape;
    let schedule = diffusion.schedule();
    let cond = text.encode(prompts, device);
    let out_shape = [n, c, h, w];
    if sampling.guidance_scale == 1.0 {
        let mut net = |x: Tensor<4>, t: Tensor<1>| {
            unet.forward(x, t, cond.context.clone(), Some(cond.pad.clone()))
        };
        return generate(
            &mut net,
            &schedule,
            diffusion.prediction,
            sampling,
            out_shape,
            device,
            seed,
            first,
        );
    }
    let null = text.encode(&vec![String::new(); n], device);
    let both = Conditioning::cat(null, cond);
    let net = |x: Tensor<4>, t: Tensor<1>| {
        unet.forward(x, t, both.context.clone(), Some(both.pad.clone()))
    };
    let mut guided = Cfg::new(net, sampling.guidance_scale);
    generate(
        &mut guided,
        &schedule,
        diffusion.prediction,
        sampling,
        out_shape,
        device,
        seed,
        first,
    )
}
