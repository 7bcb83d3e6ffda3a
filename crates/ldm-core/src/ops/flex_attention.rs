//! Multi-head attention on `flex` (f32), on the token-major layouts the linear projections
//! produce: queries `[B, N, H·D]`, keys and values `[B, L, H·D]`, head h in columns
//! h·D..(h+1)·D. Each head's products are GEMMs on strided views of those buffers, so no
//! head split or merge is ever copied, and the probabilities are the only saved tensor.
//!
//! Why: burn's attention under autodiff is a dozen stock operations (two matmuls, scale,
//! mask, a five-step softmax, and the swaps and reshapes around them), each a pass over
//! memory, a saved tensor and a backward step; `scripts/bench.sh --ops` had it at 0.42x
//! PyTorch's speed.
//!
//! With S = Q Kᵀ · scale + bias (bias -1e30 at padded keys) and P = softmax(S) by rows,
//! O = P V; backward, for dO:
//!   dV = Pᵀ dO,   dP = dO Vᵀ,   dS = P ∘ (dP - rowsum(dP ∘ P)),
//!   dQ = dS K · scale,   dK = dSᵀ Q · scale.
//! One rayon task per image, heads in order inside it: results do not depend on the thread
//! count.

use burn::backend::flex::FlexTensor;
use burn::backend::{Shape, TensorMetadata};
use rayon::prelude::*;

use super::flex::{Kernel, f32_contiguous, f32_tensor, run_wide, zeros};
use super::gemm::{Parallelism, View, matmul, matmul_strided};
use super::math;

/// What a padded key adds to its scores: exp of it underflows to exactly 0.
pub const PAD_BIAS: f32 = -1e30;

/// The sizes of one attention.
#[derive(Clone, Copy)]
struct Geometry {
    batch: usize,
    /// Query tokens.
    n: usize,
    /// Key (and value) tokens.
    l: usize,
    heads: usize,
    /// Width per head.
    d: usize,
}

impl Geometry {
    fn of(q: &Shape, k: &Shape, v: &Shape, heads: usize) -> Option<Self> {
        if q.num_dims() != 3 || k.num_dims() != 3 || heads == 0 {
            return None;
        }
        let (batch, n, c, l) = (q[0], q[1], q[2], k[1]);
        let ok =
            c.is_multiple_of(heads) && k[0] == batch && k[2] == c && k == v && batch * n * l > 0;
        ok.then_some(Self {
            batch,
            n,
            l,
            heads,
            d: c / heads,
        })
    }

    fn c(&self) -> usize {
        self.heads * self.d
    }

    fn scale(&self) -> f32 {
        1.0 / (self.d as f32).sqrt()
    }
}

/// The inputs as contiguous f32 slices' owners.
struct Inputs {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
}

impl Inputs {
    fn of(q: &FlexTensor, k: &FlexTensor, v: &FlexTensor) -> Option<Self> {
        Some(Self {
            q: f32_contiguous(q.clone())?,
            k: f32_contiguous(k.clone())?,
            v: f32_contiguous(v.clone())?,
        })
    }
}

/// Head `h` of image `b` in a token-major buffer of `tokens` rows: a `[tokens, D]` view.
fn head<'a>(x: &'a [f32], g: &Geometry, tokens: usize, b: usize, h: usize) -> View<'a> {
    View {
        data: &x[b * tokens * g.c() + h * g.d..],
        rs: g.c(),
        cs: 1,
    }
}

/// The same head transposed: a `[D, tokens]` view.
fn head_t<'a>(x: &'a [f32], g: &Geometry, tokens: usize, b: usize, h: usize) -> View<'a> {
    View {
        cs: g.c(),
        rs: 1,
        ..head(x, g, tokens, b, h)
    }
}

/// A row-major `[rows, cols]` matrix as a view, or its transpose.
fn plain(x: &[f32], cols: usize) -> View<'_> {
    View {
        data: x,
        rs: cols,
        cs: 1,
    }
}

