//! GroupNorm on `flex` (f32, `[B, C, ...]`), optionally fused with the SiLU that follows it
//! in every ResNet block, as one pass forward and two passes backward per (image, group).
//!
//! Why: burn composes GroupNorm from nine stock operations (mean, subtract, square, mean,
//! add, sqrt, divide, scale, shift), each a pass over memory and, under autodiff, a saved
//! tensor and a backward step; `scripts/bench.sh --ops` had it at 0.3x PyTorch's speed.
//!
//! With N = (C / G) · spatial elements per group, x̂ = (x - μ) · rstd and z = γ x̂ + β
//! (y = z, or y = z · sigmoid(z) with SiLU), the backward pass is, for dz = dy (or dy · SiLU'(z)):
//!   dβ_c = Σ_{b,s} dz,   dγ_c = Σ_{b,s} dz · x̂,
//!   dx   = rstd · (γ_c dz - mean_group(γ dz) - x̂ · mean_group(γ dz x̂)),
//! where the group means come from the per-channel sums of the first pass. Every (image,
//! group) is one rayon task with a fixed order of work inside it, and the per-channel sums
//! are added over the batch in order afterwards, so results do not depend on the thread count.

use burn::backend::flex::FlexTensor;
use burn::backend::{Shape, TensorMetadata};
use rayon::prelude::*;

use super::flex::{Kernel, f32_contiguous, f32_tensor, run_wide, zeros};
use super::math::sigmoid;

/// The sizes of one GroupNorm.
#[derive(Clone, Copy)]
struct Geometry {
    batch: usize,
    channels: usize,
    groups: usize,
    /// Elements per channel (the product of the spatial sizes).
    spatial: usize,
}

impl Geometry {
    fn of(shape: &Shape, groups: usize) -> Option<Self> {
        let d = shape.num_dims();
        if d < 2 || groups == 0 || shape[1] % groups != 0 {
            return None;
        }
        Some(Self {
            batch: shape[0],
            channels: shape[1],
            groups,
            spatial: (2..d).map(|i| shape[i]).product(),
        })
    }

    fn per_group(&self) -> usize {
        self.channels / self.groups
    }

    fn group_len(&self) -> usize {
        self.per_group() * self.spatial
    }

    /// Groups per rayon task: at least ~16k elements each, so that small groups (4 channels
    /// of 8x8) do not spend more on scheduling than on arithmetic.
    fn groups_per_task(&self) -> usize {
        (1usize << 14).div_ceil(self.group_len().max(1))
    }
}

/// Σ f(x) over a slice, in 8 independent lanes so that the loop vectorizes.
#[inline(always)]
fn lane_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += f(x);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    acc.iter().sum::<f32>() + tail
}

/// Σ f(a, b) over two slices of equal length, in 8 lanes.
#[inline(always)]
fn lane_sum2(xs: &[f32], ys: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let (mut cx, mut cy) = (xs.chunks_exact(8), ys.chunks_exact(8));
    for (a8, b8) in (&mut cx).zip(&mut cy) {
        for ((acc, &a), &b) in acc.iter_mut().zip(a8).zip(b8) {
            *acc += f(a, b);
        }
    }
    let tail: f32 = cx
        .remainder()
        .iter()
        .zip(cy.remainder())
        .map(|(&a, &b)| f(a, b))
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// SiLU'(z) = s (1 + z (1 - s)), s = sigmoid(z).
#[inline(always)]
fn silu_grad(z: f32) -> f32 {
    let s = sigmoid(z);
    s * (1.0 + z * (1.0 - s))
}

/// One group's channels: their affine parameters and size, and whether SiLU follows.
struct Channels<'a> {
    gamma: &'a [f32],
    beta: &'a [f32],
    spatial: usize,
    silu: bool,
}

impl<'a> Channels<'a> {
    /// The channels of (image, group) number `i` (images major).
    fn of(geo: &Geometry, i: usize, gamma: &'a [f32], beta: &'a [f32], silu: bool) -> Self {
        let cg = geo.per_group();
        let first = (i % geo.groups) * cg;
        Self {
            gamma: &gamma[first..first + cg],
            beta: &beta[first..first + cg],
            spatial: geo.spatial,
            silu,
        }
    }
}

