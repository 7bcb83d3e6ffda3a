//! Everything that changes during denoiser training, and how it goes to and from a checkpoint.

use std::path::Path;

use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::tensor::Bytes;
use serde_json::json;

use ldm_core::RunDir;
use ldm_core::checkpoint;
use ldm_core::record::{from_bytes as restore, to_bytes as bytes};
use ldm_core::train::Ema;
use ldm_data::order::Position;

use crate::unet::{UNet, UNetConfig};

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
}

pub(super) fn adamw(weight_decay: f64) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(weight_decay as f32)
        .init()
}

impl<T: TextModel> State<T> {
    pub(super) fn save(
        &self,
        run: &RunDir,
        cfg: &DenoiserSection,
        keep: usize,
    ) -> Result<(), String> {
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
            "position": self.position,
            "ema_updates": self.ema.updates,
            "model": cfg.model,
        });
        let root = run.checkpoints().join("denoiser");
        checkpoint::save_and_prune(&root, self.step, &files, meta, keep)?;
        Ok(())
    }

    pub(super) fn load(mut self, dir: &Path, cfg: &DenoiserSection) -> Result<Self, String> {
        let c = checkpoint::load(dir)?;
        if c.meta["stage"] != "denoiser" {
            return Err(format!(
                "{} is not a denoiser checkpoint (stage {})",
                dir.display(),
                c.meta["stage"]
            ));
        }
        let saved: UNetConfig =
            serde_json::from_value(c.meta["model"].clone()).map_err(|e| e.to_string())?;
        if saved != cfg.model {
            return Err(format!(
                "{}: the checkpoint's [denoiser.model] differs from the config's; a changed model shape cannot resume",
                dir.display()
            ));
        }
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
        self.step = c.step;
        Ok(self)
    }
}
