//! SiLU, GELU (exact, erf-based), GEGLU and LeakyReLU as backend-extension operations.

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

/// LeakyReLU: `x` where x >= 0, `slope · x` elsewhere, on any device. Under autodiff one
/// saved tensor and one pass each way, where burn composes it from a comparison, a scaling
/// and a masked select (and their three backward steps).
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FastOps>::fast_leaky_relu(
        x.into_dispatch(),
        slope,
    ))
}

/// GEGLU: for `h` `[..., 2F]`, its first F columns times the GELU of its last F, `[..., F]`
/// (the feed-forward gate of LDM's transformer blocks).
pub fn geglu<const D: usize>(h: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FastOps>::fast_geglu(h.into_dispatch()))
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
        assert!(max_diff(fast(x.clone()), stock(x.clone())) <= tol);
        let xt = x.clone().swap_dims(1, 2);
        assert!(max_diff(fast(xt.clone()), stock(xt)) <= tol);

        let ad = device.clone().autodiff();
        let g = Tensor::<3>::random([3, 37, 41], Distribution::Normal(0.0, 1.0), &ad);
        let grad = |f: Act| {
            let x = Tensor::<3>::from_data(x.to_data(), &ad).require_grad();
            let grads = (f(x.clone()) * g.clone()).sum().backward();
            Tensor::<3>::from_data(x.grad(&grads).unwrap().to_data(), &device)
        };
        assert!(max_diff(grad(fast), grad(stock)) <= tol);
    }

    #[test]
    fn silu_matches_stock() {
        check(super::silu, activation::silu, 2e-6);
    }

    #[test]
    fn leaky_relu_matches_stock() {
        check(
            |x| super::leaky_relu(x, 0.2),
            |x| activation::leaky_relu(x, 0.2),
            0.0,
        );
    }

    #[test]
    fn gelu_matches_stock() {
        check(super::gelu, activation::gelu, 4e-6);
    }

    /// GEGLU as the transformer wrote it before: split, GELU of the gate, product.
    fn stock_geglu(h: Tensor<3>) -> Tensor<3> {
        let mut parts = h.chunk(2, 2);
        let gate = parts.pop().unwrap();
        parts.pop().unwrap() * activation::gelu(gate)
    }

    #[test]
    fn geglu_matches_stock() {
        let device = Device::flex();
        let h = Tensor::<3>::random([3, 5, 14], Distribution::Normal(0.0, 3.0), &device);
        assert!(max_diff(super::geglu(h.clone()), stock_geglu(h.clone())) < 4e-6);
        // A transposed input is read the same way.
        let ht = h.clone().swap_dims(0, 1);
        assert!(max_diff(super::geglu(ht.clone()), stock_geglu(ht)) < 4e-6);

        let ad = device.clone().autodiff();
        let g = Tensor::<3>::random([3, 5, 7], Distribution::Normal(0.0, 1.0), &ad);
        let grad = |f: Act| {
            let h = Tensor::<3>::from_data(h.to_data(), &ad).require_grad();
            let grads = (f(h.clone()) * g.clone()).sum().backward();
            Tensor::<3>::from_data(h.grad(&grads).unwrap().to_data(), &device)
        };
        assert!(max_diff(grad(super::geglu), grad(stock_geglu)) < 1e-5);
    }

    #[test]
    fn nan_propagates() {
        let x = Tensor::<1>::from_floats([f32::NAN, 1.0], &Device::flex());
        for y in [
            super::silu(x.clone()),
            super::gelu(x.clone()),
            super::leaky_relu(x, 0.2),
        ] {
            let v = y.into_data().try_to_vec::<f32>().unwrap();
            assert!(v[0].is_nan() && v[1].is_finite());
        }
    }
}
