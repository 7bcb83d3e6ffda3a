//! `Linear` through [`FastOps::fast_linear`], on the rows of the input as one matrix.
//!
//! burn's `Linear::forward` on `[B, T, in]` multiplies each of the B sequences by the weights
//! separately (a batched matmul against a broadcast weight); on flex that ran at 0.25-0.45x
//! PyTorch's speed for the UNet's feed-forward (`scripts/bench.sh --ops`), while the same
//! product as one `[B·T, in]` matrix runs at 0.9-1.2x. Flattening costs nothing (the tensor
//! is contiguous) and gives the same numbers. The operation itself (`flex_linear.rs`) adds
//! the bias inside the product and computes the three gradients without copies.

use burn::backend::Dispatch;
use burn::nn::Linear;
use burn::tensor::Tensor;

use super::FastOps;

/// `linear.forward(x)` for any rank, computed on the rows of `x` flattened to a matrix, in
/// `x`'s dtype (the weights are cast to it).
pub fn linear<const D: usize>(linear: &Linear, x: Tensor<D>) -> Tensor<D> {
    if D < 2 {
        // A single vector (not used by ldm's models): the stock module, in f32.
        return super::precision::in_f32(x, |x| linear.forward(x));
    }
    let mut dims = x.dims();
    let features = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let x: Tensor<2> = x.reshape([rows, features]);
    let dtype = x.dtype();
    let (x, w) = (
        x.into_dispatch(),
        linear.weight.val().cast(dtype).into_dispatch(),
    );
    let y = Tensor::<2>::from_dispatch(match &linear.bias {
        Some(b) => {
            <Dispatch as FastOps>::fast_linear_bias(x, w, b.val().cast(dtype).into_dispatch())
        }
        None => <Dispatch as FastOps>::fast_linear(x, w),
    });
    dims[D - 1] = y.dims()[1];
    y.reshape(dims)
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, Distribution, Tensor};

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// Output and the gradients of input, weights and bias equal `Linear::forward`'s, with
    /// and without bias, for a contiguous input and a transposed one.
    #[test]
    fn same_values_and_gradients_as_forward() {
        let ad = Device::flex().autodiff();
        for bias in [true, false] {
            let lin = LinearConfig::new(6, 5).with_bias(bias).init(&ad);
            // Non-zero bias, so a forgotten bias shows.
            let lin = Linear {
                bias: lin.bias.map(|b| {
                    b.map(|t| t.random_like(Distribution::Normal(0.0, 1.0)).require_grad())
                }),
                ..lin
            };
            for transposed in [false, true] {
                let stored = if transposed { [4, 3, 6] } else { [3, 4, 6] };
                let x = Tensor::<3>::random(stored, Distribution::Normal(0.0, 1.0), &ad);
                let g = Tensor::<3>::random([3, 4, 5], Distribution::Normal(0.0, 1.0), &ad);
                let run = |fast: bool| {
                    let x = x.clone().detach().require_grad();
                    let input = if transposed {
                        // [3, 4, 6] read through a swapped view: not contiguous.
                        x.clone().swap_dims(0, 1)
                    } else {
                        x.clone()
                    };
                    let y = if fast {
                        super::linear(&lin, input)
                    } else {
                        lin.forward(input)
                    };
                    let grads = (y.clone() * g.clone()).sum().backward();
                    let gw = lin.weight.grad(&grads).unwrap();
                    let gb = lin.bias.as_ref().map(|b| b.grad(&grads).unwrap());
                    (y.inner(), x.grad(&grads).unwrap(), gw, gb)
                };
                let (a, b) = (run(true), run(false));
                assert!(max_diff(a.0, b.0) < 1e-5, "output, bias {bias}");
                assert!(max_diff(a.1, b.1) < 1e-5, "input gradient, bias {bias}");
                assert!(max_diff(a.2, b.2) < 1e-4, "weight gradient, bias {bias}");
                if let (Some(fa), Some(fb)) = (a.3, b.3) {
                    assert!(max_diff(fa, fb) < 1e-4, "bias gradient");
                }
            }
        }
    }

    /// An input that needs no gradient (frozen text features) still gives the weights theirs.
    #[test]
    fn weights_learn_from_a_constant_input() {
        let ad = Device::flex().autodiff();
        let lin = LinearConfig::new(4, 3).init(&ad);
        let x = Tensor::<2>::random([7, 4], Distribution::Normal(0.0, 1.0), &ad);
        let fast = super::linear(&lin, x.clone()).sum().backward();
        let stock = lin.forward(x.clone()).sum().backward();
        let (a, b) = (
            lin.weight.grad(&fast).unwrap(),
            lin.weight.grad(&stock).unwrap(),
        );
        assert!(max_diff(a, b) < 1e-5);
        assert!(x.grad(&fast).is_none());
    }

    /// The same bits on one thread and on three, forward and backward (the GEMMs split their
    /// output blocks, never their sums).
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let ad = Device::flex().autodiff();
        let lin = LinearConfig::new(96, 80).init(&ad);
        let x0 = Tensor::<2>::random([300, 96], Distribution::Normal(0.0, 1.0), &ad);
        let run = || {
            let x = x0.clone().detach().require_grad();
            let y = super::linear(&lin, x.clone());
            let grads = (y.clone() * y.clone()).sum().backward();
            let bits = |t: Tensor<2>| -> Vec<u32> {
                let v = t.into_data().try_to_vec::<f32>().unwrap();
                v.iter().map(|f| f.to_bits()).collect()
            };
            let gb = lin.bias.as_ref().unwrap().grad(&grads).unwrap();
            (
                bits(y.inner()),
                bits(x.grad(&grads).unwrap()),
                bits(lin.weight.grad(&grads).unwrap()),
                bits(gb.unsqueeze()),
            )
        };
        let pool = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        };
        assert!(pool(1).install(run) == pool(3).install(run));
    }
}
