//! `ldm train-perceptual CONFIG`: the feature net of the perceptual loss, learned on the
//! dataset's own images, saved to `<run>/perceptual/`.

use burn::tensor::Device;

use ldm_autoencoder::artifacts::PerceptualInfo;
use ldm_core::RunDir;
use ldm_data::Splits;

use crate::cli::RunCommand;
use crate::experiment::Experiment;

pub fn run(cmd: &RunCommand) -> anyhow::Result<()> {
    let (exp, device, splits, run) = super::open_stage(cmd)?;
    stage(&exp, &run, &device, &splits)?;
    Ok(())
}

/// Train the feature net into `<run>/perceptual/` (always from the start: the stage is short
/// and keeps no checkpoints).
pub fn stage(
    exp: &Experiment,
    run: &RunDir,
    device: &Device,
    splits: &Splits,
) -> anyhow::Result<PerceptualInfo> {
    let info = ldm_autoencoder::perceptual::train_perceptual(
        &exp.perceptual,
        &exp.data,
        splits,
        run,
        exp.seed,
        device,
    )
    .map_err(anyhow::Error::msg)?;
    println!(
        "perceptual net saved to {}: held-out top-1 retrieval {:.1}% (chance {:.1}%)",
        ldm_autoencoder::artifacts::perceptual_dir(run.root()).display(),
        100.0 * info.val_retrieval,
        100.0 * info.chance
    );
    Ok(info)
}