fn plain_t(x: &[f32], cols: usize) -> View<'_> {
    View {
        data: x,
        rs: 1,
        cs: cols,
    }
}

/// Scores of one (image, head) into probabilities, row by row: scale, bias, softmax. `keep`
/// is 1, or 0 at padded keys: their scores get [`PAD_BIAS`] (out of the max), and their
/// probabilities are multiplied by 0, since `math::exp` clamps at -87 rather than reaching 0:
/// so a padded key gets exactly no weight and no gradient, as with a true exponential.
struct Softmax<'a> {
    s: &'a mut [f32],
    keep: &'a [f32],
    scale: f32,
}

impl Kernel for Softmax<'_> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let l = self.keep.len();
        for row in self.s.chunks_exact_mut(l) {
            let mut max = f32::NEG_INFINITY;
            for (x, &keep) in row.iter_mut().zip(self.keep) {
                *x = *x * self.scale + (1.0 - keep) * PAD_BIAS;
                max = max.max(*x);
            }
            let mut sum = 0.0;
            for (x, &keep) in row.iter_mut().zip(self.keep) {
                *x = math::exp(*x - max) * keep;
                sum += *x;
            }
            let inv = 1.0 / sum;
            for x in row.iter_mut() {
                *x *= inv;
            }
        }
    }
}

/// dS = P ∘ (dP - rowsum(dP ∘ P)) · scale, in place of dP, for one (image, head).
struct SoftmaxBackward<'a> {
    dp: &'a mut [f32],
    p: &'a [f32],
    l: usize,
    scale: f32,
}

impl Kernel for SoftmaxBackward<'_> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        for (dp, p) in self
            .dp
            .chunks_exact_mut(self.l)
            .zip(self.p.chunks_exact(self.l))
        {
            let dot: f32 = dp.iter().zip(p).map(|(a, b)| a * b).sum();
            for (x, &p) in dp.iter_mut().zip(p) {
                *x = p * (*x - dot) * self.scale;
            }
        }
    }
}

/// `pad` `[B, L]` (1 at padded keys) as the factor that keeps a key (0 at padded keys, 1
/// elsewhere); None unless it is `[B, L]` for these sizes.
fn keep(pad: &FlexTensor, g: &Geometry) -> Option<Vec<f32>> {
    if pad.shape() != Shape::new([g.batch, g.l]) {
        return None;
    }
    let pad = f32_contiguous(pad.clone())?;
    let padded = &pad.storage::<f32>()[..g.batch * g.l];
    Some(
        padded
            .iter()
            .map(|&p| if p > 0.5 { 0.0 } else { 1.0 })
            .collect(),
    )
}

/// The output `[B, N, H·D]` and the probabilities `[B, H, N, L]`; None where the shapes or
/// dtypes are not the ones handled (the caller then takes the stock composition).
pub fn forward(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    pad: &FlexTensor,
    heads: usize,
) -> Option<(FlexTensor, FlexTensor)> {
    let g = Geometry::of(&q.shape(), &k.shape(), &v.shape(), heads)?;
    let x = Inputs::of(q, k, v)?;
    let keep = keep(pad, &g)?;
    let (n, l, c) = (g.n, g.l, g.c());
    let (qs, ks, vs) = (
        &x.q.storage::<f32>()[..g.batch * n * c],
        &x.k.storage::<f32>()[..g.batch * l * c],
        &x.v.storage::<f32>()[..g.batch * l * c],
    );
    let mut out = zeros(g.batch * n * c);
    let mut probs = zeros(g.batch * g.heads * n * l);
    out.par_chunks_mut(n * c)
        .zip(probs.par_chunks_mut(g.heads * n * l))
        .enumerate()
        .for_each(|(b, (o, p))| {
            for (h, s) in p.chunks_exact_mut(n * l).enumerate() {
                let none = Parallelism::None;
                matmul(
                    s,
                    [n, l, g.d],
                    false,
                    head(qs, &g, n, b, h),
                    head_t(ks, &g, l, b, h),
                    none,
                );
                run_wide(Softmax {
                    s,
                    keep: &keep[b * l..(b + 1) * l],
                    scale: g.scale(),
                });
                let dst = &mut o[h * g.d..];
                let pv = (plain(s, l), head(vs, &g, l, b, h));
                matmul_strided(dst, c, [n, g.d, l], false, pv.0, pv.1, none);
            }
        });
    Some((
        f32_tensor(out, [g.batch, n, c]),
        f32_tensor(probs, [g.batch, g.heads, n, l]),
    ))
}

