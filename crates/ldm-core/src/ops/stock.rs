//! The stock compositions of ldm's operations: what GPU backends run (the trait's default
//! bodies) and what the flex kernels fall back to for cases they do not cover. Tests here
//! check that each composition gives the flex kernel's values and gradients.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Shape, TensorMetadata, get_or_init_device_settings};
use burn::tensor::Slice;

use super::{AdamStep, flex_attention};

/// The two halves of the last dimension of `h`: GEGLU's value and gate.
pub(super) fn stock_halves<B: Backend>(h: FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>) {
    let shape = h.shape();
    let last = shape.num_dims() - 1;
    let f = shape[last] / 2;
    let half = |range: std::ops::Range<usize>| {
        let slices: Vec<Slice> = (0..=last)
            .map(|d| {
                if d == last {
                    range.clone().into()
                } else {
                    Slice::from(..)
                }
            })
            .collect();
        B::float_slice(h.clone(), &slices)
    };
    (half(0..f), half(f..2 * f))
}

/// GEGLU from stock operations.
pub(super) fn stock_geglu<B: Backend>(h: FloatTensor<B>) -> FloatTensor<B> {
    let (value, gate) = stock_halves::<B>(h);
    B::float_mul(value, B::gelu(gate))
}

/// GEGLU's backward from stock operations.
pub(super) fn stock_geglu_backward<B: Backend>(
    h: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let last = h.shape().num_dims() - 1;
    let (value, gate) = stock_halves::<B>(h);
    let dvalue = B::float_mul(grad.clone(), B::gelu(gate.clone()));
    let dgate = B::gelu_backward(gate, B::float_mul(grad, value));
    B::float_cat(vec![dvalue, dgate], last)
}

/// `x W (+ b)` from stock operations.
pub(super) fn stock_linear<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: Option<FloatTensor<B>>,
) -> FloatTensor<B> {
    let y = B::float_matmul(x, weight);
    match bias {
        Some(b) => {
            let out = b.shape().num_elements();
            B::float_add(y, B::float_reshape(b, Shape::new([1, out])))
        }
        None => y,
    }
}

/// dY Wᵀ from stock operations.
pub(super) fn stock_linear_x_backward<B: Backend>(
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    B::float_matmul(grad, B::float_transpose(weight))
}

/// xᵀ dY from stock operations.
pub(super) fn stock_linear_weight_backward<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    B::float_matmul(B::float_transpose(x), grad)
}

/// `[B, C, ...]` summed over all but the channels, `[C]`.
pub(super) fn stock_channel_sums<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    let c = t.shape()[1];
    let sums = B::float_sum_dim(B::float_sum_dim(flat_spatial::<B>(t), 2), 0);
    B::float_reshape(sums, Shape::new([c]))
}

/// The column sums of a matrix, `[cols]`.
pub(super) fn stock_column_sums<B: Backend>(m: FloatTensor<B>) -> FloatTensor<B> {
    let cols = m.shape()[1];
    B::float_reshape(B::float_sum_dim(m, 0), Shape::new([cols]))
}

/// SiLU from stock operations (burn has no SiLU primitive).
pub(super) fn stock_silu<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::float_mul(x.clone(), B::sigmoid(x))
}

/// SiLU's backward from stock operations.
pub(super) fn stock_silu_backward<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let s = B::sigmoid(x.clone());
    let one_minus = B::float_add_scalar(B::float_neg(s.clone()), 1.0.into());
    let inner = B::float_add_scalar(B::float_mul(x, one_minus), 1.0.into());
    B::float_mul(grad, B::float_mul(s, inner))
}

/// LeakyReLU's backward from stock operations: `slope · grad` where x < 0 (where burn's
/// forward scales x), `grad` elsewhere.
pub(super) fn stock_leaky_relu_backward<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
    slope: f64,
) -> FloatTensor<B> {
    let bool_dtype = get_or_init_device_settings::<B>(&x.device()).bool_dtype;
    let negative = B::float_lower_elem(x, 0.0.into(), bool_dtype);
    let scaled = B::float_mul_scalar(grad.clone(), slope.into());
    B::float_mask_where(grad, negative, scaled)
}

