//! `ldm train-denoiser`: one loop from the latent cache to checkpoints, metrics and preview
//! grids. Each step draws z = mean + std * noise from the cache, scales it, noises it at random
//! timesteps and regresses the configured target.

mod artifacts;
mod config;
mod sample;
mod state;
mod text;
mod validate;

pub use artifacts::{DenoiserInfo, denoiser_dir, load_denoiser, load_info, save_denoiser};
pub use config::{DenoiserSection, DenoiserTrainConfig};
pub use sample::sample_latents;
pub use text::{Conditioning, TextModel};
pub use validate::{ValLoss, validation_loss};

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{DType, Device, Tensor, TensorData};
use rand::Rng;

use ldm_core::checkpoint::Start;
use ldm_core::metrics::MetricsLog;
use ldm_core::train::{Ema, LossScale, NanGuard, TimeLimit, adamw, unscale_and_clip};
use ldm_core::warm::Warm;
use ldm_core::{RunDir, checkpoint, progress, seed, stop};
use ldm_data::latents::{LatentCache, LatentSplit};
use ldm_data::order::{Order, Position};
use state::{State, run_config};

use crate::config::DiffusionConfig;
use crate::noise::{gaussian, normals};
use crate::unet::UNet;
use crate::weighting::weighted_mse;

/// Decodes scaled-back latents to images in [-1, 1] for preview grids.
pub type Decode<'a> = &'a dyn Fn(Tensor<4>) -> Result<Tensor<4>, String>;

/// One micro-batch: x0 = (mean + std * noise) * scale for the given latents, and their
/// captions; the noise comes from `rng`.
fn micro_batch(
    split: &LatentSplit,
    idx: &[usize],
    shape: [usize; 3],
    scale: f64,
    rng: &mut impl Rng,
    device: &Device,
) -> (Tensor<4>, Vec<String>) {
    let per: usize = shape.iter().product();
    let eps = normals(rng, idx.len() * per);
    let mut x0 = Vec::with_capacity(idx.len() * per);
    let mut captions = Vec::with_capacity(idx.len());
    for (k, &i) in idx.iter().enumerate() {
        let (m, s) = (
            &split.mean[i * per..(i + 1) * per],
            &split.std[i * per..(i + 1) * per],
        );
        x0.extend((0..per).map(|j| (m[j] + s[j] * eps[k * per + j]) * scale as f32));
        captions.push(split.captions[i].clone());
    }
    let [c, h, w] = shape;
    (
        Tensor::from_data(TensorData::new(x0, [idx.len(), c, h, w]), device),
        captions,
    )
}

