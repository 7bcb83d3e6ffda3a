#!/usr/bin/env python3
"""Write crates/ldm-diffusion/tests/fixtures/diffusers.json: reference values of
noise schedules and sampler steps computed by diffusers' own scheduler classes.

Run with the reference venv (scripts/setup-reference-venv.sh):

    .venv-ref/bin/python scripts/make_diffusion_fixtures.py

The output is deterministic (fixed seeds, CPU only). Every input a Rust test
needs is stored explicitly, so no test has to reproduce torch's RNG.

JSON layout
-----------
A *tensor* is ``{"shape": [..], "dtype": "float32", "data": [..]}`` with
``data`` flattened row-major (C order). Floats are written as the shortest
decimal that parses (as f64, then cast to f32) back to the exact float32 value;
"float64" values are exact f64 reprs. Non-finite config values (e.g. DPM's
``lambda_min_clipped=-inf``) are written as the strings "inf"/"-inf".

    meta: {script, diffusers, torch, numpy, notes: [str]}
    alphas_cumprod: {VARIANT: {config: {...}, dtype: "float32", values: [1000 floats]}}
        VARIANT in linear, scaled_linear, squaredcos_cap_v2, each also with
        suffix "_zero_snr" (rescale_betas_zero_snr=True). DDPMScheduler config.
    add_noise: {config, x0: tensor[2,4,4,4], noise: tensor[2,4,4,4],
                cases: [{timesteps: [int, int], noisy: tensor, velocity: tensor}]}
        noisy = DDPMScheduler.add_noise(x0, noise, timesteps) (scaled_linear),
        velocity = get_velocity(x0, noise, timesteps); timesteps are per batch item.
    schedulers: {CASE: {class, config, num_inference_steps: 10,
                        timesteps: [..], sigmas?: [..], init_noise_sigma?: float,
                        steps: [STEP, ..]}}
        config is the scheduler's full resolved config (defaults included).
        timesteps is the grid after set_timesteps(10): ints for DDPM/DDIM/DPM,
        float32 for Euler/Heun. sigmas (float32, with the trailing final sigma)
        for the sigma-based schedulers. Heun's grids are diffusers' doubled ones.
        STEP: {step_index, timestep, sample: tensor, model_output: tensor,
               prev_sample: tensor, and where applicable:
               pred_original_sample: tensor (DDPM/DDIM/Euler/Heun step output),
               scaled_model_input: tensor (Euler/Heun: scale_model_input(sample, t)),
               variance_noise: tensor + std_dev: float (DDPM, DDIM eta>0),
               eta: float (DDIM), x0_pred: tensor (DPM: the converted model output),
               order: int (DPM: 1 or 2, which update diffusers used)}
        CASE                       steps
        ddpm_epsilon               index 0 (t=900, adds noise) and 9 (t=0, none)
        ddpm_epsilon_clip          index 0 with clip_sample=True (diffusers' default)
        ddpm_v_prediction          index 0
        ddim_eta0, ddim_eta1       index 0 and 9 (t=0 uses final_alpha_cumprod)
        ddim_v_prediction          index 0, eta=0
        euler                      index 0 (first pipeline step)
        heun                       the two calls of one full Heun step (index 0, 1)
        dpmsolver_pp_2m            indices 0, 1, 2 chained (1st, 2nd, 2nd order)
        std_dev is 0 where no noise is added (DDPM at t=0; DDIM when the previous
        alpha_cumprod is 1); variance_noise is then stored but has no effect.
        step_index indexes `timesteps` (for Heun: the doubled grid, one per call).
        Stateless schedulers (DDPM, DDIM): each STEP is independent. Stateful ones
        (Euler, Heun, DPM): STEPs are consecutive calls on one scheduler, and each
        step's sample is the previous step's prev_sample.
    karras: {euler_scaled_linear: {config, sigmas: [11 float32], timesteps: [10 float32]},
             formula: {sigma_min, sigma_max, rho, n, dtype: "float64", sigmas: [n floats]}}
        formula: sigma_i = (max^(1/rho) + i/(n-1) (min^(1/rho) - max^(1/rho)))^rho,
        i = 0..n-1, without the trailing 0 that k-diffusion's get_sigmas_karras appends.
"""
import json
import math
import re
from pathlib import Path

import diffusers
import numpy as np
import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "crates" / "ldm-diffusion" / "tests" / "fixtures" / "diffusers.json"