/// `[B, G, N]` view of `[B, C, ...]` and the shape to go back to.
fn grouped<B: Backend>(x: FloatTensor<B>, groups: usize) -> (FloatTensor<B>, Shape) {
    let shape = x.shape();
    let b = shape[0];
    let n = shape.num_elements() / (b * groups).max(1);
    (B::float_reshape(x, Shape::new([b, groups, n])), shape)
}

/// `[C]` as `[1, C, 1]`, to scale `[B, C, S]`.
fn per_channel<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    let c = t.shape().num_elements();
    B::float_reshape(t, Shape::new([1, c, 1]))
}

/// `[B, C, ...]` as `[B, C, S]`, the spatial dimensions flattened.
fn flat_spatial<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let shape = x.shape();
    let (b, c) = (shape[0], shape[1]);
    let s = shape.num_elements() / (b * c).max(1);
    B::float_reshape(x, Shape::new([b, c, s]))
}

/// x̂ = (x - mean) * rstd as `[B, C, S]`, from `[B, G]` statistics.
fn normalized<B: Backend>(
    x: FloatTensor<B>,
    mean: FloatTensor<B>,
    rstd: FloatTensor<B>,
    groups: usize,
) -> FloatTensor<B> {
    let (xg, _) = grouped::<B>(x.clone(), groups);
    let b = xg.shape()[0];
    let col = |t: FloatTensor<B>| B::float_reshape(t, Shape::new([b, groups, 1]));
    let xhat = B::float_mul(B::float_sub(xg, col(mean)), col(rstd));
    flat_spatial::<B>(B::float_reshape(xhat, x.shape()))
}

/// GroupNorm (and SiLU) from stock operations, with the statistics the backward pass uses.
pub(super) fn stock_group_norm<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    groups: usize,
    eps: f64,
    silu: bool,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let (xg, shape) = grouped::<B>(x.clone(), groups);
    let b = shape[0];
    let mean = B::float_mean_dim(xg.clone(), 2);
    let centered = B::float_sub(xg, mean.clone());
    let var = B::float_mean_dim(B::float_mul(centered.clone(), centered), 2);
    let rstd = B::float_recip(B::float_sqrt(B::float_add_scalar(var, eps.into())));
    let stat = |t: FloatTensor<B>| B::float_reshape(t, Shape::new([b, groups]));
    let (mean, rstd) = (stat(mean), stat(rstd));
    let xhat = normalized::<B>(x, mean.clone(), rstd.clone(), groups);
    let z = B::float_add(
        B::float_mul(xhat, per_channel::<B>(gamma)),
        per_channel::<B>(beta),
    );
    let y = if silu { stock_silu::<B>(z) } else { z };
    (B::float_reshape(y, shape), mean, rstd)
}

/// The gradients of GroupNorm (and SiLU) from stock operations; see `flex_norm.rs` for the
/// formulas.
#[allow(clippy::too_many_arguments)]
pub(super) fn stock_group_norm_backward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    mean: FloatTensor<B>,
    rstd: FloatTensor<B>,
    grad: FloatTensor<B>,
    groups: usize,
    silu: bool,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let shape = x.shape();
    let xhat = normalized::<B>(x, mean, rstd.clone(), groups);
    let dy = flat_spatial::<B>(grad);
    let dz = if silu {
        let z = B::float_add(
            B::float_mul(xhat.clone(), per_channel::<B>(gamma.clone())),
            per_channel::<B>(beta),
        );
        stock_silu_backward::<B>(z, dy)
    } else {
        dy
    };
    let dbeta = stock_channel_sums::<B>(dz.clone());
    let dgamma = stock_channel_sums::<B>(B::float_mul(dz.clone(), xhat.clone()));
    let (dxhat, _) = grouped::<B>(B::float_mul(dz, per_channel::<B>(gamma)), groups);
    let (xhat, _) = grouped::<B>(xhat, groups);
    let m1 = B::float_mean_dim(dxhat.clone(), 2);
    let m2 = B::float_mean_dim(B::float_mul(dxhat.clone(), xhat.clone()), 2);
    let b = shape[0];
    let rstd = B::float_reshape(rstd, Shape::new([b, groups, 1]));
    let inner = B::float_sub(B::float_sub(dxhat, m1), B::float_mul(xhat, m2));
    let dx = B::float_reshape(B::float_mul(inner, rstd), shape);
    (dx, dgamma, dbeta)
}

