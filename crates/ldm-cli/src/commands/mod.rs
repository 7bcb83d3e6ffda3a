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

use crate::cli::{CheckpointCommand, Cli, Command, ConfigCommand, DataCommand};

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