# Stable Diffusion's training schedule; every scheduler case uses it.
SD_BETAS = dict(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
SCHEDULES = {
    "linear": dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02),
    "scaled_linear": SD_BETAS,
    "squaredcos_cap_v2": dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2"),
}
STEPS = 10
SHAPE = (1, 4, 4, 4)
DDPM_NOISE_SEED = 1234  # seed of the torch.Generator handed to DDPMScheduler.step

NOTES = [
    "All scheduler math runs in float32 on the CPU, except where a value is marked float64.",
    "alphas_cumprod is a float32 torch.cumprod; squaredcos_cap_v2 betas are computed in "
    "Python float64 and then cast to float32 before the cumprod.",
    "DDPMScheduler.step draws its variance noise as torch.randn(model_output.shape, "
    "generator=g, dtype=float32) with g = torch.Generator('cpu').manual_seed(%d), created "
    "fresh for each step; that tensor is stored as variance_noise, and prev_sample = "
    "mean + std_dev * variance_noise." % DDPM_NOISE_SEED,
    "DDPMScheduler finds the previous timestep from the set_timesteps grid; DDIMScheduler "
    "uses t - num_train_timesteps // num_inference_steps.",
    "DDPMScheduler and DDIMScheduler default to clip_sample=True; the cases here set "
    "clip_sample=False (as Stable Diffusion's configs do) except ddpm_epsilon_clip.",
    "With rescale_betas_zero_snr the last alphas_cumprod is exactly 0 (DDPM/DDIM); "
    "EulerDiscreteScheduler then overwrites it with 2**-24 so its first sigma is finite.",
]


# ---------------------------------------------------------------- encoding

def short_f32(value) -> float:
    """The float64 whose repr is the shortest decimal of a float32 value.

    Checked to read back (decimal -> f64 -> f32) to the same float32; in the
    rare case double rounding would miss, the exact value is used instead."""
    v = np.float32(value)
    d = float(np.format_float_positional(v, unique=True))
    return d if np.float32(d) == v else float(v)


def f32_list(x) -> list:
    return [short_f32(v) for v in np.asarray(x, dtype=np.float32).ravel()]


def f64_list(x) -> list:
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def tensor(t: torch.Tensor) -> dict:
    assert t.dtype == torch.float32, t.dtype
    return {"shape": list(t.shape), "dtype": "float32", "data": f32_list(t.numpy())}


def scalar(x) -> float:
    return short_f32(x.item() if isinstance(x, torch.Tensor) else x)