/// `[..., D]` as `[rows, D, 1]`: LayerNorm is GroupNorm of one group over that view.
fn as_one_group<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let shape = x.shape();
    let d = shape[shape.num_dims() - 1];
    B::float_reshape(x, Shape::new([shape.num_elements() / d, d, 1]))
}

/// LayerNorm from stock operations (GroupNorm's), with the statistics.
pub(super) fn stock_layer_norm<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    eps: f64,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let shape = x.shape();
    let (y, mean, rstd) = stock_group_norm::<B>(as_one_group::<B>(x), gamma, beta, 1, eps, false);
    (B::float_reshape(y, shape), mean, rstd)
}

/// LayerNorm's backward from stock operations (GroupNorm's).
pub(super) fn stock_layer_norm_backward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    mean: FloatTensor<B>,
    rstd: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let shape = x.shape();
    let (x, grad) = (as_one_group::<B>(x), as_one_group::<B>(grad));
    let (dx, dgamma, dbeta) =
        stock_group_norm_backward::<B>(x, gamma, beta, mean, rstd, grad, 1, false);
    (B::float_reshape(dx, shape), dgamma, dbeta)
}

/// `[B, T, H·D]` as `[B, H, T, D]`.
fn split_heads<B: Backend>(x: FloatTensor<B>, heads: usize) -> FloatTensor<B> {
    let s = x.shape();
    let (b, t, c) = (s[0], s[1], s[2]);
    B::float_swap_dims(
        B::float_reshape(x, Shape::new([b, t, heads, c / heads])),
        1,
        2,
    )
}

/// `[B, H, T, D]` as `[B, T, H·D]`.
fn merge_heads<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let s = x.shape();
    let (b, h, t, d) = (s[0], s[1], s[2], s[3]);
    B::float_reshape(B::float_swap_dims(x, 1, 2), Shape::new([b, t, h * d]))
}

/// 1/√D for `[B, T, H·D]` inputs.
fn attention_scale(q: &Shape, heads: usize) -> f64 {
    1.0 / ((q[2] / heads) as f64).sqrt()
}

/// Attention from stock operations: the output and the probabilities.
pub(super) fn stock_attention<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    pad: FloatTensor<B>,
    heads: usize,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let scale = attention_scale(&q.shape(), heads);
    let ps = pad.shape();
    let bias = B::float_mul_scalar(
        B::float_reshape(pad, Shape::new([ps[0], 1, 1, ps[1]])),
        (flex_attention::PAD_BIAS as f64).into(),
    );
    let (q, k, v) = (
        split_heads::<B>(q, heads),
        split_heads::<B>(k, heads),
        split_heads::<B>(v, heads),
    );
    let s = B::float_matmul(q, B::float_swap_dims(k, 2, 3));
    let s = B::float_add(B::float_mul_scalar(s, scale.into()), bias);
    let e = B::float_exp(B::float_sub(s.clone(), B::float_max_dim(s, 3)));
    let p = B::float_div(e.clone(), B::float_sum_dim(e, 3));
    (merge_heads::<B>(B::float_matmul(p.clone(), v)), p)
}

