//! Operations ldm runs faster than the stock kernels of burn's CPU backend (`flex`), through
//! burn's backend-extension API: each is a method of [`FastOps`] with a default body composed
//! of stock operations (what GPU backends run), a hand-written `flex` kernel, and an autodiff
//! rule with its own backward kernel. `scripts/bench.sh --ops` measured why: flex computes
//! SiLU and GELU element by element through libm (`exp`, `erf`) on one thread, 13-17x slower
//! than PyTorch's vectorized kernels, and its convolutions (forward, and above all the weight
//! gradient burn derives generically) at 0.2-0.55x PyTorch's speed.
//!
//! Models call the functions here ([`silu`], [`gelu`], [`conv2d`], [`linear`]) instead of
//! `burn::tensor::activation`, `Conv2d::forward` and `Linear::forward`; tests in this module
//! check values and gradients against the stock operations.

mod activation;
mod autodiff;
mod conv;
mod fast_ops;
mod flex;
mod flex_conv;
mod gemm;
mod linear;
mod math;

pub use activation::{gelu, silu};
pub use conv::conv2d;
pub use fast_ops::FastOps;
pub use linear::linear;
