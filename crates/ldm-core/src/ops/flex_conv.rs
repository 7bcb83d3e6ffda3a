//! 2-D convolution on `flex` (f32, NCHW, groups 1, dilation 1) as im2col + one GEMM per image,
//! the images split across rayon's threads.
//!
//! Why: flex's own forward tiles the image into many small GEMMs after an NHWC copy, and burn
//! derives the weight gradient as a convolution of the input by the output gradient (a 3x3
//! output from a 16x16 "kernel", one thin GEMM per input channel), which ran at 0.2-0.35x
//! PyTorch's speed. Here all three passes share one layout: per image the patch matrix
//! `col` (K = Cin·kh·kw rows, P = Ho·Wo columns), then
//!   forward  out_b  [Cout x P] = W [Cout x K] · col_b
//!   weights  dW     [Cout x K] = Σ_b dOut_b · col_bᵀ
//!   input    dcol_b [K x P]    = Wᵀ · dOut_b, scattered back onto dx_b (col2im).
//! A 1x1 stride-1 unpadded conv needs no `col`: it is the image itself.

use burn::backend::flex::FlexTensor;
use burn::backend::ops::ConvOptions;
use burn::backend::{Shape, TensorMetadata};
use rayon::prelude::*;

use super::flex::{f32_contiguous, f32_tensor};
use super::gemm::{Parallelism, View, matmul};

/// The sizes of one convolution.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub batch: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    /// Padding before the first row and column.
    pub pad: [usize; 2],
    pub ho: usize,
    pub wo: usize,
}

impl Geometry {
    /// None when the kernel here does not cover the case (the stock operation runs instead).
    pub fn new(x: &Shape, w: &Shape, o: &ConvOptions<2>) -> Option<Self> {
        if o.groups != 1 || o.dilation != [1, 1] || x.num_dims() != 4 || w.num_dims() != 4 {
            return None;
        }
        let (batch, cin, h, wd) = (x[0], x[1], x[2], x[3]);
        let (cout, kh, kw) = (w[0], w[2], w[3]);
        if w[1] != cin || batch == 0 || cout == 0 {
            return None;
        }
        let span = |n: usize, (a, b): (usize, usize), k: usize, s: usize| {
            (n + a + b).checked_sub(k).map(|d| d / s + 1)
        };
        let ho = span(h, o.padding[0], kh, o.stride[0])?;
        let wo = span(wd, o.padding[1], kw, o.stride[1])?;
        Some(Self {
            batch,
            cin,
            h,
            w: wd,
            cout,
            kh,
            kw,
            stride: o.stride,
            pad: [o.padding[0].0, o.padding[1].0],
            ho,
            wo,
        })
    }

    fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    fn p(&self) -> usize {
        self.ho * self.wo
    }