/// Train the denoiser on `latents` (train split; validation on its val split).
#[allow(clippy::too_many_arguments)]
pub fn train<T: TextModel>(
    cfg: &DenoiserSection,
    diffusion: &DiffusionConfig,
    latents: &LatentCache,
    text: T,
    run: &RunDir,
    seed_value: u64,
    device: &Device,
    start: Start,
    decode: Option<Decode>,
    text_description: serde_json::Value,
) -> Result<DenoiserInfo, String> {
    let t = &cfg.train;
    t.precision.check(device)?;
    let ad = device.clone().autodiff();
    let shape = latents.manifest.shape;
    let scale = latents.manifest.scale_factor;
    let train_split = latents
        .splits
        .get("train")
        .ok_or("the latent cache has no train split")?;
    let val_split = latents
        .splits
        .get("val")
        .ok_or("the latent cache has no val split")?;
    ad.seed(seed::derive(seed_value, "denoiser/init", 0));
    let unet = cfg.model.init(shape[0], text.dim(), &ad);
    let mut state = State {
        step: 0,
        ema: Ema::new(&unet, t.ema_decay),
        unet,
        text: text.fork(&ad),
        opt_unet: adamw([0.9, 0.999], t.weight_decay as f32),
        opt_text: adamw([0.9, 0.999], t.weight_decay as f32),
        position: Position::default(),
        latents_seen: 0,
        nan: NanGuard::new(t.on_nan, t.max_nan_skips),
        loss_scale: LossScale::new(t.precision),
        val_loss: None,
        train_seconds: 0.0,
    };
    let config = run_config(cfg, diffusion, &text_description, shape, scale);
    if let Start::Resume(dir) = &start {
        state = state.load(dir, &config)?;
        tracing::info!(
            "resuming the denoiser from {} at step {}",
            dir.display(),
            state.step
        );
    }
    let mut order = Order::new(train_split.len(), seed_value, true);
    order.restore(state.position);
    let schedule = diffusion.schedule();
    let mut metrics = MetricsLog::open(&run.metrics()).map_err(|e| e.to_string())?;
    tracing::info!(
        "denoiser: {} parameters, latents {:?} x {} (scale {scale:.4}), {} steps",
        state.unet.num_params(),
        shape,
        train_split.len(),
        t.steps
    );

    let ckpt_root = run.checkpoints().join("denoiser");
    checkpoint::sweep_stale(&ckpt_root).map_err(|e| format!("{}: {e}", ckpt_root.display()))?;
    let bar = progress::bar(t.steps, "denoiser");
    bar.set_position(state.step);
    let mut clock = (Instant::now(), 0usize);
    let mut last_val = ValLoss {
        loss: f64::NAN,
        zero_loss: f64::NAN,
    };
    let budget = TimeLimit::new(t.max_minutes, state.train_seconds);
    while state.step < t.steps {
        let _warm = Warm::start();
        let step = state.step;
        // Every random draw of this step (noise, timesteps, dropout in the models) derives
        // from (seed, step), so a resumed run draws exactly what an uninterrupted one would.
        let mut rng = seed::rng(seed_value, "denoiser/step", step);
        ad.seed(seed::derive(seed_value, "denoiser/device", step));
        let lr = t.lr.at(step, t.steps);
        let mut acc_unet = GradientsAccumulator::new();
        let mut acc_text = GradientsAccumulator::new();
        let mut loss_sum = 0.0;
        for micro in 0..t.grad_accum as u64 {
            let idx: Vec<usize> = (0..t.batch_size).map(|_| order.next().1).collect();
            let (x0, captions) = micro_batch(train_split, &idx, shape, scale, &mut rng, &ad);
            let ts = diffusion.sample_timesteps(&mut rng, idx.len());
            let [c, h, w] = shape;
            let noise = gaussian(&mut rng, [idx.len(), c, h, w], &ad);
            let x_t = schedule.add_noise(x0.clone(), noise.clone(), &ts);
            let target = diffusion
                .prediction
                .target(x0, noise, &schedule.levels(&ts));
            let cond =
                state
                    .text
                    .encode_for_training(&captions, step * t.grad_accum as u64 + micro, &ad);
            let t_in = Tensor::<1>::from_floats(
                ts.iter().map(|&x| x as f32).collect::<Vec<_>>().as_slice(),
                &ad,
            );
            let pred = state
                .unet
                .forward(
                    x_t.cast(t.precision.dtype()),
                    t_in,
                    cond.context,
                    Some(cond.pad),
                )
                .cast(DType::F32);
            let weights = diffusion.loss_weights(&schedule, &ts);
            let loss = weighted_mse(pred, target, &weights).div_scalar(t.grad_accum as f64);
            loss_sum += loss.clone().into_scalar::<f64>();
            // f16: the loss scaled so small gradients survive (divided out below).
            let mut grads = state.loss_scale.backward(loss);
            if state.text.trainable() {
                acc_text.accumulate(
                    &state.text,
                    GradientsParams::from_module(&mut grads, &state.text),
                );
            }
            acc_unet.accumulate(&state.unet, GradientsParams::from_grads(grads, &state.unet));
        }
        let apply = state.nan.check(
            "denoiser",
            step + 1,
            &[("weighted_mse", loss_sum)],
            &ckpt_root,
        )?;
        let mut grad_norm = f64::NAN;
        if apply {
            let scale = state.loss_scale.scale;
            let (grads, norm) = unscale_and_clip(acc_unet.grads(), &state.unet, scale, t.grad_clip);
            let text = state
                .text
                .trainable()
                .then(|| unscale_and_clip(acc_text.grads(), &state.text, scale, t.grad_clip));
            grad_norm = norm;
            // An f16 step whose gradients overflowed is skipped (and the loss scale lowered).
            let overflow = text.as_ref().map_or(norm, |(_, n)| norm + n);
            if state.loss_scale.update(overflow) {
                state.unet = state.opt_unet.step(lr, state.unet, grads);
                if let Some((g, _)) = text {
                    state.text = state.opt_text.step(lr, state.text, g);
                }
                state.ema.update(&state.unet);
            }
        }
        state.step += 1;
        state.position = order.position();
        state.latents_seen += (t.batch_size * t.grad_accum) as u64;
        state.train_seconds = budget.spent();
        // The step during which the time budget ran out is the last one, in every respect.
        let last = budget.is_last("denoiser", state.step, t.steps);
        clock.1 += t.batch_size * t.grad_accum;
        bar.set_position(state.step);
        bar.set_message(format!("loss {loss_sum:.4}"));

        if state.step % t.log_every == 0 || last {
            let rate = clock.1 as f64 / clock.0.elapsed().as_secs_f64();
            clock = (Instant::now(), 0);
            let mut row = vec![
                ("loss", loss_sum),
                ("grad_norm", grad_norm),
                ("lr", lr),
                ("latents_per_sec", rate),
                ("nan_skipped", state.nan.skipped as f64),
            ];
            // A scale that moves (f16) is logged; a fixed one is 1 and says nothing.
            if let Some(s) = state.loss_scale.saved() {
                row.push(("loss_scale", s.scale));
                row.push(("overflow_skipped", s.skipped as f64));
            }
            metrics
                .log("denoiser", state.step, &row)
                .map_err(|e| e.to_string())?;
        }
        if state.step % t.val_every == 0 || last {
            let text_eval = state.text.valid();
            last_val = validation_loss(
                &state.ema.model,
                &text_eval,
                diffusion,
                val_split,
                shape,
                scale,
                t.val_latents,
                t.val_timesteps,
                seed_value,
                device,
            );
            tracing::info!(
                "step {}: val loss {:.4} (predicting zeros: {:.4})",
                state.step,
                last_val.loss,
                last_val.zero_loss
            );
            metrics
                .log(
                    "denoiser",
                    state.step,
                    &[
                        ("val_loss", last_val.loss),
                        ("val_zero_loss", last_val.zero_loss),
                    ],
                )
                .map_err(|e| e.to_string())?;
            state.val_loss = Some(last_val.loss);
        }
        let preview = (t.sample_every > 0 && state.step % t.sample_every == 0) || last;
        if preview
            && !t.prompts.is_empty()
            && let Some(decode) = decode
        {
            write_preview(
                cfg,
                diffusion,
                &state.ema.model,
                &state.text.valid(),
                shape,
                scale,
                seed_value,
                decode,
                &run.samples()
                    .join(format!("denoiser-{:08}.png", state.step)),
                device,
            )?;
        }
        let halt = stop::check(state.step).filter(|_| !last);
        if state.step % t.checkpoint_every == 0 || last || halt.is_some() {
            let dir = state.save(run, &config, t.keep_checkpoints)?;
            if let Some(reason) = halt {
                bar.finish_and_clear();
                return Err(stop::halted(reason, "denoiser", state.step, &dir));
            }
        }
        if last {
            break;
        }
    }
    bar.finish_and_clear();
    let info = DenoiserInfo {
        model: cfg.model.clone(),
        diffusion: diffusion.clone(),
        latent_shape: shape,
        scale_factor: scale,
        context_dim: state.text.dim(),
        text: text_description,
        steps: state.step,
        val_loss: last_val.loss,
        val_zero_loss: last_val.zero_loss,
    };
    Ok(info).and_then(|info| {
        save_denoiser(
            &denoiser_dir(run.root()),
            &state.ema.model,
            &state.text.valid(),
            &info,
        )?;
        Ok(info)
    })
}

/// A grid with one row per prompt, `samples_per_prompt` seeds per row.
#[allow(clippy::too_many_arguments)]
pub fn write_preview<T: TextModel>(
    cfg: &DenoiserSection,
    diffusion: &DiffusionConfig,
    unet: &UNet,
    text: &T,
    shape: [usize; 3],
    scale: f64,
    seed_value: u64,
    decode: Decode,
    path: &Path,
    device: &Device,
) -> Result<(), String> {
    let k = cfg.train.samples_per_prompt;
    let prompts: Vec<String> = cfg
        .train
        .prompts
        .iter()
        .flat_map(|p| std::iter::repeat_n(p.clone(), k))
        .collect();
    let z = sample_latents(
        unet,
        text,
        diffusion,
        &cfg.sampling,
        &prompts,
        shape,
        seed_value,
        0,
        device,
    );
    let images = decode(z.div_scalar(scale))?;
    let dims = images.dims();
    let data: Vec<f32> = images
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    ldm_data::grid::write_grid(path, &ldm_data::grid::to_images(&data, dims), k, 64)
}
