//! The discrete noise schedule: ā_t for t = 0..T, as plain data, and the forward process.

use burn::tensor::Tensor;

use crate::betas;
pub use crate::betas::BetaSchedule;
use crate::target::{Level, Prediction, combine};

/// ā of the last step when the schedule has zero terminal SNR, in the sigma view only:
/// sigma = sqrt((1 - ā) / ā) is infinite at ā = 0, and samplers need a finite start. The
/// value is diffusers' (EulerDiscreteScheduler), giving sigma_max ≈ 4096.
pub const ZERO_SNR_SIGMA_ALPHA_BAR: f32 = 1.0 / 16_777_216.0; // 2^-24

/// A discrete schedule over `T` training timesteps. Values are float32, as diffusers holds
/// them, so schedules and their derived grids match a diffusers config exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub betas: Vec<f32>,
    /// ā_t = prod_{s <= t} (1 - beta_s); exactly 0 at the end with zero terminal SNR.
    pub alphas_cumprod: Vec<f32>,
    /// sigma_t = sqrt((1 - ā_t) / ā_t), the variance-exploding noise level of each timestep,
    /// computed in float32 as diffusers does (ā clamped to 2^-24 where it is 0).
    pub sigmas: Vec<f64>,
}

impl Schedule {
    /// The schedule `kind` over `steps` timesteps (`beta_start`/`beta_end` unused by cosine).
    pub fn new(
        kind: BetaSchedule,
        steps: usize,
        beta_start: f64,
        beta_end: f64,
        zero_terminal_snr: bool,
    ) -> Self {
        Self::from_betas(betas::betas(
            kind,
            steps,
            beta_start,
            beta_end,
            zero_terminal_snr,
        ))
    }

    /// Stable Diffusion's schedule: scaled-linear, 0.00085 to 0.012 over 1000 steps.
    pub fn stable_diffusion() -> Self {
        Self::new(BetaSchedule::ScaledLinear, 1000, 0.00085, 0.012, false)
    }

    pub fn from_betas(betas: Vec<f32>) -> Self {
        assert!(betas.len() >= 2, "a schedule needs at least two timesteps");
        let alphas_cumprod = betas::alphas_cumprod(&betas);
        let sigmas = alphas_cumprod
            .iter()
            .map(|&ab| {
                let ab = ab.max(ZERO_SNR_SIGMA_ALPHA_BAR);
                ((1.0 - ab) / ab).sqrt() as f64
            })
            .collect();
        Self {
            betas,
            alphas_cumprod,
            sigmas,
        }
    }

    /// The number of training timesteps T.
    pub fn len(&self) -> usize {
        self.betas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.betas.is_empty()
    }

    pub fn alpha_bar(&self, t: usize) -> f64 {
        self.alphas_cumprod[t] as f64
    }

    /// The noise level of timestep `t`: alpha = sqrt(ā_t), sigma = sqrt(1 - ā_t).
    pub fn level(&self, t: usize) -> Level {
        Level::from_alpha_bar(self.alpha_bar(t))
    }

    pub fn levels(&self, t: &[usize]) -> Vec<Level> {
        t.iter().map(|&t| self.level(t)).collect()
    }

    /// SNR(t) = ā_t / (1 - ā_t); 0 at the last step with zero terminal SNR.
    pub fn snr(&self, t: usize) -> f64 {
        let ab = self.alpha_bar(t);
        ab / (1.0 - ab)
    }

    /// The forward process q(x_t | x0): sqrt(ā_t) x0 + sqrt(1 - ā_t) ε, with one timestep per
    /// batch item (diffusers' `add_noise`).
    pub fn add_noise(&self, x0: Tensor<4>, noise: Tensor<4>, t: &[usize]) -> Tensor<4> {
        let coefs: Vec<_> = self.levels(t).iter().map(|l| (l.alpha, l.sigma)).collect();
        combine(x0, noise, &coefs)
    }

    /// The v-target sqrt(ā_t) ε - sqrt(1 - ā_t) x0 (diffusers' `get_velocity`).
    pub fn velocity(&self, x0: Tensor<4>, noise: Tensor<4>, t: &[usize]) -> Tensor<4> {
        Prediction::V.target(x0, noise, &self.levels(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snr_and_sigma_are_consistent() {
        let s = Schedule::stable_diffusion();
        for t in [0, 10, 500, 999] {
            let sigma = s.sigmas[t];
            assert!((s.snr(t) - 1.0 / (sigma * sigma)).abs() / s.snr(t) < 1e-6);
        }
        assert!(s.sigmas.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn zero_snr_has_a_finite_largest_sigma() {
        let s = Schedule::new(BetaSchedule::ScaledLinear, 1000, 0.00085, 0.012, true);
        assert_eq!(s.snr(999), 0.0);
        assert!((s.sigmas[999] - 4096.0).abs() < 1e-3);
    }
}
