//! 2-D convolution on `flex` (f32, NCHW, groups 1, dilation 1) as im2col + GEMM over groups
//! of images, the groups split across rayon's threads.
//!
//! Why: flex's own forward tiles the image into many small GEMMs after an NHWC copy, and burn
//! derives the weight gradient as a convolution of the input by the output gradient (a 3x3
//! output from a 16x16 "kernel", one thin GEMM per input channel), which ran at 0.2-0.35x
//! PyTorch's speed. Here the passes are GEMMs over the patch matrix of a group of images:
//! `col` (K = Cin·kh·kw rows, one block of P = Ho·Wo columns per image), or its transpose
//! `rows` (one row per output position, K ordered (i, j, c): see `patch_rows`):
//!   forward  out    [Cout x N] = W [Cout x K] · col            (N = images · P);
//!            3x3 stride-1 convs with 16+ channels each side by Winograd's F(2x2, 3x3)
//!            instead (`winograd.rs`: 2.25x fewer multiplications)
//!   weights  dW     [Cout x K] = Σ_groups dOut · rows          (then K reordered to (c, i, j))
//!   input    dx     = the forward convolution of dOut by the flipped, transposed W (stride 1),
//!            or dcol [K x N] = Wᵀ · dOut scattered back onto dx (col2im, strided convs).
//! Small images with many channels (`Geometry::by_rows`: the critic, the downsamplings) build
//! `rows` for the other passes too, since `col` would be copied in runs of a few values:
//!   input    drows [N x K] = dOutᵀ · W, added back onto dx in runs of Cin (`rows2im`), where
//!            the stride-1 transposed convolution above does not apply
//!   forward  out   [N x Cout] = rows · Wᵀ, transposed into place (up to 128 output channels)
//! A group holds enough images for about 256 columns (`geometry::MIN_COLUMNS`): at 8x8 and below
//! one image per GEMM repacked W for a product with only 64 columns (gemm's packing then cost
//! more than its arithmetic). 256 rather than 512: a batch of 32 at 4x4 (the quickstart UNet's
//! inner level) is then two groups, one per thread, instead of one group whose patch copies
//! run on one thread; the quickstart's denoiser step is 13% faster, its autoencoder the same. A 1x1 stride-1 unpadded conv of one image needs no `col`: it is the image.

use burn::backend::flex::FlexTensor;
use burn::backend::ops::ConvOptions;
use burn::backend::{Shape, TensorMetadata};
use rayon::prelude::*;

mod geometry;
mod winograd;

use super::flex::{f32_contiguous, f32_tensor, zeros};
use super::gemm::{View, matmul};
use super::math::lane_sum;

use geometry::{Geometry, per_image, side_by_side, transpose};

/// Output channels up to which the forward pass runs on patch rows as well (where
/// `Geometry::by_rows`). Its GEMM on rows is slower than on `col`, by more the more output
/// channels share the patches, while the copies it saves do not grow with them: the critic's
/// 64->128 conv gained 13% and its output conv (512->1) 10x, its 128->256 and 256->512 convs
/// lost 15% and 60% (batch 32, 2 threads).
const ROWS_MAX_COUT: usize = 128;

/// Partial sums of the weight gradient at most, added in a fixed order (see `weight_backward`).
const MAX_PARTIALS: usize = 8;

/// Working buffers (patch matrix or rows, staging, an image in HWC), kept per thread between
/// calls: fresh multi-megabyte buffers cost their page faults and zero-filling on every call
/// (a fifth of a weight gradient's time, `perf`). Taken out while in use, so a nested call (a
/// thread that steals work while waiting inside a parallel GEMM) finds none and allocates its
/// own.
struct Scratch([Vec<f32>; 3]);

thread_local! {
    static SCRATCH: std::cell::Cell<[Vec<f32>; 3]> = Default::default();
}

/// Buffers larger than this (in floats, 64 MiB) are freed after use rather than kept.
const KEEP_MAX: usize = 1 << 24;

impl Scratch {
    fn take() -> Self {
        Self(SCRATCH.with(|s| s.take()))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut bufs = std::mem::take(&mut self.0);
        for b in &mut bufs {
            if b.capacity() > KEEP_MAX {
                *b = Vec::new();
            }
        }
        SCRATCH.with(|s| s.set(bufs));
    }
}