/// Normalizes one group `xg` into `out`; returns its mean and reciprocal standard deviation.
struct ForwardGroup<'a> {
    ch: Channels<'a>,
    xg: &'a [f32],
    out: &'a mut [f32],
    eps: f32,
}

impl Kernel for ForwardGroup<'_> {
    type Out = (f32, f32);
    #[inline(always)]
    fn run(self) -> (f32, f32) {
        forward_group(&self.ch, self.xg, self.out, self.eps)
    }
}

/// One group's input gradient into `dx`, and its channels' Σ dz and Σ dz·x̂ into `sums`.
struct BackwardGroup<'a> {
    ch: Channels<'a>,
    xg: &'a [f32],
    dyg: &'a [f32],
    stats: (f32, f32),
    dx: &'a mut [f32],
    sums: (&'a mut [f32], &'a mut [f32]),
}

impl Kernel for BackwardGroup<'_> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        backward_group(&self.ch, self.xg, self.dyg, self.stats, self.dx, self.sums)
    }
}

#[inline(always)]
fn forward_group(ch: &Channels, xg: &[f32], out: &mut [f32], eps: f32) -> (f32, f32) {
    let len = xg.len() as f32;
    let mean = lane_sum(xg, |x| x) / len;
    let var = lane_sum(xg, |x| (x - mean) * (x - mean)) / len;
    let rstd = 1.0 / (var + eps).sqrt();
    // (x - μ) · a + β rather than x · a + (β - μ a): the latter cancels catastrophically when
    // |μ| is large against the spread.
    let chans = out.chunks_mut(ch.spatial).zip(xg.chunks(ch.spatial));
    for ((o, xc), (&g, &b)) in chans.zip(ch.gamma.iter().zip(ch.beta)) {
        let a = rstd * g;
        if ch.silu {
            for (o, &x) in o.iter_mut().zip(xc) {
                let z = (x - mean) * a + b;
                *o = z * sigmoid(z);
            }
        } else {
            for (o, &x) in o.iter_mut().zip(xc) {
                *o = (x - mean) * a + b;
            }
        }
    }
    (mean, rstd)
}

#[inline(always)]
fn backward_group(
    ch: &Channels,
    xg: &[f32],
    dyg: &[f32],
    (mean, rstd): (f32, f32),
    dx: &mut [f32],
    sums: (&mut [f32], &mut [f32]),
) {
    let s = ch.spatial;
    // First pass: dz into dx (as scratch) and its per-channel sums.
    let chans = dx.chunks_mut(s).zip(xg.chunks(s).zip(dyg.chunks(s)));
    let params = ch
        .gamma
        .iter()
        .zip(ch.beta)
        .zip(sums.0.iter_mut().zip(sums.1.iter_mut()));
    for ((dz, (xc, dyc)), ((&g, &b), (s1, s2))) in chans.zip(params) {
        let a = rstd * g;
        if ch.silu {
            for ((dz, &x), &dy) in dz.iter_mut().zip(xc).zip(dyc) {
                *dz = dy * silu_grad((x - mean) * a + b);
            }
        } else {
            dz.copy_from_slice(dyc);
        }
        *s1 = lane_sum(dz, |d| d);
        *s2 = lane_sum2(dz, xc, |d, x| d * (x - mean)) * rstd;
    }
    let len = xg.len() as f32;
    let (mut m1, mut m2) = (0.0f32, 0.0f32);
    for ((&g, &s1), &s2) in ch.gamma.iter().zip(sums.0.iter()).zip(sums.1.iter()) {
        m1 += g * s1;
        m2 += g * s2;
    }
    let (m1, m2) = (m1 / len, m2 / len);
    // Second pass: dx from dz and the group means.
    for ((dz, xc), &g) in dx.chunks_mut(s).zip(xg.chunks(s)).zip(ch.gamma) {
        for (d, &x) in dz.iter_mut().zip(xc) {
            *d = rstd * (g * *d - m1 - (x - mean) * rstd * m2);
        }
    }
}

