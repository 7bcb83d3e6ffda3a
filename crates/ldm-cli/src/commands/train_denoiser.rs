//! `ldm train-denoiser CONFIG [--resume latest|PATH]`: the denoiser on `<run>/latents/`, with
//! the configured text encoder (frozen and cached, or trained from scratch alongside).

use std::collections::BTreeSet;

use burn::tensor::{Device, Tensor};
use serde_json::json;

use ldm_autoencoder::artifacts::{autoencoder_dir, load_autoencoder};
use ldm_data::latents::LatentCache;
use ldm_diffusion::train::{Decode, DenoiserInfo, TextModel, denoiser_dir, train};
use ldm_text::{ScratchConfig, TEXT_CACHE_FILE, TextCache};

use ldm_core::RunDir;
use ldm_core::checkpoint::Start;

use super::encode::latents_dir;
use crate::cli::ResumableCommand;
use crate::experiment::Experiment;
use crate::text::{CachedText, ScratchModel};

/// What identifies the text side of a trained denoiser; sampling checks the config agrees.
pub fn text_description(exp: &Experiment, fingerprint: Option<String>) -> serde_json::Value {
    json!({ "encoder": exp.text.encoder, "max_len": exp.text.max_len, "fingerprint": fingerprint, "scratch": exp.text.scratch })
}

pub fn run(cmd: &ResumableCommand) -> anyhow::Result<()> {
    let exp = Experiment::load(&cmd.config.config, &cmd.config.sets)?.value;
    let device = exp.device()?;
    let run = exp.open_run(cmd.run.run_dir.as_deref())?;
    let start = Start::from_flag(cmd.resume.as_deref(), &run.checkpoints().join("denoiser"));
    stage(&exp, &run, &device, start)?;
    Ok(())
}

/// Train the denoiser on the run's latent cache into `<run>/denoiser/`, from `start`.
pub fn stage(
    exp: &Experiment,
    run: &RunDir,
    device: &Device,
    start: Start,
) -> anyhow::Result<DenoiserInfo> {
    let latents_dir = latents_dir(run.root());
    let latents = LatentCache::open(&latents_dir).map_err(anyhow::Error::msg)?;

    // Preview grids need the autoencoder's decoder; without it, training still runs.
    let ae = load_autoencoder(&autoencoder_dir(run.root()), device).ok();
    let decode_fn = |z: Tensor<4>| -> Result<Tensor<4>, String> {
        let (ae, _) = ae.as_ref().ok_or("no autoencoder")?;
        Ok(ae.decode(z).clamp(-1.0, 1.0))
    };
    let decode: Option<Decode> = ae.is_some().then_some(&decode_fn as Decode);
    let dropout = exp.text.dropout(exp.seed);

    let info = if exp.text.is_frozen() {
        let encoder = exp
            .text
            .frozen_encoder(device)
            .map_err(anyhow::Error::msg)?;
        let mut captions: BTreeSet<&str> = BTreeSet::new();
        for split in latents.splits.values() {
            captions.extend(split.captions.iter().map(String::as_str));
        }
        captions.extend(exp.denoiser.train.prompts.iter().map(String::as_str));
        let bar = ldm_core::progress::bar(captions.len() as u64, "text cache");
        let (cache, _) = TextCache::open_or_build(
            &latents_dir.join(TEXT_CACHE_FILE),
            &*encoder,
            captions.iter().copied(),
            exp.text.cache_batch,
            |done, _| bar.set_position(done as u64),
        )
        .map_err(anyhow::Error::msg)?;
        bar.finish_and_clear();
        let desc = text_description(exp, Some(encoder.fingerprint()));
        let text = CachedText::new(cache, dropout, encoder.dim());
        train(
            &exp.denoiser,
            &exp.diffusion,
            &latents,
            text,
            run,
            exp.seed,
            device,
            start,
            decode,
            desc,
        )
    } else {
        let max_len = exp.text.max_len;
        let train_captions = &latents.splits["train"].captions;
        let tokenizer = exp
            .text
            .scratch
            .tokenizer(train_captions.iter().map(String::as_str), max_len)
            .map_err(anyhow::Error::msg)?;
        let dir = denoiser_dir(run.root());
        std::fs::create_dir_all(&dir)?;
        ScratchConfig::save_tokenizer(&tokenizer, &dir).map_err(anyhow::Error::msg)?;
        // Built on the autodiff device: forking a module there keeps each parameter's
        // require-grad flag, and parameters made elsewhere have none (they would never train).
        // Seeded, and drawn at once: burn draws a parameter's initial values when it is first
        // touched, and the token table was touched by the log line below (at the default
        // level only), before training seeds the device: its values differed from one process
        // to the next.
        let ad = device.clone().autodiff();
        ad.seed(ldm_core::seed::derive(exp.seed, "text/init", 0));
        let encoder = exp.text.scratch.init(tokenizer.vocab_size(), max_len, &ad);
        ldm_core::seed::draw_now(&encoder);
        let text = ScratchModel::new(encoder, tokenizer, dropout);
        tracing::info!(
            "scratch text encoder: dim {}, trained with the denoiser",
            text.dim()
        );
        let desc = text_description(exp, None);
        train(
            &exp.denoiser,
            &exp.diffusion,
            &latents,
            text,
            run,
            exp.seed,
            device,
            start,
            decode,
            desc,
        )
    }
    .map_err(anyhow::Error::msg)?;
    println!(
        "denoiser saved to {}: val loss {:.4} (predicting zeros: {:.4})",
        denoiser_dir(run.root()).display(),
        info.val_loss,
        info.val_zero_loss
    );
    Ok(info)
}
