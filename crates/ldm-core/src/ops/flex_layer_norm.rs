//! LayerNorm over the last dimension on `flex` (f32 rows `[N, D]`): one pass per row forward
//! (statistics then output, the row in cache), one backward.
//!
//! Why: burn composes LayerNorm from nine stock operations, which flex runs on one thread;
//! `scripts/bench.sh --ops` had it at 0.36x PyTorch's speed forward + backward. (It is
//! GroupNorm of one group over `[N, D, 1]`, but the GroupNorm kernel's per-channel loops are
//! one element long there, which made it slower still.)
//!
//! With x̂ = (x - μ) · rstd per row and y = γ x̂ + β, for dy:
//!   dβ = Σ_rows dy,   dγ = Σ_rows dy · x̂,
//!   dx = rstd · (γ dy - mean_row(γ dy) - x̂ · mean_row(γ dy x̂)).
//! Rows are dealt into tasks by the sizes alone, each task sums its own dγ, dβ in row order,
//! and the tasks' sums are added in order: the same bits on any thread count.

use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

use super::flex::{Kernel, f32_contiguous, f32_tensor, run_wide, zeros};
use super::math::lane_sum;

/// Elements per rayon task (whole rows).
const CHUNK: usize = 1 << 14;

/// Rows `N` and width `D` of `x` (the last dimension is normalized).
fn rows(x: &FlexTensor) -> Option<(usize, usize)> {
    let s = x.shape();
    let d = *s.as_slice().last()?;
    (d > 0 && s.num_elements() > 0).then(|| (s.num_elements() / d, d))
}

fn rows_per_task(d: usize) -> usize {
    (CHUNK / d).max(1)
}

/// The output and each row's mean and reciprocal standard deviation (`[N, 1]`).
pub fn forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    eps: f64,
) -> Option<(FlexTensor, FlexTensor, FlexTensor)> {
    let (n, d) = rows(x)?;
    if gamma.shape().num_elements() != d || beta.shape().num_elements() != d {
        return None;
    }
    let shape = x.shape();
    let (x, gamma, beta) = (
        f32_contiguous(x.clone())?,
        f32_contiguous(gamma.clone())?,
        f32_contiguous(beta.clone())?,
    );
    let (xs, gs, bs) = (
        &x.storage::<f32>()[..n * d],
        &gamma.storage::<f32>()[..d],
        &beta.storage::<f32>()[..d],
    );
    let mut y = zeros(n * d);
    let (mut mean, mut rstd) = (vec![0.0f32; n], vec![0.0f32; n]);
    let r = rows_per_task(d);
    y.par_chunks_mut(r * d)
        .zip(xs.par_chunks(r * d))
        .zip(mean.par_chunks_mut(r).zip(rstd.par_chunks_mut(r)))
        .for_each(|((y, x), (mean, rstd))| {
            run_wide(Forward {
                y,
                x,
                mean,
                rstd,
                gamma: gs,
                beta: bs,
                eps: eps as f32,
            })
        });
    Some((
        f32_tensor(y, shape),
        f32_tensor(mean, [n, 1]),
        f32_tensor(rstd, [n, 1]),
    ))
}

/// The gradients by `x`, γ and β.
pub fn backward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    mean: &FlexTensor,
    rstd: &FlexTensor,
    grad: &FlexTensor,
) -> Option<(FlexTensor, FlexTensor, FlexTensor)> {
    let (n, d) = rows(x)?;
    let fits = gamma.shape().num_elements() == d
        && mean.shape().num_elements() == n
        && rstd.shape().num_elements() == n
        && grad.shape().num_elements() == n * d;
    if !fits {
        return None;
    }
    let shape = x.shape();
    let [x, gamma, mean, rstd, grad] =
        [x, gamma, mean, rstd, grad].map(|t| f32_contiguous(t.clone()));
    let (x, gamma, mean, rstd, grad) = (x?, gamma?, mean?, rstd?, grad?);
    let (xs, gs, ms, rs, dys) = (
        &x.storage::<f32>()[..n * d],
        &gamma.storage::<f32>()[..d],
        &mean.storage::<f32>()[..n],
        &rstd.storage::<f32>()[..n],
        &grad.storage::<f32>()[..n * d],
    );
    let mut dx = zeros(n * d);
    let r = rows_per_task(d);
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(r * d)
        .zip(xs.par_chunks(r * d).zip(dys.par_chunks(r * d)))
        .zip(ms.par_chunks(r).zip(rs.par_chunks(r)))
        .map(|((dx, (x, dy)), (mean, rstd))| {
            let (mut dgamma, mut dbeta) = (vec![0.0f32; d], vec![0.0f32; d]);
            run_wide(Backward {
                dx,
                x,
                dy,
                mean,
                rstd,
                gamma: gs,
                dgamma: &mut dgamma,
                dbeta: &mut dbeta,
            });
            (dgamma, dbeta)
        })
        .collect();
    let (mut dgamma, mut dbeta) = (vec![0.0f32; d], vec![0.0f32; d]);
    for (pg, pb) in &partials {
        dgamma.iter_mut().zip(pg).for_each(|(a, b)| *a += b);
        dbeta.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    Some((
        f32_tensor(dx, shape),
        f32_tensor(dgamma, [d]),
        f32_tensor(dbeta, [d]),
    ))
}

struct Forward<'a> {
    y: &'a mut [f32],
    x: &'a [f32],
    mean: &'a mut [f32],
    rstd: &'a mut [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
}

impl Kernel for Forward<'_> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let d = self.gamma.len();
        let rows = self.y.chunks_exact_mut(d).zip(self.x.chunks_exact(d));
        for ((y, x), (mean, rstd)) in rows.zip(self.mean.iter_mut().zip(self.rstd.iter_mut())) {
            let mu = lane_sum(d, |i| x[i]) / d as f32;
            let var = lane_sum(d, |i| (x[i] - mu) * (x[i] - mu)) / d as f32;
            let rs = 1.0 / (var + self.eps).sqrt();
            for i in 0..d {
                y[i] = (x[i] - mu) * rs * self.gamma[i] + self.beta[i];
            }
            (*mean, *rstd) = (mu, rs);
        }
    }
}

struct Backward<'a> {
    dx: &'a mut [f32],
    x: &'a [f32],
    dy: &'a [f32],
    mean: &'a [f32],
    rstd: &'a [f32],
    gamma: &'a [f32],
    dgamma: &'a mut [f32],
    dbeta: &'a mut [f32],
}

impl Kernel for Backward<'_> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let d = self.gamma.len();
        let g = self.gamma;
        let rows = self.dx.chunks_exact_mut(d).zip(self.x.chunks_exact(d));
        let rows = rows.zip(self.dy.chunks_exact(d));
        for (((dx, x), dy), (&mu, &rs)) in rows.zip(self.mean.iter().zip(self.rstd)) {
            let xhat = |i: usize| (x[i] - mu) * rs;
            let m1 = lane_sum(d, |i| g[i] * dy[i]) / d as f32;
            let m2 = lane_sum(d, |i| g[i] * dy[i] * xhat(i)) / d as f32;
            for i in 0..d {
                dx[i] = rs * (g[i] * dy[i] - m1 - xhat(i) * m2);
                self.dgamma[i] += dy[i] * xhat(i);
                self.dbeta[i] += dy[i];
            }
        }
    }
}
