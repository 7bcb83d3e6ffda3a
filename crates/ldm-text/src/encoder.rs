//! What every text encoder gives the denoiser, and the trait the frozen ones share.

use burn::tensor::{Bool, Tensor};

/// The encoding of a batch of captions.
#[derive(Clone, Debug)]
pub struct TextEncoding {
    /// `[B, L, D]` per-token hidden states: the cross-attention context. Rows past a caption's
    /// length are padding; their values are whatever the encoder left there.
    pub hidden: Tensor<3>,
    /// `[B, L]`: 1.0 at real tokens, 0.0 at padding (Hugging Face's `attention_mask`).
    /// Real tokens are always a prefix of the row.
    pub mask: Tensor<2>,
    /// `[B, D]` one vector per caption, where the encoder has one (MiniLM: the masked mean of
    /// the hidden states; CLIP: the hidden state at the end-of-text token).
    pub pooled: Option<Tensor<2>>,
}

impl TextEncoding {
    /// `[B, L]`, true at padding: pass as the key padding mask of burn's attention, where true
    /// means masked out.
    pub fn pad_mask(&self) -> Tensor<2, Bool> {
        self.mask.clone().lower_elem(0.5)
    }

    pub fn batch(&self) -> usize {
        self.hidden.dims()[0]
    }

    /// Concatenate batches along the batch dimension (all with or all without `pooled`).
    pub fn cat(parts: Vec<TextEncoding>) -> TextEncoding {
        let pooled = parts
            .iter()
            .map(|p| p.pooled.clone())
            .collect::<Option<Vec<_>>>()
            .map(|v| Tensor::cat(v, 0));
        TextEncoding {
            hidden: Tensor::cat(parts.iter().map(|p| p.hidden.clone()).collect(), 0),
            mask: Tensor::cat(parts.into_iter().map(|p| p.mask).collect(), 0),
            pooled,
        }
    }
}

/// The masked mean of `hidden` `[B, L, D]` over real tokens (`mask` `[B, L]`, 1.0 real):
/// sentence-transformers' mean pooling, padding excluded.
pub fn mean_pool(hidden: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let m = mask.unsqueeze_dim::<3>(2);
    let sum = (hidden * m.clone()).sum_dim(1).squeeze_dim::<2>(1);
    let count = m.sum_dim(1).squeeze_dim::<2>(1).clamp_min(1e-9);
    sum / count
}

/// A text encoder whose weights do not train with the denoiser: its encodings can be computed
/// once and cached. Implementations run without autodiff, in eval mode.
pub trait TextEncoder: Send {
    /// Encode a batch; rows are padded to [`max_len`](Self::max_len).
    fn encode(&self, captions: &[String]) -> TextEncoding;
    /// `D`, the width of the hidden states (and of the pooled vector).
    fn dim(&self) -> usize;
    /// `L`, the tokens per row, special tokens included.
    fn max_len(&self) -> usize;
    /// Names the encoder and its weights: an embedding cache made with a different
    /// fingerprint is stale.
    fn fingerprint(&self) -> String;
}

/// `size:crc32` of a file, for fingerprints: cheap next to loading the weights, and it changes
/// when the weights do.
pub(crate) fn file_fingerprint(path: &std::path::Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(format!("{}:{:08x}", bytes.len(), crc32fast::hash(&bytes)))
}
