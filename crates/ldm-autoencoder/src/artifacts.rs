//! The trained models a stage hands to the next: `<run>/autoencoder/` and
//! `<run>/perceptual/`, each a burnpack of weights and an `info.json` describing them.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::autoencoder::{Autoencoder, AutoencoderConfig};
use crate::perceptual::{FeatureNet, FeatureNetConfig};

/// What the encoder, the denoiser and the pipeline need to know about a trained autoencoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderInfo {
    pub config: AutoencoderConfig,
    pub image_channels: usize,
    pub resolution: u32,
    /// Multiply latents by this before diffusion (1 / std of training latents).
    pub scale_factor: f64,
    /// Images the scale factor was estimated on.
    pub scale_images: usize,
    pub steps: u64,
    pub val_psnr: f64,
    pub val_ssim: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerceptualInfo {
    pub config: FeatureNetConfig,
    pub image_channels: usize,
    pub steps: u64,
    /// Held-out top-1 retrieval accuracy of the contrastive views, and chance level.
    pub val_retrieval: f64,
    pub chance: f64,
}

pub fn autoencoder_dir(run: &Path) -> PathBuf {
    run.join("autoencoder")
}

pub fn perceptual_dir(run: &Path) -> PathBuf {
    run.join("perceptual")
}

fn save_module<M: Module>(dir: &Path, module: &M, info: &impl Serialize) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bytes = module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| format!("{e:?}"))?;
    ldm_core::atomic::write(&dir.join("model.bpk"), &bytes).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(info).expect("info serializes");
    // info.json last: its presence marks the stage's output complete.
    ldm_core::atomic::write(&dir.join("info.json"), json.as_bytes()).map_err(|e| e.to_string())
}

fn load_info<T: for<'de> Deserialize<'de>>(dir: &Path) -> Result<T, String> {
    let p = dir.join("info.json");
    let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
}

fn load_weights<M: Module>(dir: &Path, module: M) -> Result<M, String> {
    let p = dir.join("model.bpk");
    let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    ldm_core::record::from_bytes(module, &bytes).map_err(|e| format!("{}: {e}", p.display()))
}

/// Refuse a trained autoencoder whose shape is not the config's (say `z_channels` changed
/// after training), naming the first differing key, before anything is encoded with it.
pub fn check_config(
    dir: &Path,
    info: &AutoencoderInfo,
    model: &AutoencoderConfig,
) -> Result<(), String> {
    let json = |c: &AutoencoderConfig| serde_json::to_value(c).expect("config serializes");
    let changes =
        ldm_core::config::changed_keys("autoencoder.model", &json(&info.config), &json(model));
    match changes.first() {
        None => Ok(()),
        Some((key, trained, now)) => Err(format!(
            "the autoencoder in {} was trained with {key} = {trained} but the config says {now} \
             (restore the key, or retrain the autoencoder in a fresh run directory)",
            dir.display()
        )),
    }
}

pub fn save_autoencoder(
    dir: &Path,
    ae: &Autoencoder,
    info: &AutoencoderInfo,
) -> Result<(), String> {
    save_module(dir, ae, info)
}

pub fn load_autoencoder(
    dir: &Path,
    device: &Device,
) -> Result<(Autoencoder, AutoencoderInfo), String> {
    let info: AutoencoderInfo = load_info(dir)?;
    let ae = load_weights(dir, info.config.init(info.image_channels, device))?;
    Ok((ae, info))
}

pub fn save_perceptual(dir: &Path, net: &FeatureNet, info: &PerceptualInfo) -> Result<(), String> {
    save_module(dir, net, info)
}

/// The frozen feature net (no gradients are taken for its weights).
pub fn load_perceptual(
    dir: &Path,
    device: &Device,
) -> Result<(FeatureNet, PerceptualInfo), String> {
    let info: PerceptualInfo = load_info(dir)?;
    let net = load_weights(dir, info.config.init(info.image_channels, device))?;
    Ok((net.no_grad(), info))
}
