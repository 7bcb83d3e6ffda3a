//! `y = x W + b` on `flex` (f32): `x` `[N, in]`, `W` `[in, out]` (burn's `Linear` layout),
//! and its three gradients, each one GEMM (or a column sum) on views of the stored buffers:
//!   dx = dY Wᵀ,   dW = xᵀ dY,   db = Σ_rows dY.
//!
//! Why: flex's matmul allocates its output as bytes and then copies it into an aligned
//! buffer (a second pass over every product, on the calling thread), burn's autodiff derives
//! the bias gradient by a broadcast reduction that runs on one thread, and the transposes the
//! backward products need are copied before they multiply. Together that was 6-8% of the
//! denoiser step (`perf`). gemm splits a product over its output blocks only, never over the
//! reduction, so the bits do not depend on the thread count.

use burn::backend::flex::FlexTensor;
use burn::backend::{Shape, TensorMetadata};
use rayon::prelude::*;

use super::flex::{f32_contiguous, f32_tensor, wide, zeros};
use super::gemm::{Parallelism, View, matmul};

/// `[rows, cols]` of a rank-2 shape with no empty side.
fn matrix(s: &Shape) -> Option<(usize, usize)> {
    (s.num_dims() == 2 && s[0] > 0 && s[1] > 0).then(|| (s[0], s[1]))
}

/// Rows of the bias per task when it is written into the output.
const ROWS_PER_TASK: usize = 64;

fn par() -> Parallelism {
    Parallelism::Rayon(0)
}

/// `x W (+ b)`; None where the stock operations must run.
pub fn forward(x: &FlexTensor, w: &FlexTensor, b: Option<&FlexTensor>) -> Option<FlexTensor> {
    let ((n, din), (win, dout)) = (matrix(&x.shape())?, matrix(&w.shape())?);
    if win != din {
        return None;
    }
    let (x, w) = (f32_contiguous(x.clone())?, f32_contiguous(w.clone())?);
    let mut out: Vec<f32>;
    let accumulate = match b {
        Some(b) => {
            let b = f32_contiguous(b.clone())?;
            let bias = b.storage::<f32>().get(..dout)?;
            if b.shape().num_elements() != dout {
                return None;
            }
            // The bias in every row, then the product added onto it: one pass fewer than
            // adding it afterwards.
            out = zeros(n * dout);
            out.par_chunks_mut(dout * ROWS_PER_TASK).for_each(|rows| {
                for row in rows.chunks_exact_mut(dout) {
                    row.copy_from_slice(bias);
                }
            });
            true
        }
        None => {
            out = zeros(n * dout);
            false
        }
    };
    let lhs = View {
        data: &x.storage::<f32>()[..n * din],
        rs: din,
        cs: 1,
    };
    let rhs = View {
        data: &w.storage::<f32>()[..din * dout],
        rs: dout,
        cs: 1,
    };
    matmul(&mut out, [n, dout, din], accumulate, lhs, rhs, par());
    Some(f32_tensor(out, [n, dout]))
}

/// dx = dY Wᵀ, `[N, in]`.
pub fn x_backward(w: &FlexTensor, grad: &FlexTensor) -> Option<FlexTensor> {
    let ((din, dout), (n, gout)) = (matrix(&w.shape())?, matrix(&grad.shape())?);
    if gout != dout {
        return None;
    }
    let (w, grad) = (f32_contiguous(w.clone())?, f32_contiguous(grad.clone())?);
    let mut dx = zeros(n * din);
    let lhs = View {
        data: &grad.storage::<f32>()[..n * dout],
        rs: dout,
        cs: 1,
    };
    // Wᵀ read in place: element (o, i) of Wᵀ is W[i, o].
    let rhs = View {
        data: &w.storage::<f32>()[..din * dout],
        rs: 1,
        cs: dout,
    };
    matmul(&mut dx, [n, din, dout], false, lhs, rhs, par());
    Some(f32_tensor(dx, [n, din]))
}

/// dW = xᵀ dY, `[in, out]`.
pub fn weight_backward(x: &FlexTensor, grad: &FlexTensor) -> Option<FlexTensor> {
    let ((n, din), (gn, dout)) = (matrix(&x.shape())?, matrix(&grad.shape())?);
    if gn != n {
        return None;
    }
    let (x, grad) = (f32_contiguous(x.clone())?, f32_contiguous(grad.clone())?);
    let mut dw = zeros(din * dout);
    // xᵀ read in place: element (i, r) of xᵀ is x[r, i].
    let lhs = View {
        data: &x.storage::<f32>()[..n * din],
        rs: 1,
        cs: din,
    };
    let rhs = View {
        data: &grad.storage::<f32>()[..n * dout],
        rs: dout,
        cs: 1,
    };
    matmul(&mut dw, [din, dout, n], false, lhs, rhs, par());
    Some(f32_tensor(dw, [din, dout]))
}

/// Columns per task of the bias gradient: each task sums its columns over every row, in
/// row order, so the sum does not depend on the thread count.
const BIAS_COLUMNS: usize = 128;

/// db = the column sums of dY, `[out]`.
pub fn bias_backward(grad: &FlexTensor) -> Option<FlexTensor> {
    let (n, dout) = matrix(&grad.shape())?;
    let grad = f32_contiguous(grad.clone())?;
    let gs = &grad.storage::<f32>()[..n * dout];
    let mut db = vec![0.0f32; dout];
    db.par_chunks_mut(BIAS_COLUMNS)
        .enumerate()
        .for_each(|(t, acc)| {
            let cols = t * BIAS_COLUMNS..t * BIAS_COLUMNS + acc.len();
            wide(|| {
                for row in gs.chunks_exact(dout) {
                    for (a, &g) in acc.iter_mut().zip(&row[cols.clone()]) {
                        *a += g;
                    }
                }
            })
        });
    Some(f32_tensor(db, [dout]))
}
