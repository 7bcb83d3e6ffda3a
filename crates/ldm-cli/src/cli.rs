//! Command-line shape: `ldm <command> CONFIG [--set KEY=VALUE]... [--run-dir DIR]`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ldm",
    version,
    about = "Latent diffusion training from a TOML experiment config"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Inspect experiment configs.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect datasets.
    #[command(subcommand)]
    Data(DataCommand),
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the fully resolved config (extends and --set applied, defaults filled in).
    Show(ConfigArgs),
}

#[derive(Subcommand)]
pub enum DataCommand {
    /// Count samples, check every image and caption, and draw a grid of samples.
    Inspect {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        run: RunArgs,
        /// Samples in the grid.
        #[arg(long, default_value_t = 64)]
        grid: usize,
    },
}

/// The experiment config and its overrides.
#[derive(Args, Clone)]
pub struct ConfigArgs {
    /// Path to the TOML experiment config.
    pub config: PathBuf,
    /// Override a config key by dotted path with a typed value, e.g. --set train.lr=2e-4.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

#[derive(Args, Clone)]
pub struct RunArgs {
    /// Run directory (default: runs/<name>).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
}
