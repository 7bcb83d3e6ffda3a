//! `ldm train-perceptual CONFIG`: the feature net of the perceptual loss, learned on the
//! dataset's own images, saved to `<run>/perceptual/`.

use crate::cli::RunCommand;
use crate::experiment::Experiment;

pub fn run(cmd: &RunCommand) -> anyhow::Result<()> {
    let exp = Experiment::load(&cmd.config.config, &cmd.config.sets)?.value;
    let device = exp.device()?;
    let splits = ldm_data::open(&exp.data, exp.seed).map_err(anyhow::Error::msg)?;
    let run = exp.open_run(cmd.run.run_dir.as_deref())?;
    let info = ldm_autoencoder::perceptual::train_perceptual(
        &exp.perceptual,
        &exp.data,
        &splits,
        &run,
        exp.seed,
        &device,
    )
    .map_err(anyhow::Error::msg)?;
    println!(
        "perceptual net saved to {}: held-out top-1 retrieval {:.1}% (chance {:.1}%)",
        ldm_autoencoder::artifacts::perceptual_dir(run.root()).display(),
        100.0 * info.val_retrieval,
        100.0 * info.chance
    );
    Ok(())
}
