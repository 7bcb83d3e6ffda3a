//! `GroupNorm` modules run through [`FastOps::fast_group_norm`], alone or fused with the SiLU
//! that follows them: same parameters, same result as `GroupNorm::forward` (then `silu`).
//! `LayerNorm` modules run through [`FastOps::fast_layer_norm`] the same way. Both compute in
//! f32 and return their input's dtype.

use burn::backend::Dispatch;
use burn::nn::{GroupNorm, LayerNorm};
use burn::tensor::Tensor;

use super::FastOps;
use super::precision::in_f32;

/// `norm.forward(x)`, through ldm's kernels.
pub fn group_norm<const D: usize>(norm: &GroupNorm, x: Tensor<D>) -> Tensor<D> {
    fused(norm, x, false)
}

/// `silu(norm.forward(x))` in one operation: one pass over memory instead of two and no
/// saved tensor between them.
pub fn group_norm_silu<const D: usize>(norm: &GroupNorm, x: Tensor<D>) -> Tensor<D> {
    fused(norm, x, true)
}

/// `norm.forward(x)` for a `LayerNorm` built with `epsilon` (burn keeps a built norm's epsilon
/// private, so the model passes the value it configured), through ldm's kernels.
pub fn layer_norm<const D: usize>(norm: &LayerNorm, epsilon: f64, x: Tensor<D>) -> Tensor<D> {
    let Some(beta) = &norm.beta else {
        return in_f32(x, |x| norm.forward(x));
    };
    in_f32(x, |x| {
        Tensor::from_dispatch(<Dispatch as FastOps>::fast_layer_norm(
            x.into_dispatch(),
            norm.gamma.val().into_dispatch(),
            beta.val().into_dispatch(),
            epsilon,
        ))
    })
}

fn fused<const D: usize>(norm: &GroupNorm, x: Tensor<D>, silu: bool) -> Tensor<D> {
    let (Some(gamma), Some(beta)) = (&norm.gamma, &norm.beta) else {
        // Without affine parameters (not used by ldm's models): the stock module.
        return in_f32(x, |x| {
            let y = norm.forward(x);
            if silu { super::silu(y) } else { y }
        });
    };
    in_f32(x, |x| {
        Tensor::from_dispatch(<Dispatch as FastOps>::fast_group_norm(
            x.into_dispatch(),
            gamma.val().into_dispatch(),
            beta.val().into_dispatch(),
            norm.num_groups,
            norm.epsilon,
            silu,
        ))
    })
}

#[cfg(test)]
mod tests {
    use burn::nn::{GroupNorm, GroupNormConfig};
    use burn::tensor::{Device, Distribution, Tensor, activation};

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    fn stock(norm: &GroupNorm, x: Tensor<4>, silu: bool) -> Tensor<4> {
        let y = norm.forward(x);
        if silu { activation::silu(y) } else { y }
    }

