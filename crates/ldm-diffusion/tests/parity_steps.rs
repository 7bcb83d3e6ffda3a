//! Parity with diffusers 0.42 on fixed inputs: one step of each scheduler (DDPM, DDIM,
//! Euler, Heun, DPM-Solver++ 2M). Fixture and script: `scripts/make_diffusion_fixtures.py`.
//!
//! diffusers' DDPM, DDIM and DPM-Solver work in the variance-preserving view
//! (x_t = sqrt(ā) x0 + sqrt(1 − ā) ε), ours in the sigma view (x = x_t / sqrt(ā)), so their
//! inputs are scaled into it and our outputs back; Euler and Heun share our view.

mod common;

use std::collections::VecDeque;

use burn::tensor::Tensor;
use common::*;
use ldm_diffusion::samplers::{ddim, ddpm, dpmpp_2m, euler, heun};
use ldm_diffusion::sigmas::{self, Grid, Spacing};
use ldm_diffusion::{Model, Prediction, Schedule};
use serde_json::Value;

const TOL: f64 = 1e-5;

/// A network that returns the fixture's outputs in order and records what it was given.
struct Replay {
    outputs: VecDeque<Tensor<4>>,
    inputs: Vec<(Tensor<4>, Vec<f32>)>,
}

impl Replay {
    fn new(outputs: Vec<Tensor<4>>) -> Self {
        Self {
            outputs: outputs.into(),
            inputs: vec![],
        }
    }
}

impl ldm_diffusion::Denoiser for Replay {
    fn predict(&mut self, x_t: Tensor<4>, t: Tensor<1>) -> Tensor<4> {
        self.inputs.push((x_t, t.try_into_vec_as().unwrap()));
        self.outputs.pop_front().expect("one output per call")
    }
}

fn prediction(case: &Value) -> Prediction {
    match case["config"]["prediction_type"].as_str().unwrap() {
        "epsilon" => Prediction::Eps,
        "v_prediction" => Prediction::V,
        other => panic!("{other}"),
    }
}

/// sqrt(1 + σ²): variance-preserving x_t times this is the sigma view's x.
fn ve_scale(sigma: f64) -> f64 {
    (1.0 + sigma * sigma).sqrt()
}

/// DDPM and DDIM: each fixture step independently, on the leading grid diffusers uses.
fn discrete_case(name: &str, ddim_step: bool) {
    let fx = fixture();
    let case = &fx["schedulers"][name];
    let s = Schedule::stable_diffusion();
    let ts = floats32(&case["timesteps"]);
    assert_eq!(
        ts,
        sigmas::timesteps(Spacing::Leading, 1000, 10),
        "{name} grid"
    );
    let grid = Grid::from_timesteps(&s, ts);
    for st in case["steps"].as_array().unwrap() {
        let i = st["step_index"].as_u64().unwrap() as usize;
        let label = format!("{name} step {i}");
        let (sigma, next) = (grid.sigmas[i], grid.sigmas[i + 1]);
        let sample = tensor(&st["sample"]);
        let mut net = Replay::new(vec![tensor(&st["model_output"])]);
        let x = sample.clone().mul_scalar(ve_scale(sigma));
        let mut model = Model::new(&mut net, prediction(case));
        if case["config"]["clip_sample"].as_bool().unwrap() {
            model.clip = Some(case["config"]["clip_sample_range"].as_f64().unwrap());
        }
        let x0 = model.denoise(&x, sigma, grid.timesteps[i]);
        let (input, t) = &net.inputs[0];
        check_t(&format!("{label} model input"), input, &sample, TOL);
        assert_eq!(t[0] as f64, grid.timesteps[i]);
        check_t(
            &format!("{label} x0"),
            &x0,
            &tensor(&st["pred_original_sample"]),
            TOL,
        );
        let z = st.get("variance_noise").map(tensor);
        let (prev, std) = if ddim_step {
            let eta = st["eta"].as_f64().unwrap();
            (
                ddim::step(x, x0, sigma, next, eta, z),
                ddim::std_dev(sigma, next, eta),
            )
        } else {
            (
                ddpm::step(x, x0, sigma, next, z.unwrap()),
                ddpm::std_dev(sigma, next),
            )
        };
        if let Some(want) = st.get("std_dev") {
            let (got, want) = (std / ve_scale(next), want.as_f64().unwrap() as f32 as f64);
            check(&format!("{label} std_dev"), &[got], &[want], TOL);
        }
        let prev = prev.div_scalar(ve_scale(next));
        check_t(
            &format!("{label} prev_sample"),
            &prev,
            &tensor(&st["prev_sample"]),
            TOL,
        );
    }
}

#[test]
fn ddpm_steps() {
    for name in ["ddpm_epsilon", "ddpm_epsilon_clip", "ddpm_v_prediction"] {
        discrete_case(name, false);
    }
}

#[test]
fn ddim_steps() {
    for name in ["ddim_eta0", "ddim_eta1", "ddim_v_prediction"] {
        discrete_case(name, true);
    }
}