/// The convolution of `x` ([B, Cin, H, W]) by `w` ([Cout, Cin, kh, kw]) under `g`, plus
/// `bias` ([Cout]) where given: written first and the product added onto it, or added while
/// a group's output is copied into place, so it costs no pass of its own.
fn convolve(g: &Geometry, xs: &[f32], ws: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    if winograd::applies(g) {
        return winograd::forward(g, xs, ws, bias);
    }
    if g.by_rows() && g.cout <= ROWS_MAX_COUT {
        return convolve_rows(g, xs, ws, bias);
    }
    let (k, p) = (g.k(), g.p());
    let per_group = g.group() * g.cout * p;
    let tasks = g.batch.div_ceil(g.group());
    let (par, split) = (Geometry::gemm_par(tasks), Geometry::too_few(tasks));
    let mut out = zeros(g.batch * g.cout * p);
    out.par_chunks_mut(per_group).zip(g.groups()).for_each_init(
        Scratch::take,
        |Scratch([col, staging, _]), (out_g, b)| {
            let n = b.len() * p;
            let patches = g.patches(xs, b.clone(), col, split);
            // One image's output is already in place; a group's is [Cout, images · P].
            let single = b.len() == 1;
            if !single {
                staging.resize(g.cout * n, 0.0);
            }
            let dst: &mut [f32] = if single {
                &mut *out_g
            } else {
                &mut staging[..]
            };
            let accumulate = single && bias.is_some();
            if let (true, Some(bias)) = (single, bias) {
                for (row, &b) in dst.chunks_exact_mut(p).zip(bias) {
                    row.fill(b);
                }
            }
            let lhs = View {
                data: &ws[..g.cout * k],
                rs: k,
                cs: 1,
            };
            let rhs = View {
                data: patches,
                rs: n,
                cs: 1,
            };
            matmul(dst, [g.cout, n, k], accumulate, lhs, rhs, par);
            if !single {
                per_image(staging, b.len(), g.cout, p, bias, out_g);
            }
        },
    );
    out
}

/// [`convolve`] on the patches as rows: out [images · P, Cout] = rows · Wᵀ (W's K ordered as
/// the rows'), each image's block then transposed into place with the bias added.
fn convolve_rows(g: &Geometry, xs: &[f32], ws: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (k, p) = (g.k(), g.p());
    let tasks = g.batch.div_ceil(g.group());
    let (par, split) = (Geometry::gemm_par(tasks), Geometry::too_few(tasks));
    // [K, Cout]: the layout of the right-hand side that gemm packs fastest here.
    let mut wt = zeros(k * g.cout);
    transpose(&g.weights_by_tap(ws), g.cout, k, &mut wt);
    let mut out = zeros(g.batch * g.cout * p);
    out.par_chunks_mut(g.group() * g.cout * p)
        .zip(g.groups())
        .for_each_init(
            Scratch::take,
            |Scratch([rows, staging, hwc]), (out_g, b)| {
                let n = b.len() * p;
                g.patch_rows(xs, b.clone(), hwc, rows, split);
                staging.resize(n * g.cout, 0.0);
                let lhs = View {
                    data: rows,
                    rs: k,
                    cs: 1,
                };
                let rhs = View {
                    data: &wt,
                    rs: g.cout,
                    cs: 1,
                };
                matmul(staging, [n, g.cout, k], false, lhs, rhs, par);
                let image = g.cout * p;
                for (src, dst) in staging
                    .chunks_exact(image)
                    .zip(out_g.chunks_exact_mut(image))
                {
                    transpose(src, p, g.cout, dst);
                    if let Some(bias) = bias {
                        for (row, &b) in dst.chunks_exact_mut(p).zip(bias) {
                            row.iter_mut().for_each(|v| *v += b);
                        }
                    }
                }
            },
        );
    out
}

