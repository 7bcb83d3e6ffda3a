//! Pieces every training loop shares: global-norm gradient clipping, an EMA of the weights,
//! the learning-rate schedule, what to do with a non-finite loss, and a wall-clock budget.

mod clip;
mod ema;
mod lr;
mod nan;
mod time_limit;

pub use clip::clip_global_norm;
pub use ema::Ema;
pub use lr::{LrConfig, LrShape};
pub use nan::{NanGuard, OnNan};
pub use time_limit::TimeLimit;