/// The output, and the mean and reciprocal standard deviation of every (image, group) as
/// `[B, G]`; None when the kernel does not cover the case (the stock composition runs).
pub fn forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    groups: usize,
    eps: f64,
    silu: bool,
) -> Option<(FlexTensor, FlexTensor, FlexTensor)> {
    let shape = x.shape();
    let geo = Geometry::of(&shape, groups)?;
    let [x, gamma, beta] = [x, gamma, beta].map(|t| f32_contiguous(t.clone()));
    let (x, gamma, beta) = (x?, gamma?, beta?);
    if gamma.shape().num_elements() != geo.channels || beta.shape().num_elements() != geo.channels {
        return None;
    }
    let n = shape.num_elements();
    let (xs, gs, bs): (&[f32], &[f32], &[f32]) = (
        &x.storage::<f32>()[..n],
        &gamma.storage::<f32>()[..geo.channels],
        &beta.storage::<f32>()[..geo.channels],
    );
    let len = geo.group_len();
    let mut out = zeros(n);
    let mut stats = vec![(0.0f32, 0.0f32); geo.batch * groups];
    if len > 0 {
        out.par_chunks_mut(len)
            .zip(xs.par_chunks(len))
            .zip(stats.par_iter_mut())
            .enumerate()
            .with_min_len(geo.groups_per_task())
            .for_each(|(i, ((o, xg), st))| {
                let ch = Channels::of(&geo, i, gs, bs, silu);
                *st = run_wide(ForwardGroup {
                    ch,
                    xg,
                    out: o,
                    eps: eps as f32,
                });
            });
    }
    let (mean, rstd): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
    let stat_shape = [geo.batch, groups];
    Some((
        f32_tensor(out, shape),
        f32_tensor(mean, stat_shape),
        f32_tensor(rstd, stat_shape),
    ))
}

/// The gradients by `x`, `gamma` and `beta` from the forward pass's statistics.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    mean: &FlexTensor,
    rstd: &FlexTensor,
    grad: &FlexTensor,
    groups: usize,
    silu: bool,
) -> Option<(FlexTensor, FlexTensor, FlexTensor)> {
    let shape = x.shape();
    let geo = Geometry::of(&shape, groups)?;
    if grad.shape() != shape {
        return None;
    }
    let [x, gamma, beta, mean, rstd, grad] =
        [x, gamma, beta, mean, rstd, grad].map(|t| f32_contiguous(t.clone()));
    let (x, gamma, beta, mean, rstd, grad) = (x?, gamma?, beta?, mean?, rstd?, grad?);
    let n = shape.num_elements();
    let (c, bg) = (geo.channels, geo.batch * groups);
    let (xs, gs, bs, ms, rs, dys): (&[f32], &[f32], &[f32], &[f32], &[f32], &[f32]) = (
        &x.storage::<f32>()[..n],
        &gamma.storage::<f32>()[..c],
        &beta.storage::<f32>()[..c],
        &mean.storage::<f32>()[..bg],
        &rstd.storage::<f32>()[..bg],
        &grad.storage::<f32>()[..n],
    );
    let (len, cg) = (geo.group_len(), geo.per_group());
    let mut dx = zeros(n);
    // Per (image, channel): Σ dz and Σ dz·x̂, for dβ and dγ.
    let (mut sum_dz, mut sum_dzx) = (vec![0.0f32; geo.batch * c], vec![0.0f32; geo.batch * c]);
    if len > 0 {
        dx.par_chunks_mut(len)
            .zip(xs.par_chunks(len).zip(dys.par_chunks(len)))
            .zip(sum_dz.par_chunks_mut(cg).zip(sum_dzx.par_chunks_mut(cg)))
            .enumerate()
            .with_min_len(geo.groups_per_task())
            .for_each(|(i, ((dxg, (xg, dyg)), (s1, s2)))| {
                run_wide(BackwardGroup {
                    ch: Channels::of(&geo, i, gs, bs, silu),
                    xg,
                    dyg,
                    stats: (ms[i], rs[i]),
                    dx: dxg,
                    sums: (s1, s2),
                });
            });
    }
    // dγ and dβ: the per-image sums added over the batch in order.
    let mut dgamma = vec![0.0f32; c];
    let mut dbeta = vec![0.0f32; c];
    for b in 0..geo.batch {
        for k in 0..c {
            dbeta[k] += sum_dz[b * c + k];
            dgamma[k] += sum_dzx[b * c + k];
        }
    }
    Some((
        f32_tensor(dx, shape),
        f32_tensor(dgamma, [c]),
        f32_tensor(dbeta, [c]),
    ))
}
