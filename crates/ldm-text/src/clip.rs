//! The CLIP text transformer, Stable Diffusion 1.x's text encoder, as Hugging Face's
//! `CLIPTextModel` computes it: pre-norm layers with causal attention, quick-GELU (or GELU for
//! OpenCLIP-style configs), a final LayerNorm. The context is the final hidden states, the
//! pooled vector the hidden state at the end-of-text token.

use std::path::Path;

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Int, Tensor, TensorData};
use ldm_core::ops::gelu;
use serde::Deserialize;

use crate::attention::SelfAttention;

/// The fields of a Hugging Face `CLIPTextConfig` (`config.json`) that shape the model; the
/// defaults are SD 1.x's text encoder (openai/clip-vit-large-patch14).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct ClipConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub layer_norm_eps: f64,
    /// "quick_gelu" (OpenAI CLIP) or "gelu".
    pub hidden_act: String,
}

impl Default for ClipConfig {
    fn default() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            max_position_embeddings: 77,
            layer_norm_eps: 1e-5,
            hidden_act: "quick_gelu".into(),
        }
    }
}

impl ClipConfig {
    /// Read a Hugging Face `config.json`: a `CLIPTextConfig`, or a full `CLIPConfig` whose
    /// `text_config` it takes.
    pub fn from_json_file(path: &Path) -> Result<Self, String> {
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| err(&e))?;
        let mut v: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(&e))?;
        if let Some(t) = v.get_mut("text_config") {
            v = t.take();
        }
        let c: ClipConfig = serde_json::from_value(v).map_err(|e| err(&e))?;
        if c.activation().is_none() {
            return Err(err(&format!(
                "hidden_act '{}' (only quick_gelu or gelu)",
                c.hidden_act
            )));
        }
        if !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            return Err(err(&"hidden_size is not a multiple of num_attention_heads"));
        }
        Ok(c)
    }

    fn activation(&self) -> Option<bool> {
        match self.hidden_act.as_str() {
            "quick_gelu" => Some(true),
            "gelu" => Some(false),
            _ => None,
        }
    }

    pub fn init(&self, device: &Device) -> ClipText {
        let d = self.hidden_size;
        let norm = || {
            LayerNormConfig::new(d)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let layers = (0..self.num_hidden_layers)
            .map(|_| ClipLayer {
                norm1: norm(),
                attention: SelfAttention::new(d, self.num_attention_heads, device),
                norm2: norm(),
                fc1: LinearConfig::new(d, self.intermediate_size).init(device),
                fc2: LinearConfig::new(self.intermediate_size, d).init(device),
            })
            .collect();
        ClipText {
            token: EmbeddingConfig::new(self.vocab_size, d).init(device),
            position: EmbeddingConfig::new(self.max_position_embeddings, d).init(device),
            layers,
            final_norm: norm(),
            quick_gelu: self.activation().unwrap_or(true),
        }
    }
}

#[derive(Module, Debug)]
pub struct ClipLayer {
    norm1: LayerNorm,
    attention: SelfAttention,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

#[derive(Module, Debug)]
pub struct ClipText {
    token: Embedding,
    position: Embedding,
    layers: Vec<ClipLayer>,
    final_norm: LayerNorm,
    quick_gelu: bool,
}

/// `CLIPTextModel` names (diffusers' `text_encoder/`, or an SD checkpoint's
/// `cond_stage_model.transformer.`) to ours; `position_ids` buffers are left unused.
const CLIP_KEYS: &[(&str, &str)] = &[
    (r"^(cond_stage_model\.transformer\.)?text_model\.", ""),
    (r"^embeddings\.token_embedding\.", "token."),
    (r"^embeddings\.position_embedding\.", "position."),
    (
        r"^encoder\.layers\.(\d+)\.layer_norm1\.",
        "layers.$1.norm1.",
    ),
    (
        r"^encoder\.layers\.(\d+)\.layer_norm2\.",
        "layers.$1.norm2.",
    ),
    (
        r"^encoder\.layers\.(\d+)\.self_attn\.q_proj\.",
        "layers.$1.attention.q.",
    ),
    (
        r"^encoder\.layers\.(\d+)\.self_attn\.k_proj\.",
        "layers.$1.attention.k.",
    ),
    (
        r"^encoder\.layers\.(\d+)\.self_attn\.v_proj\.",
        "layers.$1.attention.v.",
    ),
    (
        r"^encoder\.layers\.(\d+)\.self_attn\.out_proj\.",
        "layers.$1.attention.out.",
    ),
    (r"^encoder\.layers\.(\d+)\.mlp\.fc1\.", "layers.$1.fc1."),
    (r"^encoder\.layers\.(\d+)\.mlp\.fc2\.", "layers.$1.fc2."),
    (r"^final_layer_norm\.", "final_norm."),
];

impl ClipText {
    /// Final hidden states `[B, L, D]` of `ids` `[B, L]`. Attention is causal, so tokens after
    /// a position (padding included) never change it; no padding mask is needed.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [b, l] = ids.dims();
        let positions = Tensor::<1, Int>::arange(0..l as i64, &ids.device())
            .reshape([1, l])
            .expand([b, l]);
        let mut x = self.token.forward(ids) + self.position.forward(positions);
        for layer in &self.layers {
            let a = layer
                .attention
                .forward(layer.norm1.forward(x.clone()), None, true);
            x = x + a;
            let h = layer.fc1.forward(layer.norm2.forward(x.clone()));
            let h = if self.quick_gelu {
                h.clone() * sigmoid(h * 1.702)
            } else {
                gelu(h)
            };
            x = x + layer.fc2.forward(h);
        }
        self.final_norm.forward(x)
    }

    /// The hidden state of each row at position `lengths[i] - 1` (the end-of-text token).
    pub fn pool(hidden: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        let [b, l, d] = hidden.dims();
        let at: Vec<i32> = lengths
            .iter()
            .map(|&n| n.saturating_sub(1) as i32)
            .collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(at, [b]), &hidden.device())
            .reshape([b, 1, 1])
            .expand([b, 1, d]);
        debug_assert!(lengths.iter().all(|&n| n >= 1 && n <= l));
        hidden.gather(1, idx).reshape([b, d])
    }

    pub fn max_positions(&self) -> usize {
        self.position.weight.dims()[0]
    }

    /// Load the weights of a Hugging Face `CLIPTextModel` `model.safetensors`.
    pub fn load_safetensors(mut self, path: &Path) -> Result<Self, String> {
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .allow_partial(true);
        for (from, to) in CLIP_KEYS {
            store = store.with_key_remapping(*from, *to);
        }
        let res = self
            .load_from(&mut store)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if !res.missing.is_empty() || !res.errors.is_empty() {
            return Err(format!(
                "{}: not the CLIP text model of its config: missing {:?}, errors {:?}",
                path.display(),
                res.missing.iter().map(|m| &m.0).collect::<Vec<_>>(),
                res.errors
            ));
        }
        Ok(self)
    }
}
