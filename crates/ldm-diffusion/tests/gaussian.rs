//! Samplers against a denoiser known in closed form, so no training is needed.
//!
//! Data x0 ~ N(μ, s² I). In the variance-preserving view x_t = α x0 + σ ε is Gaussian too,
//! jointly with x0, so the ideal (minimum-MSE) denoiser is linear in x_t:
//!
//!   E[x0 | x_t] = μ + Cov(x0, x_t) / Var(x_t) · (x_t − E[x_t])
//!               = μ + α s² / (α² s² + σ²) · (x_t − α μ).
//!
//! A network that outputs exactly the ε, v or x0 this implies is what training converges to,
//! so a correct sampler must turn pure noise into samples with mean μ and variance s². What
//! remains is discretisation error (shrinking with more steps), Monte-Carlo error of the
//! noise the stochastic samplers add, and the start from pure noise where the schedule's
//! last step still holds some signal (only without zero terminal SNR).
//!
//! The errors at 50 steps are real properties of the methods, all in the variance (the
//! mean is exact but for the start), and all shrink with more steps (measured at 1000
//! steps: ≤ 0.6% for every sampler):
//! - the last step returns D(x; σ_last) = E[x0 | x], which lacks the Var(x0 | x) part of the
//!   data's variance: σ_last² / (s² + σ_last²) ≈ 2.8% for the 50-step trailing grid
//!   (σ_last = σ(19) ≈ 0.14). This is nearly all of the second-order samplers' error;
//! - Euler and DDIM (the same update in the sigma view) add first-order error, ~1/n;
//! - DDPM's ancestral step uses E[x0 | x_t] where the true reverse step would also carry
//!   Var(x0 | x_t), so each coarse step loses variance (DDIM with eta = 1 is the same step).

mod common;

use burn::tensor::{Device, Tensor};
use ldm_diffusion::samplers::{self, SamplingConfig};
use ldm_diffusion::{
    BetaSchedule, Denoiser, Grid, Level, Model, Noise, Prediction, Sampler, Schedule, Spacing,
};

const MU: f64 = 0.5;
/// Not 1, so a sampler that returned noise of the right mean would still fail.
const S: f64 = 0.8;
/// 2,000 latents of 4×4×4: 128,000 values, so where sampler noise enters the mean is known
/// to ±0.0022 (one standard error) and the variance to ±0.4%.
const SHAPE: [usize; 4] = [2000, 4, 4, 4];

/// The ideal denoiser for N(MU, S²) data, answering in `prediction`'s terms.
fn ideal(schedule: &Schedule, prediction: Prediction) -> impl Denoiser + '_ {
    move |x_t: Tensor<4>, t: Tensor<1>| {
        let t: Vec<f32> = t.try_into_vec_as().unwrap();
        assert!(t.iter().all(|&v| v == t[0]), "one timestep per call");
        let l = Level::from_ve_sigma(schedule.sigma_at(t[0] as f64));
        let gain = l.alpha * S * S / (l.alpha * l.alpha * S * S + l.sigma * l.sigma);
        let x0 = x_t
            .clone()
            .sub_scalar(l.alpha * MU)
            .mul_scalar(gain)
            .add_scalar(MU);
        let eps = (x_t - x0.clone().mul_scalar(l.alpha)).div_scalar(l.sigma);
        prediction.target(x0, eps, &[l])
    }
}

