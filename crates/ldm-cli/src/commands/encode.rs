//! `ldm encode CONFIG`: the latent cache (`<run>/latents/`) from the trained autoencoder.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use ldm_autoencoder::artifacts::{autoencoder_dir, check_config, load_autoencoder};
use ldm_core::RunDir;
use ldm_data::Splits;
use ldm_data::latents::LatentManifest;

use crate::cli::RunCommand;
use crate::experiment::Experiment;

pub fn run(cmd: &RunCommand) -> anyhow::Result<()> {
    let (exp, device, splits, run) = super::open_stage(cmd)?;
    stage(&exp, &run, &device, &splits)?;
    Ok(())
}

/// Where the latent cache of a run lives.
pub fn latents_dir(run: &Path) -> PathBuf {
    run.join("latents")
}

/// Encode every image of both splits into `<run>/latents/` with the run's autoencoder.
pub fn stage(
    exp: &Experiment,
    run: &RunDir,
    device: &Device,
    splits: &Splits,
) -> anyhow::Result<LatentManifest> {
    let (ae, info) = load_autoencoder(&autoencoder_dir(run.root()), device)
        .map_err(|e| anyhow::anyhow!("{e} (train it first with `ldm train-autoencoder`)"))?;
    check_config(&autoencoder_dir(run.root()), &info, &exp.autoencoder.model)
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        info.image_channels == exp.data.channels as usize && info.resolution == exp.data.resolution,
        "the autoencoder was trained on {}-channel {}px images but the data gives {}-channel {}px",
        info.image_channels,
        info.resolution,
        exp.data.channels,
        exp.data.resolution
    );
    let dir = latents_dir(run.root());
    let m = ldm_autoencoder::encode::encode_dataset(&ae, &info, splits, &exp.data, &dir, device)
        .map_err(anyhow::Error::msg)?;
    println!(
        "latents {:?} x {} train / {} val written to {} (scale factor {:.5})",
        m.shape,
        m.splits["train"].count,
        m.splits["val"].count,
        dir.display(),
        m.scale_factor
    );
    Ok(m)
}
