//! SiLU and GELU (exact, erf-based) as backend-extension operations.

use burn::backend::Dispatch;
use burn::tensor::Tensor;

use super::FastOps;

/// SiLU, x * sigmoid(x), on any device.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FastOps>::fast_silu(x.into_dispatch()))
}

/// GELU with the exact normal CDF (not the tanh approximation), on any device.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FastOps>::fast_gelu(x.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor, activation};

    type Act = fn(Tensor<3>) -> Tensor<3>;

    fn max_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// Values and gradients equal the stock operations', also for a transposed input.
    fn check(fast: Act, stock: Act, tol: f32) {
        let device = Device::flex();
        let x = Tensor::<3>::random([3, 37, 41], Distribution::Normal(0.0, 4.0), &device);
        assert!(max_diff(fast(x.clone()), stock(x.clone())) < tol);
        let xt = x.clone().swap_dims(1, 2);
        assert!(max_diff(fast(xt.clone()), stock(xt)) < tol);

        let ad = device.clone().autodiff();
        let g = Tensor::<3>::random([3, 37, 41], Distribution::Normal(0.0, 1.0), &ad);
        let grad = |f: Act| {
            let x = Tensor::<3>::from_data(x.to_data(), &ad).require_grad();
            let grads = (f(x.clone()) * g.clone()).sum().backward();
            Tensor::<3>::from_data(x.grad(&grads).unwrap().to_data(), &device)
        };
        assert!(max_diff(grad(fast), grad(stock)) < tol);
    }

    #[test]
    fn silu_matches_stock() {
        check(super::silu, activation::silu, 2e-6);
    }

    #[test]
    fn gelu_matches_stock() {
        check(super::gelu, activation::gelu, 4e-6);
    }

    #[test]
    fn nan_propagates() {
        let x = Tensor::<1>::from_floats([f32::NAN, 1.0], &Device::flex());
        for y in [super::silu(x.clone()), super::gelu(x)] {
            let v = y.into_data().try_to_vec::<f32>().unwrap();
            assert!(v[0].is_nan() && v[1].is_finite());
        }
    }
}
