//! CLIP's byte-level BPE tokenizer, with the vocabulary OpenAI's CLIP (and so Stable Diffusion
//! 1.x) uses, carried inside the `instant-clip-tokenizer` crate: nothing to download.
//!
//! Rows are `<|startoftext|> tokens <|endoftext|>` padded with `<|endoftext|>`, as SD 1.x's
//! tokenizer pads: with CLIP's causal attention the padding never changes the real tokens,
//! and padding with the end token keeps the padded positions' outputs those SD 1.x saw.
//! Like OpenAI's tokenizer the text is lowercased; its ftfy/HTML clean-up is not done.

use instant_clip_tokenizer::Token;

use crate::tokenizer::Tokens;

/// Ids 0..49405 are BPE tokens, then start and end of text.
pub const CLIP_VOCAB_SIZE: usize = 49408;

pub struct ClipBpe {
    inner: instant_clip_tokenizer::Tokenizer,
    max_len: usize,
}

impl ClipBpe {
    /// Rows of `max_len` tokens, start and end of text included (77 for SD 1.x).
    pub fn new(max_len: usize) -> Result<Self, String> {
        if max_len < 2 {
            return Err(format!(
                "max_len {max_len} leaves no room for the start and end tokens"
            ));
        }
        Ok(Self {
            inner: instant_clip_tokenizer::Tokenizer::new(),
            max_len,
        })
    }

    pub fn start(&self) -> u32 {
        self.inner.start_of_text().to_u16().into()
    }

    pub fn end(&self) -> u32 {
        self.inner.end_of_text().to_u16().into()
    }

    pub fn tokenize(&self, captions: &[String]) -> Tokens {
        let (start, end) = (self.inner.start_of_text(), self.inner.end_of_text());
        let mut ids = Vec::with_capacity(captions.len() * self.max_len);
        let mut lengths = Vec::with_capacity(captions.len());
        let mut row = Vec::with_capacity(self.max_len);
        for caption in captions {
            row.clear();
            row.push(start);
            self.inner.encode(caption, &mut row);
            // Truncation keeps the end token: the pooled vector is read there.
            row.truncate(self.max_len - 1);
            row.push(end);
            lengths.push(row.len());
            ids.extend(row.iter().map(|t| u32::from(t.to_u16())));
            ids.extend(std::iter::repeat_n(
                u32::from(end.to_u16()),
                self.max_len - row.len(),
            ));
        }
        Tokens {
            ids,
            lengths,
            len: self.max_len,
        }
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        let (start, end) = (self.start(), self.end());
        let tokens = ids
            .iter()
            .filter(|&&id| id != start && id != end)
            .filter_map(|&id| Token::from_u16(u16::try_from(id).ok()?, &self.inner));
        self.inner.decode(tokens).trim().to_string()
    }

    pub fn vocab_size(&self) -> usize {
        CLIP_VOCAB_SIZE
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }
}