    /// 1x1, stride 1, no padding: the image is its own patch matrix.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.pad == [0, 0]
    }

    /// Room for one image's patch matrix (none for a pointwise conv, which needs none).
    fn col_buffer(&self) -> Vec<f32> {
        vec![
            0.0;
            if self.pointwise() {
                0
            } else {
                self.k() * self.p()
            }
        ]
    }

    /// Threads split the batch; a batch smaller than the pool parallelizes each GEMM instead.
    fn gemm_par(&self) -> Parallelism {
        if self.batch >= rayon::current_num_threads() {
            Parallelism::None
        } else {
            Parallelism::Rayon(0)
        }
    }

    /// For each kernel offset `i` along one axis: the output positions whose input position
    /// o * s + i - pad falls inside [0, n), as a range.
    fn valid(o_len: usize, n: usize, s: usize, pad: usize, i: usize) -> std::ops::Range<usize> {
        // o * s + i >= pad  <=>  o >= ceil((pad - i) / s)
        let lo = pad.saturating_sub(i).div_ceil(s);
        // o * s + i - pad <= n - 1  <=>  o <= (n - 1 + pad - i) / s
        let hi = match (n + pad).checked_sub(i + 1) {
            Some(v) => (v / s + 1).min(o_len),
            None => 0,
        };
        lo.min(hi)..hi
    }

    /// The patch matrix of one image `x` ([Cin, H, W]) into `col` ([K, P]).
    fn im2col(&self, x: &[f32], col: &mut [f32]) {
        let (p, [sy, sx], [py, px]) = (self.p(), self.stride, self.pad);
        for c in 0..self.cin {
            let plane = &x[c * self.h * self.w..][..self.h * self.w];
            for i in 0..self.kh {
                let rows = Self::valid(self.ho, self.h, sy, py, i);
                for j in 0..self.kw {
                    let cols = Self::valid(self.wo, self.w, sx, px, j);
                    let dst = &mut col[((c * self.kh + i) * self.kw + j) * p..][..p];
                    for oy in 0..self.ho {
                        let out = &mut dst[oy * self.wo..][..self.wo];
                        if !rows.contains(&oy) {
                            out.fill(0.0);
                            continue;
                        }
                        if cols.is_empty() {
                            out.fill(0.0);
                            continue;
                        }
                        let src = &plane[(oy * sy + i - py) * self.w..][..self.w];
                        out[..cols.start].fill(0.0);
                        out[cols.end..].fill(0.0);
                        let x0 = cols.start * sx + j - px;
                        if sx == 1 {
                            out[cols.clone()].copy_from_slice(&src[x0..x0 + cols.len()]);
                        } else {
                            for (k, o) in out[cols.clone()].iter_mut().enumerate() {
                                *o = src[x0 + k * sx];
                            }
                        }
                    }
                }
            }
        }
    }

    /// Add the patch-matrix gradient `col` ([K, P]) onto the image gradient `dx` ([Cin, H, W]).
    fn col2im(&self, col: &[f32], dx: &mut [f32]) {
        let (p, [sy, sx], [py, px]) = (self.p(), self.stride, self.pad);
        for c in 0..self.cin {
            let plane = &mut dx[c * self.h * self.w..][..self.h * self.w];
            for i in 0..self.kh {
                let rows = Self::valid(self.ho, self.h, sy, py, i);
                for j in 0..self.kw {
                    let cols = Self::valid(self.wo, self.w, sx, px, j);
                    if cols.is_empty() {
                        continue;
                    }
                    let src = &col[((c * self.kh + i) * self.kw + j) * p..][..p];
                    for oy in rows.clone() {
                        let g = &src[oy * self.wo..][..self.wo];
                        let dst = &mut plane[(oy * sy + i - py) * self.w..][..self.w];
                        let x0 = cols.start * sx + j - px;
                        for (k, &v) in g[cols.clone()].iter().enumerate() {
                            dst[x0 + k * sx] += v;
                        }
                    }
                }
            }
        }
    }
}

/// The convolution of `x` by `weight`, without bias; None where the stock operation must run.
pub fn forward(x: &FlexTensor, weight: &FlexTensor, o: &ConvOptions<2>) -> Option<FlexTensor> {
    let g = Geometry::new(&x.shape(), &weight.shape(), o)?;
    let (x, weight) = (f32_contiguous(x.clone())?, f32_contiguous(weight.clone())?);
    let (xs, ws) = (x.storage::<f32>(), weight.storage::<f32>());
    let (k, p, image) = (g.k(), g.p(), g.cin * g.h * g.w);
    let mut out = vec![0.0f32; g.batch * g.cout * p];
    out.par_chunks_mut(g.cout * p).enumerate().for_each_init(
        || g.col_buffer(),
        |col, (b, out_b)| {
            let x_b = &xs[b * image..][..image];
            let patches: &[f32] = if g.pointwise() {
                x_b
            } else {
                g.im2col(x_b, col);
                col
            };
            matmul(
                out_b,
                [g.cout, p, k],
                false,
                View {
                    data: &ws[..g.cout * k],
                    rs: k,
                    cs: 1,
                },
                View {
                    data: patches,
                    rs: p,
                    cs: 1,
                },
                g.gemm_par(),
            );
        },
    );
    Some(f32_tensor(out, [g.batch, g.cout, g.ho, g.wo]))
}

/// The gradient of the loss by the weights, from the input and the output's gradient.
pub fn weight_backward(
    x: &FlexTensor,
    weight_shape: &Shape,
    grad: &FlexTensor,
    o: &ConvOptions<2>,
) -> Option<FlexTensor> {
    let g = Geometry::new(&x.shape(), weight_shape, o)?;
    let (x, grad) = (f32_contiguous(x.clone())?, f32_contiguous(grad.clone())?);
    let (xs, gs) = (x.storage::<f32>(), grad.storage::<f32>());
    let (k, p, image) = (g.k(), g.p(), g.cin * g.h * g.w);
    // The batch is cut into at most 8 groups by its size alone; each group sums its images
    // into its own dW in order, and the groups add up in order. The sum is then the same on
    // any number of threads and in every run (rayon's own fold would group by timing).
    let per_group = g.batch.div_ceil(8);
    let partials: Vec<Vec<f32>> = (0..g.batch.div_ceil(per_group))
        .into_par_iter()
        .map(|group| {
            let mut dw = vec![0.0f32; g.cout * k];
            let mut col = g.col_buffer();
            let images = group * per_group..((group + 1) * per_group).min(g.batch);
            for (n, b) in images.enumerate() {
                let x_b = &xs[b * image..][..image];
                let patches: &[f32] = if g.pointwise() {
                    x_b
                } else {
                    g.im2col(x_b, &mut col);
                    &col
                };
                matmul(
                    &mut dw,
                    [g.cout, k, p],
                    n > 0,
                    View {
                        data: &gs[b * g.cout * p..][..g.cout * p],
                        rs: p,
                        cs: 1,
                    },
                    View {
                        data: patches,
                        rs: 1,
                        cs: p,
                    },
                    g.gemm_par(),
                );
            }
            dw
        })
        .collect();
    let mut partials = partials.into_iter();
    let mut dw = partials.next()?;
    for part in partials {
        dw.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
    }
    Some(f32_tensor(dw, [g.cout, g.cin, g.kh, g.kw]))
}

