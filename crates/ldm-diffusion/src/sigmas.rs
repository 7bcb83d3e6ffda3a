//! The continuous view samplers work in: grids of sigma (x = x0 + σ ε), the timesteps the
//! network is given at each, and the conversions between timesteps and sigmas, all as
//! diffusers computes them.

use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

/// How a grid of `n` sampling steps is placed over the `T` training timesteps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Spacing {
    /// t = k · (T / n): diffusers' DDPM/DDIM default. Never visits t = T - 1, so sampling
    /// starts from a noise level the model was trained to see with signal left in it.
    Leading,
    /// n timesteps evenly from T - 1 to 0 (fractional): diffusers' Euler/Heun default. With
    /// few steps its last jump, into σ(0) = 0.029, is large in log σ, where DPM-Solver++(2M)
    /// extrapolates too far (variance +50% at 10 steps on the Gaussian test).
    Linspace,
    /// round(T - k · T / n) - 1: starts at t = T - 1 (Lin et al. 2023); the default here.
    Trailing,
    /// Karras et al. 2022, rho = 7, between the schedule's smallest and largest sigma. Not
    /// for zero-terminal-SNR or cosine schedules: from σ_max ≈ 4096 (or 2·10⁴) rho = 7 leaves
    /// most steps at noise levels far above the data's, and every sampler suffers.
    Karras,
}

/// A sampling grid: `n` steps from `sigmas[0]` down to `sigmas[n] = 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// σ_0 > σ_1 > … > σ_{n-1} > σ_n = 0, rounded to float32 like diffusers' grids.
    pub sigmas: Vec<f64>,
    /// The (possibly fractional) training timestep the network is given at `sigmas[i]`.
    pub timesteps: Vec<f64>,
}

impl Grid {
    /// `steps` steps over `schedule`, placed by `spacing`.
    pub fn new(schedule: &Schedule, spacing: Spacing, steps: usize) -> Self {
        let t_max = schedule.len();
        assert!(
            (1..=t_max).contains(&steps),
            "{steps} sampling steps: must be in 1..={t_max}"
        );
        match spacing {
            Spacing::Karras => {
                let (lo, hi) = (schedule.sigmas[0], schedule.sigmas[t_max - 1]);
                Self::from_sigmas(schedule, karras(lo, hi, 7.0, steps))
            }
            _ => Self::from_timesteps(schedule, timesteps(spacing, t_max, steps)),
        }
    }

    /// A grid through the given timesteps (descending), sigma interpolated linearly in t.
    pub fn from_timesteps(schedule: &Schedule, timesteps: Vec<f64>) -> Self {
        let mut sigmas: Vec<f64> = timesteps.iter().map(|&t| schedule.sigma_at(t)).collect();
        sigmas.push(0.0);
        Self::rounded(sigmas, timesteps)
    }

    /// A grid through the given sigmas (descending, without the final 0), timesteps
    /// interpolated linearly in log sigma.
    pub fn from_sigmas(schedule: &Schedule, mut sigmas: Vec<f64>) -> Self {
        let timesteps = sigmas.iter().map(|&s| schedule.t_at(s)).collect();
        sigmas.push(0.0);
        Self::rounded(sigmas, timesteps)
    }

    fn rounded(sigmas: Vec<f64>, timesteps: Vec<f64>) -> Self {
        let f32_round = |v: Vec<f64>| v.into_iter().map(|x| x as f32 as f64).collect();
        Self {
            sigmas: f32_round(sigmas),
            timesteps: f32_round(timesteps),
        }
    }

    /// The number of steps n.
    pub fn steps(&self) -> usize {
        self.timesteps.len()
    }
}

/// The timesteps of `spacing` (not Karras) for `n` steps over `t_max` training timesteps,
/// descending, as diffusers' `set_timesteps` places them.
pub fn timesteps(spacing: Spacing, t_max: usize, n: usize) -> Vec<f64> {
    let t = t_max as f64;
    match spacing {
        Spacing::Leading => {
            let ratio = t_max / n;
            (0..n).rev().map(|k| (k * ratio) as f64).collect()
        }
        Spacing::Linspace => {
            // np.linspace(0, T - 1, n, dtype=float32): float64 i · step, rounded to float32.
            let step = if n > 1 {
                (t - 1.0) / (n - 1) as f64
            } else {
                0.0
            };
            (0..n)
                .rev()
                .map(|i| if i == n - 1 { t - 1.0 } else { i as f64 * step })
                .map(|x| x as f32 as f64)
                .collect()
        }
        Spacing::Trailing => {
            // np.round(np.arange(T, 0, -T / n)) - 1. numpy's arange steps by
            // (start + step) - start, which is not always exactly step, and that decides some
            // ties of the rounding; it also makes n + 1 values for some n (61, 103, ...), the
            // last one -1, which diffusers passes on as a timestep: we keep the first n.
            let delta = (t - t / n as f64) - t;
            (0..n)
                .map(|i| (t + i as f64 * delta).round_ties_even() - 1.0)
                .collect()
        }
        Spacing::Karras => panic!("Karras grids are placed in sigma; use Grid::new"),
    }
}

