//! `ldm train-autoencoder`: one loop from batches to checkpoints and metrics.

mod config;
mod step;
mod validate;

pub use config::{AutoencoderSection, LossConfig, PerceptualKind, TrainConfig};
pub use step::{GenStats, critic_step, generator_step};
pub use validate::{ValMetrics, validate};

use std::time::Instant;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Bytes, Device};
use serde_json::json;

use ldm_core::checkpoint::Start;
use ldm_core::metrics::MetricsLog;
use ldm_core::record::{from_bytes as restore, to_bytes as bytes};
use ldm_core::train::{Ema, NanGuard, TimeLimit, adamw, clip_global_norm};
use ldm_core::warm::Warm;
use ldm_core::{RunDir, checkpoint, progress, seed, stop};
use ldm_data::{DataConfig, Loader, LoaderOptions, Position, Splits, Transform};

use crate::artifacts::{AutoencoderInfo, autoencoder_dir, save_autoencoder};
use crate::autoencoder::Autoencoder;
use crate::critic::Critic;
use crate::perceptual::Perceptual;
use crate::scale::scale_factor;

/// Everything that changes during training; what a checkpoint holds.
struct State {
    step: u64,
    ae: Autoencoder,
    critic: Critic,
    opt_ae: ModuleOptimizer,
    opt_critic: ModuleOptimizer,
    ema: Option<Ema<Autoencoder>>,
    position: Position,
    images_seen: u64,
    nan: NanGuard,
    /// The latest validation PSNR, kept with the checkpoint so pruning keeps the best one.
    val_psnr: Option<f64>,
    /// Wall-clock seconds spent training, over every resume (for `max_minutes`).
    train_seconds: f64,
}

impl State {
    fn save(
        &self,
        run: &RunDir,
        cfg: &AutoencoderSection,
        keep: usize,
    ) -> Result<std::path::PathBuf, String> {
        let mut files = vec![
            ("autoencoder.bpk", bytes(&self.ae)?),
            ("critic.bpk", bytes(&self.critic)?),
            (
                "opt_autoencoder.bpk",
                self.opt_ae
                    .into_bytes()
                    .map_err(|e| format!("{e:?}"))?
                    .to_vec(),
            ),
            (
                "opt_critic.bpk",
                self.opt_critic
                    .into_bytes()
                    .map_err(|e| format!("{e:?}"))?
                    .to_vec(),
            ),
        ];
        if let Some(e) = &self.ema {
            files.push(("ema.bpk", bytes(&e.model)?));
        }
        let meta = json!({
            "stage": "autoencoder",
            "config": { "autoencoder": cfg },
            "position": self.position,
            "images_seen": self.images_seen,
            "nan_skipped": self.nan.skipped,
            "train_seconds": self.train_seconds,
            "ema_updates": self.ema.as_ref().map(|e| e.updates),
            "best": self.val_psnr.map(|v| json!({
                "name": "val_psnr", "value": v, "higher_is_better": true
            })),
        });
        let root = run.checkpoints().join("autoencoder");
        checkpoint::save_and_prune(&root, self.step, &files, meta, keep)
    }

    fn load(mut self, dir: &std::path::Path, cfg: &AutoencoderSection) -> Result<Self, String> {
        let c = checkpoint::load(dir)?;
        let current = json!({ "autoencoder": cfg });
        checkpoint::check_resume(
            &c,
            "autoencoder",
            &current,
            &["autoencoder.model", "autoencoder.critic"],
        )?;
        self.ae = restore(self.ae, c.file("autoencoder.bpk")?)?;
        self.critic = restore(self.critic, c.file("critic.bpk")?)?;
        let opt = |o: ModuleOptimizer, name: &str| -> Result<ModuleOptimizer, String> {
            o.from_bytes(Bytes::from_bytes_vec(c.file(name)?.to_vec()))
                .map_err(|e| format!("{e:?}"))
        };
        self.opt_ae = opt(self.opt_ae, "opt_autoencoder.bpk")?;
        self.opt_critic = opt(self.opt_critic, "opt_critic.bpk")?;
        if let Some(e) = self.ema.as_mut() {
            e.model = restore(e.model.clone(), c.file("ema.bpk")?)?;
            e.updates = c.meta["ema_updates"].as_u64().unwrap_or(0);
        }
        self.position =
            serde_json::from_value(c.meta["position"].clone()).map_err(|e| e.to_string())?;
        self.images_seen = c.meta["images_seen"].as_u64().unwrap_or(0);
        self.nan.skipped = c.meta["nan_skipped"].as_u64().unwrap_or(0);
        self.val_psnr = c.meta["best"]["value"].as_f64();
        self.train_seconds = c.meta["train_seconds"].as_f64().unwrap_or(0.0);
        self.step = c.step;
        Ok(self)
    }
}

