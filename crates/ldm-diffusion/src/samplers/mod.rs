//! Samplers: each a short pure function of (model, x, grid, noise), in the style of
//! k-diffusion's `sampling.py`.
//!
//! All samplers work in the sigma view, `x = x0 + σ ε`, on a [`Grid`] that ends at σ = 0, and
//! see the network only through [`Model::denoise`], k-diffusion's D(x; σ): the x0 estimate.
//! Guidance is part of the model (wrap the network in [`crate::Cfg`]); the result is the
//! clean latent, to be decoded once by the caller. Each sampler also exposes the single
//! `step` it repeats, which the parity tests check against diffusers.

pub mod ddim;
pub mod ddpm;
pub mod dpmpp_2m;
pub mod euler;
pub mod heun;

mod config;

pub use config::SamplingConfig;

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, Tensor};
use ldm_core::warm::Warm;
use serde::{Deserialize, Serialize};

use crate::noise::Noise;
use crate::schedule::Schedule;
use crate::sigmas::Grid;
use crate::target::{Level, Prediction};

/// The network as samplers need it: its raw output (ε, v or x0, as trained) for a batch of
/// noisy inputs `x_t = sqrt(ā) x0 + sqrt(1 - ā) ε` at timesteps `t` (`[N]`, on the training
/// scale 0..T, fractional between grid points for some grids). Conditioning is captured by
/// the implementation (a closure over the text context, say).
pub trait Denoiser {
    fn predict(&mut self, x_t: Tensor<4>, t: Tensor<1>) -> Tensor<4>;
}

impl<F: FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>> Denoiser for F {
    fn predict(&mut self, x_t: Tensor<4>, t: Tensor<1>) -> Tensor<4> {
        self(x_t, t)
    }
}

/// A network together with what its output means: D(x; σ) for the samplers.
pub struct Model<'a> {
    pub net: &'a mut dyn Denoiser,
    pub prediction: Prediction,
    /// Clamp each x0 estimate to [-clip, clip]: for pixel-space models trained on [-1, 1]
    /// (diffusers' `clip_sample`); `None` for latents, which have no fixed range.
    pub clip: Option<f64>,
}

impl<'a> Model<'a> {
    pub fn new(net: &'a mut dyn Denoiser, prediction: Prediction) -> Self {
        Self {
            net,
            prediction,
            clip: None,
        }
    }

    /// The x0 estimate for `x = x0 + σ ε`, giving the network `x / sqrt(1 + σ²)` (the
    /// variance-preserving input it was trained on) and timestep `t`.
    pub fn denoise(&mut self, x: &Tensor<4>, sigma: f64, t: f64) -> Tensor<4> {
        let n = x.dims()[0];
        let scale = (1.0 + sigma * sigma).sqrt();
        let x_t = x.clone().div_scalar(scale);
        let t = Tensor::<1>::full([n], t as f32, &x.device());
        let pred = self.net.predict(x_t, t);
        // x0 = a · x_t + b · pred with x_t = x / scale: fold the scale into a, so the
        // conversion uses x itself (as diffusers' Euler does) and loses no precision.
        let (a, b) = self.prediction.x0_coefs(Level::from_ve_sigma(sigma));
        let x0 = crate::target::combine(x.clone(), pred, &[(a / scale, b)]);
        match self.clip {
            Some(c) => x0.clamp(-c, c),
            None => x0,
        }
    }
}

/// k-diffusion's `to_d`: the probability-flow ODE's dx/dσ = (x − D(x; σ)) / σ.
pub fn derivative(x: &Tensor<4>, denoised: &Tensor<4>, sigma: f64) -> Tensor<4> {
    (x.clone() - denoised.clone()).div_scalar(sigma)
}

