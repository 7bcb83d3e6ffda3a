//! `ldm train-perceptual`: train the feature net contrastively on the training images, check
//! its held-out retrieval accuracy, and save it frozen to `<run>/perceptual/`.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};
use ldm_core::metrics::MetricsLog;
use ldm_core::train::{LrConfig, clip_global_norm};
use ldm_core::warm::Warm;
use ldm_core::{RunDir, progress, seed};
use ldm_data::{Batch, DataConfig, Loader, LoaderOptions, Splits, Transform};

use super::{
    AugmentConfig, ContrastiveHead, FeatureNetConfig, info_nce, retrieval_accuracy, two_views,
};
use crate::artifacts::{PerceptualInfo, perceptual_dir, save_perceptual};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerceptualSection {
    pub net: FeatureNetConfig,
    pub augment: AugmentConfig,
    pub steps: u64,
    /// Images per batch; each gives two views, so the loss sees 2 x batch_size.
    pub batch_size: usize,
    pub lr: LrConfig,
    /// InfoNCE temperature.
    pub temperature: f64,
    /// Width of the projection the contrastive loss compares (dropped after training).
    pub embed_dim: usize,
    pub log_every: u64,
    /// Held-out batches for the retrieval accuracy at the end.
    pub val_batches: usize,
}

impl Default for PerceptualSection {
    fn default() -> Self {
        Self {
            net: FeatureNetConfig::default(),
            augment: AugmentConfig::default(),
            steps: 1000,
            batch_size: 64,
            lr: LrConfig {
                lr: 1e-3,
                warmup: 50,
                ..LrConfig::default()
            },
            temperature: 0.2,
            embed_dim: 64,
            log_every: 25,
            val_batches: 4,
        }
    }
}

impl Validate for PerceptualSection {
    fn validate(&self, c: &mut Checks) {
        c.section("net", |c| self.net.validate(c));
        c.section("lr", |c| self.lr.validate(c));
        c.check("steps", self.steps > 0, || "must be at least 1".into());
        c.check("batch_size", self.batch_size >= 2, || {
            "must be at least 2 (views need negatives)".into()
        });
        c.check("temperature", self.temperature > 0.0, || {
            "must be > 0".into()
        });
        let a = &self.augment;
        c.check(
            "augment.min_crop_area",
            a.min_crop_area > 0.0 && a.min_crop_area <= 1.0,
            || "must be in (0, 1]".into(),
        );
    }
}

fn views(
    batch: &Batch,
    cfg: &AugmentConfig,
    seed_value: u64,
    stream: &str,
    index: u64,
    device: &Device,
) -> Tensor<4> {
    let [b, c, h, w] = batch.shape;
    let mut rng = seed::rng(seed_value, stream, index);
    let v = two_views(&batch.images, batch.shape, cfg, &mut rng);
    Tensor::from_data(TensorData::new(v, [2 * b, c, h, w]), device)
}

/// Train, evaluate and save the feature net; returns what was saved.
pub fn train_perceptual(
    cfg: &PerceptualSection,
    data: &DataConfig,
    splits: &Splits,
    run: &RunDir,
    seed_value: u64,
    device: &Device,
) -> Result<PerceptualInfo, String> {
    let ad = device.clone().autodiff();
    ad.seed(seed::derive(seed_value, "perceptual/init", 0));
    let channels = data.channels as usize;
    let mut net = cfg.net.init(channels, &ad);
    let mut head = ContrastiveHead::new(net.out_channels(), cfg.embed_dim, &ad);
    let mut opt_net = AdamWConfig::new().with_weight_decay(1e-4).init();
    let mut opt_head = AdamWConfig::new().with_weight_decay(1e-4).init();
    let mut loader = Loader::new(
        splits.train.clone(),
        Transform::train(data),
        LoaderOptions::training(data, cfg.batch_size, seed_value),
    );
    let mut metrics = MetricsLog::open(&run.metrics()).map_err(|e| e.to_string())?;
    tracing::info!(
        "perceptual net: {} parameters, {} steps",
        net.num_params(),
        cfg.steps
    );

    let bar = progress::bar(cfg.steps, "perceptual");
    let mut clock = Instant::now();
    for step in 0..cfg.steps {
        ad.seed(seed::derive(seed_value, "perceptual/step", step));
        let batch = loader
            .next_batch()
            .map_err(|e| e.to_string())?
            .expect("training data repeats");
        let _warm = Warm::start();
        let x = views(
            &batch,
            &cfg.augment,
            seed_value,
            "perceptual/views",
            step,
            &ad,
        );
        let z = head.embed(&net, x);
        let loss = info_nce(z.clone(), cfg.temperature);
        let loss_v = loss.clone().into_scalar::<f64>();
        if !loss_v.is_finite() {
            return Err(format!("non-finite contrastive loss at step {step}"));
        }
        let mut grads = loss.backward();
        let lr = cfg.lr.at(step, cfg.steps);
        let g_head = GradientsParams::from_module(&mut grads, &head);
        let (g_net, _) = clip_global_norm(GradientsParams::from_grads(grads, &net), &net, 1.0);
        head = opt_head.step(lr, head, g_head);
        net = opt_net.step(lr, net, g_net);
        bar.set_position(step + 1);
        bar.set_message(format!("loss {loss_v:.4}"));
        if (step + 1) % cfg.log_every == 0 || step + 1 == cfg.steps {
            let acc = retrieval_accuracy(z.detach());
            let rate =
                (cfg.log_every as usize * batch.shape[0]) as f64 / clock.elapsed().as_secs_f64();
            clock = Instant::now();
            metrics
                .log(
                    "perceptual",
                    step + 1,
                    &[
                        ("loss", loss_v),
                        ("train_retrieval", acc),
                        ("lr", lr),
                        ("images_per_sec", rate),
                    ],
                )
                .map_err(|e| e.to_string())?;
        }
    }
    bar.finish_and_clear();

    // Held-out retrieval: fixed views of validation images the net never saw.
    let (net, head) = (net.valid(), head.valid());
    let mut val = Loader::new(
        splits.val.clone(),
        Transform::eval(data),
        LoaderOptions::evaluation(data, cfg.batch_size, seed_value),
    );
    let (mut hits, mut total, mut chance) = (0.0, 0usize, 0.0);
    for i in 0..cfg.val_batches {
        let Some(batch) = val.next_batch().map_err(|e| e.to_string())? else {
            break;
        };
        if batch.shape[0] < 2 {
            break;
        }
        let z = head.embed(
            &net,
            views(
                &batch,
                &cfg.augment,
                seed_value,
                "perceptual/val-views",
                i as u64,
                device,
            ),
        );
        let n = 2 * batch.shape[0];
        hits += retrieval_accuracy(z) * n as f64;
        chance += n as f64 / (n - 1) as f64;
        total += n;
    }
    if total == 0 {
        return Err("the validation split has too few readable images to measure retrieval".into());
    }
    let info = PerceptualInfo {
        config: cfg.net.clone(),
        image_channels: channels,
        steps: cfg.steps,
        val_retrieval: hits / total as f64,
        chance: chance / total as f64,
    };
    tracing::info!(
        "perceptual net: held-out top-1 retrieval {:.1}% (chance {:.1}%)",
        100.0 * info.val_retrieval,
        100.0 * info.chance
    );
    metrics
        .log(
            "perceptual",
            cfg.steps,
            &[
                ("val_retrieval", info.val_retrieval),
                ("chance", info.chance),
            ],
        )
        .map_err(|e| e.to_string())?;
    save_perceptual(&perceptual_dir(run.root()), &net, &info)?;
    Ok(info)
}
