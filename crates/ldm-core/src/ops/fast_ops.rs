//! The extension trait: each operation's default body (stock operations, what GPU backends
//! run; composed in `stock.rs`) and its `flex` kernel. The autodiff rules are in
//! `autodiff.rs`.

use burn::backend::ops::{ActivationOps, ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, TensorMetadata, backend_extension};

use super::flex_half::f32_or_half;
use super::stock::{
    stock_adamw, stock_attention, stock_attention_backward, stock_blend, stock_channel_sums,
    stock_column_sums, stock_geglu, stock_geglu_backward, stock_group_norm,
    stock_group_norm_backward, stock_layer_norm, stock_layer_norm_backward,
    stock_leaky_relu_backward, stock_linear, stock_linear_weight_backward, stock_linear_x_backward,
    stock_scale, stock_silu, stock_silu_backward, stock_sum_squares,
};
use super::{
    AdamStep, flex, flex_adamw, flex_attention, flex_conv, flex_geglu, flex_layer_norm,
    flex_linear, flex_norm, flex_params, math,
};

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

    /// `x` where x >= 0, `slope · x` elsewhere.
    fn fast_leaky_relu(x: FloatTensor<Self>, slope: f64) -> FloatTensor<Self> {
        Self::leaky_relu(x, slope.into())
    }

    /// `slope · grad` where x < 0, `grad` elsewhere (at NaN too, as burn's masked select).
    fn fast_leaky_relu_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        slope: f64,
    ) -> FloatTensor<Self> {
        stock_leaky_relu_backward::<Self>(x, grad, slope)
    }

    /// GEGLU: for `h` `[..., 2F]`, its first F columns times GELU of its last F.
    fn fast_geglu(h: FloatTensor<Self>) -> FloatTensor<Self> {
        stock_geglu::<Self>(h)
    }

    /// The gradient of [`Self::fast_geglu`] by `h`.
    fn fast_geglu_backward(h: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        stock_geglu_backward::<Self>(h, grad)
    }

    /// `x W` for `x` `[N, in]`, `W` `[in, out]` (burn's `Linear` layout).
    fn fast_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        stock_linear::<Self>(x, weight, None)
    }

    /// `x W + b`, `b` `[out]`.
    fn fast_linear_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        stock_linear::<Self>(x, weight, Some(bias))
    }

    /// [`Self::fast_linear`]'s gradient by `x`: dY Wᵀ.
    fn fast_linear_x_backward(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        stock_linear_x_backward::<Self>(weight, grad)
    }

    /// [`Self::fast_linear`]'s gradient by `W`: xᵀ dY.
    fn fast_linear_weight_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        stock_linear_weight_backward::<Self>(x, grad)
    }

    /// [`Self::fast_linear`]'s gradient by `b`: the column sums of dY.
    fn fast_linear_bias_backward(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        stock_column_sums::<Self>(grad)
    }

    /// 2-D convolution without bias.
    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// One AdamW update: the new parameter, first and second moment (burn's `AdamW`
    /// arithmetic).
    fn fast_adamw(
        p: FloatTensor<Self>,
        g: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        s: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        stock_adamw::<Self>(p, g, m, v, s)
    }

    /// Σ x² over all elements, `[1]`.
    fn fast_sum_squares(x: FloatTensor<Self>) -> FloatTensor<Self> {
        stock_sum_squares::<Self>(x)
    }

    /// `x * factor`.
    fn fast_scale(x: FloatTensor<Self>, factor: f64) -> FloatTensor<Self> {
        stock_scale::<Self>(x, factor)
    }

    /// `avg * keep + new * (1 - keep)`.
    fn fast_blend(avg: FloatTensor<Self>, new: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        stock_blend::<Self>(avg, new, keep)
    }

    /// The same values laid out contiguously, where the backend's kernels need that (flex);
    /// backends that read strided views as they are return the tensor itself.
    fn fast_contiguous(x: FloatTensor<Self>) -> FloatTensor<Self> {
        x
    }

    /// 2-D convolution plus a per-channel `bias` `[Cout]`.
    fn fast_conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), options)
    }

    /// The gradient by the bias: `grad` `[B, C, ...]` summed over all but the channels.
    fn fast_conv2d_bias_backward(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        stock_channel_sums::<Self>(grad)
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

    /// GroupNorm over `[B, C, ...]` with per-channel `gamma` and `beta`, followed by SiLU when
    /// `silu` is set.
    fn fast_group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        eps: f64,
        silu: bool,
    ) -> FloatTensor<Self> {
        Self::fast_group_norm_forward(x, gamma, beta, groups, eps, silu).0
    }

    /// [`Self::fast_group_norm`]'s output with each (image, group)'s mean and reciprocal
    /// standard deviation, `[B, G]`, for the backward pass.
    fn fast_group_norm_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        eps: f64,
        silu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        stock_group_norm::<Self>(x, gamma, beta, groups, eps, silu)
    }

    /// The gradients of [`Self::fast_group_norm`] by `x`, `gamma` and `beta`.
    #[allow(clippy::too_many_arguments)]
    fn fast_group_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        groups: usize,
        silu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        stock_group_norm_backward::<Self>(x, gamma, beta, mean, rstd, grad, groups, silu)
    }

    /// LayerNorm over the last dimension of `x` with scale `gamma` and shift `beta`.
    fn fast_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        Self::fast_layer_norm_forward(x, gamma, beta, eps).0
    }

    /// [`Self::fast_layer_norm`]'s output with each row's mean and reciprocal standard
    /// deviation, `[rows, 1]`, for the backward pass.
    fn fast_layer_norm_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        stock_layer_norm::<Self>(x, gamma, beta, eps)
    }

    /// The gradients of [`Self::fast_layer_norm`] by `x`, `gamma` and `beta`.
    fn fast_layer_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        stock_layer_norm_backward::<Self>(x, gamma, beta, mean, rstd, grad)
    }

    /// Multi-head attention of queries `q` `[B, N, H·D]` over keys `k` and values `v`
    /// `[B, L, H·D]` (head h in columns h·D..(h+1)·D), scores scaled by 1/√D; `pad` `[B, L]`
    /// is 1 at keys that receive no attention and 0 elsewhere. Output `[B, N, H·D]`.
    fn fast_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        pad: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        Self::fast_attention_forward(q, k, v, pad, heads).0
    }

    /// [`Self::fast_attention`]'s output and its probabilities `[B, H, N, L]`, for the
    /// backward pass.
    fn fast_attention_forward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        pad: FloatTensor<Self>,
        heads: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        stock_attention::<Self>(q, k, v, pad, heads)
    }

    /// The gradients of [`Self::fast_attention`] by `q`, `k` and `v`.
    fn fast_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        heads: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        stock_attention_backward::<Self>(q, k, v, probs, grad, heads)
    }
}