/// Attention's backward from stock operations.
pub(super) fn stock_attention_backward<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    p: FloatTensor<B>,
    grad: FloatTensor<B>,
    heads: usize,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let scale = attention_scale(&q.shape(), heads);
    let (q, k, v) = (
        split_heads::<B>(q, heads),
        split_heads::<B>(k, heads),
        split_heads::<B>(v, heads),
    );
    let d_out = split_heads::<B>(grad, heads);
    let dv = B::float_matmul(B::float_swap_dims(p.clone(), 2, 3), d_out.clone());
    let dp = B::float_matmul(d_out, B::float_swap_dims(v, 2, 3));
    let dot = B::float_sum_dim(B::float_mul(dp.clone(), p.clone()), 3);
    let ds = B::float_mul_scalar(B::float_mul(p, B::float_sub(dp, dot)), scale.into());
    let dq = B::float_matmul(ds.clone(), k);
    let dk = B::float_matmul(B::float_swap_dims(ds, 2, 3), q);
    (
        merge_heads::<B>(dq),
        merge_heads::<B>(dk),
        merge_heads::<B>(dv),
    )
}

/// burn's AdamW update, operation for operation: the new parameter, first and second moment.
pub(super) fn stock_adamw<B: Backend>(
    p: FloatTensor<B>,
    g: FloatTensor<B>,
    m: FloatTensor<B>,
    v: FloatTensor<B>,
    s: AdamStep,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let scalar = |x: f32| f64::from(x).into();
    let (f1, f2) = (1.0 - s.beta_1, 1.0 - s.beta_2);
    let g1 = B::float_mul_scalar(g.clone(), scalar(f1));
    let m = B::float_add(B::float_mul_scalar(m, scalar(s.beta_1)), g1);
    let g2 = B::float_mul_scalar(B::float_mul(g.clone(), g), scalar(f2));
    let v = B::float_add(B::float_mul_scalar(v, scalar(s.beta_2)), g2);
    let m_hat = B::float_div_scalar(m.clone(), scalar(s.correction_1));
    let v_hat = B::float_div_scalar(v.clone(), scalar(s.correction_2));
    let denominator = B::float_add_scalar(B::float_sqrt(v_hat), scalar(s.epsilon));
    let delta = B::float_div(m_hat, denominator);
    let p = if s.keep != 1.0 {
        B::float_mul_scalar(p, s.keep.into())
    } else {
        p
    };
    let p = B::float_sub(p, B::float_mul_scalar(delta, s.lr.into()));
    (p, m, v)
}

/// Σ x² over all elements, `[1]`.
pub(super) fn stock_sum_squares<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::float_sum(B::float_mul(x.clone(), x))
}

/// `x * factor`.
pub(super) fn stock_scale<B: Backend>(x: FloatTensor<B>, factor: f64) -> FloatTensor<B> {
    B::float_mul_scalar(x, factor.into())
}