/// The samplers, by the names configs use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sampler {
    /// Ancestral DDPM (Ho et al. 2020): posterior mean plus fresh noise each step.
    #[serde(rename = "ddpm")]
    Ddpm,
    /// DDIM (Song et al. 2021); deterministic at eta = 0, DDPM-like at eta = 1.
    #[serde(rename = "ddim")]
    Ddim,
    /// Euler's method on the probability-flow ODE (Karras et al. 2022, Alg. 1).
    #[serde(rename = "euler")]
    Euler,
    /// Heun's second-order method on the ODE (Karras et al. 2022, Alg. 1): two evaluations
    /// per step, one on the last.
    #[serde(rename = "heun")]
    Heun,
    /// DPM-Solver++(2M) (Lu et al. 2022): second order from the previous step's x0, one
    /// evaluation per step.
    #[serde(rename = "dpmpp-2m")]
    DpmPp2m,
}

impl Sampler {
    pub const ALL: [Sampler; 5] = [
        Sampler::Ddpm,
        Sampler::Ddim,
        Sampler::Euler,
        Sampler::Heun,
        Sampler::DpmPp2m,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Sampler::Ddpm => "ddpm",
            Sampler::Ddim => "ddim",
            Sampler::Euler => "euler",
            Sampler::Heun => "heun",
            Sampler::DpmPp2m => "dpmpp-2m",
        }
    }

    /// Network evaluations on `grid` (for progress bars).
    pub fn evaluations(self, grid: &Grid) -> usize {
        let steps = grid.steps();
        match self {
            Sampler::Heun => {
                let s = &grid.sigmas;
                let euler = (0..steps)
                    .filter(|&i| s[i + 1] == 0.0 || s[i] > heun::MAX_RATIO * s[i + 1])
                    .count();
                2 * steps - euler
            }
            _ => steps,
        }
    }

    /// Run this sampler from `x` (at `grid.sigmas[0]`, sigma view) down the grid. `eta` is
    /// DDIM's and ignored by the others; `noise` feeds the stochastic samplers.
    pub fn sample(
        self,
        model: &mut Model,
        x: Tensor<4>,
        grid: &Grid,
        eta: f64,
        noise: &mut Noise,
    ) -> Tensor<4> {
        let _warm = Warm::start();
        match self {
            Sampler::Ddpm => ddpm::sample(model, x, grid, noise),
            Sampler::Ddim => ddim::sample(model, x, grid, eta, noise),
            Sampler::Euler => euler::sample(model, x, grid),
            Sampler::Heun => heun::sample(model, x, grid),
            Sampler::DpmPp2m => dpmpp_2m::sample(model, x, grid),
        }
    }
}

impl fmt::Display for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Sampler {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Sampler::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Sampler::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown sampler '{s}': expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Generate `shape` latents from pure noise, as `ldm sample` does: grid, starting noise and
/// sampler noise all from `config` and `seed`; image `i` of the batch uses noise stream
/// `first + i`, so an image does not depend on the batch it was generated in.
#[allow(clippy::too_many_arguments)]
pub fn generate(
    net: &mut dyn Denoiser,
    schedule: &Schedule,
    prediction: Prediction,
    config: &SamplingConfig,
    shape: [usize; 4],
    device: &Device,
    seed: u64,
    first: u64,
) -> Tensor<4> {
    let grid = Grid::new(schedule, config.spacing, config.steps);
    let [n, c, h, w] = shape;
    let mut noise = Noise::new(seed, first, n, device);
    // Pure noise in the variance-preserving view is x_T = z; in the sigma view that is
    // z · sqrt(1 + σ_0²), the marginal there for unit-variance data (diffusers' DDIM start;
    // its Euler uses σ_0 · z, a hair narrower).
    let x = noise
        .draw([c, h, w])
        .mul_scalar((1.0 + grid.sigmas[0] * grid.sigmas[0]).sqrt());
    let mut model = Model::new(net, prediction);
    config
        .sampler
        .sample(&mut model, x, &grid, config.eta, &mut noise)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Sampler::ALL {
            assert_eq!(s.name().parse::<Sampler>().unwrap(), s);
        }
        let err = "dpm++".parse::<Sampler>().unwrap_err();
        assert!(err.contains("dpmpp-2m"), "{err}");
    }
}
