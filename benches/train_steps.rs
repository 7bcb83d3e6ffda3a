//! Speed benchmarks of ldm's models on the CPU (`flex`), one benchmark per process:
//!
//! ```sh
//! cargo bench -p ldm-cli --bench train_steps -- denoiser --steps 10 --warmup 2 --batch 16
//! ```
//!
//! Benchmarks: `denoiser` (UNet training step), `autoencoder` (generator + critic training
//! step with the GAN and learned perceptual terms), `sampling` (DPM-Solver++(2M) with
//! guidance), `encoding` (`Autoencoder::encode` throughput) and `ops` (single ops at the
//! UNet's sizes). Each prints JSON lines on stdout (`"impl": "ldm"`); the PyTorch twin is
//! `scripts/bench_reference.py` and `scripts/bench.sh` runs both side by side.
//! Threads: `RAYON_NUM_THREADS` (or `--threads`). Peak memory is VmHWM of this process.
//! Nothing here asserts a time: speed is reported, never tested.

use std::sync::OnceLock;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Bool, DType, Device, Distribution, Tensor, TensorData};
use ldm_core::ops::{FastOps, gelu, silu};
use serde_json::{Value, json};

#[path = "train_steps/ops.rs"]
mod ops;

use ldm_autoencoder::losses::{GanLoss, PixelLoss};
use ldm_autoencoder::perceptual::{FeatureNetConfig, Perceptual};
use ldm_autoencoder::train::{LossConfig, critic_step, generator_step};
use ldm_autoencoder::{AutoencoderConfig, CriticConfig};
use ldm_core::DeviceSpec;
use ldm_core::train::{Ema, LossScale, Precision, adamw, clip_global_norm, unscale_and_clip};
use ldm_core::warm::Warm;
use ldm_diffusion::noise::gaussian;
use ldm_diffusion::samplers::{Sampler, SamplingConfig, generate};
use ldm_diffusion::sigmas::Spacing;
use ldm_diffusion::unet::UNetConfig;
use ldm_diffusion::weighting::weighted_mse;
use ldm_diffusion::{Cfg, Denoiser, DiffusionConfig, Prediction};

/// Text context of the denoiser benchmarks: 8 tokens of width 384 (MiniLM's).
const CTX_LEN: usize = 8;
const CTX_DIM: usize = 384;
/// Latents `[4, 16, 16]`; images `[3, 32, 32]` (the autoencoder at f=4 maps one to the other).
const LATENT: [usize; 3] = [4, 16, 16];
const IMAGE: [usize; 3] = [3, 32, 32];

struct Args {
    bench: String,
    steps: Option<usize>,
    warmup: Option<usize>,
    batch: Option<usize>,
    threads: Option<usize>,
    /// `ops` only: the minimum seconds spent timing each op.
    min_time: f64,
    /// `ops` only: run just the ops whose name contains this (to profile one op).
    only: String,
    /// `denoiser` only: what the step computes in (`train::Precision`; f16 with loss scaling).
    precision: Precision,
    /// `denoiser` only: where it runs (`cpu`, or `wgpu`/`cuda` in a build with that feature).
    device: DeviceSpec,
}

const USAGE: &str = "usage: train_steps <denoiser|autoencoder|sampling|encoding|ops> \
[--steps N] [--warmup N] [--batch N] [--threads N] [--min-time SECONDS] [--only OP] \
[--precision f32|bf16|f16] [--device cpu|wgpu|cuda]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        bench: String::new(),
        steps: None,
        warmup: None,
        batch: None,
        threads: None,
        min_time: 0.5,
        only: String::new(),
        precision: Precision::F32,
        device: DeviceSpec::Cpu,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<String, String> {
            it.next().ok_or_else(|| format!("{name} needs a value"))
        };
        let num = |s: String, name: &str| -> Result<usize, String> {
            s.parse()
                .map_err(|_| format!("{name}: not a whole number: {s}"))
        };
        match a.as_str() {
            // `cargo bench` appends `--bench` to the arguments of harness = false targets.
            "--bench" => {}
            "--steps" => args.steps = Some(num(value("--steps")?, "--steps")?),
            "--warmup" => args.warmup = Some(num(value("--warmup")?, "--warmup")?),
            "--batch" => args.batch = Some(num(value("--batch")?, "--batch")?),
            "--threads" => args.threads = Some(num(value("--threads")?, "--threads")?),
            "--min-time" => {
                let v = value("--min-time")?;
                args.min_time = v.parse().map_err(|_| format!("--min-time: {v}"))?;
            }
            "--only" => args.only = value("--only")?,
            "--device" => args.device = value("--device")?.parse()?,
            "--precision" => {
                let v = value("--precision")?;
                args.precision = serde_json::from_value(json!(v))
                    .map_err(|_| format!("--precision: f32, bf16 or f16, not {v}"))?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s if args.bench.is_empty() => args.bench = s.to_string(),
            s => return Err(format!("unexpected argument {s}\n{USAGE}")),
        }
    }
    if args.bench.is_empty() {
        return Err(USAGE.into());
    }
    Ok(args)
}

