//! Pieces every training loop shares: AdamW as one fused pass per parameter, global-norm
//! gradient clipping, an EMA of the weights, a frozen copy of a model,
//! the learning-rate schedule, what to do with a non-finite loss, a wall-clock budget, and the
//! precision a step computes in (with f16's loss scaling).

mod adamw;
mod clip;
mod ema;
mod frozen;
mod loss_scale;
mod lr;
mod nan;
mod precision;
mod time_limit;

pub use adamw::{AdamW, adamw};
pub use clip::{clip_global_norm, unscale_and_clip};
pub use ema::Ema;
pub use frozen::frozen;
pub use loss_scale::LossScale;
pub use lr::{LrConfig, LrShape};
pub use nan::{NanGuard, OnNan};
pub use precision::Precision;
pub use time_limit::TimeLimit;
