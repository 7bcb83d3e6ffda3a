//! Pieces every training loop shares: AdamW as one fused pass per parameter, global-norm
//! gradient clipping, an EMA of the weights,
//! the learning-rate schedule, what to do with a non-finite loss, a wall-clock budget, and the
//! precision a step computes in.

mod adamw;
mod clip;
mod ema;
mod lr;
mod nan;
mod precision;
mod time_limit;

pub use adamw::{AdamW, adamw};
pub use clip::clip_global_norm;
pub use ema::Ema;
pub use lr::{LrConfig, LrShape};
pub use nan::{NanGuard, OnNan};
pub use precision::Precision;
pub use time_limit::TimeLimit;