impl FastOps for Flex {
    fn fast_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        f32_or_half([&x], |[x]| flex::map(x.clone(), |x| x * math::sigmoid(x)))
            .unwrap_or_else(|| stock_silu::<Self>(x))
    }

    fn fast_silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        f32_or_half([&x, &grad], |[x, g]| {
            flex::zip(x.clone(), g.clone(), |x, g| {
                let s = math::sigmoid(x);
                g * s * (1.0 + x * (1.0 - s))
            })
        })
        .unwrap_or_else(|| stock_silu_backward::<Self>(x, grad))
    }

    fn fast_leaky_relu(x: FloatTensor<Self>, slope: f64) -> FloatTensor<Self> {
        let s = slope as f32;
        f32_or_half([&x], |[x]| {
            flex::map(x.clone(), |x| if x >= 0.0 { x } else { s * x })
        })
        .unwrap_or_else(|| Self::leaky_relu(x, slope.into()))
    }

    fn fast_leaky_relu_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        slope: f64,
    ) -> FloatTensor<Self> {
        let s = slope as f32;
        f32_or_half([&x, &grad], |[x, g]| {
            flex::zip(x.clone(), g.clone(), |x, g| if x < 0.0 { s * g } else { g })
        })
        .unwrap_or_else(|| stock_leaky_relu_backward::<Self>(x, grad, slope))
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

    fn fast_geglu(h: FloatTensor<Self>) -> FloatTensor<Self> {
        f32_or_half([&h], |[h]| flex_geglu::forward(h)).unwrap_or_else(|| stock_geglu::<Self>(h))
    }

    fn fast_geglu_backward(h: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        f32_or_half([&h, &grad], |[h, g]| flex_geglu::backward(h, g))
            .unwrap_or_else(|| stock_geglu_backward::<Self>(h, grad))
    }

    fn fast_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        f32_or_half([&x, &weight], |[x, w]| flex_linear::forward(x, w, None))
            .unwrap_or_else(|| stock_linear::<Self>(x, weight, None))
    }

    fn fast_linear_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        f32_or_half([&x, &weight, &bias], |[x, w, b]| {
            flex_linear::forward(x, w, Some(b))
        })
        .unwrap_or_else(|| stock_linear::<Self>(x, weight, Some(bias)))
    }

    fn fast_linear_x_backward(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        f32_or_half([&weight, &grad], |[w, g]| flex_linear::x_backward(w, g))
            .unwrap_or_else(|| stock_linear_x_backward::<Self>(weight, grad))
    }

    fn fast_linear_weight_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        f32_or_half([&x, &grad], |[x, g]| flex_linear::weight_backward(x, g))
            .unwrap_or_else(|| stock_linear_weight_backward::<Self>(x, grad))
    }

    fn fast_linear_bias_backward(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        f32_or_half([&grad], |[g]| flex_linear::bias_backward(g))
            .unwrap_or_else(|| stock_column_sums::<Self>(grad))
    }

    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        f32_or_half([&x, &weight], |[x, w]| {
            flex_conv::forward(x, w, None, &options)
        })
        .unwrap_or_else(|| Self::conv2d(x, weight, None, options))
    }

    fn fast_adamw(
        p: FloatTensor<Self>,
        g: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        s: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        if flex::f32_alike(&[&p, &g, &m, &v]) {
            flex_adamw::step(p, g, m, v, s)
        } else {
            stock_adamw::<Self>(p, g, m, v, s)
        }
    }

    fn fast_sum_squares(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if flex::f32_alike(&[&x]) {
            flex_params::sum_squares(x)
        } else {
            stock_sum_squares::<Self>(x)
        }
    }

    fn fast_scale(x: FloatTensor<Self>, factor: f64) -> FloatTensor<Self> {
        if flex::f32_alike(&[&x]) {
            flex_params::scale(x, factor)
        } else {
            stock_scale::<Self>(x, factor)
        }
    }

    fn fast_blend(avg: FloatTensor<Self>, new: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        if flex::f32_alike(&[&avg, &new]) {
            flex_params::blend(avg, new, keep)
        } else {
            stock_blend::<Self>(avg, new, keep)
        }
    }

    fn fast_contiguous(x: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::contiguous(x)
    }

    fn fast_conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        f32_or_half([&x, &weight, &bias], |[x, w, b]| {
            flex_conv::forward(x, w, Some(b), &options)
        })
        .unwrap_or_else(|| Self::conv2d(x, weight, Some(bias), options))
    }

    fn fast_conv2d_bias_backward(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        f32_or_half([&grad], |[g]| flex_conv::bias_backward(g))
            .unwrap_or_else(|| stock_channel_sums::<Self>(grad))
    }

    fn fast_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        f32_or_half([&weight, &grad], |[w, g]| {
            flex_conv::x_backward(&x.shape(), w, g, &options)
        })
        .unwrap_or_else(|| Self::conv2d_x_backward(x, weight, grad, options))
    }

    fn fast_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        f32_or_half([&x, &grad], |[x, g]| {
            flex_conv::weight_backward(x, &weight.shape(), g, &options)
        })
        .unwrap_or_else(|| Self::conv2d_weight_backward(x, weight, grad, options))
    }

    fn fast_group_norm_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        eps: f64,
        silu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        flex_norm::forward(&x, &gamma, &beta, groups, eps, silu)
            .unwrap_or_else(|| stock_group_norm::<Self>(x, gamma, beta, groups, eps, silu))
    }

    fn fast_group_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        groups: usize,
        silu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        flex_norm::backward(&x, &gamma, &beta, &mean, &rstd, &grad, groups, silu).unwrap_or_else(
            || stock_group_norm_backward::<Self>(x, gamma, beta, mean, rstd, grad, groups, silu),
        )
    }

    fn fast_layer_norm_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        flex_layer_norm::forward(&x, &gamma, &beta, eps)
            .unwrap_or_else(|| stock_layer_norm::<Self>(x, gamma, beta, eps))
    }

    fn fast_layer_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        flex_layer_norm::backward(&x, &gamma, &mean, &rstd, &grad)
            .unwrap_or_else(|| stock_layer_norm_backward::<Self>(x, gamma, beta, mean, rstd, grad))
    }

    fn fast_attention_forward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        pad: FloatTensor<Self>,
        heads: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        flex_attention::forward(&q, &k, &v, &pad, heads)
            .unwrap_or_else(|| stock_attention::<Self>(q, k, v, pad, heads))
    }

    fn fast_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        heads: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        flex_attention::backward(&q, &k, &v, &probs, &grad, heads)
            .unwrap_or_else(|| stock_attention_backward::<Self>(q, k, v, probs, grad, heads))
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl FastOps for burn::backend::Cube {}
