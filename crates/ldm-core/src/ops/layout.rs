//! [`contiguous`]: the same values laid out in order in memory.
//!
//! Why: a transposed view (the spatial transformer's image-to-token swap) is copied by every
//! flex kernel that reads it, forward and again backward, and burn's own elementwise ops
//! take a slower strided path on it. Copying it once where it is made is cheaper.

use burn::backend::Dispatch;
use burn::tensor::Tensor;

use super::FastOps;

/// `x` with its elements contiguous (a copy only where `x` is a strided view, and only on
/// backends whose kernels need it); the gradient passes through unchanged.
pub fn contiguous<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FastOps>::fast_contiguous(x.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    /// Same values and the same gradient as the view it copies.
    #[test]
    fn values_and_gradient_pass_through() {
        let ad = Device::flex().autodiff();
        let x = Tensor::<3>::random([2, 3, 4], Distribution::Normal(0.0, 1.0), &ad).require_grad();
        let g = Tensor::<3>::random([2, 4, 3], Distribution::Normal(0.0, 1.0), &ad);
        let view = x.clone().swap_dims(1, 2);
        let y = super::contiguous(view.clone());
        let diff = (y.clone() - view).abs().max().into_scalar::<f32>();
        assert_eq!(diff, 0.0);
        let grads = (y * g.clone()).sum().backward();
        let want = g.swap_dims(1, 2).inner();
        let got = x.grad(&grads).unwrap();
        assert_eq!((got - want).abs().max().into_scalar::<f32>(), 0.0);
    }
}
