//! The `[diffusion]` section: the noise schedule, what the network predicts, and how the
//! denoising loss samples and weights timesteps.

use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};

use crate::schedule::{BetaSchedule, Schedule};
use crate::target::Prediction;
use crate::timesteps::TimestepSampling;
use crate::weighting::Weighting;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiffusionConfig {
    /// "linear", "scaled-linear" (Stable Diffusion) or "cosine".
    pub schedule: BetaSchedule,
    /// Training timesteps T.
    pub timesteps: usize,
    /// Beta range of the linear schedules (unused by "cosine").
    pub beta_start: f64,
    pub beta_end: f64,
    /// Rescale the schedule so the last timestep is pure noise (Lin et al. 2023); needs a
    /// prediction other than "eps".
    pub zero_terminal_snr: bool,
    /// What the network predicts: "eps", "v" or "x0".
    pub prediction: Prediction,
    /// Loss weighting over timesteps: "uniform" or "min-snr".
    pub weighting: Weighting,
    /// γ of min-SNR-γ weighting.
    pub min_snr_gamma: f64,
    /// Training timestep distribution: "uniform" or "logit-normal".
    pub timestep_sampling: TimestepSampling,
    /// Location and scale of the logit-normal timestep distribution.
    pub logit_mean: f64,
    pub logit_std: f64,
}

impl Default for DiffusionConfig {
    fn default() -> Self {
        Self {
            schedule: BetaSchedule::ScaledLinear,
            timesteps: 1000,
            beta_start: 0.00085,
            beta_end: 0.012,
            zero_terminal_snr: false,
            prediction: Prediction::Eps,
            weighting: Weighting::Uniform,
            min_snr_gamma: 5.0,
            timestep_sampling: TimestepSampling::Uniform,
            logit_mean: 0.0,
            logit_std: 1.0,
        }
    }
}

impl Validate for DiffusionConfig {
    fn validate(&self, c: &mut Checks) {
        c.check("timesteps", (2..=100_000).contains(&self.timesteps), || {
            "must be in 2..=100000".into()
        });
        if self.schedule != BetaSchedule::Cosine {
            c.check("beta_start", self.beta_start > 0.0, || "must be > 0".into());
            c.check(
                "beta_end",
                self.beta_end > self.beta_start && self.beta_end < 1.0,
                || "must be in (beta_start, 1)".into(),
            );
        }
        c.check(
            "prediction",
            !(self.zero_terminal_snr && self.prediction == Prediction::Eps),
            || {
                "\"eps\" cannot be used with zero_terminal_snr: at the last timestep the input \
                 is pure noise, so ε says nothing about x0; use \"v\""
                    .into()
            },
        );
        c.check(
            "min_snr_gamma",
            self.min_snr_gamma > 0.0 && self.min_snr_gamma.is_finite(),
            || "must be > 0".into(),
        );
        c.check(
            "logit_std",
            self.logit_std > 0.0 && self.logit_std.is_finite(),
            || "must be > 0".into(),
        );
        c.check("logit_mean", self.logit_mean.is_finite(), || {
            "must be finite".into()
        });
    }
}

impl DiffusionConfig {
    pub fn schedule(&self) -> Schedule {
        Schedule::new(
            self.schedule,
            self.timesteps,
            self.beta_start,
            self.beta_end,
            self.zero_terminal_snr,
        )
    }

    /// Timesteps for a batch of `n` (see [`TimestepSampling`]).
    pub fn sample_timesteps(&self, rng: &mut impl rand::Rng, n: usize) -> Vec<usize> {
        self.timestep_sampling
            .sample(rng, n, self.timesteps, self.logit_mean, self.logit_std)
    }

    /// Loss weights of a batch noised to timesteps `t` of `schedule`.
    pub fn loss_weights(&self, schedule: &Schedule, t: &[usize]) -> Vec<f64> {
        let snrs: Vec<f64> = t.iter().map(|&t| schedule.snr(t)).collect();
        self.weighting
            .weights(self.prediction, &snrs, self.min_snr_gamma)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded problems, as Checks' debug output (its list is private to ldm-core).
    fn problems(cfg: &DiffusionConfig) -> String {
        let mut c = Checks::default();
        c.section("diffusion", |c| cfg.validate(c));
        format!("{c:?}")
    }

    #[test]
    fn parses_kebab_names_and_rejects_unknown_keys() {
        let cfg: DiffusionConfig = toml::from_str(
            "schedule = \"cosine\"\nprediction = \"v\"\nweighting = \"min-snr\"\n\
             timestep_sampling = \"logit-normal\"\nzero_terminal_snr = true",
        )
        .unwrap();
        assert_eq!(cfg.schedule, BetaSchedule::Cosine);
        assert_eq!(cfg.weighting, Weighting::MinSnr);
        assert_eq!(cfg.timestep_sampling, TimestepSampling::LogitNormal);
        assert!(toml::from_str::<DiffusionConfig>("scheduel = \"linear\"").is_err());
        let sd: DiffusionConfig = toml::from_str("schedule = \"scaled-linear\"").unwrap();
        assert_eq!(sd, DiffusionConfig::default());
    }

    #[test]
    fn rejects_eps_with_zero_terminal_snr() {
        let ok = DiffusionConfig::default();
        assert!(!problems(&ok).contains("diffusion."), "{}", problems(&ok));
        let bad = DiffusionConfig {
            zero_terminal_snr: true,
            ..ok
        };
        assert!(problems(&bad).contains("diffusion.prediction"));
    }
}
