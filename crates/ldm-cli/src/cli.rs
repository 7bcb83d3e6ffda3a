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
    /// Train the feature net of the perceptual loss (contrastive, on the training images).
    TrainPerceptual(RunCommand),
    /// Train the autoencoder (pixel, perceptual and patch-GAN losses).
    TrainAutoencoder(ResumableCommand),
    /// Encode every image into the latent cache the denoiser trains from.
    Encode(RunCommand),
    /// Train the text-conditioned denoiser on the latent cache.
    TrainDenoiser(ResumableCommand),
    /// Generate images for prompts with the trained denoiser and autoencoder.
    Sample(SampleCommand),
    /// Train the image-text evaluator (CLIP-style, over frozen MiniLM caption embeddings)
    /// that `ldm eval` scores with.
    TrainEvaluator(RunCommand),
    /// Measure the autoencoder and the generated images (FID/KID with their floor,
    /// alignment, R-precision, the shapes detector) over a guidance sweep into eval.json.
    Eval(RunCommand),
    /// Every stage in order: perceptual net, autoencoder, latents, denoiser, sample grids,
    /// evaluation, report. Finished stages are skipped, interrupted ones continued.
    Run(PipelineCommand),
    /// Write report.html (config, metrics, training curves, grids) for a run directory, or
    /// the comparison of a sweep's variants for a sweep's folder.
    Report(ReportCommand),
    /// Run every variant of a sweep file (axes over config keys, named variants, seeds) as
    /// `ldm run`s sharing finished stages, then write the comparison report.
    Sweep(SweepCommand),
    /// Check and compare training checkpoints.
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
}

#[derive(Subcommand)]
pub enum CheckpointCommand {
    /// Verify checkpoints (a run directory, a stage's checkpoint folder, or one checkpoint):
    /// every manifest readable, every file's size and CRC-32 as recorded.
    Verify { paths: Vec<PathBuf> },
    /// Compare the weights in two checkpoints (or two weights files) tensor by tensor.
    Diff { a: PathBuf, b: PathBuf },
}

impl Command {
    /// `--until-step`, for the commands that train.
    pub fn until_step(&self) -> Option<u64> {
        match self {
            Command::TrainAutoencoder(c) | Command::TrainDenoiser(c) => c.until_step,
            _ => None,
        }
    }
}

#[derive(Args, Clone)]
pub struct SampleCommand {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// A prompt; repeat for several (one grid row each).
    #[arg(long = "prompt", required = true)]
    pub prompts: Vec<String>,
    /// Images per prompt.
    #[arg(long, default_value_t = 8)]
    pub n: usize,
    /// Sampling steps (default: denoiser.sampling.steps).
    #[arg(long)]
    pub steps: Option<usize>,
    /// ddpm, ddim, euler, heun or dpmpp-2m (default: denoiser.sampling.sampler).
    #[arg(long)]
    pub sampler: Option<String>,
    /// Classifier-free guidance scale (default: denoiser.sampling.guidance_scale).
    #[arg(long)]
    pub guidance: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output PNG (default: <run>/samples/sample.png).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// `ldm run`: the whole pipeline.
#[derive(Args, Clone)]
pub struct PipelineCommand {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// A cache of finished stages shared between runs: stages found there are linked in
    /// instead of computed, and computed ones are added.
    #[arg(long, value_name = "DIR")]
    pub share: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub struct ReportCommand {
    /// The run directory, or a sweep's folder.
    pub run_dir: PathBuf,
}

/// `ldm sweep`: the variants of a sweep file, one `ldm run` each.
#[derive(Args, Clone)]
pub struct SweepCommand {
    /// The sweep file (TOML: base, mode, seeds, set, [budget], [[axis]], [[variant]]).
    pub sweep: PathBuf,
    /// Override a config key in every variant (not one the variants differ in).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// The sweep's folder (default: runs/sweeps/<name>): the variants' run directories in
    /// runs/, the report, summary.csv and summary.md.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The cache of finished stages the variants share (default: <dir>/shared).
    #[arg(long, value_name = "DIR")]
    pub share: Option<PathBuf>,
    /// Check every variant's config and list the variants, without running anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// A command that writes into a run directory.
#[derive(Args, Clone)]
pub struct RunCommand {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

/// A training command that can continue from a checkpoint.
#[derive(Args, Clone)]
pub struct ResumableCommand {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Continue from a checkpoint: `latest` (the newest in the run directory) or a path.
    #[arg(long, value_name = "latest|PATH")]
    pub resume: Option<String>,
    /// Write a checkpoint and stop once this many steps are done (continue with --resume).
    #[arg(long, value_name = "STEP")]
    pub until_step: Option<u64>,
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