/// Mean and variance over every value.
fn moments(x: &Tensor<4>) -> (f64, f64) {
    let v = common::values(x);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (mean, v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
}

struct Setup {
    name: &'static str,
    schedule: Schedule,
    prediction: Prediction,
}

fn setups() -> Vec<Setup> {
    vec![
        Setup {
            name: "sd-zero-snr-v",
            schedule: Schedule::new(BetaSchedule::ScaledLinear, 1000, 0.00085, 0.012, true),
            prediction: Prediction::V,
        },
        Setup {
            name: "sd-eps",
            schedule: Schedule::stable_diffusion(),
            prediction: Prediction::Eps,
        },
        Setup {
            name: "cosine-x0",
            schedule: Schedule::new(BetaSchedule::Cosine, 1000, 0.0, 0.0, false),
            prediction: Prediction::X0,
        },
    ]
}

/// Sample SHAPE from standardised pure noise (exactly mean 0, variance 1, so the
/// deterministic samplers show their discretisation error alone); (mean error, relative
/// variance error).
fn run(setup: &Setup, sampler: Sampler, eta: f64, steps: usize) -> (f64, f64) {
    let dev = Device::flex();
    let grid = Grid::new(&setup.schedule, Spacing::Trailing, steps);
    let mut noise = Noise::new(0, 0, SHAPE[0], &dev);
    let z = noise.draw([SHAPE[1], SHAPE[2], SHAPE[3]]);
    let (m, v) = moments(&z);
    let z = z.sub_scalar(m).div_scalar(v.sqrt());
    let x = z.mul_scalar((1.0 + grid.sigmas[0] * grid.sigmas[0]).sqrt());
    let mut net = ideal(&setup.schedule, setup.prediction);
    let mut model = Model::new(&mut net, setup.prediction);
    let out = sampler.sample(&mut model, x, &grid, eta, &mut noise);
    let (mean, var) = moments(&out);
    assert!(
        mean.is_finite() && var.is_finite(),
        "{} {sampler}: not finite",
        setup.name
    );
    (mean - MU, var / (S * S) - 1.0)
}

/// How far the start from pure noise moves the result, without zero terminal SNR: the ODE
/// carries the mean error of the start, −μ, through to the end scaled by
/// s / sqrt(s² + σ_max²) (linear Gaussian flow); the stochastic samplers shrink it further.
fn start_bias(schedule: &Schedule) -> f64 {
    let sigma_max = schedule.sigmas[schedule.len() - 1];
    MU * S / (S * S + sigma_max * sigma_max).sqrt()
}

/// Tolerances on the mean error (beyond the start bias) and on the relative variance error.
/// At 50 steps by the sampler's order, about 1.4 times the errors explained above; at 10 and
/// 5 steps, graceful degradation: finite, bounded, and no better than with more steps.
fn tolerance(kind: &str, steps: usize) -> (f64, f64) {
    match (steps, kind) {
        (50, "heun" | "dpmpp-2m") => (0.005, 0.04),
        (50, "euler" | "ddim") => (0.005, 0.11),
        (50, _) => (0.01, 0.19),
        (10, _) => (0.02, 0.5),
        _ => (0.02, 0.7),
    }
}

const KINDS: [(Sampler, f64, &str); 6] = [
    (Sampler::Ddpm, 0.0, "ddpm"),
    (Sampler::Ddim, 0.0, "ddim"),
    (Sampler::Ddim, 1.0, "ddim eta=1"),
    (Sampler::Euler, 0.0, "euler"),
    (Sampler::Heun, 0.0, "heun"),
    (Sampler::DpmPp2m, 0.0, "dpmpp-2m"),
];

#[test]
fn every_sampler_reproduces_gaussian_data() {
    let mut failures = vec![];
    eprintln!("setup          sampler      steps  mean err   var rel err  (start bias)");
    for setup in setups() {
        let bias = start_bias(&setup.schedule);
        for (sampler, eta, kind) in KINDS {
            // Variance error magnitude of the run with more steps, for monotonicity.
            let mut finer = 0.0f64;
            for steps in [50, 10, 5] {
                let (dm, dv) = run(&setup, sampler, eta, steps);
                let (tol_m, tol_v) = tolerance(kind, steps);
                eprintln!(
                    "{:<14} {kind:<12} {steps:>5}  {dm:>+9.5}  {dv:>+9.5}  ({bias:.4})",
                    setup.name
                );
                let worse = dv.abs() + 0.005 >= finer;
                if dm.abs() > tol_m + bias || dv.abs() > tol_v || !worse {
                    failures.push(format!("{} {kind} {steps}: {dm:+.4} {dv:+.4}", setup.name));
                }
                finer = dv.abs();
            }
        }
    }
    assert!(failures.is_empty(), "outside tolerance: {failures:#?}");
}

/// In the sigma view DDIM at eta = 0 is Euler's method, and DDIM at eta = 1 is DDPM's
/// posterior step (without clipping): the same numbers by different formulas.
#[test]
fn ddim_is_euler_at_eta_0_and_ddpm_at_eta_1() {
    let setup = &setups()[1];
    let dev = Device::flex();
    let grid = Grid::new(&setup.schedule, Spacing::Trailing, 20);
    let out = |sampler: Sampler, eta: f64| {
        let mut noise = Noise::new(1, 0, 8, &dev);
        let x = noise
            .draw([4, 4, 4])
            .mul_scalar((1.0 + grid.sigmas[0].powi(2)).sqrt());
        let mut net = ideal(&setup.schedule, setup.prediction);
        let mut model = Model::new(&mut net, setup.prediction);
        common::values(&sampler.sample(&mut model, x, &grid, eta, &mut noise))
    };
    let close = |a: Vec<f64>, b: Vec<f64>| a.iter().zip(&b).all(|(a, b)| (a - b).abs() < 1e-4);
    assert!(close(out(Sampler::Ddim, 0.0), out(Sampler::Euler, 0.0)));
    assert!(close(out(Sampler::Ddim, 1.0), out(Sampler::Ddpm, 0.0)));
}

/// `generate` (what `ldm sample` calls) is seeded, and an image does not depend on the batch
/// it is generated in.
#[test]
fn generate_is_seeded_and_batch_independent() {
    let dev = Device::flex();
    let schedule = Schedule::stable_diffusion();
    let config = SamplingConfig {
        sampler: Sampler::Ddpm,
        steps: 10,
        ..Default::default()
    };
    let mut net = ideal(&schedule, Prediction::Eps);
    let mut make = |seed, first, n| {
        let x = samplers::generate(
            &mut net,
            &schedule,
            Prediction::Eps,
            &config,
            [n, 4, 2, 2],
            &dev,
            seed,
            first,
        );
        common::values(&x)
    };
    let batch = make(3, 0, 4);
    assert_eq!(batch, make(3, 0, 4));
    assert_eq!(batch[2 * 16..3 * 16], make(3, 2, 1)[..]);
    assert_ne!(batch, make(4, 0, 4));
    assert!(batch.iter().all(|v| v.is_finite()));
}
