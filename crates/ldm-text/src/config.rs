//! The `[text]` section of an experiment config: which text encoder conditions the denoiser.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};

use crate::clip_encoder::ClipEncoder;
use crate::dropout::CaptionDropout;
use crate::encoder::TextEncoder;
use crate::minilm::{DEFAULT_MINILM_DIR, MiniLm};
use crate::scratch::ScratchConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// Pretrained all-MiniLM-L6-v2 (or another BERT folder), frozen; its encodings are cached.
    Minilm,
    /// A small transformer trained with the denoiser; needs no weights.
    Scratch,
    /// A CLIP text model from user-supplied safetensors (SD 1.x's), frozen and cached.
    Clip,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextConfig {
    /// "minilm", "scratch" or "clip".
    pub encoder: EncoderKind,
    /// minilm: a Hugging Face BERT folder (default weights/all-minilm-l6-v2, from
    /// scripts/fetch-weights.sh). clip: a CLIPTextModel folder or .safetensors file (required).
    /// Relative to the working directory.
    pub weights: Option<String>,
    /// Tokens per caption, special tokens included; longer captions are truncated.
    pub max_len: usize,
    /// Probability that a training caption is replaced by the empty one (for
    /// classifier-free guidance).
    pub p_uncond: f64,
    /// Captions per batch when encoding the text cache.
    pub cache_batch: usize,
    /// The scratch encoder's tokenizer and sizes.
    pub scratch: ScratchConfig,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            encoder: EncoderKind::Minilm,
            weights: None,
            max_len: 32,
            p_uncond: 0.1,
            cache_batch: 64,
            scratch: ScratchConfig::default(),
        }
    }
}

impl Validate for TextConfig {
    fn validate(&self, c: &mut Checks) {
        c.check("max_len", (3..=512).contains(&self.max_len), || {
            "must be 3 to 512".into()
        });
        if self.encoder == EncoderKind::Clip {
            c.check("max_len", self.max_len <= 77, || {
                "must be at most 77 for clip (its position embeddings)".into()
            });
            c.check("weights", self.weights.is_some(), || {
                "encoder = \"clip\" needs the path of CLIP text-model weights".into()
            });
        }
        c.check("p_uncond", (0.0..=1.0).contains(&self.p_uncond), || {
            "must be between 0 and 1".into()
        });
        c.check("cache_batch", self.cache_batch >= 1, || {
            "must be at least 1".into()
        });
        c.section("scratch", |c| self.scratch.validate(c));
    }
}

impl TextConfig {
    /// Whether the encoder is frozen (pretrained): its encodings come from the text cache.
    pub fn is_frozen(&self) -> bool {
        self.encoder != EncoderKind::Scratch
    }

    /// The weights path, with the default for minilm.
    pub fn weights_path(&self) -> Option<PathBuf> {
        match (self.encoder, &self.weights) {
            (_, Some(w)) => Some(PathBuf::from(w)),
            (EncoderKind::Minilm, None) => Some(PathBuf::from(DEFAULT_MINILM_DIR)),
            _ => None,
        }
    }

    /// Load the frozen encoder; an error for "scratch", which the denoiser builds and trains
    /// itself from [`ScratchConfig`].
    pub fn frozen_encoder(&self, device: &Device) -> Result<Box<dyn TextEncoder>, String> {
        let weights = self.weights_path();
        let path = weights.as_deref().unwrap_or(Path::new(""));
        Ok(match self.encoder {
            EncoderKind::Minilm => Box::new(MiniLm::load(path, self.max_len, device)?),
            EncoderKind::Clip => Box::new(ClipEncoder::load(path, self.max_len, device)?),
            EncoderKind::Scratch => {
                return Err(
                    "the scratch text encoder is trained with the denoiser, not loaded".into(),
                );
            }
        })
    }

    /// Caption dropout for a run with this `seed`.
    pub fn dropout(&self, seed: u64) -> CaptionDropout {
        CaptionDropout::new(self.p_uncond, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checks' report: the keys with problems and their messages.
    fn problems(cfg: &TextConfig) -> String {
        let mut c = Checks::default();
        cfg.validate(&mut c);
        format!("{c:?}")
    }

    #[test]
    fn parses_toml_and_checks_ranges() {
        let cfg: TextConfig = toml::from_str(
            "encoder = \"scratch\"\nmax_len = 16\np_uncond = 0.2\n[scratch]\ntokenizer = \"clip\"\ndim = 64\n",
        )
        .unwrap();
        assert_eq!(cfg.encoder, EncoderKind::Scratch);
        assert_eq!(cfg.scratch.dim, 64);
        assert_eq!(cfg.scratch.layers, ScratchConfig::default().layers);
        assert!(!cfg.is_frozen());
        assert!(!problems(&cfg).contains("must"), "{}", problems(&cfg));
        assert!(toml::from_str::<TextConfig>("encodr = \"minilm\"").is_err());
        assert!(toml::from_str::<TextConfig>("encoder = \"gpt\"").is_err());

        let bad = TextConfig {
            p_uncond: 1.5,
            ..TextConfig::default()
        };
        assert!(
            problems(&bad).contains("\"p_uncond\""),
            "{}",
            problems(&bad)
        );
        let clip = TextConfig {
            encoder: EncoderKind::Clip,
            max_len: 100,
            ..TextConfig::default()
        };
        let p = problems(&clip);
        assert!(
            p.contains("\"max_len\"") && p.contains("\"weights\""),
            "{p}"
        );
        let heads = TextConfig {
            scratch: ScratchConfig {
                dim: 30,
                heads: 4,
                ..ScratchConfig::default()
            },
            ..TextConfig::default()
        };
        assert!(
            problems(&heads).contains("\"scratch.dim\""),
            "{}",
            problems(&heads)
        );
    }

    #[test]
    fn minilm_weights_default_and_missing_weights_are_explained() {
        let cfg = TextConfig {
            weights: Some("/nonexistent/minilm".into()),
            ..TextConfig::default()
        };
        assert_eq!(
            TextConfig::default().weights_path().unwrap(),
            PathBuf::from(DEFAULT_MINILM_DIR)
        );
        let err = cfg.frozen_encoder(&Device::flex()).err().unwrap();
        assert!(err.contains("fetch-weights.sh"), "{err}");
    }
}
