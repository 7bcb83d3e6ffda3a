//! GEGLU on `flex` (f32): `h` `[..., 2F]` gives `y = v · GELU(g)`, `v` the first F columns
//! of each row and `g` the last F; backward, for dY:
//!   dv = dY · GELU(g),   dg = dY · v · (Φ(g) + g φ(g)).
//!
//! Why: as stock operations, GEGLU is two narrowed views (each copied to be contiguous, in
//! the forward and again in the backward), GELU, a product, the product's two backward
//! products, and a zero-filled buffer per half to put the halves' gradients back together.
//! Fused it is one pass over `h` forward and one backward, and `h` is the only saved tensor.

use burn::backend::flex::FlexTensor;
use burn::backend::{Shape, TensorMetadata};
use rayon::prelude::*;

use super::flex::{Kernel, f32_contiguous, f32_tensor, run_wide, zeros};
use super::math;

/// Elements of `h` per rayon task (whole rows).
const CHUNK: usize = 1 << 14;

/// The rows and half-width F of `h`'s shape; None for an odd or empty last dimension.
fn halves(s: &Shape) -> Option<(usize, usize)> {
    let two_f = *s.as_slice().last()?;
    if two_f == 0 || !two_f.is_multiple_of(2) {
        return None;
    }
    Some((s.num_elements() / two_f, two_f / 2))
}

fn rows_per_task(f: usize) -> usize {
    (CHUNK / (2 * f)).max(1)
}

/// `v · GELU(g)`, shape `[..., F]`.
pub fn forward(h: &FlexTensor) -> Option<FlexTensor> {
    let shape = h.shape();
    let (rows, f) = halves(&shape)?;
    let h = f32_contiguous(h.clone())?;
    let hs = &h.storage::<f32>()[..rows * 2 * f];
    let mut out = zeros(rows * f);
    let r = rows_per_task(f);
    out.par_chunks_mut(r * f)
        .zip(hs.par_chunks(r * 2 * f))
        .for_each(|(out, h)| {
            run_wide(Forward { out, h, f });
        });
    let mut out_shape = shape;
    *out_shape.as_mut_slice().last_mut()? = f;
    Some(f32_tensor(out, out_shape))
}

/// The gradient by `h`, shape `[..., 2F]`.
pub fn backward(h: &FlexTensor, grad: &FlexTensor) -> Option<FlexTensor> {
    let shape = h.shape();
    let (rows, f) = halves(&shape)?;
    if grad.shape().num_elements() != rows * f {
        return None;
    }
    let (h, grad) = (f32_contiguous(h.clone())?, f32_contiguous(grad.clone())?);
    let hs = &h.storage::<f32>()[..rows * 2 * f];
    let gs = &grad.storage::<f32>()[..rows * f];
    let mut dh = zeros(rows * 2 * f);
    let r = rows_per_task(f);
    dh.par_chunks_mut(r * 2 * f)
        .zip(hs.par_chunks(r * 2 * f).zip(gs.par_chunks(r * f)))
        .for_each(|(dh, (h, dy))| {
            run_wide(Backward { dh, h, dy, f });
        });
    Some(f32_tensor(dh, shape))
}

/// The forward pass over whole rows: `out` `[rows, F]` from `h` `[rows, 2F]`.
struct Forward<'a> {
    out: &'a mut [f32],
    h: &'a [f32],
    f: usize,
}

impl Kernel for Forward<'_> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let f = self.f;
        for (o, h) in self.out.chunks_exact_mut(f).zip(self.h.chunks_exact(2 * f)) {
            let (v, g) = (&h[..f], &h[f..]);
            for i in 0..f {
                o[i] = v[i] * g[i] * math::normal_cdf_pdf(g[i]).0;
            }
        }
    }
}

/// The backward pass over whole rows: `dh` `[rows, 2F]` from `h` and `dy` `[rows, F]`.
struct Backward<'a> {
    dh: &'a mut [f32],
    h: &'a [f32],
    dy: &'a [f32],
    f: usize,
}

impl Kernel for Backward<'_> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let f = self.f;
        let rows = self
            .dh
            .chunks_exact_mut(2 * f)
            .zip(self.h.chunks_exact(2 * f));
        for ((dh, h), dy) in rows.zip(self.dy.chunks_exact(f)) {
            let (dv, dg) = dh.split_at_mut(f);
            let (v, g) = (&h[..f], &h[f..]);
            for i in 0..f {
                let (cdf, pdf) = math::normal_cdf_pdf(g[i]);
                dv[i] = dy[i] * g[i] * cdf;
                dg[i] = dy[i] * v[i] * (cdf + g[i] * pdf);
            }
        }
    }
}
