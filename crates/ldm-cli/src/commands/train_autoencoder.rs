//! `ldm train-autoencoder CONFIG [--resume latest|PATH]`.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;

use ldm_autoencoder::artifacts::{
    AutoencoderInfo, autoencoder_dir, load_perceptual, perceptual_dir,
};
use ldm_autoencoder::perceptual::{Perceptual, PretrainedLpips};
use ldm_autoencoder::train::PerceptualKind;
use ldm_core::RunDir;
use ldm_core::checkpoint::Start;
use ldm_data::Splits;

use crate::cli::ResumableCommand;
use crate::experiment::Experiment;

pub fn run(cmd: &ResumableCommand) -> anyhow::Result<()> {
    let exp = Experiment::load(&cmd.config.config, &cmd.config.sets)?.value;
    let device = exp.device()?;
    let splits = ldm_data::open(&exp.data, exp.seed).map_err(anyhow::Error::msg)?;
    let run = exp.open_run(cmd.run.run_dir.as_deref())?;
    let start = Start::from_flag(
        cmd.resume.as_deref(),
        &run.checkpoints().join("autoencoder"),
    );
    stage(&exp, &run, &device, &splits, start)?;
    Ok(())
}

/// Train the autoencoder into `<run>/autoencoder/`, from `start`.
pub fn stage(
    exp: &Experiment,
    run: &RunDir,
    device: &Device,
    splits: &Splits,
    start: Start,
) -> anyhow::Result<AutoencoderInfo> {
    let loss = &exp.autoencoder.loss;
    let perceptual = match loss.perceptual {
        PerceptualKind::None => None,
        PerceptualKind::Learned => {
            let dir = loss
                .perceptual_path
                .as_ref()
                .map(PathBuf::from)
                .unwrap_or_else(|| perceptual_dir(run.root()));
            let (net, info) = load_perceptual(&dir, &device.clone().autodiff())
                .map_err(anyhow::Error::msg)
                .with_context(|| {
                    "the perceptual loss needs a trained feature net: run `ldm train-perceptual` with this config \
                     first, or set autoencoder.loss.perceptual = \"none\""
                })?;
            anyhow::ensure!(
                info.image_channels == exp.data.channels as usize,
                "{}: the feature net takes {} channels but data.channels = {}",
                dir.display(),
                info.image_channels,
                exp.data.channels
            );
            Some(Perceptual::Learned(net))
        }
        PerceptualKind::LpipsVgg | PerceptualKind::LpipsAlex => {
            let net = loss.perceptual.lpips_net().expect("an LPIPS kind");
            let backbone = loss.lpips_backbone.as_deref().map(PathBuf::from).context(
                "autoencoder.loss.lpips_backbone is required for an LPIPS perceptual loss",
            )?;
            let linear = loss.lpips_linear.as_deref().map(PathBuf::from);
            // Loaded frozen: the loss differentiates through the net to the images only.
            let lpips = PretrainedLpips::load(
                net,
                &backbone,
                linear.as_deref(),
                &device.clone().autodiff(),
            )
            .map_err(anyhow::Error::msg)
            .context("loading the pretrained LPIPS weights (autoencoder.loss.lpips_backbone, lpips_linear)")?;
            Some(Perceptual::Lpips(lpips))
        }
    };
    let info = ldm_autoencoder::train::train(
        &exp.autoencoder,
        &exp.data,
        splits,
        perceptual.as_ref(),
        run,
        exp.seed,
        device,
        start,
    )
    .map_err(anyhow::Error::msg)?;
    println!(
        "autoencoder saved to {}: f={}, val PSNR {:.2} dB, SSIM {:.4}, latent scale factor {:.5}",
        autoencoder_dir(run.root()).display(),
        info.config.factor(),
        info.val_psnr,
        info.val_ssim,
        info.scale_factor
    );
    Ok(info)
}
