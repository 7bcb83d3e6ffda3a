//! Ancestral DDPM (Ho et al. 2020): each step draws from the forward process posterior
//! q(x_next | x, x0) with x0 replaced by the model's estimate.

use burn::tensor::Tensor;

use super::Model;
use crate::noise::Noise;
use crate::sigmas::Grid;

/// The posterior's standard deviation in the sigma view: σ' sqrt(1 − σ'²/σ²).
///
/// In the variance-preserving view the posterior variance is
/// β̃ = (1 − ā')/(1 − ā) · (1 − ā/ā') (diffusers' "fixed_small"); dividing x by sqrt(ā')
/// and writing ā = 1/(1 + σ²) turns it into this. It is 0 at σ' = 0: no noise on the last
/// step.
pub fn std_dev(sigma: f64, sigma_next: f64) -> f64 {
    let r = (sigma_next * sigma_next) / (sigma * sigma);
    sigma_next * (1.0 - r).max(0.0).sqrt()
}

/// One step from `sigma` to `sigma_next`: the posterior mean r·x + (1 − r)·x0 with
/// r = σ'²/σ², plus `std_dev` times `noise` (standard normal, same shape as x).
///
/// The mean is diffusers' c1·x0 + c2·x_t moved to the sigma view; it uses x and the (possibly
/// clipped) x0 directly, not an ε, which is what makes DDPM differ from DDIM(eta = 1) when
/// x0 is clipped.
pub fn step(
    x: Tensor<4>,
    denoised: Tensor<4>,
    sigma: f64,
    sigma_next: f64,
    noise: Tensor<4>,
) -> Tensor<4> {
    let r = (sigma_next * sigma_next) / (sigma * sigma);
    let mean = x.mul_scalar(r) + denoised.mul_scalar(1.0 - r);
    let std = std_dev(sigma, sigma_next);
    if std > 0.0 {
        mean + noise.mul_scalar(std)
    } else {
        mean
    }
}

pub fn sample(model: &mut Model, mut x: Tensor<4>, grid: &Grid, noise: &mut Noise) -> Tensor<4> {
    let [_, c, h, w] = x.dims();
    for i in 0..grid.steps() {
        let (sigma, next) = (grid.sigmas[i], grid.sigmas[i + 1]);
        let denoised = model.denoise(&x, sigma, grid.timesteps[i]);
        let z = if next > 0.0 {
            noise.draw([c, h, w])
        } else {
            denoised.zeros_like()
        };
        x = step(x, denoised, sigma, next, z);
    }
    x
}
