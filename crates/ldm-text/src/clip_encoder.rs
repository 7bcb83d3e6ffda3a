//! A frozen CLIP text encoder from user-supplied weights (SD 1.x's `text_encoder/`), with
//! CLIP's own BPE tokenizer.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;

use crate::clip::{ClipConfig, ClipText};
use crate::clip_bpe::ClipBpe;
use crate::encoder::{TextEncoder, TextEncoding, file_fingerprint};

pub struct ClipEncoder {
    tokenizer: ClipBpe,
    model: ClipText,
    device: Device,
    dim: usize,
    fingerprint: String,
}

impl ClipEncoder {
    /// `weights`: a Hugging Face `CLIPTextModel` folder (`model.safetensors`, and
    /// `config.json` unless it is SD 1.x's), or the `.safetensors` file itself (its
    /// `config.json`, if any, beside it). Runs on `device` without autodiff.
    pub fn load(weights: &Path, max_len: usize, device: &Device) -> Result<Self, String> {
        let (file, dir): (PathBuf, PathBuf) = if weights.is_dir() {
            (weights.join("model.safetensors"), weights.to_path_buf())
        } else {
            let dir = weights.parent().unwrap_or(Path::new(".")).to_path_buf();
            (weights.to_path_buf(), dir)
        };
        if !file.is_file() {
            return Err(format!(
                "{}: missing; the clip encoder needs CLIP text-model weights as safetensors",
                file.display()
            ));
        }
        let config_path = dir.join("config.json");
        let config = if config_path.is_file() {
            ClipConfig::from_json_file(&config_path)?
        } else {
            ClipConfig::default()
        };
        Self::from_parts(&file, config, max_len, device)
    }

    /// Load `file` as the model `config` describes.
    pub fn from_parts(
        file: &Path,
        config: ClipConfig,
        max_len: usize,
        device: &Device,
    ) -> Result<Self, String> {
        if max_len > config.max_position_embeddings {
            return Err(format!(
                "max_len {max_len} is longer than the model's {} positions",
                config.max_position_embeddings
            ));
        }
        let device = device.clone().without_autodiff();
        let model = config.init(&device).load_safetensors(file)?.valid();
        let fingerprint = format!(
            "clip layers={} width={} max_len={max_len} weights={}",
            config.num_hidden_layers,
            config.hidden_size,
            file_fingerprint(file)?
        );
        Ok(Self {
            tokenizer: ClipBpe::new(max_len)?,
            model,
            device,
            dim: config.hidden_size,
            fingerprint,
        })
    }

    pub fn tokenizer(&self) -> &ClipBpe {
        &self.tokenizer
    }

    /// Encode already tokenized rows (ids below the model's vocabulary size).
    pub fn encode_tokens(&self, tokens: &crate::tokenizer::Tokens) -> TextEncoding {
        let hidden = self.model.forward(tokens.ids_tensor(&self.device));
        let pooled = ClipText::pool(hidden.clone(), &tokens.lengths);
        TextEncoding {
            hidden,
            mask: tokens.mask(&self.device),
            pooled: Some(pooled),
        }
    }
}

impl TextEncoder for ClipEncoder {
    fn encode(&self, captions: &[String]) -> TextEncoding {
        self.encode_tokens(&self.tokenizer.tokenize(captions))
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn max_len(&self) -> usize {
        self.tokenizer.max_len()
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }
}
