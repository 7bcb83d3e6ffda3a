//! The BERT encoder (post-norm, exact-erf GELU) as Hugging Face's `BertModel` computes it, and
//! its loading from a Hugging Face `model.safetensors`. all-MiniLM-L6-v2 is one of these.

use std::path::Path;

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::{Bool, Device, Int, Tensor};
use ldm_core::ops::gelu;
use serde::Deserialize;

use crate::attention::SelfAttention;

/// The fields of a Hugging Face BERT `config.json` that shape the model (the rest are ignored).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    #[serde(default = "bert_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "gelu_name")]
    pub hidden_act: String,
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
}

fn two() -> usize {
    2
}
fn bert_eps() -> f64 {
    1e-12
}
fn gelu_name() -> String {
    "gelu".into()
}
fn absolute() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Read a Hugging Face `config.json`, refusing variants this implementation would get
    /// silently wrong.
    pub fn from_json_file(path: &Path) -> Result<Self, String> {
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| err(&e))?;
        let c: BertConfig = serde_json::from_str(&text).map_err(|e| err(&e))?;
        if c.hidden_act != "gelu" {
            return Err(err(&format!("hidden_act '{}' (only gelu)", c.hidden_act)));
        }
        if c.position_embedding_type != "absolute" {
            return Err(err(&format!(
                "position_embedding_type '{}' (only absolute)",
                c.position_embedding_type
            )));
        }
        if !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            return Err(err(&"hidden_size is not a multiple of num_attention_heads"));
        }
        Ok(c)
    }

    pub fn init(&self, device: &Device) -> Bert {
        let d = self.hidden_size;
        let norm = || {
            LayerNormConfig::new(d)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let layers = (0..self.num_hidden_layers)
            .map(|_| BertLayer {
                attention: SelfAttention::new(d, self.num_attention_heads, device),
                attention_norm: norm(),
                intermediate: LinearConfig::new(d, self.intermediate_size).init(device),
                output: LinearConfig::new(self.intermediate_size, d).init(device),
                output_norm: norm(),
            })
            .collect();
        Bert {
            word: EmbeddingConfig::new(self.vocab_size, d).init(device),
            position: EmbeddingConfig::new(self.max_position_embeddings, d).init(device),
            token_type: EmbeddingConfig::new(self.type_vocab_size, d).init(device),
            embed_norm: norm(),
            layers,
        }
    }
}

#[derive(Module, Debug)]
pub struct BertLayer {
    attention: SelfAttention,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct Bert {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    embed_norm: LayerNorm,
    layers: Vec<BertLayer>,
}

/// Hugging Face `BertModel` names to ours; the pooler (unused) and `position_ids` (a buffer)
/// have no counterpart and are left unused.
const BERT_KEYS: &[(&str, &str)] = &[
    (r"^bert\.", ""),
    (r"^embeddings\.word_embeddings\.", "word."),
    (r"^embeddings\.position_embeddings\.", "position."),
    (r"^embeddings\.token_type_embeddings\.", "token_type."),
    (r"^embeddings\.LayerNorm\.", "embed_norm."),
    (
        r"^encoder\.layer\.(\d+)\.attention\.self\.query\.",
        "layers.$1.attention.q.",
    ),
    (
        r"^encoder\.layer\.(\d+)\.attention\.self\.key\.",
        "layers.$1.attention.k.",
    ),
    (
        r"^encoder\.layer\.(\d+)\.attention\.self\.value\.",
        "layers.$1.attention.v.",
    ),
    (
        r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.",
        "layers.$1.attention.out.",
    ),
    (
        r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.",
        "layers.$1.attention_norm.",
    ),
    (
        r"^encoder\.layer\.(\d+)\.intermediate\.dense\.",
        "layers.$1.intermediate.",
    ),
    (
        r"^encoder\.layer\.(\d+)\.output\.dense\.",
        "layers.$1.output.",
    ),
    (
        r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.",
        "layers.$1.output_norm.",
    ),
    // Checkpoints from the TensorFlow era name LayerNorm parameters gamma and beta.
    (r"\.gamma$", ".weight"),
    (r"\.beta$", ".bias"),
];

impl Bert {
    /// The last hidden states `[B, L, D]` of `ids` `[B, L]`; `pad` `[B, L]` is true at padding.
    /// Token type 0 throughout (single sentences).
    pub fn forward(&self, ids: Tensor<2, Int>, pad: Tensor<2, Bool>) -> Tensor<3> {
        let [b, l] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<1, Int>::arange(0..l as i64, &device)
            .reshape([1, l])
            .expand([b, l]);
        let types = Tensor::<2, Int>::zeros([b, l], &device);
        let x = self.word.forward(ids)
            + self.position.forward(positions)
            + self.token_type.forward(types);
        let mut x = self.embed_norm.forward(x);
        for layer in &self.layers {
            let a = layer.attention.forward(x.clone(), Some(pad.clone()), false);
            x = layer.attention_norm.forward(x + a);
            let h = gelu(layer.intermediate.forward(x.clone()));
            x = layer.output_norm.forward(x + layer.output.forward(h));
        }
        x
    }

    pub fn max_positions(&self) -> usize {
        self.position.weight.dims()[0]
    }

    /// Load the weights of a Hugging Face BERT `model.safetensors`.
    pub fn load_safetensors(mut self, path: &Path) -> Result<Self, String> {
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .allow_partial(true);
        for (from, to) in BERT_KEYS {
            store = store.with_key_remapping(*from, *to);
        }
        let res = self
            .load_from(&mut store)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if !res.missing.is_empty() || !res.errors.is_empty() {
            return Err(format!(
                "{}: not the BERT of its config.json: missing {:?}, errors {:?}",
                path.display(),
                res.missing.iter().map(|m| &m.0).collect::<Vec<_>>(),
                res.errors
            ));
        }
        Ok(self)
    }
}