/// Train the autoencoder (and its critic) on `splits.train`, validate on `splits.val`, and
/// write the final model with its latent scale factor to `<run>/autoencoder/`.
#[allow(clippy::too_many_arguments)]
pub fn train(
    cfg: &AutoencoderSection,
    data: &DataConfig,
    splits: &Splits,
    perceptual: Option<&Perceptual>,
    run: &RunDir,
    seed_value: u64,
    device: &Device,
    start: Start,
) -> Result<AutoencoderInfo, String> {
    let t = &cfg.train;
    let ad = device.clone().autodiff();
    let channels = data.channels as usize;
    ad.seed(seed::derive(seed_value, "autoencoder/init", 0));
    // Both drawn now, from the init stream. Drawn where first touched instead, the critic's
    // values came from whatever step's stream was current then: `disc_start`'s, or an earlier
    // checkpoint's, so an interruption before `disc_start` changed them.
    let ae = cfg.model.init(channels, &ad);
    seed::draw_now(&ae);
    let critic = cfg.critic.init(channels, &ad);
    seed::draw_now(&critic);
    let mut state = State {
        step: 0,
        ema: (t.ema_decay > 0.0).then(|| Ema::new(&ae, t.ema_decay)),
        ae,
        critic,
        opt_ae: adamw(t.betas.map(|b| b as f32), t.weight_decay as f32),
        opt_critic: adamw(t.critic_betas.map(|b| b as f32), 0.0),
        position: Position::default(),
        images_seen: 0,
        nan: NanGuard::new(t.on_nan, t.max_nan_skips),
        val_psnr: None,
        train_seconds: 0.0,
    };
    if let Start::Resume(dir) = &start {
        state = state.load(dir, cfg)?;
        tracing::info!(
            "resuming the autoencoder from {} at step {}",
            dir.display(),
            state.step
        );
    }
    let mut loader = Loader::new(
        splits.train.clone(),
        Transform::train(data),
        LoaderOptions::training(data, t.batch_size, seed_value),
    );
    loader.restore(state.position);
    let mut metrics = MetricsLog::open(&run.metrics()).map_err(|e| e.to_string())?;
    let perceptual = perceptual.filter(|_| cfg.loss.perceptual != PerceptualKind::None);
    let f = cfg.model.factor();
    tracing::info!(
        "autoencoder: f={f}, {} parameters, critic {} parameters, {} steps",
        state.ae.num_params(),
        state.critic.num_params(),
        t.steps
    );

    let ckpt_root = run.checkpoints().join("autoencoder");
    checkpoint::sweep_stale(&ckpt_root).map_err(|e| format!("{}: {e}", ckpt_root.display()))?;
    let bar = progress::bar(t.steps, "autoencoder");
    bar.set_position(state.step);
    let mut clock = (Instant::now(), 0usize);
    let mut last_val = ValMetrics::default();
    let budget = TimeLimit::new(t.max_minutes, state.train_seconds);
    while state.step < t.steps {
        let step = state.step;
        // Every random draw of this step derives from (seed, step), so a resumed run draws
        // exactly what the uninterrupted one would have.
        ad.seed(seed::derive(seed_value, "autoencoder/step", step));
        let batch = loader
            .next_batch()
            .map_err(|e| e.to_string())?
            .expect("training data repeats");
        // After the batch: while the loader decodes, there is nothing to poll for.
        let _warm = Warm::start();
        let x = batch.tensor(&ad);
        let lr = t.lr.at(step, t.steps);
        let gan_on = cfg.loss.disc_weight > 0.0 && step >= cfg.loss.disc_start;

        let out = generator_step(
            &state.ae,
            &state.critic,
            perceptual,
            x.clone(),
            &cfg.loss,
            gan_on,
        );
        let s = &out.stats;
        let apply = state.nan.check(
            "autoencoder",
            step + 1,
            &[
                ("pixel", s.pixel),
                ("perceptual", s.perceptual),
                ("kl", s.kl),
                ("gan", s.gan),
                ("total", s.total),
            ],
            &ckpt_root,
        )?;
        let mut grad_norm = f64::NAN;
        if apply {
            let (grads, norm) = clip_global_norm(out.grads, &state.ae, t.grad_clip);
            grad_norm = norm;
            state.ae = state.opt_ae.step(lr, state.ae, grads);
            if let Some(e) = state.ema.as_mut() {
                e.update(&state.ae);
            }
        }
        let mut critic_stats = (0.0, 0.0, 0.0, 0.0);
        if gan_on && apply {
            let (grads, loss, real, fake) = critic_step(&state.critic, x, out.recon, &cfg.loss);
            let (grads, norm) = clip_global_norm(grads, &state.critic, t.grad_clip);
            state.critic = state.opt_critic.step(t.critic_lr, state.critic, grads);
            critic_stats = (loss, real, fake, norm);
        }
        state.step += 1;
        state.position = loader.position();
        state.images_seen += batch.shape[0] as u64;
        state.train_seconds = budget.spent();
        // The step during which the time budget ran out is the last one, in every respect.
        let last = budget.is_last("autoencoder", state.step, t.steps);
        clock.1 += batch.shape[0];
        bar.set_position(state.step);
        bar.set_message(format!("loss {:.4}", out.stats.total));

        let s = &out.stats;
        if state.step % t.log_every == 0 || last {
            let rate = clock.1 as f64 / clock.0.elapsed().as_secs_f64();
            clock = (Instant::now(), 0);
            metrics
                .log(
                    "autoencoder",
                    state.step,
                    &[
                        ("loss", s.total),
                        ("pixel", s.pixel),
                        ("perceptual", s.perceptual),
                        ("kl", s.kl),
                        ("gan", s.gan),
                        ("lambda", s.lambda),
                        ("critic_loss", critic_stats.0),
                        ("logits_real", critic_stats.1),
                        ("logits_fake", critic_stats.2),
                        ("grad_norm", grad_norm),
                        ("critic_grad_norm", critic_stats.3),
                        ("lr", lr),
                        ("images_per_sec", rate),
                        ("skipped", loader.skipped() as f64),
                        ("nan_skipped", state.nan.skipped as f64),
                    ],
                )
                .map_err(|e| e.to_string())?;
        }
        if state.step % t.val_every == 0 || last {
            let eval_model = state
                .ema
                .as_ref()
                .map_or_else(|| state.ae.valid(), |e| e.model.clone());
            let grid = run
                .samples()
                .join(format!("autoencoder-{:08}.png", state.step));
            last_val = validate(
                &eval_model,
                perceptual.map(|p| p.valid()).as_ref(),
                splits.val.clone(),
                data,
                t.val_images,
                device,
                Some(&grid),
            )?;
            tracing::info!(
                "step {}: val PSNR {:.2} dB, SSIM {:.4}, perceptual {:.4} ({} images)",
                state.step,
                last_val.psnr,
                last_val.ssim,
                last_val.perceptual,
                last_val.images
            );
            metrics
                .log(
                    "autoencoder",
                    state.step,
                    &[
                        ("val_psnr", last_val.psnr),
                        ("val_ssim", last_val.ssim),
                        ("val_perceptual", last_val.perceptual),
                    ],
                )
                .map_err(|e| e.to_string())?;
            state.val_psnr = Some(last_val.psnr);
        }
        let halt = stop::check(state.step).filter(|_| !last);
        if state.step % t.checkpoint_every == 0 || last || halt.is_some() {
            let dir = state.save(run, cfg, t.keep_checkpoints)?;
            if let Some(reason) = halt {
                bar.finish_and_clear();
                return Err(stop::halted(reason, "autoencoder", state.step, &dir));
            }
        }
        if last {
            break;
        }
    }
    bar.finish_and_clear();

    let final_model = state
        .ema
        .as_ref()
        .map_or_else(|| state.ae.valid(), |e| e.model.clone());
    let (scale, n) = scale_factor(
        &final_model,
        splits.train.clone(),
        data,
        t.scale_images,
        seed_value,
        device,
    )?;
    tracing::info!("latent scale factor {scale:.5} (1 / std over {n} training images)");
    let info = AutoencoderInfo {
        config: cfg.model.clone(),
        image_channels: channels,
        resolution: data.resolution,
        scale_factor: scale,
        scale_images: n,
        steps: state.step,
        val_psnr: last_val.psnr,
        val_ssim: last_val.ssim,
    };
    save_autoencoder(&autoencoder_dir(run.root()), &final_model, &info)?;
    Ok(info)
}
