//! The pretrained, frozen all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, width 384):
//! per-token last hidden states as the cross-attention context, their masked mean as the
//! pooled vector, as sentence-transformers pools it (before its final normalisation).
//!
//! Any BERT folder in the Hugging Face layout loads the same way: `model.safetensors`,
//! `config.json` and `tokenizer.json`. `scripts/fetch-weights.sh` puts MiniLM's in
//! `weights/all-minilm-l6-v2/`.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;

use crate::bert::{Bert, BertConfig};
use crate::encoder::{TextEncoder, TextEncoding, file_fingerprint, mean_pool};
use crate::tokenizer::HfTokenizer;

/// Where `scripts/fetch-weights.sh` puts the weights, relative to the repository root.
pub const DEFAULT_MINILM_DIR: &str = "weights/all-minilm-l6-v2";

pub struct MiniLm {
    tokenizer: HfTokenizer,
    model: Bert,
    device: Device,
    dim: usize,
    fingerprint: String,
}

impl MiniLm {
    /// Load from a Hugging Face model folder; rows are `max_len` tokens.
    /// Runs on `device` without autodiff whatever `device` is: the encoder is frozen.
    pub fn load(dir: &Path, max_len: usize, device: &Device) -> Result<Self, String> {
        let file = |name: &str| -> Result<PathBuf, String> {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(format!(
                    "{}: missing; a Hugging Face BERT folder needs model.safetensors, \
                     config.json and tokenizer.json (MiniLM: run scripts/fetch-weights.sh)",
                    p.display()
                ))
            }
        };
        let (weights, config, tok) = (
            file("model.safetensors")?,
            file("config.json")?,
            file("tokenizer.json")?,
        );
        let config = BertConfig::from_json_file(&config)?;
        if max_len > config.max_position_embeddings {
            return Err(format!(
                "max_len {max_len} is longer than the model's {} positions",
                config.max_position_embeddings
            ));
        }
        let device = device.clone().without_autodiff();
        let model = config.init(&device).load_safetensors(&weights)?.valid();
        let tokenizer = HfTokenizer::from_file(&tok, max_len)?;
        let fingerprint = format!(
            "bert {} max_len={max_len} weights={} tokenizer={}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            file_fingerprint(&weights)?,
            file_fingerprint(&tok)?,
        );
        Ok(Self {
            tokenizer,
            model,
            device,
            dim: config.hidden_size,
            fingerprint,
        })
    }

    pub fn tokenizer(&self) -> &HfTokenizer {
        &self.tokenizer
    }
}

impl TextEncoder for MiniLm {
    fn encode(&self, captions: &[String]) -> TextEncoding {
        let tokens = self.tokenizer.tokenize(captions);
        let mask = tokens.mask(&self.device);
        let hidden = self.model.forward(
            tokens.ids_tensor(&self.device),
            tokens.pad_mask(&self.device),
        );
        let pooled = mean_pool(hidden.clone(), mask.clone());
        TextEncoding {
            hidden,
            mask,
            pooled: Some(pooled),
        }
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
