//! The validation loss: held-out latents, a fixed set of timesteps spread over the schedule
//! and fixed noise, so the number has low variance and compares runs. Reported beside the
//! loss of predicting zeros, the trivial baseline.

use burn::tensor::{Device, Tensor, TensorData};

use ldm_data::latents::LatentSplit;

use crate::config::DiffusionConfig;
use crate::noise::gaussian;
use crate::unet::UNet;

use super::text::TextModel;

pub struct ValLoss {
    pub loss: f64,
    /// MSE of predicting zeros for the same targets.
    pub zero_loss: f64,
}

/// Unweighted MSE of the prediction target over the first `n` latents (posterior means times
/// `scale`) at `timesteps` timesteps, with noise from `seed`.
#[allow(clippy::too_many_arguments)]
pub fn validation_loss<T: TextModel>(
    unet: &UNet,
    text: &T,
    diffusion: &DiffusionConfig,
    split: &LatentSplit,
    shape: [usize; 3],
    scale: f64,
    n: usize,
    timesteps: usize,
    seed: u64,
    device: &Device,
) -> ValLoss {
    let schedule = diffusion.schedule();
    let per: usize = shape.iter().product();
    let n = n.min(split.len());
    let ts: Vec<usize> = (0..timesteps)
        .map(|k| (k * 2 + 1) * schedule.len() / (2 * timesteps))
        .collect();
    let (mut sum, mut zero, mut count) = (0.0, 0.0, 0.0);
    for start in (0..n).step_by(64) {
        let b = (n - start).min(64);
        let [c, h, w] = shape;
        let data = split.mean[start * per..(start + b) * per].to_vec();
        let x0 =
            Tensor::<4>::from_data(TensorData::new(data, [b, c, h, w]), device).mul_scalar(scale);
        let cond = text.encode(&split.captions[start..start + b], device);
        for (k, &t) in ts.iter().enumerate() {
            // Fixed noise: a function of (seed, batch start, timestep index) only.
            let mut rng = ldm_core::seed::rng(
                seed,
                "denoiser/val-noise",
                ((start as u64) << 16) | k as u64,
            );
            let noise = gaussian(&mut rng, [b, c, h, w], device);
            let tt = vec![t; b];
            let x_t = schedule.add_noise(x0.clone(), noise.clone(), &tt);
            let target = diffusion
                .prediction
                .target(x0.clone(), noise, &schedule.levels(&tt));
            let t_in = Tensor::<1>::from_floats(vec![t as f32; b].as_slice(), device);
            let pred = unet.forward(x_t, t_in, cond.context.clone(), Some(cond.pad.clone()));
            sum += (pred - target.clone()).square().mean().into_scalar::<f64>() * b as f64;
            zero += target.square().mean().into_scalar::<f64>() * b as f64;
            count += b as f64;
        }
    }
    ValLoss {
        loss: sum / count,
        zero_loss: zero / count,
    }
}
