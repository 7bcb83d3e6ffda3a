//! A small transformer text encoder trained jointly with the denoiser, for users without
//! pretrained weights and for the quickstart. Pre-norm layers with bidirectional attention
//! over real tokens only, learned positions, the masked mean as the pooled vector.
//!
//! It is a plain module: the denoiser holds it among its own parameters, so the optimizer and
//! checkpoints see it, and [`ScratchText::forward`] runs on whatever device its parameters are
//! on (with autodiff while training). Its tokenizer is built once from the training captions
//! (or is CLIP's BPE) and is saved beside the checkpoint: [`ScratchConfig::save_tokenizer`].

use std::path::Path;

use burn::module::Module;
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::{Device, Int, Tensor};
use ldm_core::ops::{gelu, linear};
use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};

use crate::attention::SelfAttention;
use crate::clip_bpe::ClipBpe;
use crate::encoder::{TextEncoding, mean_pool};
use crate::tokenizer::{HfTokenizer, Tokenizer, Tokens};
use crate::words::word_tokenizer;

/// The "words" tokenizer's file beside a checkpoint.
pub const SCRATCH_TOKENIZER_FILE: &str = "text-tokenizer.json";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScratchTokenizer {
    /// The words of the training captions (lower-cased, punctuation split off).
    Words,
    /// CLIP's BPE vocabulary (49408 tokens): no unknown words, a larger embedding table.
    Clip,
}

/// `[text.scratch]`: the encoder trained with the denoiser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScratchConfig {
    /// "words" (a vocabulary from the training captions) or "clip" (CLIP's BPE).
    pub tokenizer: ScratchTokenizer,
    /// Width of the token states (the context width the denoiser sees).
    pub dim: usize,
    pub layers: usize,
    pub heads: usize,
    /// The MLP's hidden width is `mlp_ratio * dim`.
    pub mlp_ratio: usize,
    /// words: a word must occur this often in the training captions to get its own token.
    pub min_count: u64,
    /// words: at most this many tokens, the 4 special ones included.
    pub max_vocab: usize,
}

impl Default for ScratchConfig {
    fn default() -> Self {
        Self {
            tokenizer: ScratchTokenizer::Words,
            dim: 256,
            layers: 4,
            heads: 4,
            mlp_ratio: 4,
            min_count: 1,
            max_vocab: 10_000,
        }
    }
}

impl Validate for ScratchConfig {
    fn validate(&self, c: &mut Checks) {
        c.check("heads", self.heads >= 1, || "must be at least 1".into());
        c.check(
            "dim",
            self.dim >= 8 && self.heads >= 1 && self.dim.is_multiple_of(self.heads),
            || "must be at least 8 and a multiple of heads".into(),
        );
        c.check("layers", (1..=24).contains(&self.layers), || {
            "must be 1 to 24".into()
        });
        c.check("mlp_ratio", (1..=8).contains(&self.mlp_ratio), || {
            "must be 1 to 8".into()
        });
        c.check("min_count", self.min_count >= 1, || {
            "must be at least 1".into()
        });
        c.check("max_vocab", self.max_vocab >= 5, || {
            "must be at least 5 (4 special tokens and a word)".into()
        });
    }
}

