//! Pieces every training loop shares: global-norm gradient clipping, an EMA of the weights,
//! and the learning-rate schedule.

mod clip;
mod ema;
mod lr;

pub use clip::clip_global_norm;
pub use ema::Ema;
pub use lr::{LrConfig, LrShape};