/// The gradients by q, k and v, from the inputs, the forward pass's probabilities and the
/// output's gradient `[B, N, H·D]`.
pub fn backward(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    probs: &FlexTensor,
    grad: &FlexTensor,
    heads: usize,
) -> Option<(FlexTensor, FlexTensor, FlexTensor)> {
    let qsh = q.shape();
    let g = Geometry::of(&qsh, &k.shape(), &v.shape(), heads)?;
    if grad.shape() != qsh || probs.shape() != Shape::new([g.batch, g.heads, g.n, g.l]) {
        return None;
    }
    let x = Inputs::of(q, k, v)?;
    let (p, dout) = (
        f32_contiguous(probs.clone())?,
        f32_contiguous(grad.clone())?,
    );
    let (n, l, c) = (g.n, g.l, g.c());
    let (qs, ks, vs) = (
        &x.q.storage::<f32>()[..g.batch * n * c],
        &x.k.storage::<f32>()[..g.batch * l * c],
        &x.v.storage::<f32>()[..g.batch * l * c],
    );
    let ps = &p.storage::<f32>()[..g.batch * g.heads * n * l];
    let ds = &dout.storage::<f32>()[..g.batch * n * c];
    let mut dq = zeros(g.batch * n * c);
    let mut dk = zeros(g.batch * l * c);
    let mut dv = zeros(g.batch * l * c);
    dq.par_chunks_mut(n * c)
        .zip(dk.par_chunks_mut(l * c))
        .zip(dv.par_chunks_mut(l * c))
        .enumerate()
        .for_each(|(b, ((dq, dk), dv))| {
            let none = Parallelism::None;
            let mut ds_buf = vec![0.0f32; n * l];
            for h in 0..g.heads {
                let ph = &ps[(b * g.heads + h) * n * l..(b * g.heads + h + 1) * n * l];
                let doh = head(ds, &g, n, b, h);
                // dV = Pᵀ dO.
                let dst = &mut dv[h * g.d..];
                matmul_strided(dst, c, [l, g.d, n], false, plain_t(ph, l), doh, none);
                // dP = dO Vᵀ, then dS in its place.
                let vt = head_t(vs, &g, l, b, h);
                matmul(&mut ds_buf, [n, l, g.d], false, doh, vt, none);
                run_wide(SoftmaxBackward {
                    dp: &mut ds_buf,
                    p: ph,
                    l,
                    scale: g.scale(),
                });
                // dQ = dS K, dK = dSᵀ Q (the scale is in dS).
                let kh = head(ks, &g, l, b, h);
                let dst = &mut dq[h * g.d..];
                matmul_strided(dst, c, [n, g.d, l], false, plain(&ds_buf, l), kh, none);
                let qh = head(qs, &g, n, b, h);
                let dst = &mut dk[h * g.d..];
                matmul_strided(dst, c, [l, g.d, n], false, plain_t(&ds_buf, l), qh, none);
            }
        });
    Some((
        f32_tensor(dq, [g.batch, n, c]),
        f32_tensor(dk, [g.batch, l, c]),
        f32_tensor(dv, [g.batch, l, c]),
    ))
}
