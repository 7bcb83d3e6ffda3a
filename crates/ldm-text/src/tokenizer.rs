//! Captions to token ids, truncated and right-padded to a fixed length.
//!
//! Every encoder reads [`Tokens`]: padding is always on the right, so a row's real tokens are
//! a prefix and its length says everything the attention mask does. Fixed-length rows keep
//! tensor shapes the same from batch to batch and let cached encodings be stacked as they are.

use std::path::Path;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

use crate::clip_bpe::ClipBpe;

/// A batch of tokenized captions, `[batch, len]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokens {
    /// Row-major `[batch, len]` token ids, padding included.
    pub ids: Vec<u32>,
    /// Real tokens of each row (special tokens included); the rest of the row is padding.
    pub lengths: Vec<usize>,
    /// The length every row is padded to.
    pub len: usize,
}

impl Tokens {
    pub fn batch(&self) -> usize {
        self.lengths.len()
    }

    /// Row `i`, padding included.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.ids[i * self.len..(i + 1) * self.len]
    }

    /// The ids as an int tensor `[batch, len]`.
    pub fn ids_tensor(&self, device: &Device) -> Tensor<2, Int> {
        let ids: Vec<i32> = self.ids.iter().map(|&id| id as i32).collect();
        Tensor::from_data(TensorData::new(ids, [self.batch(), self.len]), device)
    }

    /// `[batch, len]`: 1.0 at real tokens, 0.0 at padding (Hugging Face's `attention_mask`).
    pub fn mask(&self, device: &Device) -> Tensor<2> {
        let m: Vec<f32> = self
            .flags()
            .map(|real| if real { 1.0 } else { 0.0 })
            .collect();
        Tensor::from_data(TensorData::new(m, [self.batch(), self.len]), device)
    }

    /// `[batch, len]`: true at padding, which is what burn's attention masks out.
    pub fn pad_mask(&self, device: &Device) -> Tensor<2, Bool> {
        let m: Vec<bool> = self.flags().map(|real| !real).collect();
        Tensor::from_data(TensorData::new(m, [self.batch(), self.len]), device)
    }

    fn flags(&self) -> impl Iterator<Item = bool> + '_ {
        self.lengths
            .iter()
            .flat_map(move |&n| (0..self.len).map(move |j| j < n))
    }
}

/// The tokenizers an encoder can use.
// A run holds one or two tokenizers, never collections of them: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Tokenizer {
    /// A Hugging Face `tokenizer.json` (BERT WordPiece, a word-level vocabulary, ...).
    Hf(HfTokenizer),
    /// CLIP's byte-level BPE with the vocabulary that ships with OpenAI's CLIP.
    ClipBpe(ClipBpe),
}

impl Tokenizer {
    pub fn tokenize(&self, captions: &[String]) -> Tokens {
        match self {
            Self::Hf(t) => t.tokenize(captions),
            Self::ClipBpe(t) => t.tokenize(captions),
        }
    }

    /// The text of `ids`, special tokens and padding left out.
    pub fn decode(&self, ids: &[u32]) -> String {
        match self {
            Self::Hf(t) => t.decode(ids),
            Self::ClipBpe(t) => t.decode(ids),
        }
    }

    /// Token ids are below this.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Hf(t) => t.vocab_size(),
            Self::ClipBpe(t) => t.vocab_size(),
        }
    }

    pub fn max_len(&self) -> usize {
        match self {
            Self::Hf(t) => t.max_len,
            Self::ClipBpe(t) => t.max_len(),
        }
    }
}

/// A Hugging Face tokenizer with our truncation and padding in place of the file's own.
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    max_len: usize,
}

impl HfTokenizer {
    /// Load a `tokenizer.json`; nothing is fetched from the network.
    pub fn from_file(path: &Path, max_len: usize) -> Result<Self, String> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Self::new(inner, max_len).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A tokenizer from the text of a `tokenizer.json`.
    pub fn from_json(json: &str, max_len: usize) -> Result<Self, String> {
        let inner =
            tokenizers::Tokenizer::from_bytes(json.as_bytes()).map_err(|e| e.to_string())?;
        Self::new(inner, max_len)
    }

    /// Truncate to `max_len` tokens (special tokens included) and pad every row to it.
    pub fn new(mut inner: tokenizers::Tokenizer, max_len: usize) -> Result<Self, String> {
        if max_len < 2 {
            return Err(format!(
                "max_len {max_len} leaves no room for a token between the special tokens"
            ));
        }
        // The file's own padding names the pad token; a file without one (a plain BERT
        // vocabulary) still has [PAD].
        let (pad_id, pad_token) = match inner.get_padding() {
            Some(p) => (p.pad_id, p.pad_token.clone()),
            None => match inner.token_to_id("[PAD]") {
                Some(id) => (id, "[PAD]".to_string()),
                None => return Err("the tokenizer names no padding token".into()),
            },
        };
        inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| e.to_string())?;
        inner.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(max_len),
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id: 0,
            pad_token,
        }));
        Ok(Self { inner, max_len })
    }

    /// The `tokenizer.json` text, with our truncation and padding.
    pub fn to_json(&self) -> String {
        self.inner
            .to_string(false)
            .expect("a loaded tokenizer serializes")
    }

    pub fn tokenize(&self, captions: &[String]) -> Tokens {
        let inputs: Vec<&str> = captions.iter().map(String::as_str).collect();
        // Encoding a string fails only for a model that cannot represent it at all, which a
        // tokenizer with an unknown token (every one we load) never is.
        let encodings = self
            .inner
            .encode_batch(inputs, true)
            .expect("tokenizer failed on a caption");
        let mut ids = Vec::with_capacity(captions.len() * self.max_len);
        let mut lengths = Vec::with_capacity(captions.len());
        for e in &encodings {
            debug_assert_eq!(e.get_ids().len(), self.max_len);
            ids.extend_from_slice(e.get_ids());
            lengths.push(e.get_attention_mask().iter().filter(|&&m| m == 1).count());
        }
        Tokens {
            ids,
            lengths,
            len: self.max_len,
        }
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner
            .decode(ids, true)
            .expect("ids from this tokenizer")
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}