impl ScratchConfig {
    /// The tokenizer: for "words", built from the training captions.
    pub fn tokenizer<'a>(
        &self,
        captions: impl Iterator<Item = &'a str> + Send,
        max_len: usize,
    ) -> Result<Tokenizer, String> {
        Ok(match self.tokenizer {
            ScratchTokenizer::Words => Tokenizer::Hf(word_tokenizer(
                captions,
                self.min_count,
                self.max_vocab,
                max_len,
            )?),
            ScratchTokenizer::Clip => Tokenizer::ClipBpe(ClipBpe::new(max_len)?),
        })
    }

    /// Save what [`load_tokenizer`](Self::load_tokenizer) needs beside a checkpoint: the
    /// "words" vocabulary as `dir/`[`SCRATCH_TOKENIZER_FILE`]; CLIP's BPE needs no file.
    pub fn save_tokenizer(tokenizer: &Tokenizer, dir: &Path) -> Result<(), String> {
        match tokenizer {
            Tokenizer::Hf(t) => {
                let path = dir.join(SCRATCH_TOKENIZER_FILE);
                ldm_core::atomic::write(&path, t.to_json().as_bytes())
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
            Tokenizer::ClipBpe(_) => Ok(()),
        }
    }

    /// The tokenizer a checkpoint in `dir` was trained with.
    pub fn load_tokenizer(&self, dir: &Path, max_len: usize) -> Result<Tokenizer, String> {
        Ok(match self.tokenizer {
            ScratchTokenizer::Words => Tokenizer::Hf(HfTokenizer::from_file(
                &dir.join(SCRATCH_TOKENIZER_FILE),
                max_len,
            )?),
            ScratchTokenizer::Clip => Tokenizer::ClipBpe(ClipBpe::new(max_len)?),
        })
    }

    /// A fresh model for a tokenizer of `vocab_size` tokens and rows of `max_len`.
    pub fn init(&self, vocab_size: usize, max_len: usize, device: &Device) -> ScratchText {
        let d = self.dim;
        // Small embeddings, as in BERT and GPT: N(0, 1) would swamp the first LayerNorm's
        // view of the positions.
        let embed = |n| {
            EmbeddingConfig::new(n, d)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: 0.02,
                })
                .init(device)
        };
        let layers = (0..self.layers)
            .map(|_| ScratchLayer {
                norm1: LayerNormConfig::new(d).init(device),
                attention: SelfAttention::new(d, self.heads, device),
                norm2: LayerNormConfig::new(d).init(device),
                fc1: LinearConfig::new(d, self.mlp_ratio * d).init(device),
                fc2: LinearConfig::new(self.mlp_ratio * d, d).init(device),
            })
            .collect();
        ScratchText {
            token: embed(vocab_size),
            position: embed(max_len),
            layers,
            final_norm: LayerNormConfig::new(d).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct ScratchLayer {
    norm1: LayerNorm,
    attention: SelfAttention,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

#[derive(Module, Debug)]
pub struct ScratchText {
    token: Embedding,
    position: Embedding,
    layers: Vec<ScratchLayer>,
    final_norm: LayerNorm,
}

impl ScratchText {
    /// Encode tokenized captions on the parameters' device.
    pub fn forward(&self, tokens: &Tokens) -> TextEncoding {
        let device = self.token.weight.device();
        let (b, l) = (tokens.batch(), tokens.len);
        assert!(
            l <= self.max_len(),
            "rows of {l} tokens, but the model has {} positions",
            self.max_len()
        );
        let positions = Tensor::<1, Int>::arange(0..l as i64, &device)
            .reshape([1, l])
            .expand([b, l]);
        let mut x =
            self.token.forward(tokens.ids_tensor(&device)) + self.position.forward(positions);
        let pad = tokens.pad_mask(&device);
        for layer in &self.layers {
            let a =
                layer
                    .attention
                    .forward(layer.norm1.forward(x.clone()), Some(pad.clone()), false);
            x = x + a;
            let h = gelu(linear(&layer.fc1, layer.norm2.forward(x.clone())));
            x = x + linear(&layer.fc2, h);
        }
        let hidden = self.final_norm.forward(x);
        let mask = tokens.mask(&device);
        let pooled = mean_pool(hidden.clone(), mask.clone());
        TextEncoding {
            hidden,
            mask,
            pooled: Some(pooled),
        }
    }

    /// Tokenize and encode.
    pub fn encode(&self, tokenizer: &Tokenizer, captions: &[String]) -> TextEncoding {
        self.forward(&tokenizer.tokenize(captions))
    }

    pub fn dim(&self) -> usize {
        self.token.weight.dims()[1]
    }

    pub fn max_len(&self) -> usize {
        self.position.weight.dims()[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_saves_and_loads_beside_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let captions = ["a red circle", "a blue star"];
        for kind in [ScratchTokenizer::Words, ScratchTokenizer::Clip] {
            let cfg = ScratchConfig {
                tokenizer: kind,
                ..ScratchConfig::default()
            };
            let t = cfg.tokenizer(captions.iter().copied(), 8).unwrap();
            ScratchConfig::save_tokenizer(&t, dir.path()).unwrap();
            let back = cfg.load_tokenizer(dir.path(), 8).unwrap();
            let text = vec!["a blue circle".to_string(), "a green star".to_string()];
            assert_eq!(t.tokenize(&text), back.tokenize(&text), "{kind:?}");
            assert_eq!(t.vocab_size(), back.vocab_size());
        }
        assert!(dir.path().join(SCRATCH_TOKENIZER_FILE).is_file());
    }

    #[test]
    fn trains_on_an_autodiff_device_without_touching_padding() {
        let dev = Device::flex().autodiff();
        dev.seed(3);
        let cfg = ScratchConfig {
            dim: 16,
            layers: 1,
            heads: 2,
            ..ScratchConfig::default()
        };
        let model = cfg.init(10, 6, &dev);
        let tokens = Tokens {
            ids: vec![2, 5, 6, 3, 0, 0],
            lengths: vec![4],
            len: 6,
        };
        let out = model.forward(&tokens);
        // A loss that reads real tokens only, as masked cross-attention does.
        let real = out.hidden * out.mask.unsqueeze_dim::<3>(2);
        let loss = real.powf_scalar(2.0).mean() + out.pooled.unwrap().mean();
        let grads = loss.backward();
        let g = model
            .token
            .weight
            .grad(&grads)
            .expect("a gradient for the embedding");
        let g: Vec<f32> = g.try_into_vec_as::<f32>().unwrap();
        assert!(g[5 * 16..6 * 16].iter().any(|x| x.abs() > 0.0));
        assert!(
            g[..16].iter().all(|&x| x == 0.0),
            "padding (id 0) reached the loss"
        );
        assert!(
            g[9 * 16..].iter().all(|&x| x == 0.0),
            "an unused id got a gradient"
        );
    }
}
