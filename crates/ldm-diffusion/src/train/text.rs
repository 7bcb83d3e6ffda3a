//! What the denoiser needs from text: token features and their padding, for a batch of
//! captions. The text crate stays independent of this one; the pipeline adapts its encoders
//! (a frozen encoder's cache, or a small encoder trained jointly) to this trait.

use burn::module::Module;
use burn::tensor::{Bool, Device, Tensor};

/// Text tokens for cross-attention.
#[derive(Clone, Debug)]
pub struct Conditioning {
    /// `[B, L, D]`
    pub context: Tensor<3>,
    /// `[B, L]`, true at padding positions.
    pub pad: Tensor<2, Bool>,
}

impl Conditioning {
    /// Stack two conditionings along the batch (for guidance: null captions, then prompts).
    pub fn cat(a: Conditioning, b: Conditioning) -> Conditioning {
        Conditioning {
            context: Tensor::cat(vec![a.context, b.context], 0),
            pad: Tensor::cat(vec![a.pad, b.pad], 0),
        }
    }
}

/// A text encoder as the denoiser sees it. The empty caption "" is the null condition used
/// by caption dropout and guidance.
pub trait TextModel: Module {
    /// Encode captions as they are (validation, sampling).
    fn encode(&self, captions: &[String], device: &Device) -> Conditioning;
    /// Encode a training batch of `step`, with caption dropout (some captions replaced by
    /// the null caption, decided by the step and the index) so guidance works later.
    fn encode_for_training(&self, captions: &[String], step: u64, device: &Device) -> Conditioning;
    /// Width D of the token features.
    fn dim(&self) -> usize;
    /// Whether its weights are trained together with the denoiser.
    fn trainable(&self) -> bool;
}