#[test]
fn euler_step_and_linspace_grid() {
    let fx = fixture();
    let case = &fx["schedulers"]["euler"];
    let s = Schedule::stable_diffusion();
    let grid = Grid::new(&s, Spacing::Linspace, 10);
    check(
        "euler timesteps",
        &grid.timesteps,
        &floats32(&case["timesteps"]),
        0.0,
    );
    check(
        "euler sigmas",
        &grid.sigmas,
        &floats32(&case["sigmas"]),
        TOL,
    );
    let init = case["init_noise_sigma"].as_f64().unwrap() as f32 as f64;
    check("euler init_noise_sigma", &[grid.sigmas[0]], &[init], TOL);
    let st = &case["steps"][0];
    let x = tensor(&st["sample"]);
    let mut net = Replay::new(vec![tensor(&st["model_output"])]);
    let x0 = Model::new(&mut net, Prediction::Eps).denoise(&x, grid.sigmas[0], grid.timesteps[0]);
    check_t(
        "euler scaled_model_input",
        &net.inputs[0].0,
        &tensor(&st["scaled_model_input"]),
        TOL,
    );
    check_t("euler x0", &x0, &tensor(&st["pred_original_sample"]), TOL);
    let prev = euler::step(x, x0, grid.sigmas[0], grid.sigmas[1]);
    check_t("euler prev_sample", &prev, &tensor(&st["prev_sample"]), TOL);
}

#[test]
fn heun_full_step() {
    let fx = fixture();
    let case = &fx["schedulers"]["heun"];
    let s = Schedule::stable_diffusion();
    let grid = Grid::new(&s, Spacing::Linspace, 10);
    // diffusers doubles every interior grid point, one per call.
    let doubled: Vec<f64> = floats32(&case["sigmas"]);
    let mut single = vec![doubled[0]];
    single.extend(doubled[1..].iter().step_by(2));
    check("heun sigmas", &grid.sigmas, &single, TOL);
    let (a, b) = (&case["steps"][0], &case["steps"][1]);
    let x = tensor(&a["sample"]);
    let mut net = Replay::new(vec![tensor(&a["model_output"]), tensor(&b["model_output"])]);
    let mut model = Model::new(&mut net, Prediction::Eps);
    let (sigma, next) = (grid.sigmas[0], grid.sigmas[1]);
    let x0 = model.denoise(&x, sigma, grid.timesteps[0]);
    check_t(
        "heun call 1 x0",
        &x0,
        &tensor(&a["pred_original_sample"]),
        TOL,
    );
    let mut second = None;
    let prev = heun::step(x, x0, sigma, next, |p| {
        check_t(
            "heun predictor (call 1 prev_sample)",
            p,
            &tensor(&a["prev_sample"]),
            TOL,
        );
        let x0 = model.denoise(p, next, grid.timesteps[1]);
        second = Some(x0.clone());
        x0
    });
    check_t(
        "heun call 2 x0",
        &second.unwrap(),
        &tensor(&b["pred_original_sample"]),
        TOL,
    );
    check_t(
        "heun call 2 prev_sample",
        &prev,
        &tensor(&b["prev_sample"]),
        TOL,
    );
    check_t(
        "heun call 2 scaled_model_input",
        &net.inputs[1].0,
        &tensor(&b["scaled_model_input"]),
        TOL,
    );
    assert_eq!(net.inputs[1].1[0] as f64, grid.timesteps[1]);
}

/// Each step on diffusers' own inputs (its sample, and its x0 of the step before), then the
/// three steps chained on our own outputs, where float32 error grows through x0 = (x − σ ε)/α
/// (1/α ≈ 8 by the second step).
#[test]
fn dpmpp_2m_three_steps() {
    let fx = fixture();
    let case = &fx["schedulers"]["dpmsolver_pp_2m"];
    let s = Schedule::stable_diffusion();
    let grid = Grid::from_timesteps(&s, floats(&case["timesteps"]));
    check("dpm sigmas", &grid.sigmas, &floats32(&case["sigmas"]), TOL);
    let steps = case["steps"].as_array().unwrap();
    let outputs: Vec<_> = steps.iter().map(|st| tensor(&st["model_output"])).collect();
    for (chained, tol) in [(false, TOL), (true, 2e-5)] {
        let mut net = Replay::new(outputs.clone());
        let mut model = Model::new(&mut net, Prediction::Eps);
        let mut x = tensor(&steps[0]["sample"]).mul_scalar(ve_scale(grid.sigmas[0]));
        let mut previous: Option<(Tensor<4>, f64)> = None;
        for (i, st) in steps.iter().enumerate() {
            let label = format!("dpm step {i}{}", if chained { " chained" } else { "" });
            let (sigma, next) = (grid.sigmas[i], grid.sigmas[i + 1]);
            if !chained {
                x = tensor(&st["sample"]).mul_scalar(ve_scale(sigma));
            }
            let x0 = model.denoise(&x, sigma, grid.timesteps[i]);
            check_t(&format!("{label} x0"), &x0, &tensor(&st["x0_pred"]), tol);
            assert_eq!(previous.is_some(), st["order"].as_u64() == Some(2));
            let history = previous.as_ref().map(|(t, s)| (t, *s));
            x = dpmpp_2m::step(x, x0.clone(), sigma, next, history);
            let prev = x.clone().div_scalar(ve_scale(next));
            check_t(
                &format!("{label} prev_sample"),
                &prev,
                &tensor(&st["prev_sample"]),
                tol,
            );
            let x0_used = if chained { x0 } else { tensor(&st["x0_pred"]) };
            previous = Some((x0_used, sigma));
        }
    }
}
