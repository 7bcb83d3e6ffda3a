//! The diffusion process of latent diffusion, as plain data and pure functions: discrete noise
//! schedules, the continuous sigma view samplers work in, prediction targets and their
//! conversions, loss weighting, training-timestep sampling, classifier-free guidance and the
//! samplers (DDPM, DDIM, Euler, Heun, DPM-Solver++ 2M).
//!
//! Two views of one process. Training uses the discrete, variance-preserving view:
//! `x_t = sqrt(ā_t) x0 + sqrt(1 - ā_t) ε` for integer `t < T` ([`Schedule`]). Samplers use
//! k-diffusion's variance-exploding view: `x = x0 + σ ε` with `σ = sqrt((1 - ā) / ā)`, which
//! is the same process with `x` divided by `sqrt(ā)` ([`Grid`], [`samplers`]). In the sigma
//! view every sampler is a short update of `x` towards the denoised estimate, and the network
//! only ever sees the variance-preserving input it was trained on.

pub mod betas;
pub mod config;
pub mod guidance;
pub mod noise;
pub mod samplers;
pub mod schedule;
pub mod sigmas;
pub mod target;
pub mod timesteps;
pub mod train;
pub mod unet;
pub mod weighting;

pub use config::DiffusionConfig;
pub use guidance::Cfg;
pub use noise::Noise;
pub use samplers::{Denoiser, Model, Sampler, SamplingConfig};
pub use schedule::{BetaSchedule, Schedule};
pub use sigmas::{Grid, Spacing};
pub use target::{Level, Prediction};
pub use timesteps::TimestepSampling;
pub use weighting::Weighting;
