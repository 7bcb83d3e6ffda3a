//! The text encoders of `ldm-text` as the denoiser sees them (`ldm_diffusion::train::TextModel`):
//! a frozen encoder through its caption cache while training, or live when sampling; the
//! scratch encoder as a module trained together with the denoiser.

use std::fmt;
use std::sync::{Arc, Mutex};

use burn::module::Module;
use burn::tensor::Device;

use ldm_diffusion::train::{Conditioning, TextModel};
use ldm_text::{CaptionDropout, ScratchText, TextCache, TextEncoder, TextEncoding, Tokenizer};

/// Shares a value that is not a module (a cache, a tokenizer, an encoder) inside a module.
pub struct Shared<T>(pub Arc<Mutex<T>>);

// By hand: cloning shares the value, so T itself need not be Clone.
impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Shared<T> {
    pub fn new(value: T) -> Self {
        Self(Arc::new(Mutex::new(value)))
    }
}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Shared(..)")
    }
}

fn conditioning(e: TextEncoding) -> Conditioning {
    let pad = e.pad_mask();
    Conditioning {
        context: e.hidden,
        pad,
    }
}

/// A frozen encoder's outputs, looked up by caption (training and validation captions, and
/// the empty caption, are all in the cache).
#[derive(Module, Debug)]
pub struct CachedText {
    #[module(skip)]
    cache: Shared<TextCache>,
    #[module(skip)]
    dropout: CaptionDropout,
    dim: usize,
}

impl CachedText {
    pub fn new(cache: TextCache, dropout: CaptionDropout, dim: usize) -> Self {
        Self {
            cache: Shared::new(cache),
            dropout,
            dim,
        }
    }
}

impl TextModel for CachedText {
    fn encode(&self, captions: &[String], device: &Device) -> Conditioning {
        let cache = self.cache.0.lock().expect("cache lock");
        conditioning(
            cache
                .lookup(captions, device)
                .expect("every caption of the latent cache is in the text cache"),
        )
    }
    fn encode_for_training(&self, captions: &[String], step: u64, device: &Device) -> Conditioning {
        let dropped = self.dropout.apply(step, captions);
        self.encode(&dropped, device)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn trainable(&self) -> bool {
        false
    }
}

/// A frozen encoder run on whatever captions come (prompts at sampling time).
#[derive(Module, Debug)]
pub struct LiveText {
    #[module(skip)]
    encoder: Shared<Box<dyn TextEncoder>>,
    dim: usize,
}

impl LiveText {
    pub fn new(encoder: Box<dyn TextEncoder>) -> Self {
        let dim = encoder.dim();
        Self {
            encoder: Shared::new(encoder),
            dim,
        }
    }
}

impl TextModel for LiveText {
    fn encode(&self, captions: &[String], _device: &Device) -> Conditioning {
        conditioning(
            self.encoder
                .0
                .lock()
                .expect("encoder lock")
                .encode(captions),
        )
    }
    fn encode_for_training(
        &self,
        captions: &[String],
        _step: u64,
        device: &Device,
    ) -> Conditioning {
        self.encode(captions, device)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn trainable(&self) -> bool {
        false
    }
}

/// The scratch encoder, trained with the denoiser.
#[derive(Module, Debug)]
pub struct ScratchModel {
    encoder: ScratchText,
    #[module(skip)]
    tokenizer: Shared<Tokenizer>,
    #[module(skip)]
    dropout: CaptionDropout,
}

impl ScratchModel {
    pub fn new(encoder: ScratchText, tokenizer: Tokenizer, dropout: CaptionDropout) -> Self {
        Self {
            encoder,
            tokenizer: Shared::new(tokenizer),
            dropout,
        }
    }
}

impl TextModel for ScratchModel {
    fn encode(&self, captions: &[String], _device: &Device) -> Conditioning {
        let tok = self.tokenizer.0.lock().expect("tokenizer lock");
        conditioning(self.encoder.encode(&tok, captions))
    }
    fn encode_for_training(&self, captions: &[String], step: u64, device: &Device) -> Conditioning {
        let dropped = self.dropout.apply(step, captions);
        self.encode(&dropped, device)
    }
    fn dim(&self) -> usize {
        self.encoder.dim()
    }
    fn trainable(&self) -> bool {
        true
    }
}