/// A line of /proc/self/status in MiB (VmHWM: peak resident set; VmRSS: current).
fn proc_status_mb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds (user + system, all threads) this process has used so far (/proc/self/stat,
/// in clock ticks of 1/100 s, the Linux default).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// VmRSS at the start of `main`, before any tensor work (the runtime's own footprint).
static BASELINE_RSS_MB: OnceLock<f64> = OnceLock::new();

/// Per-step phase times (ms) of the timed steps, summarised as medians.
#[derive(Default)]
struct Phases(Vec<(&'static str, Vec<f64>)>);

impl Phases {
    fn add(&mut self, name: &'static str, v: f64) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, xs)) => xs.push(v),
            None => self.0.push((name, vec![v])),
        }
    }

    fn medians(&self) -> Value {
        let mut m = serde_json::Map::new();
        for (n, xs) in &self.0 {
            m.insert(n.to_string(), json!(round3(median(xs))));
        }
        Value::Object(m)
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The result line shared by the step benchmarks.
fn report(bench: &str, batch: usize, warmup: usize, step_ms: &[f64], extra: Value) {
    let total_s: f64 = step_ms.iter().sum::<f64>() / 1e3;
    let mut out = json!({
        "bench": bench,
        "impl": "ldm",
        "threads": rayon::current_num_threads(),
        "batch": batch,
        "steps": step_ms.len(),
        "warmup": warmup,
        "steps_per_sec": round3(step_ms.len() as f64 / total_s),
        "step_ms_median": round3(median(step_ms)),
        "peak_rss_mb": round3(proc_status_mb("VmHWM:")),
        "baseline_rss_mb": round3(BASELINE_RSS_MB.get().copied().unwrap_or(f64::NAN)),
        "cpu_s": round3(cpu_seconds()),
    });
    if let (Value::Object(o), Value::Object(e)) = (&mut out, extra) {
        o.extend(e);
    }
    println!("{out}");
}

fn unet_config() -> UNetConfig {
    UNetConfig {
        base_channels: 64,
        channel_mult: vec![1, 2],
        res_blocks: 1,
        attention_levels: vec![1],
        heads: 4,
        transformer_depth: 1,
        norm_groups: 32,
    }
}

fn autoencoder_config() -> AutoencoderConfig {
    AutoencoderConfig {
        base_channels: 64,
        channel_mult: vec![1, 2, 2],
        res_blocks: 1,
        z_channels: 4,
        mid_attention: true,
        norm_groups: 32,
    }
}

/// Padding of the text tokens: row `i` keeps its first `3 + i % 6` tokens (so some rows are
/// unpadded), true at padding positions.
fn pad_mask(b: usize, device: &Device) -> Tensor<2, Bool> {
    let v: Vec<bool> = (0..b)
        .flat_map(|i| (0..CTX_LEN).map(move |j| j >= 3 + i % 6))
        .collect();
    Tensor::from_data(TensorData::new(v, [b, CTX_LEN]), device)
}

fn context(b: usize, device: &Device) -> Tensor<3> {
    Tensor::random(
        [b, CTX_LEN, CTX_DIM],
        Distribution::Normal(0.0, 1.0),
        device,
    )
}

fn images(b: usize, device: &Device) -> Tensor<4> {
    let [c, h, w] = IMAGE;
    Tensor::random([b, c, h, w], Distribution::Uniform(-1.0, 1.0), device)
}

/// One `train-denoiser` step on random latents and text: noise at random timesteps, forward,
/// weighted MSE, backward, global-norm clip at 1, AdamW, EMA update; the forward and backward
/// in `precision`, as `train-denoiser` runs them.
fn bench_denoiser(steps: usize, warmup: usize, b: usize, precision: Precision, spec: DeviceSpec) {
    let device = &spec.device().unwrap_or_else(|e| panic!("{e}"));
    precision.check(device).unwrap_or_else(|e| panic!("{e}"));
    let gpu = spec != DeviceSpec::Cpu;
    let ad = device.clone().autodiff();
    // A GPU queues work: each phase is timed to the end of its kernels.
    let sync = || {
        if gpu {
            ad.sync().expect("the device finishes its work");
        }
    };
    ad.seed(0);
    let mut unet = unet_config().init(LATENT[0], CTX_DIM, &ad);
    let params = unet.num_params();
    let mut opt = adamw([0.9, 0.999], 0.0);
    let mut ema = Ema::new(&unet, 0.999);
    let mut loss_scale = LossScale::new(precision);
    let diffusion = DiffusionConfig::default();
    let schedule = diffusion.schedule();
    let mut rng = ldm_core::seed::rng(0, "bench/denoiser", 0);
    let pad = pad_mask(b, &ad);
    let [c, h, w] = LATENT;
    let mut phases = Phases::default();
    let mut times = Vec::new();
    for i in 0..warmup + steps {
        let t0 = Instant::now();
        let _warm = Warm::start();
        let x0 = gaussian(&mut rng, [b, c, h, w], &ad);
        let noise = gaussian(&mut rng, [b, c, h, w], &ad);
        let ts = diffusion.sample_timesteps(&mut rng, b);
        let x_t = schedule.add_noise(x0.clone(), noise.clone(), &ts);
        let target = diffusion
            .prediction
            .target(x0, noise, &schedule.levels(&ts));
        let t_in = Tensor::<1>::from_floats(
            ts.iter().map(|&x| x as f32).collect::<Vec<_>>().as_slice(),
            &ad,
        );
        let pred = unet
            .forward(
                x_t.cast(precision.dtype()),
                t_in,
                context(b, &ad),
                Some(pad.clone()),
            )
            .cast(DType::F32);
        let loss = weighted_mse(pred, target, &diffusion.loss_weights(&schedule, &ts));
        let _ = loss.clone().into_scalar::<f64>();
        let t1 = Instant::now();
        let scale = loss_scale.scale;
        let grads = GradientsParams::from_grads(loss_scale.backward(loss), &unet);
        sync();
        let t2 = Instant::now();
        let (grads, norm) = unscale_and_clip(grads, &unet, scale, 1.0);
        let t3 = Instant::now();
        let apply = loss_scale.update(norm);
        if apply {
            unet = opt.step(2e-4, unet, grads);
        }
        sync();
        let t4 = Instant::now();
        if apply {
            ema.update(&unet);
        }
        sync();
        let t5 = Instant::now();
        if i >= warmup {
            times.push(ms(t0));
            phases.add("forward", (t1 - t0).as_secs_f64() * 1e3);
            phases.add("backward", (t2 - t1).as_secs_f64() * 1e3);
            phases.add("clip", (t3 - t2).as_secs_f64() * 1e3);
            phases.add("optimizer", (t4 - t3).as_secs_f64() * 1e3);
            phases.add("ema", (t5 - t4).as_secs_f64() * 1e3);
        }
    }
    report(
        "denoiser",
        b,
        warmup,
        &times,
        json!({
            "params": { "unet": params },
            "precision": precision.name(),
            "device": spec.to_string(),
            "phases_ms": phases.medians(),
        }),
    );
}

/// One `train-autoencoder` step with the GAN on: `generator_step` (pixel L1 + learned
/// perceptual + KL + adaptive-weight GAN), clip, AdamW; `critic_step`, clip, AdamW.
fn bench_autoencoder(steps: usize, warmup: usize, b: usize) {
    let ad = Device::flex().autodiff();
    ad.seed(0);
    let mut ae = autoencoder_config().init(IMAGE[0], &ad);
    let mut critic = CriticConfig {
        channels: 64,
        layers: 3,
    }
    .init(IMAGE[0], &ad);
    // Frozen, as `load_perceptual` returns it (random weights: only the speed matters).
    let perceptual = Perceptual::Learned(FeatureNetConfig::default().init(IMAGE[0], &ad).no_grad());
    let params = json!({
        "autoencoder": ae.num_params(),
        "critic": critic.num_params(),
        "perceptual": perceptual.num_params(),
    });
    // The defaults of `[autoencoder.loss]`, spelled out so the benchmark stays put.
    let loss_cfg = LossConfig {
        pixel: PixelLoss::L1,
        kl_weight: 1e-6,
        perceptual_weight: 1.0,
        gan: GanLoss::Hinge,
        disc_weight: 0.5,
        ..LossConfig::default()
    };
    let mut opt_ae = adamw([0.5, 0.9], 0.0);
    let mut opt_critic = adamw([0.5, 0.9], 0.0);
    let mut phases = Phases::default();
    let mut times = Vec::new();
    for i in 0..warmup + steps {
        let t0 = Instant::now();
        let _warm = Warm::start();
        let x = images(b, &ad);
        let out = generator_step(&ae, &critic, Some(&perceptual), x.clone(), &loss_cfg, true);
        let t1 = Instant::now();
        let (grads, _) = clip_global_norm(out.grads, &ae, 1.0);
        ae = opt_ae.step(2e-4, ae, grads);
        let t2 = Instant::now();
        let (grads, _, _, _) = critic_step(&critic, x, out.recon, &loss_cfg);
        let t3 = Instant::now();
        let (grads, _) = clip_global_norm(grads, &critic, 1.0);
        critic = opt_critic.step(2e-4, critic, grads);
        let t4 = Instant::now();
        if i >= warmup {
            times.push(ms(t0));
            phases.add("generator", (t1 - t0).as_secs_f64() * 1e3);
            phases.add("generator_opt", (t2 - t1).as_secs_f64() * 1e3);
            phases.add("critic", (t3 - t2).as_secs_f64() * 1e3);
            phases.add("critic_opt", (t4 - t3).as_secs_f64() * 1e3);
        }
    }
    report(
        "autoencoder",
        b,
        warmup,
        &times,
        json!({ "params": params, "phases_ms": phases.medians() }),
    );
}

/// `b` images by DPM-Solver++(2M) with classifier-free guidance (one UNet pass on the doubled
/// batch per step), `steps` steps on the trailing grid, as `ldm sample` runs it.
fn bench_sampling(steps: usize, warmup: usize, b: usize) {
    let dev = Device::flex();
    dev.seed(0);
    let unet = unet_config().init(LATENT[0], CTX_DIM, &dev);
    let params = unet.num_params();
    let ctx = context(2 * b, &dev);
    let pad = pad_mask(2 * b, &dev);
    let net = |x: Tensor<4>, t: Tensor<1>| unet.forward(x, t, ctx.clone(), Some(pad.clone()));
    let mut guided = Cfg::new(net, 5.0);
    let [c, h, w] = LATENT;
    // Warm-up: single guided evaluations (first-touch of weights and allocations).
    for _ in 0..warmup {
        let x = Tensor::<4>::random([b, c, h, w], Distribution::Normal(0.0, 1.0), &dev);
        let t = Tensor::<1>::full([b], 500.0, &dev);
        let _ = guided.predict(x, t).into_data();
    }
    let diffusion = DiffusionConfig::default();
    let config = SamplingConfig {
        sampler: Sampler::DpmPp2m,
        steps,
        spacing: Spacing::Trailing,
        eta: 0.0,
        guidance_scale: 5.0,
    };
    let t0 = Instant::now();
    let z = generate(
        &mut guided,
        &diffusion.schedule(),
        Prediction::Eps,
        &config,
        [b, c, h, w],
        &dev,
        0,
        0,
    );
    let _ = z.into_data();
    let total = t0.elapsed().as_secs_f64();
    let step_ms = vec![total * 1e3 / steps as f64; steps];
    report(
        "sampling",
        b,
        warmup,
        &step_ms,
        json!({
            "params": { "unet": params },
            "images_per_sec": round3(b as f64 / total),
            "seconds_per_batch": round3(total),
        }),
    );
}

/// Images per second through `Autoencoder::encode` (posterior mean and std read back, as
/// `ldm encode` does), no autodiff.
fn bench_encoding(steps: usize, warmup: usize, b: usize) {
    let dev = Device::flex();
    dev.seed(0);
    let ae = autoencoder_config().init(IMAGE[0], &dev);
    let params = ae.num_params();
    let mut times = Vec::new();
    for i in 0..warmup + steps {
        let x = images(b, &dev);
        let t0 = Instant::now();
        let _warm = Warm::start();
        let post = ae.encode(x);
        let _ = post.mean.clone().into_data();
        let _ = post.std().into_data();
        if i >= warmup {
            times.push(ms(t0));
        }
    }
    let total_s: f64 = times.iter().sum::<f64>() / 1e3;
    report(
        "encoding",
        b,
        warmup,
        &times,
        json!({
            "params": { "autoencoder": params },
            "images_per_sec": round3((b * times.len()) as f64 / total_s),
        }),
    );
}

fn main() {
    // As `ldm` runs.
    ldm_core::alloc::keep_large_buffers();
    BASELINE_RSS_MB.get_or_init(|| proc_status_mb("VmRSS:"));
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .expect("the global thread pool is configured once");
    }
    let (steps, warmup, batch) = (args.steps, args.warmup, args.batch);
    // On a worker of the pool, as the `ldm` binary runs its commands (see its main.rs).
    rayon::scope(|_| match args.bench.as_str() {
        "denoiser" => bench_denoiser(
            steps.unwrap_or(10),
            warmup.unwrap_or(2),
            batch.unwrap_or(16),
            args.precision,
            args.device,
        ),
        "autoencoder" => {
            bench_autoencoder(steps.unwrap_or(4), warmup.unwrap_or(1), batch.unwrap_or(16))
        }
        "sampling" => bench_sampling(
            steps.unwrap_or(50),
            warmup.unwrap_or(2),
            batch.unwrap_or(16),
        ),
        "encoding" => bench_encoding(steps.unwrap_or(5), warmup.unwrap_or(1), batch.unwrap_or(64)),
        "ops" => ops::bench_ops(batch.unwrap_or(16), args.min_time, &args.only),
        other => {
            eprintln!("unknown benchmark '{other}'\n{USAGE}");
            std::process::exit(2);
        }
    })
}
