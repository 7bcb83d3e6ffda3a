//! Euler's method on the probability-flow ODE dx/dσ = (x − D(x; σ))/σ (k-diffusion's
//! `sample_euler`, diffusers' EulerDiscreteScheduler without churn).

use burn::tensor::Tensor;

use super::{Model, derivative};
use crate::sigmas::Grid;

/// One step: x + (σ' − σ) · dx/dσ.
pub fn step(x: Tensor<4>, denoised: Tensor<4>, sigma: f64, sigma_next: f64) -> Tensor<4> {
    let d = derivative(&x, &denoised, sigma);
    x + d.mul_scalar(sigma_next - sigma)
}

pub fn sample(model: &mut Model, mut x: Tensor<4>, grid: &Grid) -> Tensor<4> {
    for i in 0..grid.steps() {
        let denoised = model.denoise(&x, grid.sigmas[i], grid.timesteps[i]);
        x = step(x, denoised, grid.sigmas[i], grid.sigmas[i + 1]);
    }
    x
}