/// The convolution of `x` by `weight`, plus `bias` where given; None where the stock
/// operation must run.
pub fn forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    o: &ConvOptions<2>,
) -> Option<FlexTensor> {
    let g = Geometry::new(&x.shape(), &weight.shape(), o)?;
    let (x, weight) = (f32_contiguous(x.clone())?, f32_contiguous(weight.clone())?);
    let bias = match bias {
        Some(b) if b.shape().num_elements() == g.cout => Some(f32_contiguous(b.clone())?),
        Some(_) => return None,
        None => None,
    };
    let bs = bias.as_ref().map(|b| &b.storage::<f32>()[..g.cout]);
    let out = convolve(&g, x.storage::<f32>(), weight.storage::<f32>(), bs);
    Some(f32_tensor(out, [g.batch, g.cout, g.ho, g.wo]))
}

/// The gradient of the loss by the bias: `grad` ([B, C, ...]) summed over all but the
/// channels, each channel by one task in a fixed order (the same bits on any thread count).
pub fn bias_backward(grad: &FlexTensor) -> Option<FlexTensor> {
    let shape = grad.shape();
    if shape.num_dims() < 2 || shape.num_elements() == 0 {
        return None;
    }
    let (batch, c) = (shape[0], shape[1]);
    let p = shape.num_elements() / (batch * c);
    let grad = f32_contiguous(grad.clone())?;
    let gs = grad.storage::<f32>();
    let mut db = vec![0.0f32; c];
    db.par_iter_mut().enumerate().for_each(|(ch, d)| {
        *d = (0..batch)
            .map(|b| {
                let plane = &gs[(b * c + ch) * p..][..p];
                lane_sum(p, |i| plane[i])
            })
            .sum();
    });
    Some(f32_tensor(db, [c]))
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
    let (k, p) = (g.k(), g.p());
    // The groups of images are dealt into at most MAX_PARTIALS runs by their count alone;
    // each run sums its groups into its own dW in order, and the runs add up in order. The
    // sum is then the same on any number of threads and in every run (rayon's own fold
    // would group by timing).
    let groups: Vec<_> = g.groups().collect();
    let per_run = groups.len().div_ceil(MAX_PARTIALS);
    let runs: Vec<&[std::ops::Range<usize>]> = groups.chunks(per_run).collect();
    let (par, split) = (
        Geometry::gemm_par(runs.len()),
        Geometry::too_few(runs.len()),
    );
    let partials: Vec<Vec<f32>> = runs
        .into_par_iter()
        .map(|run| {
            let mut dw = vec![0.0f32; g.cout * k];
            let mut scratch = Scratch::take();
            let [rows, staging, hwc] = &mut scratch.0;
            for (n, b) in run.iter().enumerate() {
                let cols = b.len() * p;
                g.patch_rows(xs, b.clone(), hwc, rows, split);
                let dout = side_by_side(gs, b.clone(), g.cout, p, staging);
                let lhs = View {
                    data: dout,
                    rs: cols,
                    cs: 1,
                };
                let rhs = View {
                    data: rows,
                    rs: k,
                    cs: 1,
                };
                matmul(&mut dw, [g.cout, k, cols], n > 0, lhs, rhs, par);
            }
            dw
        })
        .collect();
    // The partial sums added in order and reordered from the patch rows' (i, j, c) to the
    // weights' (c, i, j), one output channel per task.
    let mut dw = vec![0.0f32; g.cout * k];
    let taps = g.kh * g.kw;
    dw.par_chunks_mut(k).enumerate().for_each(|(co, dst)| {
        let rows = partials.iter().map(|part| &part[co * k..][..k]);
        let (first, rest) = (rows.clone().next().expect("one run at least"), rows.skip(1));
        for (tap, channels) in first.chunks_exact(g.cin).enumerate() {
            for (c, &v) in channels.iter().enumerate() {
                dst[c * taps + tap] = v;
            }
        }
        for row in rest {
            for (tap, channels) in row.chunks_exact(g.cin).enumerate() {
                for (c, &v) in channels.iter().enumerate() {
                    dst[c * taps + tap] += v;
                }
            }
        }
    });
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
    let shape = [g.batch, g.cin, g.h, g.w];
    if let Some(t) = g.transposed() {
        // W'[ci, co, i, j] = W[co, ci, kh-1-i, kw-1-j], one input channel per task.
        let taps = g.kh * g.kw;
        let mut flipped = zeros(ws.len());
        flipped
            .par_chunks_mut(g.cout * taps)
            .enumerate()
            .for_each(|(ci, dst)| {
                for (co, dst) in dst.chunks_exact_mut(taps).enumerate() {
                    let src = &ws[(co * g.cin + ci) * taps..][..taps];
                    for (d, &v) in dst.iter_mut().zip(src.iter().rev()) {
                        *d = v;
                    }
                }
            });
        return Some(f32_tensor(convolve(&t, gs, &flipped, None), shape));
    }
    let (k, p, image) = (g.k(), g.p(), g.image());
    let tasks = g.batch.div_ceil(g.group());
    let (par, split) = (Geometry::gemm_par(tasks), Geometry::too_few(tasks));
    let mut dx = zeros(g.batch * image);
    // On patch rows: drows [images · P, K] = dOutᵀ · W (K ordered (i, j, c)), added back by
    // rows2im. Otherwise dcol = Wᵀ · dOut, added back by col2im.
    let by_tap = g.by_rows().then(|| g.weights_by_tap(ws));
    dx.par_chunks_mut(g.group() * image)
        .zip(g.groups())
        .for_each_init(
            Scratch::take,
            |Scratch([patches, staging, spare]), (dx_g, b)| {
                let cols = b.len() * p;
                let dout = side_by_side(gs, b.clone(), g.cout, p, staging);
                if let Some(wr) = &by_tap {
                    let lhs = View {
                        data: dout,
                        rs: 1,
                        cs: cols,
                    };
                    let rhs = View {
                        data: wr,
                        rs: k,
                        cs: 1,
                    };
                    patches.resize(cols * k, 0.0);
                    matmul(patches, [cols, k, g.cout], false, lhs, rhs, par);
                    g.rows2im(patches, b.len(), dx_g, spare, split);
                    return;
                }
                let lhs = View {
                    data: &ws[..g.cout * k],
                    rs: 1,
                    cs: k,
                };
                let rhs = View {
                    data: dout,
                    rs: cols,
                    cs: 1,
                };
                if g.pointwise() && b.len() == 1 {
                    matmul(dx_g, [k, cols, g.cout], false, lhs, rhs, par);
                    return;
                }
                patches.resize(k * cols, 0.0);
                matmul(patches, [k, cols, g.cout], false, lhs, rhs, par);
                g.col2im(patches, b.len(), dx_g, spare, split);
            },
        );
    Some(f32_tensor(dx, shape))
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
            let y = forward(&x, &w, None, &o).expect("covered");
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
        assert!(forward(&x, &w, None, &dilated).is_none());
    }

    fn wavy(shape: [usize; 4]) -> FlexTensor {
        let n = shape.iter().product::<usize>();
        let v: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7391).sin()).collect();
        FlexTensor::from_data(TensorData::new(v, shape))
    }

    /// The three passes give the same bits on one thread and on three: the groups of images
    /// and the partial sums of dW depend on the sizes alone.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let bits = |t: FlexTensor| -> Vec<u32> {
            t.storage::<f32>().iter().map(|v| v.to_bits()).collect()
        };
        for (batch, cin, cout, hw, s) in [
            (16, 8, 6, 4, 1),
            (16, 8, 6, 8, 1),
            (17, 5, 7, 16, 1),
            (16, 6, 5, 16, 2),
            (16, 32, 6, 4, 1), // patches as rows (forward; dx by the transposed conv)
            (16, 32, 6, 8, 2), // patches as rows (forward and dx)
            (17, 32, 6, 8, 2), // the same in groups of 9 and 8
            (40, 32, 6, 8, 2), // three groups, each GEMM on one thread at 3 threads
        ] {
            let (x, w) = (wavy([batch, cin, hw, hw]), wavy([cout, cin, 3, 3]));
            let o = ConvOptions::new([s, s], [1, 1], [1, 1], 1);
            let run = || {
                let y = forward(&x, &w, None, &o).expect("covered");
                let dy = wavy(y.shape().dims());
                let dx = x_backward(&x.shape(), &w, &dy, &o).expect("covered");
                let dw = weight_backward(&x, &w.shape(), &dy, &o).expect("covered");
                (bits(y), bits(dx), bits(dw))
            };
            let pool = |n| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .unwrap()
            };
            let (one, three) = (pool(1).install(run), pool(3).install(run));
            assert!(
                one == three,
                "batch {batch}, {cin}->{cout}, {hw}x{hw}, stride {s}"
            );
        }
    }
}
