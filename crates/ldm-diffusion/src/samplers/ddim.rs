//! DDIM (Song et al. 2021): jump to the next level along the current ε estimate, with a
//! fraction eta of the ancestral noise. At eta = 0 this is Euler's method on the
//! probability-flow ODE in the sigma view; at eta = 1 it matches DDPM's posterior.

use burn::tensor::Tensor;

use super::{Model, ddpm};
use crate::noise::Noise;
use crate::sigmas::Grid;

/// The noise added at stochasticity `eta`: eta times DDPM's posterior standard deviation
/// (diffusers' `eta · sqrt(variance)`, divided by sqrt(ā') for the sigma view).
pub fn std_dev(sigma: f64, sigma_next: f64, eta: f64) -> f64 {
    eta * ddpm::std_dev(sigma, sigma_next)
}

/// One step: x' = x0 + sqrt(σ'² − s²) ε̂ + s z with ε̂ = (x − x0)/σ and s = `std_dev`.
/// `noise` (standard normal) is needed only when s > 0.
pub fn step(
    x: Tensor<4>,
    denoised: Tensor<4>,
    sigma: f64,
    sigma_next: f64,
    eta: f64,
    noise: Option<Tensor<4>>,
) -> Tensor<4> {
    let s = std_dev(sigma, sigma_next, eta);
    let eps = super::derivative(&x, &denoised, sigma);
    let down = (sigma_next * sigma_next - s * s).max(0.0).sqrt();
    let x = denoised + eps.mul_scalar(down);
    match noise {
        Some(z) if s > 0.0 => x + z.mul_scalar(s),
        None if s > 0.0 => panic!("DDIM with eta > 0 needs noise"),
        _ => x,
    }
}

pub fn sample(
    model: &mut Model,
    mut x: Tensor<4>,
    grid: &Grid,
    eta: f64,
    noise: &mut Noise,
) -> Tensor<4> {
    let [_, c, h, w] = x.dims();
    for i in 0..grid.steps() {
        let (sigma, next) = (grid.sigmas[i], grid.sigmas[i + 1]);
        let denoised = model.denoise(&x, sigma, grid.timesteps[i]);
        let z = (std_dev(sigma, next, eta) > 0.0).then(|| noise.draw([c, h, w]));
        x = step(x, denoised, sigma, next, eta, z);
    }
    x
}