/// Karras et al. 2022, eq. 5: n sigmas from `sigma_max` to `sigma_min`, evenly spaced in
/// σ^(1/rho); rho = 7 spends more steps at low noise, where detail is decided.
pub fn karras(sigma_min: f64, sigma_max: f64, rho: f64, n: usize) -> Vec<f64> {
    let (lo, hi) = (sigma_min.powf(1.0 / rho), sigma_max.powf(1.0 / rho));
    (0..n)
        .map(|i| {
            let ramp = if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.0
            };
            (hi + ramp * (lo - hi)).powf(rho)
        })
        .collect()
}

impl Schedule {
    /// sigma at a fractional timestep, linear in t between the table's entries
    /// (`np.interp` as diffusers' Euler/Heun/DPM schedulers use it).
    pub fn sigma_at(&self, t: f64) -> f64 {
        let last = self.sigmas.len() - 1;
        let t = t.clamp(0.0, last as f64);
        let j = (t.floor() as usize).min(last);
        if t == j as f64 {
            return self.sigmas[j];
        }
        let slope = self.sigmas[j + 1] - self.sigmas[j];
        slope * (t - j as f64) + self.sigmas[j]
    }

    /// The fractional timestep of `sigma`, linear in log sigma between the table's entries
    /// (diffusers' `_sigma_to_t`; its log table is float32).
    pub fn t_at(&self, sigma: f64) -> f64 {
        let log_sigma = sigma.max(1e-10).ln();
        let log = |i: usize| (self.sigmas[i] as f32).ln();
        let n = self.sigmas.len();
        // The last index whose log sigma is <= log_sigma (0 if none), kept below n - 1.
        let below = (0..n).filter(|&i| log(i) as f64 <= log_sigma).count();
        let low = below.saturating_sub(1).min(n - 2);
        let (lo, hi) = (log(low), log(low + 1));
        let w = ((lo as f64 - log_sigma) / (lo - hi) as f64).clamp(0.0, 1.0);
        (1.0 - w) * low as f64 + w * (low + 1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacings_match_diffusers_for_ten_steps() {
        let lead = timesteps(Spacing::Leading, 1000, 10);
        assert_eq!(lead[0], 900.0);
        assert_eq!(lead[9], 0.0);
        let lin = timesteps(Spacing::Linspace, 1000, 10);
        assert_eq!(lin[..3], [999.0, 888.0, 777.0]);
        let trail = timesteps(Spacing::Trailing, 1000, 10);
        assert_eq!(trail[..2], [999.0, 899.0]);
        assert_eq!(trail[9], 99.0);
        assert_eq!(timesteps(Spacing::Trailing, 1000, 7)[6], 142.0);
        // numpy makes 62 values here (the last -1); a grid has exactly n.
        let t61 = timesteps(Spacing::Trailing, 1000, 61);
        assert_eq!((t61.len(), t61[60]), (61, 15.0));
        // The tie at 937.5 falls to 937 - 1 through numpy's inexact step, as in diffusers.
        assert_eq!(timesteps(Spacing::Trailing, 1000, 48)[3], 936.0);
    }

    #[test]
    fn sigma_and_timestep_conversions_invert() {
        let s = Schedule::stable_diffusion();
        for t in [0.0, 1.0, 37.5, 500.0, 998.25, 999.0] {
            let back = s.t_at(s.sigma_at(t));
            // Linear-in-t there, linear-in-log-sigma back: close, not identical.
            assert!((back - t).abs() < 0.01, "{t} -> {back}");
        }
        let g = Grid::new(&s, Spacing::Trailing, 50);
        assert_eq!(g.sigmas.len(), 51);
        assert_eq!(*g.sigmas.last().unwrap(), 0.0);
        assert!(g.sigmas.windows(2).all(|w| w[1] < w[0]));
    }
}
