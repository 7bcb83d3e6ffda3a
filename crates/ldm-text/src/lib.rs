//! Text conditioning for the denoiser: tokenizers, text encoders behind one trait (pretrained
//! frozen MiniLM or CLIP, or a small encoder trained from scratch), caption dropout for
//! classifier-free guidance, and the caption -> encoding cache that keeps frozen encoders out
//! of the training loop.
//!
//! Frozen encoder, per run: `TextConfig::frozen_encoder`, then `TextCache::open_or_build` over
//! the dataset's captions once; per step, `CaptionDropout::apply` on the batch's captions and
//! `TextCache::lookup`. Scratch encoder: `ScratchConfig::tokenizer` from the training captions
//! and `ScratchConfig::init`, a module the denoiser trains; per step, `CaptionDropout::apply`
//! and `ScratchText::encode`.

pub mod attention;
pub mod bert;
pub mod cache;
pub mod clip;
pub mod clip_bpe;
pub mod clip_encoder;
pub mod config;
pub mod dropout;
pub mod encoder;
pub mod minilm;
pub mod scratch;
pub mod tokenizer;
pub mod words;

pub use cache::{TEXT_CACHE_FILE, TextCache};
pub use clip::{ClipConfig, ClipText};
pub use clip_bpe::ClipBpe;
pub use clip_encoder::ClipEncoder;
pub use config::{EncoderKind, TextConfig};
pub use dropout::{CaptionDropout, EMPTY_CAPTION};
pub use encoder::{TextEncoder, TextEncoding, mean_pool};
pub use minilm::{DEFAULT_MINILM_DIR, MiniLm};
pub use scratch::{SCRATCH_TOKENIZER_FILE, ScratchConfig, ScratchText, ScratchTokenizer};
pub use tokenizer::{HfTokenizer, Tokenizer, Tokens};
pub use words::word_tokenizer;