def config_of(scheduler) -> dict:
    """The scheduler's resolved config (JSON-safe), private keys dropped."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return {k: clean(v) for k, v in scheduler.config.items() if not k.startswith("_")}


def grid(values: torch.Tensor) -> list:
    """A timestep grid as ints (integer dtypes) or float32 values."""
    if values.dtype.is_floating_point:
        return f32_list(values.numpy())
    return [int(v) for v in values]


def dumps(obj) -> str:
    """Indented JSON with each list of numbers kept on one line."""
    text = json.dumps(obj, indent=1, allow_nan=False)
    return re.sub(r"\[\s*([-+0-9.eE,\s]+?)\s*\]",
                  lambda m: "[" + ",".join(s.strip() for s in m.group(1).split(",")) + "]", text)


# ---------------------------------------------------------------- fixtures

class Randn:
    """Deterministic standard-normal tensors (float32) from one CPU generator."""

    def __init__(self, seed: int):
        self.gen = torch.Generator("cpu").manual_seed(seed)

    def __call__(self, shape=SHAPE, scale=1.0) -> torch.Tensor:
        return torch.randn(shape, generator=self.gen, dtype=torch.float32) * scale


def alphas_cumprod_fixtures() -> dict:
    out = {}
    for name, betas in SCHEDULES.items():
        for zero_snr in (False, True):
            s = DDPMScheduler(**betas, rescale_betas_zero_snr=zero_snr)
            ac = s.alphas_cumprod.numpy()
            # Sanity: a noise schedule only ever loses signal.
            assert np.all(np.diff(ac) < 0), name
            assert not zero_snr or ac[-1] == 0.0, name
            key = name + ("_zero_snr" if zero_snr else "")
            out[key] = {"config": config_of(s), "dtype": "float32", "values": f32_list(ac)}
    return out


def add_noise_fixtures() -> dict:
    rand = Randn(0)
    x0, noise = rand((2, 4, 4, 4)), rand((2, 4, 4, 4))
    s = DDPMScheduler(**SD_BETAS)
    cases = []
    for ts in ([10, 999], [0, 500]):
        t = torch.tensor(ts, dtype=torch.int64)
        cases.append({"timesteps": ts,
                      "noisy": tensor(s.add_noise(x0, noise, t)),
                      "velocity": tensor(s.get_velocity(x0, noise, t))})
    return {"config": config_of(s), "x0": tensor(x0), "noise": tensor(noise), "cases": cases}


def ddpm_case(rand: Randn, indices, **config) -> dict:
    s = DDPMScheduler(**SD_BETAS, **config)
    s.set_timesteps(STEPS)
    steps = []
    for i in indices:
        t = s.timesteps[i]
        sample, model_output = rand(), rand()
        out = s.step(model_output, t, sample, generator=torch.Generator("cpu").manual_seed(DDPM_NOISE_SEED))
        # Re-draw exactly what step() drew (see NOTES) and check it explains the output.
        noise = torch.randn(SHAPE, generator=torch.Generator("cpu").manual_seed(DDPM_NOISE_SEED), dtype=torch.float32)
        std = s._get_variance(t) ** 0.5 if t > 0 else torch.tensor(0.0)
        mean = ddpm_mean(s, t, sample, out.pred_original_sample)
        assert torch.allclose(out.prev_sample, mean + std * noise, atol=1e-5), "DDPM noise not reproduced"
        steps.append({"step_index": i, "timestep": int(t), "sample": tensor(sample),
                      "model_output": tensor(model_output), "variance_noise": tensor(noise),
                      "std_dev": scalar(std), "pred_original_sample": tensor(out.pred_original_sample),
                      "prev_sample": tensor(out.prev_sample)})
    return scheduler_case(s, steps)


def ddpm_mean(s: DDPMScheduler, t, sample, x0):
    """Posterior mean of DDPM eq. (7), computed independently of step()."""
    prev_t = s.previous_timestep(t)
    a_t = s.alphas_cumprod[t]
    a_prev = s.alphas_cumprod[prev_t] if prev_t >= 0 else torch.tensor(1.0)
    beta_t = 1 - a_t / a_prev
    return (a_prev.sqrt() * beta_t / (1 - a_t)) * x0 + ((1 - beta_t).sqrt() * (1 - a_prev) / (1 - a_t)) * sample


def ddim_case(rand: Randn, indices, eta: float, **config) -> dict:
    s = DDIMScheduler(**SD_BETAS, **config)
    s.set_timesteps(STEPS)
    steps = []
    for i in indices:
        t = s.timesteps[i]
        sample, model_output = rand(), rand()
        step = {"step_index": i, "timestep": int(t), "eta": eta, "sample": tensor(sample),
                "model_output": tensor(model_output)}
        kwargs = {}
        if eta > 0:
            # Passed explicitly so the noise is part of the fixture, not of torch's RNG.
            kwargs["variance_noise"] = rand()
            prev_t = t - s.config.num_train_timesteps // s.num_inference_steps
            step["variance_noise"] = tensor(kwargs["variance_noise"])
            step["std_dev"] = scalar(eta * s._get_variance(t, prev_t) ** 0.5)
        out = s.step(model_output, t, sample, eta=eta, **kwargs)
        step["pred_original_sample"] = tensor(out.pred_original_sample)
        step["prev_sample"] = tensor(out.prev_sample)
        steps.append(step)
    return scheduler_case(s, steps)


def sigma_steps(s, rand: Randn, calls: int) -> list:
    """`calls` consecutive step() calls from the start of the grid, as a pipeline
    does: sample = randn * init_noise_sigma, model input = scale_model_input."""
    sample = rand(scale=float(s.init_noise_sigma))
    steps = []
    for i in range(calls):
        t = s.timesteps[i]
        scaled = s.scale_model_input(sample, t)
        model_output = rand()
        out = s.step(model_output, t, sample)
        steps.append({"step_index": i, "timestep": scalar(t), "sample": tensor(sample),
                      "scaled_model_input": tensor(scaled), "model_output": tensor(model_output),
                      "pred_original_sample": tensor(out.pred_original_sample),
                      "prev_sample": tensor(out.prev_sample)})
        sample = out.prev_sample
    return steps


def euler_case(rand: Randn) -> dict:
    s = EulerDiscreteScheduler(**SD_BETAS)
    s.set_timesteps(STEPS)
    case = scheduler_case(s, sigma_steps(s, rand, calls=1))
    case["init_noise_sigma"] = scalar(s.init_noise_sigma)
    return case


def heun_case(rand: Randn) -> dict:
    s = HeunDiscreteScheduler(**SD_BETAS)
    s.set_timesteps(STEPS)
    init_noise_sigma = scalar(s.init_noise_sigma)
    # Call 1 is an Euler predictor to sigmas[1]; call 2 (model evaluated at the
    # predicted sample) averages the two slopes and restarts from the call-1 input.
    case = scheduler_case(s, sigma_steps(s, rand, calls=2))
    case["init_noise_sigma"] = init_noise_sigma
    return case


def dpm_case(rand: Randn) -> dict:
    s = DPMSolverMultistepScheduler(**SD_BETAS, algorithm_type="dpmsolver++", solver_order=2)
    s.set_timesteps(STEPS)
    sample = rand(scale=float(s.init_noise_sigma))
    steps = []
    for i in range(3):
        t = s.timesteps[i]
        model_output = rand()
        # Which update step() takes: first order until one earlier output exists.
        order = 1 if s.lower_order_nums < 1 else 2
        prev = s.step(model_output, t, sample).prev_sample
        steps.append({"step_index": i, "timestep": int(t), "order": order, "sample": tensor(sample),
                      "model_output": tensor(model_output), "x0_pred": tensor(s.model_outputs[-1]),
                      "prev_sample": tensor(prev)})
        sample = prev
    return scheduler_case(s, steps)


def scheduler_case(s, steps: list) -> dict:
    case = {"class": type(s).__name__, "config": config_of(s), "num_inference_steps": STEPS,
            "timesteps": grid(s.timesteps)}
    if hasattr(s, "sigmas"):
        case["sigmas"] = f32_list(s.sigmas.numpy())
    case["steps"] = steps
    return case


def scheduler_fixtures() -> dict:
    rand = Randn(1)
    no_clip = dict(clip_sample=False)
    return {
        "ddpm_epsilon": ddpm_case(rand, [0, STEPS - 1], **no_clip),
        "ddpm_epsilon_clip": ddpm_case(rand, [0], clip_sample=True),
        "ddpm_v_prediction": ddpm_case(rand, [0], prediction_type="v_prediction", **no_clip),
        "ddim_eta0": ddim_case(rand, [0, STEPS - 1], eta=0.0, **no_clip),
        "ddim_eta1": ddim_case(rand, [0, STEPS - 1], eta=1.0, **no_clip),
        "ddim_v_prediction": ddim_case(rand, [0], eta=0.0, prediction_type="v_prediction", **no_clip),
        "euler": euler_case(rand),
        "heun": heun_case(rand),
        "dpmsolver_pp_2m": dpm_case(rand),
    }


def karras_sigmas(sigma_min: float, sigma_max: float, rho: float, n: int) -> np.ndarray:
    """Karras et al. (2022) eq. (5), in float64."""
    ramp = np.linspace(0.0, 1.0, n)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def karras_fixtures() -> dict:
    s = EulerDiscreteScheduler(**SD_BETAS, use_karras_sigmas=True)
    s.set_timesteps(STEPS)
    params = dict(sigma_min=0.0292, sigma_max=14.6146, rho=7.0, n=STEPS)
    sigmas = karras_sigmas(**params)
    assert np.all(np.diff(sigmas) < 0)
    return {
        "euler_scaled_linear": {"config": config_of(s), "sigmas": f32_list(s.sigmas.numpy()),
                                "timesteps": grid(s.timesteps)},
        "formula": {**params, "dtype": "float64", "sigmas": f64_list(sigmas)},
    }


def main():
    torch.set_num_threads(1)  # determinism over speed; everything here is tiny
    data = {
        "meta": {"script": "scripts/make_diffusion_fixtures.py", "diffusers": diffusers.__version__,
                 "torch": torch.__version__, "numpy": np.__version__, "notes": NOTES},
        "alphas_cumprod": alphas_cumprod_fixtures(),
        "add_noise": add_noise_fixtures(),
        "schedulers": scheduler_fixtures(),
        "karras": karras_fixtures(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(dumps(data) + "\n")
    print(f"wrote {OUT.relative_to(REPO_ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
