//! How the operations treat a half-precision input (a bf16 or f16 step, see
//! `train::Precision`): convolutions and linear layers compute in their input's dtype, on
//! weights cast to it; norms and attention compute in f32 and return their input's dtype.

use burn::tensor::{DType, Tensor};

/// `f(x)` computed in f32 for an input of any float dtype, returned in the input's dtype:
/// for norms' statistics and attention's softmax, whose sums lose too much in a half-precision
/// mantissa (bf16 keeps 8 bits). An f32 input goes straight through.
pub(super) fn in_f32<const D: usize, const E: usize>(
    x: Tensor<D>,
    f: impl FnOnce(Tensor<D>) -> Tensor<E>,
) -> Tensor<E> {
    let dtype = x.dtype();
    if dtype == DType::F32 {
        return f(x);
    }
    f(x.cast(DType::F32)).cast(dtype)
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::{GroupNormConfig, LayerNormConfig, LinearConfig, PaddingConfig2d};
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{DType, Device, Distribution, Gradients, Tensor, module};

    /// max |a - b| / max |b|.
    fn rel<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let scale = b.clone().abs().max().into_scalar::<f32>();
        (a - b).abs().max().into_scalar::<f32>() / scale
    }

    /// `f` on a bf16 (and on an f16) copy of `x` returns that dtype within `tol` (relative to
    /// the largest value) of `f` on `x` itself; the gradients of `x` and of the f32 weights
    /// (`weights` picks them out of the gradients, flattened) come back f32 and within `tol`
    /// of the f32 ones.
    fn check<const D: usize, const E: usize>(
        what: &str,
        x: Tensor<D>,
        f: impl Fn(Tensor<D>) -> Tensor<E>,
        weights: impl Fn(&Gradients) -> Vec<Tensor<1>>,
        tol: f32,
    ) {
        let g = f(x.clone()).random_like(Distribution::Normal(0.0, 1.0));
        let full = run(what, &x, &f, &weights, &g, DType::F32);
        for dtype in [DType::BF16, DType::F16] {
            let half = run(what, &x, &f, &weights, &g, dtype);
            compare(&format!("{what} {dtype:?}"), half, full.clone(), tol);
        }
    }

    /// `f(x)` in `dtype` (the result cast to f32), and the gradients of `sum(f(x) * g)` by the
    /// weights and `x`.
    fn run<const D: usize, const E: usize>(
        what: &str,
        x: &Tensor<D>,
        f: &impl Fn(Tensor<D>) -> Tensor<E>,
        weights: &impl Fn(&Gradients) -> Vec<Tensor<1>>,
        g: &Tensor<E>,
        dtype: DType,
    ) -> (Tensor<E>, Vec<Tensor<1>>) {
        let x = x.clone().detach().require_grad();
        let y = f(x.clone().cast(dtype));
        assert_eq!(y.dtype(), dtype, "{what}: output dtype");
        let y = y.cast(DType::F32);
        let grads = (y.clone() * g.clone()).sum().backward();
        let mut gs = weights(&grads);
        gs.push(x.grad(&grads).unwrap().flatten::<1>(0, D - 1));
        (y.inner(), gs)
    }

    /// `ours` and burn's `stock` operation on a `half` copy of `x`: the same values and
    /// gradients up to rounding (1% of the largest value).
    fn against_stock<const D: usize, const E: usize>(
        what: &str,
        x: &Tensor<D>,
        ours: impl Fn(Tensor<D>) -> Tensor<E>,
        stock: impl Fn(Tensor<D>) -> Tensor<E>,
        weights: &impl Fn(&Gradients) -> Vec<Tensor<1>>,
        half: DType,
    ) {
        let g = ours(x.clone()).random_like(Distribution::Normal(0.0, 1.0));
        let a = run(what, x, &ours, weights, &g, half);
        let b = run(what, x, &stock, weights, &g, half);
        compare(&format!("{what} {half:?} against stock"), a, b, 0.01);
    }

    fn compare<const E: usize>(
        what: &str,
        a: (Tensor<E>, Vec<Tensor<1>>),
        b: (Tensor<E>, Vec<Tensor<1>>),
        tol: f32,
    ) {
        let err = rel(a.0, b.0);
        assert!(err < tol, "{what}: output off by {err}");
        for (i, (a, b)) in a.1.into_iter().zip(b.1).enumerate() {
            assert_eq!(a.dtype(), DType::F32, "{what}: gradient {i} dtype");
            let err = rel(a, b);
            assert!(err < tol, "{what}: gradient {i} off by {err}");
        }
    }

    /// bf16 keeps 8 significant bits (a relative rounding error up to 2^-8), f16 11 (2^-11);
    /// sums of a few hundred rounded products stay within 2% of the largest value.
    const TOL: f32 = 0.02;

    #[test]
    fn half_precision_activations_compute_in_their_dtype_with_f32_weights() {
        let ad = Device::flex().autodiff();
        ad.seed(1);
        let normal = Distribution::Normal(0.0, 1.0);

        let conv = Conv2dConfig::new([8, 16], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&ad);
        check(
            "conv2d",
            Tensor::<4>::random([2, 8, 6, 6], normal, &ad),
            |x| super::super::conv2d(&conv, x),
            |g| {
                vec![
                    conv.weight.grad(g).unwrap().flatten::<1>(0, 3),
                    conv.bias.as_ref().unwrap().grad(g).unwrap(),
                ]
            },
            TOL,
        );

        let lin = LinearConfig::new(24, 12).init(&ad);
        check(
            "linear",
            Tensor::<3>::random([2, 5, 24], normal, &ad),
            |x| super::super::linear(&lin, x),
            |g| {
                vec![
                    lin.weight.grad(g).unwrap().flatten::<1>(0, 1),
                    lin.bias.as_ref().unwrap().grad(g).unwrap(),
                ]
            },
            TOL,
        );

        // An offset input: the statistics must not be taken in half precision.
        let gn = GroupNormConfig::new(4, 16).init(&ad);
        for silu in [false, true] {
            check(
                "group norm",
                Tensor::<4>::random([2, 16, 4, 4], Distribution::Normal(3.0, 1.0), &ad),
                |x| {
                    if silu {
                        super::super::group_norm_silu(&gn, x)
                    } else {
                        super::super::group_norm(&gn, x)
                    }
                },
                |g| {
                    vec![
                        gn.gamma.as_ref().unwrap().grad(g).unwrap(),
                        gn.beta.as_ref().unwrap().grad(g).unwrap(),
                    ]
                },
                TOL,
            );
        }

        let ln = LayerNormConfig::new(24).init(&ad);
        check(
            "layer norm",
            Tensor::<3>::random([2, 5, 24], Distribution::Normal(3.0, 1.0), &ad),
            |x| super::super::layer_norm(&ln, 1e-5, x),
            |g| {
                vec![
                    ln.gamma.grad(g).unwrap(),
                    ln.beta.as_ref().unwrap().grad(g).unwrap(),
                ]
            },
            TOL,
        );

        // Keys and values from a second tensor left in f32 (attention takes mixed dtypes):
        // its gradient comes back f32 too.
        let kv = Tensor::<3>::random([2, 7, 16], normal, &ad).require_grad();
        check(
            "attention",
            Tensor::<3>::random([2, 5, 16], normal, &ad),
            |q| super::super::attention(q, kv.clone(), kv.clone(), None, 2),
            |g| vec![kv.grad(g).unwrap().flatten::<1>(0, 2)],
            TOL,
        );
    }

    /// On flex, bf16 and f16 convolutions, linear layers and SiLU run through ldm's f32
    /// kernels (`flex_half`); they give what burn's stock operations in those dtypes (which
    /// GPU backends run) give, gradients included, up to rounding.
    #[test]
    fn half_kernels_match_the_stock_operations() {
        for dtype in [DType::BF16, DType::F16] {
            kernels_match_stock(dtype);
        }
    }

    fn kernels_match_stock(half: DType) {
        let ad = Device::flex().autodiff();
        ad.seed(2);
        let normal = Distribution::Normal(0.0, 1.0);

        let conv = Conv2dConfig::new([8, 16], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&ad);
        let bias = conv.bias.as_ref().unwrap();
        let x = Tensor::<4>::random([2, 8, 6, 6], normal, &ad);
        let weights = |g: &Gradients| {
            vec![
                conv.weight.grad(g).unwrap().flatten::<1>(0, 3),
                bias.grad(g).unwrap(),
            ]
        };
        let stock = |x: Tensor<4>| {
            module::conv2d(
                x,
                conv.weight.val().cast(half),
                Some(bias.val().cast(half)),
                ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
            )
        };
        let ours = |x| super::super::conv2d(&conv, x);
        against_stock("conv2d", &x, ours, stock, &weights, half);

        let lin = LinearConfig::new(24, 12).init(&ad);
        let x = Tensor::<3>::random([2, 5, 24], normal, &ad);
        let weights = |g: &Gradients| {
            vec![
                lin.weight.grad(g).unwrap().flatten::<1>(0, 1),
                lin.bias.as_ref().unwrap().grad(g).unwrap(),
            ]
        };
        let stock = |x: Tensor<3>| {
            module::linear(
                x,
                lin.weight.val().cast(half),
                Some(lin.bias.as_ref().unwrap().val().cast(half)),
            )
        };
        let ours = |x| super::super::linear(&lin, x);
        against_stock("linear", &x, ours, stock, &weights, half);

        let stock = |x: Tensor<3>| burn::tensor::activation::silu(x);
        against_stock("silu", &x, super::super::silu, stock, &|_| vec![], half);
    }
}