/// The gradient of the loss by the input, from the weights and the output's gradient.
pub fn x_backward(
    x_shape: &Shape,
    weight: &FlexTensor,
    grad: &FlexTensor,
    o: &ConvOptions<2>,
) -> Option<FlexTensor> {
    let g = Geometry::new(x_shape, &weight.shape(), o)?;
    let (weight, grad) = (
        f32_contiguous(weight.clone())?,
        f32_contiguous(grad.clone())?,
    );
    let (ws, gs) = (weight.storage::<f32>(), grad.storage::<f32>());
    let (k, p, image) = (g.k(), g.p(), g.cin * g.h * g.w);
    let mut dx = vec![0.0f32; g.batch * image];
    dx.par_chunks_mut(image).enumerate().for_each_init(
        || g.col_buffer(),
        |col, (b, dx_b)| {
            let wt = View {
                data: &ws[..g.cout * k],
                rs: 1,
                cs: k,
            };
            let dout = View {
                data: &gs[b * g.cout * p..][..g.cout * p],
                rs: p,
                cs: 1,
            };
            if g.pointwise() {
                matmul(dx_b, [k, p, g.cout], false, wt, dout, g.gemm_par());
            } else {
                matmul(col, [k, p, g.cout], false, wt, dout, g.gemm_par());
                g.col2im(col, dx_b);
            }
        },
    );
    Some(f32_tensor(dx, [g.batch, g.cin, g.h, g.w]))
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;

    fn flex(shape: [usize; 4]) -> FlexTensor {
        let n = shape.iter().product::<usize>();
        let v: Vec<f32> = (0..n).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
        FlexTensor::from_data(TensorData::new(v, shape))
    }

    /// The models' convolutions take this path (the stock one only for what it declines), and
    /// a direct loop over the definition agrees with it.
    #[test]
    fn kernels_cover_the_models_convs_and_match_the_definition() {
        let opts = |s: usize, (t, b): (usize, usize)| {
            ConvOptions::new_with_padding([s, s], [(t, b), (t, b)], [1, 1], 1)
        };
        let (x, w) = (flex([2, 3, 6, 5]), flex([4, 3, 3, 3]));
        for o in [opts(1, (1, 1)), opts(2, (0, 1)), opts(2, (1, 1))] {
            let y = forward(&x, &w, &o).expect("covered");
            let g = Geometry::new(&x.shape(), &w.shape(), &o).unwrap();
            let (xs, ws, ys) = (x.storage::<f32>(), w.storage::<f32>(), y.storage::<f32>());
            for (b, co, oy, ox) in (0..2).flat_map(|b| {
                (0..4).flat_map(move |c| {
                    (0..g.ho).flat_map(move |y| (0..g.wo).map(move |x| (b, c, y, x)))
                })
            }) {
                let mut want = 0.0f32;
                for ci in 0..3 {
                    for i in 0..3 {
                        for j in 0..3 {
                            let iy = (oy * g.stride[0] + i) as isize - g.pad[0] as isize;
                            let ix = (ox * g.stride[1] + j) as isize - g.pad[1] as isize;
                            if (0..6).contains(&iy) && (0..5).contains(&ix) {
                                want += xs[((b * 3 + ci) * 6 + iy as usize) * 5 + ix as usize]
                                    * ws[((co * 3 + ci) * 3 + i) * 3 + j];
                            }
                        }
                    }
                }
                let got = ys[((b * 4 + co) * g.ho + oy) * g.wo + ox];
                assert!((got - want).abs() < 1e-3, "{o:?} at {b},{co},{oy},{ox}");
            }
        }
        // Grouped or dilated convolutions are left to the stock operation.
        let dilated = ConvOptions::new([1, 1], [1, 1], [2, 2], 1);
        assert!(forward(&x, &w, &dilated).is_none());
    }
}
