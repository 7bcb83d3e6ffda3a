//! One file per command.

mod checkpoint;
mod config_show;
mod data_inspect;
mod encode;
pub mod eval;
pub mod report;
mod run;
mod sample;
mod sweep;
mod train_autoencoder;
mod train_denoiser;
mod train_evaluator;
mod train_perceptual;

use crate::cli::{CheckpointCommand, Cli, Command, ConfigCommand, DataCommand, RunCommand};
use crate::experiment::Experiment;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Config(ConfigCommand::Show(args)) => config_show::run(&args),
        Command::Data(DataCommand::Inspect { config, run, grid }) => {
            data_inspect::run(&config, &run, grid)
        }
        Command::TrainPerceptual(c) => train_perceptual::run(&c),
        Command::TrainAutoencoder(c) => train_autoencoder::run(&c),
        Command::Encode(c) => encode::run(&c),
        Command::TrainDenoiser(c) => train_denoiser::run(&c),
        Command::Sample(c) => sample::run(&c),
        Command::TrainEvaluator(c) => train_evaluator::run(&c),
        Command::Eval(c) => eval::run(&c),
        Command::Run(c) => run::run(&c),
        Command::Report(c) => report::run(&c),
        Command::Sweep(c) => sweep::run(&c),
        Command::Checkpoint(CheckpointCommand::Verify { paths }) => checkpoint::verify(&paths),
        Command::Checkpoint(CheckpointCommand::Diff { a, b }) => checkpoint::diff(&a, &b),
    }
}

/// What a stage command opens before its work, in this order so that a bad config or
/// dataset fails before the run directory is touched: the config, the device, the data
/// splits, the run directory.
fn open_stage(
    cmd: &RunCommand,
) -> anyhow::Result<(
    Experiment,
    burn::tensor::Device,
    ldm_data::Splits,
    ldm_core::RunDir,
)> {
    let exp = Experiment::load(&cmd.config.config, &cmd.config.sets)?.value;
    let device = exp.device()?;
    let splits = ldm_data::open(&exp.data, exp.seed).map_err(anyhow::Error::msg)?;
    let run = exp.open_run(cmd.run.run_dir.as_deref())?;
    Ok((exp, device, splits, run))
}
