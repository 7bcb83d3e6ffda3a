//! The trained denoiser a run hands on: `<run>/denoiser/` with the EMA weights (`model.bpk`),
//! a jointly trained text encoder's weights (`text.bpk`), and `info.json` describing both.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use ldm_core::record::{from_bytes as restore, to_bytes as bytes};

use crate::config::DiffusionConfig;
use crate::unet::{UNet, UNetConfig};

use super::text::TextModel;

/// What `ldm sample` and the pipeline need to rebuild the trained denoiser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoiserInfo {
    pub model: UNetConfig,
    pub diffusion: DiffusionConfig,
    /// `[C, H, W]` of the latents.
    pub latent_shape: [usize; 3],
    pub scale_factor: f64,
    pub context_dim: usize,
    /// Describes the text encoder the denoiser was trained with (checked when sampling).
    pub text: serde_json::Value,
    pub steps: u64,
    pub val_loss: f64,
    pub val_zero_loss: f64,
}

pub fn denoiser_dir(run: &Path) -> PathBuf {
    run.join("denoiser")
}

/// Save the final (EMA) weights and their description; `info.json` last marks completion.
pub fn save_denoiser<T: TextModel>(
    dir: &Path,
    unet: &UNet,
    text: &T,
    info: &DenoiserInfo,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    ldm_core::atomic::write(&dir.join("model.bpk"), &bytes(unet)?).map_err(|e| e.to_string())?;
    if text.trainable() {
        ldm_core::atomic::write(&dir.join("text.bpk"), &bytes(text)?).map_err(|e| e.to_string())?;
    }
    let json = serde_json::to_string_pretty(info).expect("info serializes");
    ldm_core::atomic::write(&dir.join("info.json"), json.as_bytes()).map_err(|e| e.to_string())
}

/// The description of a trained denoiser (`<dir>/info.json`).
pub fn load_info(dir: &Path) -> Result<DenoiserInfo, String> {
    let p = dir.join("info.json");
    let raw = std::fs::read_to_string(&p)
        .map_err(|e| format!("{}: {e} (train the denoiser first)", p.display()))?;
    serde_json::from_str(&raw).map_err(|e| format!("{}: {e}", p.display()))
}

/// Load a trained denoiser; a jointly trained text model's weights are loaded into `text`.
pub fn load_denoiser<T: TextModel>(
    dir: &Path,
    text: T,
    device: &Device,
) -> Result<(UNet, T, DenoiserInfo), String> {
    let info = load_info(dir)?;
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()))
    };
    let unet = restore(
        info.model
            .init(info.latent_shape[0], info.context_dim, device),
        &read("model.bpk")?,
    )?;
    let text = if text.trainable() {
        restore(text, &read("text.bpk")?)?
    } else {
        text
    };
    Ok((unet, text, info))
}
