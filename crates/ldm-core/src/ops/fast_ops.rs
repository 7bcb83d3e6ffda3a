//! The extension trait: each operation's default body (stock operations, what GPU backends
//! run) and its `flex` kernel. The autodiff rules are in `autodiff.rs`.

use burn::backend::ops::{ActivationOps, ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, TensorMetadata, backend_extension};

use super::{flex, flex_conv, math};

#[backend_extension(Flex, Autodiff, Cube: cfg(any(feature = "wgpu", feature = "cuda")))]
pub trait FastOps: Backend {
    /// x * sigmoid(x).
    fn fast_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        stock_silu::<Self>(x)
    }

    /// The gradient of SiLU at `x` times `grad`: grad * s * (1 + x (1 - s)), s = sigmoid(x).
    fn fast_silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        stock_silu_backward::<Self>(x, grad)
    }

    /// x * Φ(x), Φ the standard normal CDF.
    fn fast_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu(x)
    }

    /// grad * (Φ(x) + x φ(x)).
    fn fast_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu_backward(x, grad)
    }

    /// 2-D convolution without bias.
    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// The convolution's gradient by its input (`x` only gives the shape).
    fn fast_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, grad, options)
    }

    /// The convolution's gradient by its weights (`weight` only gives the shape).
    fn fast_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, grad, options)
    }
}

impl FastOps for Flex {
    fn fast_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::map(x.clone(), |x| x * math::sigmoid(x)).unwrap_or_else(|| stock_silu::<Self>(x))
    }

    fn fast_silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::zip(x.clone(), grad.clone(), |x, g| {
            let s = math::sigmoid(x);
            g * s * (1.0 + x * (1.0 - s))
        })
        .unwrap_or_else(|| stock_silu_backward::<Self>(x, grad))
    }

    fn fast_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::map(x.clone(), |x| x * math::normal_cdf_pdf(x).0).unwrap_or_else(|| Self::gelu(x))
    }

    fn fast_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::zip(x.clone(), grad.clone(), |x, g| {
            let (cdf, pdf) = math::normal_cdf_pdf(x);
            g * (cdf + x * pdf)
        })
        .unwrap_or_else(|| Self::gelu_backward(x, grad))
    }

    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        flex_conv::forward(&x, &weight, &options)
            .unwrap_or_else(|| Self::conv2d(x, weight, None, options))
    }

    fn fast_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        flex_conv::x_backward(&x.shape(), &weight, &grad, &options)
            .unwrap_or_else(|| Self::conv2d_x_backward(x, weight, grad, options))
    }

    fn fast_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        flex_conv::weight_backward(&x, &weight.shape(), &grad, &options)
            .unwrap_or_else(|| Self::conv2d_weight_backward(x, weight, grad, options))
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl FastOps for burn::backend::Cube {}

/// SiLU from stock operations (burn has no SiLU primitive).
fn stock_silu<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::float_mul(x.clone(), B::sigmoid(x))
}

/// SiLU's backward from stock operations.
fn stock_silu_backward<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let s = B::sigmoid(x.clone());
    let one_minus = B::float_add_scalar(B::float_neg(s.clone()), 1.0.into());
    let inner = B::float_add_scalar(B::float_mul(x, one_minus), 1.0.into());
    B::float_mul(grad, B::float_mul(s, inner))
}
