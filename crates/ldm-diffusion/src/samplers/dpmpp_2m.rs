//! DPM-Solver++(2M) (Lu et al. 2022; k-diffusion's `sample_dpmpp_2m`, diffusers'
//! DPMSolverMultistepScheduler with algorithm "dpmsolver++", order 2, midpoint).
//!
//! Exact integration of the linear part of the ODE in log-SNR time λ = −ln σ, with the x0
//! estimate extrapolated linearly in λ from this step and the previous one: second order for
//! one evaluation per step. First order on the first step (no history) and on the last
//! (σ' = 0, where the update is simply x0).

use burn::tensor::Tensor;

use super::Model;
use crate::sigmas::Grid;

/// The x0 estimate of the previous step and the sigma it was made at.
pub type History<'a> = Option<(&'a Tensor<4>, f64)>;

/// One step from `sigma` to `sigma_next`: x' = (σ'/σ) x + (1 − σ'/σ) D, where D is
/// `denoised` at first order, or (1 + 1/2r) x0 − 1/2r x0_prev with r = h_prev / h and
/// h = ln(σ/σ') when `previous` is given.
pub fn step(
    x: Tensor<4>,
    denoised: Tensor<4>,
    sigma: f64,
    sigma_next: f64,
    previous: History,
) -> Tensor<4> {
    if sigma_next == 0.0 {
        return denoised;
    }
    let h = (sigma / sigma_next).ln();
    let d = match previous {
        Some((old, sigma_prev)) => {
            let r = (sigma_prev / sigma).ln() / h;
            denoised.mul_scalar(1.0 + 1.0 / (2.0 * r)) - old.clone().mul_scalar(1.0 / (2.0 * r))
        }
        None => denoised,
    };
    // (σ'/σ) = e^(−h) and 1 − e^(−h) = −expm1(−h), exact for small h.
    x.mul_scalar((-h).exp()) + d.mul_scalar(-(-h).exp_m1())
}

pub fn sample(model: &mut Model, mut x: Tensor<4>, grid: &Grid) -> Tensor<4> {
    let mut previous: Option<(Tensor<4>, f64)> = None;
    for i in 0..grid.steps() {
        let (sigma, next) = (grid.sigmas[i], grid.sigmas[i + 1]);
        let denoised = model.denoise(&x, sigma, grid.timesteps[i]);
        let history = previous.as_ref().map(|(t, s)| (t, *s));
        x = step(x, denoised.clone(), sigma, next, history);
        previous = Some((denoised, sigma));
    }
    x
}