    /// Values and the gradients of input, gamma and beta equal the stock module's, with and
    /// without SiLU, for random affine parameters and an input with an offset (so the
    /// centring matters).
    fn check(shape: [usize; 4], groups: usize, silu: bool) {
        let ad = Device::flex().autodiff();
        let mut norm = GroupNormConfig::new(groups, shape[1])
            .with_epsilon(1e-6)
            .init(&ad);
        let c = shape[1];
        norm.gamma = norm.gamma.map(|p| {
            p.map(|_| Tensor::random([c], Distribution::Normal(1.0, 0.5), &ad).require_grad())
        });
        norm.beta = norm.beta.map(|p| {
            p.map(|_| Tensor::random([c], Distribution::Normal(0.0, 0.5), &ad).require_grad())
        });
        let x0 = Tensor::<4>::random(shape, Distribution::Normal(0.5, 2.0), &ad);
        let g = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &ad);
        let run = |f: &dyn Fn(&GroupNorm, Tensor<4>) -> Tensor<4>| {
            let x = x0.clone().detach().require_grad();
            let y = f(&norm, x.clone());
            let grads = (y.clone() * g.clone()).sum().backward();
            let gamma = norm.gamma.as_ref().unwrap().val();
            let beta = norm.beta.as_ref().unwrap().val();
            (
                y.inner(),
                x.grad(&grads).unwrap(),
                gamma.grad(&grads).unwrap(),
                beta.grad(&grads).unwrap(),
            )
        };
        let fast = run(&|n, x| super::fused(n, x, silu));
        let reference = run(&|n, x| stock(n, x, silu));
        let scale = shape.iter().product::<usize>() as f32 / shape[1] as f32;
        assert!(max_diff(fast.0, reference.0) < 2e-5, "output");
        assert!(max_diff(fast.1, reference.1) < 5e-5, "x grad");
        // dγ and dβ sum B·S terms each.
        assert!(max_diff(fast.2, reference.2) < 2e-6 * scale, "gamma grad");
        assert!(max_diff(fast.3, reference.3) < 2e-6 * scale, "beta grad");
    }

    #[test]
    fn group_norm_matches_stock() {
        check([3, 32, 8, 8], 8, false);
        check([2, 12, 5, 7], 3, false); // group and channel sizes not multiples of 8
        check([2, 4, 1, 1], 4, false); // one element per group
        check([4, 32, 32, 32], 8, false); // the perceptual net's and the autoencoder's sizes
        check([4, 128, 8, 8], 32, false);
    }

    #[test]
    fn group_norm_silu_matches_stock() {
        check([3, 32, 8, 8], 8, true);
        check([2, 12, 5, 7], 3, true);
        check([4, 64, 16, 16], 32, true);
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let device = Device::flex();
        let norm = GroupNormConfig::new(8, 64).init(&device);
        let x = Tensor::<4>::random([16, 64, 16, 16], Distribution::Normal(0.0, 1.0), &device);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| super::group_norm_silu(&norm, x.clone()));
        let many = super::group_norm_silu(&norm, x);
        assert_eq!(one.into_data(), many.into_data());
    }

    /// Values and the gradients of input, scale and shift equal `LayerNorm::forward`'s, at
    /// the epsilons of the UNet (1e-5) and of BERT-style encoders (1e-12).
    #[test]
    fn layer_norm_matches_stock() {
        use burn::nn::LayerNormConfig;
        let ad = Device::flex().autodiff();
        for eps in [1e-5, 1e-12] {
            // Scale and shift away from 1 and 0, so a mix-up shows.
            let mut norm = LayerNormConfig::new(12).with_epsilon(eps).init(&ad);
            let rand = |mean| Distribution::Normal(mean, 0.5);
            norm.gamma = norm.gamma.map(|t| t.random_like(rand(1.0)).require_grad());
            norm.beta = norm
                .beta
                .map(|b| b.map(|t| t.random_like(rand(0.0)).require_grad()));
            let x = Tensor::<3>::random([4, 5, 12], Distribution::Normal(0.3, 2.0), &ad);
            let g = Tensor::<3>::random([4, 5, 12], Distribution::Normal(0.0, 1.0), &ad);
            let run = |fast: bool| {
                let x = x.clone().detach().require_grad();
                let y = if fast {
                    super::layer_norm(&norm, eps, x.clone())
                } else {
                    norm.forward(x.clone())
                };
                let grads = (y.clone() * g.clone()).sum().backward();
                let gg = norm.gamma.grad(&grads).unwrap();
                let gb = norm.beta.as_ref().unwrap().grad(&grads).unwrap();
                (y.inner(), x.grad(&grads).unwrap(), gg, gb)
            };
            let (a, b) = (run(true), run(false));
            assert!(max_diff(a.0, b.0) < 1e-5, "output, eps {eps}");
            assert!(max_diff(a.1, b.1) < 1e-4, "input gradient, eps {eps}");
            assert!(max_diff(a.2, b.2) < 1e-4, "scale gradient, eps {eps}");
            assert!(max_diff(a.3, b.3) < 1e-4, "shift gradient, eps {eps}");
        }
    }
}
