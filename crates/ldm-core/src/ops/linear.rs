//! `Linear` on token sequences as one matrix product.
//!
//! burn's `Linear::forward` on `[B, T, in]` multiplies each of the B sequences by the weights
//! separately (a batched matmul against a broadcast weight); on flex that ran at 0.25-0.45x
//! PyTorch's speed for the UNet's feed-forward (`scripts/bench.sh --ops`), while the same
//! product as one `[B·T, in]` matrix runs at 0.9-1.2x. Flattening costs nothing (the tensor
//! is contiguous) and gives the same numbers.

use burn::nn::Linear;
use burn::tensor::Tensor;

/// `linear.forward(x)` for any rank, computed on the rows of `x` flattened to a matrix.
pub fn linear<const D: usize>(linear: &Linear, x: Tensor<D>) -> Tensor<D> {
    if D <= 2 {
        return linear.forward(x);
    }
    let mut dims = x.dims();
    let features = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let y = linear.forward(x.reshape([rows, features]));
    dims[D - 1] = y.dims()[1];
    y.reshape(dims)
}

#[cfg(test)]
mod tests {
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution, Tensor};

    #[test]
    fn same_values_and_gradients_as_forward() {
        let ad = Device::flex().autodiff();
        let lin = LinearConfig::new(6, 5).init(&ad);
        let x = Tensor::<3>::random([3, 4, 6], Distribution::Normal(0.0, 1.0), &ad);
        let g = Tensor::<3>::random([3, 4, 5], Distribution::Normal(0.0, 1.0), &ad);
        let run = |fast: bool| {
            let x = x.clone().detach().require_grad();
            let y = if fast {
                super::linear(&lin, x.clone())
            } else {
                lin.forward(x.clone())
            };
            let grads = (y.clone() * g.clone()).sum().backward();
            let gw = lin.weight.grad(&grads).unwrap();
            (y.inner(), x.grad(&grads).unwrap(), gw)
        };
        let (a, b) = (run(true), run(false));
        assert!((a.0 - b.0).abs().max().into_scalar::<f32>() < 1e-5);
        assert!((a.1 - b.1).abs().max().into_scalar::<f32>() < 1e-5);
        assert!((a.2 - b.2).abs().max().into_scalar::<f32>() < 1e-4);
    }
}