/// `avg * keep + new * (1 - keep)`.
pub(super) fn stock_blend<B: Backend>(
    avg: FloatTensor<B>,
    new: FloatTensor<B>,
    keep: f64,
) -> FloatTensor<B> {
    B::float_add(
        B::float_mul_scalar(avg, keep.into()),
        B::float_mul_scalar(new, (1.0 - keep).into()),
    )
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::backend::flex::FlexTensor;
    use burn::tensor::TensorData;

    use super::super::{
        flex_attention, flex_conv, flex_geglu, flex_layer_norm, flex_linear, flex_norm,
    };
    use super::{
        stock_attention, stock_attention_backward, stock_channel_sums, stock_column_sums,
        stock_geglu, stock_geglu_backward, stock_group_norm, stock_group_norm_backward,
        stock_layer_norm, stock_layer_norm_backward, stock_linear, stock_linear_weight_backward,
        stock_linear_x_backward,
    };

    /// Deterministic values around `mean` (spread about ±1).
    fn flex_of(shape: &[usize], mean: f32) -> FlexTensor {
        let n = shape.iter().product::<usize>();
        let v: Vec<f32> = (0..n)
            .map(|i| mean + (((i * 7919 + 13) % 29) as f32 - 14.0) / 10.0)
            .collect();
        FlexTensor::from_data(TensorData::new(v, shape.to_vec()))
    }

    fn max_diff(a: FlexTensor, b: FlexTensor) -> f32 {
        let (a, b) = (a.into_data(), b.into_data());
        let (a, b) = (
            a.try_to_vec::<f32>().unwrap(),
            b.try_to_vec::<f32>().unwrap(),
        );
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// The stock composition GPU backends run gives the flex kernel's values, statistics and
    /// gradients (the kernel itself is checked against burn's `GroupNorm` in `norm.rs`).
    #[test]
    fn stock_group_norm_matches_the_flex_kernel() {
        for silu in [false, true] {
            let (x, gamma, beta) = (
                flex_of(&[2, 12, 5, 3], 0.5),
                flex_of(&[12], 1.0),
                flex_of(&[12], 0.0),
            );
            let dy = flex_of(&[2, 12, 5, 3], 0.0);
            let fast = flex_norm::forward(&x, &gamma, &beta, 3, 1e-5, silu).unwrap();
            let stock =
                stock_group_norm::<Flex>(x.clone(), gamma.clone(), beta.clone(), 3, 1e-5, silu);
            assert!(max_diff(fast.0, stock.0) < 1e-5);
            assert!(max_diff(fast.1.clone(), stock.1) < 1e-5);
            assert!(max_diff(fast.2.clone(), stock.2) < 1e-4);
            let (mean, rstd) = (fast.1, fast.2);
            let k = flex_norm::backward(&x, &gamma, &beta, &mean, &rstd, &dy, 3, silu).unwrap();
            let s = stock_group_norm_backward::<Flex>(x, gamma, beta, mean, rstd, dy, 3, silu);
            assert!(max_diff(k.0, s.0) < 5e-5, "dx");
            assert!(max_diff(k.1, s.1) < 1e-4, "dgamma");
            assert!(max_diff(k.2, s.2) < 1e-4, "dbeta");
        }
    }

    /// LeakyReLU's stock backward gives the flex kernel's gradient, at x = 0 (`x` holds exact
    /// zeros) and at NaN included.
    #[test]
    fn stock_leaky_relu_backward_matches_the_flex_kernel() {
        use super::super::FastOps;
        let mut v = flex_of(&[4, 29], 0.0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        v[5] = f32::NAN;
        let x = FlexTensor::from_data(TensorData::new(v, [4, 29]));
        let dy = flex_of(&[4, 29], 0.3);
        let fast = <Flex as FastOps>::fast_leaky_relu_backward(x.clone(), dy.clone(), 0.2);
        let stock = super::stock_leaky_relu_backward::<Flex>(x, dy, 0.2);
        assert_eq!(max_diff(fast, stock), 0.0);
    }

    /// The same for the linear layer (with bias), the convolution's bias gradient and GEGLU.
    #[test]
    fn stock_linear_and_geglu_match_the_flex_kernels() {
        let (x, w, b) = (
            flex_of(&[7, 6], 0.2),
            flex_of(&[6, 5], -0.1),
            flex_of(&[5], 0.5),
        );
        let dy = flex_of(&[7, 5], 0.1);
        let fast = flex_linear::forward(&x, &w, Some(&b)).unwrap();
        let stock = stock_linear::<Flex>(x.clone(), w.clone(), Some(b));
        assert!(max_diff(fast, stock) < 1e-5, "output");
        let pairs = [
            (
                flex_linear::x_backward(&w, &dy).unwrap(),
                stock_linear_x_backward::<Flex>(w.clone(), dy.clone()),
            ),
            (
                flex_linear::weight_backward(&x, &dy).unwrap(),
                stock_linear_weight_backward::<Flex>(x.clone(), dy.clone()),
            ),
            (
                flex_linear::bias_backward(&dy).unwrap(),
                stock_column_sums::<Flex>(dy.clone()),
            ),
        ];
        for (i, (fast, stock)) in pairs.into_iter().enumerate() {
            assert!(max_diff(fast, stock) < 1e-5, "gradient {i}");
        }

        let dy = flex_of(&[3, 5, 4, 2], 0.1);
        let fast = flex_conv::bias_backward(&dy).unwrap();
        assert!(
            max_diff(fast, stock_channel_sums::<Flex>(dy)) < 1e-5,
            "conv bias"
        );

        let h = flex_of(&[2, 3, 8], 0.3);
        let dy = flex_of(&[2, 3, 4], -0.2);
        let fast = flex_geglu::forward(&h).unwrap();
        assert!(
            max_diff(fast, stock_geglu::<Flex>(h.clone())) < 1e-5,
            "geglu"
        );
        let fast = flex_geglu::backward(&h, &dy).unwrap();
        let stock = stock_geglu_backward::<Flex>(h, dy);
        assert!(max_diff(fast, stock) < 1e-5, "geglu backward");
    }

    /// The same for LayerNorm: output, statistics and gradients.
    #[test]
    fn stock_layer_norm_matches_the_flex_kernel() {
        let (x, gamma, beta) = (
            flex_of(&[3, 4, 20], 0.5),
            flex_of(&[20], 1.0),
            flex_of(&[20], 0.0),
        );
        let dy = flex_of(&[3, 4, 20], 0.1);
        let fast = flex_layer_norm::forward(&x, &gamma, &beta, 1e-5).unwrap();
        let stock = stock_layer_norm::<Flex>(x.clone(), gamma.clone(), beta.clone(), 1e-5);
        assert!(max_diff(fast.0, stock.0) < 1e-5, "output");
        assert!(max_diff(fast.1.clone(), stock.1) < 1e-6, "mean");
        assert!(max_diff(fast.2.clone(), stock.2) < 1e-4, "rstd");
        let k = flex_layer_norm::backward(&x, &gamma, &fast.1, &fast.2, &dy).unwrap();
        let s = stock_layer_norm_backward::<Flex>(x, gamma, beta, fast.1, fast.2, dy);
        assert!(max_diff(k.0, s.0) < 5e-5, "dx");
        assert!(max_diff(k.1, s.1) < 1e-4, "dgamma");
        assert!(max_diff(k.2, s.2) < 1e-4, "dbeta");
    }

    /// The same for attention: output, probabilities and the gradients, with padding.
    #[test]
    fn stock_attention_matches_the_flex_kernel() {
        let (b, n, l, c, h) = (2, 6, 5, 12, 3);
        let (q, k, v) = (
            flex_of(&[b, n, c], 0.0),
            flex_of(&[b, l, c], 0.3),
            flex_of(&[b, l, c], -0.2),
        );
        let dy = flex_of(&[b, n, c], 0.1);
        let pad: Vec<f32> = (0..b * l).map(|i| (i == 2 * l - 1) as u8 as f32).collect();
        let pad = FlexTensor::from_data(TensorData::new(pad, vec![b, l]));
        let fast = flex_attention::forward(&q, &k, &v, &pad, h).unwrap();
        let stock = stock_attention::<Flex>(q.clone(), k.clone(), v.clone(), pad, h);
        assert!(max_diff(fast.0, stock.0) < 1e-5, "output");
        assert!(
            max_diff(fast.1.clone(), stock.1.clone()) < 1e-6,
            "probabilities"
        );
        let kd = flex_attention::backward(&q, &k, &v, &fast.1, &dy, h).unwrap();
        let sd = stock_attention_backward::<Flex>(q, k, v, stock.1, dy, h);
        assert!(max_diff(kd.0, sd.0) < 1e-5, "dq");
        assert!(max_diff(kd.1, sd.1) < 1e-5, "dk");
        assert!(max_diff(kd.2, sd.2) < 1e-5, "dv");
    }
}
