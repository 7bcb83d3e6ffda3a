//! The trained evaluator on disk: `<run>/evaluator/model.bpk` (weights) and `info.json` (what
//! it is and how well it retrieves), both written atomically, `info.json` last so its
//! presence means the pair is complete.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{Evaluator, EvaluatorConfig};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorInfo {
    pub config: EvaluatorConfig,
    pub image_channels: usize,
    pub resolution: u32,
    /// The caption embedder's fingerprint and width: evaluation must embed prompts the same way.
    pub text_encoder: String,
    pub text_dim: usize,
    pub steps: u64,
    /// Held-out (validation split) top-1 image-to-caption retrieval among `val_candidates`
    /// captions, the chance level of that, and the images it was measured on.
    pub val_retrieval: f64,
    pub chance: f64,
    pub val_images: usize,
}

pub fn evaluator_dir(run: &Path) -> PathBuf {
    run.join("evaluator")
}

pub fn save_evaluator(dir: &Path, model: &Evaluator, info: &EvaluatorInfo) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bytes = ldm_core::record::to_bytes(model)?;
    ldm_core::atomic::write(&dir.join("model.bpk"), &bytes).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(info).expect("info serializes");
    ldm_core::atomic::write(&dir.join("info.json"), json.as_bytes()).map_err(|e| e.to_string())
}

pub fn load_evaluator_info(dir: &Path) -> Result<EvaluatorInfo, String> {
    let p = dir.join("info.json");
    let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
}

/// The saved evaluator, frozen (no gradients are taken for its weights).
pub fn load_evaluator(dir: &Path, device: &Device) -> Result<(Evaluator, EvaluatorInfo), String> {
    let info = load_evaluator_info(dir)?;
    let p = dir.join("model.bpk");
    let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    let fresh = info.config.init(info.image_channels, info.text_dim, device);
    let model =
        ldm_core::record::from_bytes(fresh, &bytes).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok((model.no_grad(), info))
}
