//! Everything that changes during denoiser training, and how it goes to and from a checkpoint.

use std::path::Path;

use burn::optim::ModuleOptimizer;
use burn::tensor::Bytes;
use serde_json::json;

use ldm_core::RunDir;
use ldm_core::checkpoint;
use ldm_core::record::{from_bytes as restore, to_bytes as bytes};
use ldm_core::train::{Ema, LossScale, NanGuard};
use ldm_data::order::Position;

use crate::unet::UNet;

use super::config::DenoiserSection;
use super::text::TextModel;

pub(super) struct State<T: TextModel> {
    pub(super) step: u64,
    pub(super) unet: UNet,
    pub(super) text: T,
    pub(super) opt_unet: ModuleOptimizer,
    pub(super) opt_text: ModuleOptimizer,
    pub(super) ema: Ema<UNet>,
    pub(super) position: Position,
    pub(super) latents_seen: u64,
    pub(super) nan: NanGuard,
    pub(super) loss_scale: LossScale,
    /// The latest validation loss, kept with the checkpoint so pruning keeps the best one.
    pub(super) val_loss: Option<f64>,
    /// Wall-clock seconds spent training, over every resume (for `max_minutes`).
    pub(super) train_seconds: f64,
}

/// What a denoiser checkpoint records of its inputs: its own config section, the diffusion
/// process, the text encoder (whose change would not fit the saved conditioning weights) and
/// the latents it trains on (their shape, and the scale factor that sets their spread).
pub(super) fn run_config(
    cfg: &DenoiserSection,
    diffusion: &crate::config::DiffusionConfig,
    text: &serde_json::Value,
    latent_shape: [usize; 3],
    scale_factor: f64,
) -> serde_json::Value {
    json!({
        "denoiser": cfg,
        "diffusion": diffusion,
        "text": text,
        "latents": { "shape": latent_shape, "scale_factor": scale_factor },
    })
}

impl<T: TextModel> State<T> {
    pub(super) fn save(
        &self,
        run: &RunDir,
        config: &serde_json::Value,
        keep: usize,
    ) -> Result<std::path::PathBuf, String> {
        let mut files = vec![
            ("unet.bpk", bytes(&self.unet)?),
            ("ema.bpk", bytes(&self.ema.model)?),
            (
                "opt_unet.bpk",
                self.opt_unet
                    .into_bytes()
                    .map_err(|e| format!("{e:?}"))?
                    .to_vec(),
            ),
        ];
        if self.text.trainable() {
            files.push(("text.bpk", bytes(&self.text)?));
            files.push((
                "opt_text.bpk",
                self.opt_text
                    .into_bytes()
                    .map_err(|e| format!("{e:?}"))?
                    .to_vec(),
            ));
        }
        let meta = json!({
            "stage": "denoiser",
            "config": config,
            "position": self.position,
            "latents_seen": self.latents_seen,
            "nan_skipped": self.nan.skipped,
            "loss_scale": self.loss_scale.saved(),
            "ema_updates": self.ema.updates,
            "train_seconds": self.train_seconds,
            "best": self.val_loss.map(|v| json!({
                "name": "val_loss", "value": v, "higher_is_better": false
            })),
        });
        let root = run.checkpoints().join("denoiser");
        checkpoint::save_and_prune(&root, self.step, &files, meta, keep)
    }

    /// `config`: the sections that shaped this run (see [`run_config`]).
    pub(super) fn load(mut self, dir: &Path, config: &serde_json::Value) -> Result<Self, String> {
        let c = checkpoint::load(dir)?;
        checkpoint::check_resume(
            &c,
            "denoiser",
            config,
            &["denoiser.model", "text", "latents.shape"],
        )?;
        self.unet = restore(self.unet, c.file("unet.bpk")?)?;
        self.ema.model = restore(self.ema.model, c.file("ema.bpk")?)?;
        self.ema.updates = c.meta["ema_updates"].as_u64().unwrap_or(0);
        let opt = |o: ModuleOptimizer, name: &str| -> Result<ModuleOptimizer, String> {
            o.from_bytes(Bytes::from_bytes_vec(c.file(name)?.to_vec()))
                .map_err(|e| format!("{e:?}"))
        };
        self.opt_unet = opt(self.opt_unet, "opt_unet.bpk")?;
        if self.text.trainable() {
            self.text = restore(self.text, c.file("text.bpk")?)?;
            self.opt_text = opt(self.opt_text, "opt_text.bpk")?;
        }
        self.position =
            serde_json::from_value(c.meta["position"].clone()).map_err(|e| e.to_string())?;
        self.latents_seen = c.meta["latents_seen"].as_u64().unwrap_or(0);
        self.nan.skipped = c.meta["nan_skipped"].as_u64().unwrap_or(0);
        let saved = serde_json::from_value(c.meta["loss_scale"].clone()).unwrap_or(None);
        self.loss_scale.restore(saved);
        self.val_loss = c.meta["best"]["value"].as_f64();
        self.train_seconds = c.meta["train_seconds"].as_f64().unwrap_or(0.0);
        self.step = c.step;
        Ok(self)
    }
}
