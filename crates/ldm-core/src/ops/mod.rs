//! Operations ldm runs faster than the stock kernels of burn's CPU backend (`flex`), through
//! burn's backend-extension API: each is a method of [`FastOps`] with a default body composed
//! of stock operations (what GPU backends run), a hand-written `flex` kernel, and an autodiff
//! rule with its own backward kernel. `scripts/bench.sh --ops` measured why: flex computes
//! SiLU and GELU element by element through libm (`exp`, `erf`) on one thread, 13-17x slower
//! than PyTorch's vectorized kernels, its convolutions (forward, and above all the weight
//! gradient burn derives generically) at 0.2-0.55x PyTorch's speed, and GroupNorm, composed of
//! nine stock operations, at 0.3x.
//!
//! Models call the functions here ([`silu`], [`gelu`], [`leaky_relu`], [`conv2d`], [`linear`],
//! [`group_norm`], [`group_norm_silu`], [`layer_norm`], [`attention`], [`geglu`]) instead of `burn::tensor::activation`,
//! `Conv2d::forward`, `Linear::forward`, `GroupNorm::forward` and
//! `burn::tensor::module::attention`, and `train::AdamW` calls [`adamw_step`], gradient clipping
//! [`sum_squares`] and [`scale`], the EMA [`blend`]; tests in this
//! module check values and gradients against the stock operations.

mod activation;
mod adamw;
mod attention;
mod autodiff;
mod conv;
mod fast_ops;
mod flex;
mod flex_adamw;
mod flex_attention;
mod flex_conv;
mod flex_geglu;
mod flex_half;
mod flex_layer_norm;
mod flex_linear;
mod flex_norm;
mod flex_params;
mod gemm;
mod layout;
mod linear;
mod math;
mod norm;
mod params;
mod precision;
mod stock;

pub use activation::{geglu, gelu, leaky_relu, silu};
pub use adamw::{AdamStep, adamw_step};
pub use attention::attention;
pub use conv::{conv2d, conv2d_weights};
pub use fast_ops::FastOps;
pub use layout::contiguous;
pub use linear::linear;
pub use norm::{group_norm, group_norm_silu, layer_norm};
pub use params::{blend, scale, sum_squares};

/// The bit patterns of f32 data, for tests that compare results to the bit.
#[cfg(test)]
pub(crate) fn f32_bits(data: burn::tensor::TensorData) -> Vec<u32> {
    let values = data.try_to_vec::<f32>().expect("f32 data");
    values.iter().map(|x| x.to_bits()).collect()
}
