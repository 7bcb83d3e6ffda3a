//! `ldm sample CONFIG --prompt "..." [--prompt ...] --n 16 --steps 50 --sampler dpmpp-2m
//! --guidance 5 --seed 0 --out grid.png`: pure noise -> denoiser -> decode once -> grid.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::{Device, Tensor};

use ldm_autoencoder::Autoencoder;
use ldm_autoencoder::artifacts::{autoencoder_dir, check_config, load_autoencoder};
use ldm_core::RunDir;
use ldm_diffusion::SamplingConfig;
use ldm_diffusion::train::{DenoiserInfo, denoiser_dir, load_denoiser, load_info, sample_latents};
use ldm_diffusion::unet::UNet;

use super::train_denoiser::text_description;
use crate::cli::SampleCommand;
use crate::experiment::Experiment;
use crate::text::{LiveText, ScratchModel};

/// What to draw: `n` images for each prompt, with optional overrides of
/// `[denoiser.sampling]`.
#[derive(Clone, Debug)]
pub struct SampleOptions {
    pub prompts: Vec<String>,
    pub n: usize,
    pub steps: Option<usize>,
    pub sampler: Option<String>,
    pub guidance: Option<f64>,
    pub seed: u64,
    /// Output PNG (default: <run>/samples/sample.png).
    pub out: Option<PathBuf>,
}

impl From<&SampleCommand> for SampleOptions {
    fn from(cmd: &SampleCommand) -> Self {
        Self {
            prompts: cmd.prompts.clone(),
            n: cmd.n,
            steps: cmd.steps,
            sampler: cmd.sampler.clone(),
            guidance: cmd.guidance,
            seed: cmd.seed,
            out: cmd.out.clone(),
        }
    }
}

/// The text model a trained denoiser is sampled with.
enum Text {
    Frozen(LiveText),
    Scratch(ScratchModel),
}

/// A run's trained denoiser, with the text model it was trained with, and the autoencoder
/// that decodes its latents.
pub struct Generator {
    ae: Autoencoder,
    unet: UNet,
    text: Text,
    info: DenoiserInfo,
}

impl Generator {
    /// Load from the run directory; the config's text encoder must be the one the denoiser
    /// was trained with (checked before loading).
    pub fn load(exp: &Experiment, run: &RunDir, device: &Device) -> anyhow::Result<Self> {
        let dir = denoiser_dir(run.root());
        let check = |want: serde_json::Value| -> anyhow::Result<()> {
            let have = load_info(&dir).map_err(anyhow::Error::msg)?.text;
            // Name the first differing field rather than dumping both descriptions.
            let differs = ["encoder", "max_len", "fingerprint", "scratch"]
                .into_iter()
                .find(|k| have[k] != want[k]);
            if let Some(k) = differs {
                anyhow::bail!(
                    "the denoiser in {} was trained with text encoder {k} = {} but the config gives {}",
                    dir.display(),
                    have[k],
                    want[k]
                );
            }
            Ok(())
        };
        let (ae, ae_info) =
            load_autoencoder(&autoencoder_dir(run.root()), device).map_err(anyhow::Error::msg)?;
        check_config(
            &autoencoder_dir(run.root()),
            &ae_info,
            &exp.autoencoder.model,
        )
        .map_err(anyhow::Error::msg)?;
        let (unet, text, info) = if exp.text.is_frozen() {
            let encoder = exp
                .text
                .frozen_encoder(device)
                .map_err(anyhow::Error::msg)?;
            check(text_description(exp, Some(encoder.fingerprint())))?;
            let (unet, text, info) =
                load_denoiser(&dir, LiveText::new(encoder), device).map_err(anyhow::Error::msg)?;
            (unet, Text::Frozen(text), info)
        } else {
            check(text_description(exp, None))?;
            let (max_len, scratch) = (exp.text.max_len, &exp.text.scratch);
            let tokenizer = scratch
                .load_tokenizer(&dir, max_len)
                .map_err(anyhow::Error::msg)?;
            let encoder = scratch.init(tokenizer.vocab_size(), max_len, device);
            let text = ScratchModel::new(encoder, tokenizer, exp.text.dropout(exp.seed));
            let (unet, text, info) =
                load_denoiser(&dir, text, device).map_err(anyhow::Error::msg)?;
            (unet, Text::Scratch(text), info)
        };
        Ok(Self {
            ae,
            unet,
            text,
            info,
        })
    }

    /// Decoded images `[prompts.len(), C, H, W]` in [-1, 1], one per prompt. Image i starts
    /// from the noise of `(seed, first + i)`, so drawing a list in batches gives the same
    /// images as drawing it whole.
    pub fn images(
        &self,
        prompts: &[String],
        sampling: &SamplingConfig,
        seed: u64,
        first: u64,
        device: &Device,
    ) -> Tensor<4> {
        let (diffusion, shape) = (&self.info.diffusion, self.info.latent_shape);
        let z = match &self.text {
            Text::Frozen(t) => sample_latents(
                &self.unet, t, diffusion, sampling, prompts, shape, seed, first, device,
            ),
            Text::Scratch(t) => sample_latents(
                &self.unet, t, diffusion, sampling, prompts, shape, seed, first, device,
            ),
        };
        self.ae
            .decode(z.div_scalar(self.info.scale_factor))
            .clamp(-1.0, 1.0)
    }
}

/// `[denoiser.sampling]` with the options' overrides applied.
fn sampling(exp: &Experiment, cmd: &SampleOptions) -> anyhow::Result<SamplingConfig> {
    let mut sampling = exp.denoiser.sampling.clone();
    if let Some(s) = cmd.steps {
        sampling.steps = s;
    }
    if let Some(s) = &cmd.sampler {
        sampling.sampler = s.parse().map_err(anyhow::Error::msg)?;
    }
    if let Some(g) = cmd.guidance {
        sampling.guidance_scale = g;
    }
    Ok(sampling)
}

pub fn run(cmd: &SampleCommand) -> anyhow::Result<()> {
    let exp = Experiment::load(&cmd.config.config, &cmd.config.sets)?.value;
    let device = exp.device()?;
    let run = exp.open_run(cmd.run.run_dir.as_deref())?;
    stage(&exp, &run, &device, &SampleOptions::from(cmd))?;
    Ok(())
}

/// Draw a grid (one row per prompt) with the run's denoiser and autoencoder; returns where
/// it was written.
pub fn stage(
    exp: &Experiment,
    run: &RunDir,
    device: &Device,
    cmd: &SampleOptions,
) -> anyhow::Result<PathBuf> {
    let generator = Generator::load(exp, run, device)?;
    let sampling = sampling(exp, cmd)?;
    let prompts: Vec<String> = cmd
        .prompts
        .iter()
        .flat_map(|p| std::iter::repeat_n(p.clone(), cmd.n))
        .collect();
    let images = generator.images(&prompts, &sampling, cmd.seed, 0, device);
    let dims = images.dims();
    let data: Vec<f32> = images
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let out = cmd
        .out
        .clone()
        .unwrap_or_else(|| run.samples().join("sample.png"));
    ldm_data::grid::write_grid(&out, &ldm_data::grid::to_images(&data, dims), cmd.n, 64)
        .map_err(anyhow::Error::msg)
        .context("writing the grid")?;
    println!(
        "{} images ({} per prompt) written to {}",
        dims[0],
        cmd.n,
        out.display()
    );
    Ok(out)
}
