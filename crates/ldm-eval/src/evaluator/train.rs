//! `ldm train-evaluator`: train the dual encoder contrastively on the training split, measure
//! its retrieval on the validation split (never on training images), save it to
//! `<run>/evaluator/`.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor};

use ldm_core::metrics::MetricsLog;
use ldm_core::train::clip_global_norm;
use ldm_core::warm::Warm;
use ldm_core::{RunDir, progress, seed};
use ldm_data::{DataConfig, Loader, LoaderOptions, Splits, Transform};

use super::artifacts::{EvaluatorInfo, evaluator_dir, save_evaluator};
use super::{
    CaptionEmbedder, Evaluator, EvaluatorConfig, batch_retrieval, symmetric_info_nce, targets,
};

/// Train, measure and save the evaluator; returns it (frozen) with what was saved.
pub fn train_evaluator(
    cfg: &EvaluatorConfig,
    data: &DataConfig,
    splits: &Splits,
    text: &mut dyn CaptionEmbedder,
    run: &RunDir,
    seed_value: u64,
    device: &Device,
) -> Result<(Evaluator, EvaluatorInfo), String> {
    let ad = device.clone().autodiff();
    ad.seed(seed::derive(seed_value, "evaluator/init", 0));
    let image_channels = data.channels as usize;
    let mut model = cfg.init(image_channels, text.dim(), &ad);
    let mut opt = AdamWConfig::new()
        .with_weight_decay(cfg.weight_decay as f32)
        .init();
    let mut loader = Loader::new(
        splits.train.clone(),
        Transform::train(data),
        LoaderOptions::training(data, cfg.batch_size, seed_value),
    );
    let mut metrics = MetricsLog::open(&run.metrics()).map_err(|e| e.to_string())?;
    tracing::info!(
        "evaluator: {} parameters, {} steps, text: {}",
        model.num_params(),
        cfg.steps,
        text.fingerprint()
    );

    let bar = progress::bar(cfg.steps, "evaluator");
    let mut clock = Instant::now();
    for step in 0..cfg.steps {
        ad.seed(seed::derive(seed_value, "evaluator/step", step));
        let batch = loader
            .next_batch()
            .map_err(|e| e.to_string())?
            .expect("training data repeats");
        let _warm = Warm::start();
        let images = batch.tensor(&ad);
        let pooled = Tensor::from_data(text.embed(&batch.captions)?.into_data(), &ad);
        let loss = symmetric_info_nce(
            model.image_features(images),
            model.text_features(pooled),
            model.logit_scale(),
            targets(&batch.captions, &ad),
        );
        let loss_v = loss.clone().into_scalar::<f64>();
        if !loss_v.is_finite() {
            return Err(format!("non-finite contrastive loss at step {step}"));
        }
        let lr = cfg.lr.at(step, cfg.steps);
        let (grads, _) = clip_global_norm(
            GradientsParams::from_grads(loss.backward(), &model),
            &model,
            1.0,
        );
        model = opt.step(lr, model, grads);
        bar.set_position(step + 1);
        bar.set_message(format!("loss {loss_v:.4}"));
        if (step + 1) % cfg.log_every == 0 || step + 1 == cfg.steps {
            let rate =
                (cfg.log_every as usize * batch.shape[0]) as f64 / clock.elapsed().as_secs_f64();
            clock = Instant::now();
            let scale = model.logit_scale().into_scalar::<f64>();
            metrics
                .log(
                    "evaluator",
                    step + 1,
                    &[
                        ("loss", loss_v),
                        ("logit_scale", scale),
                        ("lr", lr),
                        ("images_per_sec", rate),
                    ],
                )
                .map_err(|e| e.to_string())?;
        }
    }
    bar.finish_and_clear();

    let model = model.valid();
    let (val_retrieval, chance, val_images) = validation_retrieval(
        &model,
        cfg,
        data,
        splits,
        text,
        device,
        LoaderOptions::evaluation(data, cfg.val_candidates, seed_value),
    )?;
    let info = EvaluatorInfo {
        config: cfg.clone(),
        image_channels,
        resolution: data.resolution,
        text_encoder: text.fingerprint(),
        text_dim: text.dim(),
        steps: cfg.steps,
        val_retrieval,
        chance,
        val_images,
    };
    tracing::info!(
        "evaluator: held-out top-1 retrieval {:.1}% among {} captions (chance {:.1}%)",
        100.0 * val_retrieval,
        cfg.val_candidates,
        100.0 * chance
    );
    metrics
        .log(
            "evaluator",
            cfg.steps,
            &[("val_retrieval", val_retrieval), ("chance", chance)],
        )
        .map_err(|e| e.to_string())?;
    save_evaluator(&evaluator_dir(run.root()), &model, &info)?;
    Ok((model, info))
}

/// Top-1 image-to-caption retrieval over validation batches of `val_candidates` images, each
/// image ranking the batch's captions: `(accuracy, chance, images)`.
fn validation_retrieval(
    model: &Evaluator,
    cfg: &EvaluatorConfig,
    data: &DataConfig,
    splits: &Splits,
    text: &mut dyn CaptionEmbedder,
    device: &Device,
    opts: LoaderOptions,
) -> Result<(f64, f64, usize), String> {
    let mut val = Loader::new(splits.val.clone(), Transform::eval(data), opts);
    let (mut hits, mut chance, mut total) = (0usize, 0.0, 0usize);
    while total < cfg.val_images {
        let Some(batch) = val.next_batch().map_err(|e| e.to_string())? else {
            break;
        };
        let keep = batch.shape[0].min(cfg.val_images - total);
        if keep < 2 {
            break;
        }
        let captions = &batch.captions[..keep];
        let images = batch.tensor(device).narrow(0, 0, keep);
        let pooled = Tensor::from_data(text.embed(captions)?.into_data(), device);
        let fi = to_vec(model.image_features(images))?;
        let ft = to_vec(model.text_features(pooled))?;
        let (h, c) = batch_retrieval(&fi, &ft, &batch.labels[..keep], cfg.dim);
        hits += h;
        chance += c;
        total += keep;
    }
    if total == 0 {
        return Err("the validation split has too few readable images to measure retrieval".into());
    }
    Ok((hits as f64 / total as f64, chance / total as f64, total))
}

fn to_vec(t: Tensor<2>) -> Result<Vec<f32>, String> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}
