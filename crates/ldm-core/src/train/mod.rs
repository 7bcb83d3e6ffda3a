//! Pieces every training loop shares: global-norm gradient clipping, an EMA of the weights,
//! the learning-rate schedule, and what to do with a non-finite loss.

mod clip;
mod ema;
mod lr;
mod nan;

pub use clip::clip_global_norm;
pub use ema::Ema;
pub use lr::{LrConfig, LrShape};
pub use nan::{NanGuard, OnNan};
