//! Where caption embeddings come from. The evaluator does not know text encoders; the caller
//! (the CLI) wraps whichever frozen encoder it uses and hands over one pooled vector per
//! caption, e.g. the mean of the encoder's hidden states over real (non-padding) tokens.

use burn::tensor::Tensor;

pub trait CaptionEmbedder {
    /// Names the encoder and its weights; saved with the evaluator, and evaluation must use
    /// an embedder with the same fingerprint.
    fn fingerprint(&self) -> String;
    /// Width of the pooled embedding.
    fn dim(&self) -> usize;
    /// `[captions.len(), dim]` pooled embeddings, on any device, without gradients.
    fn embed(&mut self, captions: &[String]) -> Result<Tensor<2>, String>;
}
