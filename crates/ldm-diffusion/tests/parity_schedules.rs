//! Parity with diffusers 0.42: each schedule's ā, the forward process (`add_noise`, the v
//! target) and the Karras grid. Fixture and script: `scripts/make_diffusion_fixtures.py`.
//!
//! Values agree bit for bit except where torch's float32 `sqrt` (not correctly rounded on
//! the CPU that made the fixture, unlike Rust's) enters: the zero-terminal-SNR rescaling and
//! the sigma table, which then differ by about one float32 ulp.

mod common;

use common::*;
use ldm_diffusion::sigmas::{self, Grid, Spacing};
use ldm_diffusion::{BetaSchedule, Schedule};

const TOL: f64 = 1e-5;

#[test]
fn alphas_cumprod_of_every_schedule() {
    let fx = fixture();
    for (name, case) in fx["alphas_cumprod"].as_object().unwrap() {
        let cfg = &case["config"];
        let kind = match cfg["beta_schedule"].as_str().unwrap() {
            "linear" => BetaSchedule::Linear,
            "scaled_linear" => BetaSchedule::ScaledLinear,
            "squaredcos_cap_v2" => BetaSchedule::Cosine,
            other => panic!("{other}"),
        };
        let s = Schedule::new(
            kind,
            cfg["num_train_timesteps"].as_u64().unwrap() as usize,
            cfg["beta_start"].as_f64().unwrap(),
            cfg["beta_end"].as_f64().unwrap(),
            cfg["rescale_betas_zero_snr"].as_bool().unwrap(),
        );
        let got: Vec<f64> = s.alphas_cumprod.iter().map(|&a| a as f64).collect();
        check(
            &format!("alphas_cumprod {name}"),
            &got,
            &floats32(&case["values"]),
            TOL,
        );
    }
}

#[test]
fn add_noise_and_velocity() {
    let fx = &fixture()["add_noise"];
    let s = Schedule::stable_diffusion();
    let (x0, noise) = (tensor(&fx["x0"]), tensor(&fx["noise"]));
    for case in fx["cases"].as_array().unwrap() {
        let t: Vec<usize> = case["timesteps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let noisy = s.add_noise(x0.clone(), noise.clone(), &t);
        check_t(
            &format!("add_noise t={t:?}"),
            &noisy,
            &tensor(&case["noisy"]),
            TOL,
        );
        let v = s.velocity(x0.clone(), noise.clone(), &t);
        check_t(
            &format!("velocity t={t:?}"),
            &v,
            &tensor(&case["velocity"]),
            TOL,
        );
    }
}
#[test]
fn karras_grid() {
    let fx = fixture();
    let k = &fx["karras"]["euler_scaled_linear"];
    let grid = Grid::new(&Schedule::stable_diffusion(), Spacing::Karras, 10);
    check("karras sigmas", &grid.sigmas, &floats32(&k["sigmas"]), TOL);
    // Fractional timesteps near 1000 are float32: compare relative to their size.
    let want = floats32(&k["timesteps"]);
    let rel: Vec<f64> = grid
        .timesteps
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w) / w.max(1.0))
        .collect();
    check(
        "karras timesteps (relative)",
        &rel,
        &vec![0.0; rel.len()],
        TOL,
    );
    let f = &fx["karras"]["formula"];
    let got = sigmas::karras(
        f["sigma_min"].as_f64().unwrap(),
        f["sigma_max"].as_f64().unwrap(),
        f["rho"].as_f64().unwrap(),
        f["n"].as_u64().unwrap() as usize,
    );
    check("karras formula", &got, &floats(&f["sigmas"]), 1e-12);
}
