//! 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016).
//!
//! Why: a 2x2 block of outputs from a 4x4 block of inputs costs 16 multiplications per
//! channel pair instead of 36, so the GEMMs do 2.25x less arithmetic. The transforms are
//! additions (and halves in the weights'), so the results stay within a few ulps of the
//! direct sums.
//!
//! Per tile (a 2x2 block of outputs) and channel pair, with d the 4x4 input block and g the
//! 3x3 kernel:  Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A.  Over all channels the elementwise products
//! are 16 GEMMs, one per position ξ of the 4x4 transform:
//!   M_ξ [Cout x T] = U_ξ [Cout x Cin] · V_ξ [Cin x T]      (U = G g Gᵀ, V = Bᵀ d B)
//! The forward pass and the input gradient (of a stride-1 conv, itself a 3x3 convolution:
//! `Geometry::transposed`) come here. The weight gradient does not: by the same algebra it
//! is 16 GEMMs over the tiles, but their operands' rows lie 16·T floats apart and their
//! partial sums are 16 per weight instead of 9: measured slower than the direct GEMM
//! (`conv3x3 128->128 8x8 dW`, 1 thread: 4.4-5.0 ms against 3.5; see benches/README.md).
//!
//! The tiles are taken in blocks (`Block`), each transformed, multiplied and transformed
//! back by one task while its data is in the core's cache: with whole-batch passes the
//! transformed input and products (16 values per tile and channel) went out to memory and
//! back, and the kernel was slower than the direct GEMM. Within a block V is
//! [Cin][ξ][tile] and M is [ξ][Cout][tile]; U is [Cout][ξ][Cin]. Blocks depend on the shapes
//! alone and each GEMM runs on one thread, so the results are the same bits on any thread
//! count.

use std::ops::Range;

use rayon::prelude::*;

use super::super::flex::{wide, zeros};
use super::super::gemm::{Parallelism, View, matmul};
use super::Scratch;
use super::geometry::Geometry;

/// Positions of the 4x4 transform.
const XI: usize = 16;

/// Channels on each side below which the direct GEMM is kept (the encoder's 3->64 input conv,
/// the decoder's 32->3 output conv): with a handful of channels the GEMMs are thin and the
/// transforms' memory traffic would be most of the work.
const MIN_CHANNELS: usize = 16;

/// Floats of V and M together per block (1 MiB).
const BLOCK_FLOATS: usize = 1 << 18;

/// Whether this convolution goes through the Winograd kernels.
pub(super) fn applies(g: &Geometry) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride == [1, 1]
        && g.pad[0] <= 2
        && g.pad[1] <= 2
        && g.cin >= MIN_CHANNELS
        && g.cout >= MIN_CHANNELS
}

/// Tiles of one image: rows, columns.
fn tiles(g: &Geometry) -> (usize, usize) {
    (g.ho.div_ceil(2), g.wo.div_ceil(2))
}

/// The tiles one task handles: whole images when an image has fewer tiles than a block
/// holds, otherwise a band of tile rows of one image. Tile t of a block is at
/// t = (image - images.start) · rows.len() · tw + (row - rows.start) · tw + column.
struct Block {
    images: Range<usize>,
    rows: Range<usize>,
}

impl Block {
    fn tiles(&self, tw: usize) -> usize {
        self.images.len() * self.rows.len() * tw
    }

    /// The index in the block of the first tile of tile row `ty` of image `img`.
    fn first_tile(&self, img: usize, ty: usize, tw: usize) -> usize {
        ((img - self.images.start) * self.rows.len() + ty - self.rows.start) * tw
    }

    /// Each tile row of the block: (image, tile row, its first tile's index in the block).
    fn tile_rows(&self, tw: usize) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.images.clone().flat_map(move |img| {
            self.rows
                .clone()
                .map(move |ty| (img, ty, self.first_tile(img, ty, tw)))
        })
    }
}

/// The blocks of a convolution, in order (a function of the shapes alone).
fn blocks(g: &Geometry) -> Vec<Block> {
    let (th, tw) = tiles(g);
    let want = (BLOCK_FLOATS / (XI * (g.cin + g.cout))).max(1);
    if th * tw <= want {
        let n = want / (th * tw);
        (0..g.batch.div_ceil(n))
            .map(|i| Block {
                images: i * n..((i + 1) * n).min(g.batch),
                rows: 0..th,
            })
            .collect()
    } else {
        let r = (want / tw).max(1);
        (0..g.batch)
            .flat_map(|img| {
                (0..th.div_ceil(r)).map(move |i| Block {
                    images: img..img + 1,
                    rows: i * r..((i + 1) * r).min(th),
                })
            })
            .collect()
    }
}

/// The output planes, written row by row from several tasks at once.
struct Planes {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: the tasks write disjoint rows (each block owns its images' tile rows, and each
// output row belongs to one tile row), and nothing reads the planes until they are done.
unsafe impl Sync for Planes {}

impl Planes {
    /// Row `oy` of plane `plane` (of `g.wo` values). The caller must be the only one
    /// holding this row.
    #[allow(clippy::mut_from_ref)]
    unsafe fn row(&self, g: &Geometry, plane: usize, oy: usize) -> &mut [f32] {
        let at = (plane * g.ho + oy) * g.wo;
        assert!(at + g.wo <= self.len);
        // SAFETY: in bounds (checked above); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), g.wo) }
    }
}

/// The convolution of `xs` by `ws` (plus `bias`), [batch, Cout, Ho, Wo].
pub(super) fn forward(g: &Geometry, xs: &[f32], ws: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (_, tw) = tiles(g);
    let u = transform_weights(g, ws);
    let mut out = zeros(g.batch * g.cout * g.p());
    let planes = Planes {
        ptr: out.as_mut_ptr(),
        len: out.len(),
    };
    blocks(g)
        .into_par_iter()
        .for_each_init(Scratch::take, |Scratch([v, m, rows]), block| {
            let t = block.tiles(tw);
            transform_input(g, xs, &block, v, rows);
            m.resize(XI * g.cout * t, 0.0);
            for (xi, dst) in m.chunks_exact_mut(g.cout * t).enumerate() {
                let lhs = View {
                    data: &u[xi * g.cin..],
                    rs: XI * g.cin,
                    cs: 1,
                };
                let rhs = View {
                    data: &v[xi * t..],
                    rs: XI * t,
                    cs: 1,
                };
                matmul(dst, [g.cout, t, g.cin], false, lhs, rhs, Parallelism::None);
            }
            transform_output(g, m, &block, bias, &planes, rows);
        });
    out
}

/// Σ_c G[i][c] v[c] for i in 0..4: one axis of G g Gᵀ.
fn g_rows(v: [f32; 3]) -> [f32; 4] {
    [
        v[0],
        0.5 * (v[0] + v[1] + v[2]),
        0.5 * (v[0] - v[1] + v[2]),
        v[2],
    ]
}

/// U = G g Gᵀ for every channel pair, [Cout][ξ][Cin].
fn transform_weights(g: &Geometry, ws: &[f32]) -> Vec<f32> {
    let mut u = vec![0.0f32; g.cout * XI * g.cin];
    u.par_chunks_mut(XI * g.cin)
        .enumerate()
        .for_each(|(co, dst)| {
            for ci in 0..g.cin {
                let k = &ws[(co * g.cin + ci) * 9..][..9];
                let cols: [[f32; 4]; 3] =
                    std::array::from_fn(|c| g_rows([k[c], k[3 + c], k[6 + c]]));
                for i in 0..4 {
                    let row = g_rows([cols[0][i], cols[1][i], cols[2][i]]);
                    for (j, v) in row.into_iter().enumerate() {
                        dst[(i * 4 + j) * g.cin + ci] = v;
                    }
                }
            }
        });
    u
}

/// Bᵀ d for one column (or row) of a 4x4 block: Bᵀ rows [1, 0, -1, 0], [0, 1, 1, 0],
/// [0, -1, 1, 0], [0, 1, 0, -1].
#[inline(always)]
fn bt([d0, d1, d2, d3]: [f32; 4]) -> [f32; 4] {
    [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
}

/// Aᵀ m for one column (or row) of a 4x4 block: Aᵀ rows [1, 1, 1, 0], [0, 1, -1, -1].
#[inline(always)]
fn at([m0, m1, m2, m3]: [f32; 4]) -> [f32; 2] {
    [m0 + m1 + m2, m1 - m2 - m3]
}

/// `f` applied elementwise across four rows of equal length, in place.
#[inline(always)]
fn in_place(rows: [&mut [f32]; 4], f: impl Fn([f32; 4]) -> [f32; 4]) {
    let [r0, r1, r2, r3] = rows;
    let n = r0.len();
    let (r1, r2, r3) = (&mut r1[..n], &mut r2[..n], &mut r3[..n]);
    for x in 0..n {
        let o = f([r0[x], r1[x], r2[x], r3[x]]);
        (r0[x], r1[x], r2[x], r3[x]) = (o[0], o[1], o[2], o[3]);
    }
}

/// V = Bᵀ d B for every tile of `block` and every input channel, into `v` as
/// [Cin][ξ][tile]: each channel's 16 input positions gathered across the tiles, then
/// transformed in place along whole rows of tiles.
fn transform_input(g: &Geometry, xs: &[f32], block: &Block, v: &mut Vec<f32>, buf: &mut Vec<f32>) {
    let (_, tw) = tiles(g);
    let t = block.tiles(tw);
    let rows = block.rows.clone();
    // The input rows the block's tiles read (2 per tile row and 2 more), zero-padded to
    // columns -pad .. 2·tw + 2 - pad, and each split into its even and odd columns: the four
    // columns of tile tx are then even[tx], odd[tx], even[tx + 1], odd[tx + 1], and a row
    // of tiles takes four plain copies.
    let (n, wp) = (tw + 1, 2 * tw + 2);
    let [py, px] = g.pad;
    v.resize(g.cin * XI * t, 0.0);
    buf.resize((2 * rows.len() + 3) * wp, 0.0);
    let (padded, split) = buf.split_at_mut(wp);
    for (ci, vc) in v.chunks_exact_mut(XI * t).enumerate() {
        for img in block.images.clone() {
            let plane = &xs[(img * g.cin + ci) * g.h * g.w..][..g.h * g.w];
            for (r, halves) in split.chunks_exact_mut(wp).enumerate() {
                let (even, odd) = halves.split_at_mut(n);
                match (2 * rows.start + r).checked_sub(py).filter(|&y| y < g.h) {
                    None => {
                        even.fill(0.0);
                        odd.fill(0.0);
                    }
                    Some(y) => {
                        padded[..px].fill(0.0);
                        padded[px..px + g.w].copy_from_slice(&plane[y * g.w..][..g.w]);
                        padded[px + g.w..].fill(0.0);
                        for ((e, o), pair) in even.iter_mut().zip(odd).zip(padded.chunks_exact(2)) {
                            (*e, *o) = (pair[0], pair[1]);
                        }
                    }
                }
            }
            for ty in rows.clone() {
                let t0 = block.first_tile(img, ty, tw);
                for r in 0..4 {
                    let (even, odd) = split[(2 * (ty - rows.start) + r) * wp..][..wp].split_at(n);
                    let columns = [&even[..tw], &odd[..tw], &even[1..], &odd[1..]];
                    for (c, src) in columns.into_iter().enumerate() {
                        vc[(r * 4 + c) * t + t0..][..tw].copy_from_slice(src);
                    }
                }
            }
        }
        let mut s = vc.chunks_exact_mut(t);
        let [
            s0,
            s1,
            s2,
            s3,
            s4,
            s5,
            s6,
            s7,
            s8,
            s9,
            s10,
            s11,
            s12,
            s13,
            s14,
            s15,
        ] = std::array::from_fn(|_| s.next().expect("16 rows"));
        wide(|| {
            // Down each column of the 4x4 blocks, then along each row.
            in_place([s0, s4, s8, s12], bt);
            in_place([s1, s5, s9, s13], bt);
            in_place([s2, s6, s10, s14], bt);
            in_place([s3, s7, s11, s15], bt);
            in_place([s0, s1, s2, s3], bt);
            in_place([s4, s5, s6, s7], bt);
            in_place([s8, s9, s10, s11], bt);
            in_place([s12, s13, s14, s15], bt);
        });
    }
}

/// Y = Aᵀ M A (plus the bias) for every tile of `block` and output channel, written into
/// the output `planes`.
fn transform_output(
    g: &Geometry,
    m: &[f32],
    block: &Block,
    bias: Option<&[f32]>,
    planes: &Planes,
    buf: &mut Vec<f32>,
) {
    let (_, tw) = tiles(g);
    let t = block.tiles(tw);
    buf.resize(4 * t, 0.0);
    for co in 0..g.cout {
        let b = bias.map_or(0.0, |b| b[co]);
        let q = |xi: usize| &m[(xi * g.cout + co) * t..][..t];
        let (q0, q1, q2, q3, q4, q5, q6, q7) = (q(0), q(1), q(2), q(3), q(4), q(5), q(6), q(7));
        let (q8, q9, q10, q11) = (q(8), q(9), q(10), q(11));
        let (q12, q13, q14, q15) = (q(12), q(13), q(14), q(15));
        let (y0, rest) = buf.split_at_mut(t);
        let (y1, rest) = rest.split_at_mut(t);
        let (y2, y3) = rest.split_at_mut(t);
        let y3 = &mut y3[..t];
        wide(|| {
            for x in 0..t {
                // Down each column of the 4x4 block (c_j = Aᵀ M[., j]), then along the rows.
                let c0 = at([q0[x], q4[x], q8[x], q12[x]]);
                let c1 = at([q1[x], q5[x], q9[x], q13[x]]);
                let c2 = at([q2[x], q6[x], q10[x], q14[x]]);
                let c3 = at([q3[x], q7[x], q11[x], q15[x]]);
                let top = at([c0[0], c1[0], c2[0], c3[0]]);
                let bottom = at([c0[1], c1[1], c2[1], c3[1]]);
                (y0[x], y1[x]) = (top[0] + b, top[1] + b);
                (y2[x], y3[x]) = (bottom[0] + b, bottom[1] + b);
            }
        });
        for (img, ty, t0) in block.tile_rows(tw) {
            for (r, (even, odd)) in [(&*y0, &*y1), (&*y2, &*y3)].into_iter().enumerate() {
                let oy = 2 * ty + r;
                if oy >= g.ho {
                    continue;
                }
                // SAFETY: output row `oy` of this image's plane `co` belongs to tile row `ty`
                // of this block alone.
                let row = unsafe { planes.row(g, img * g.cout + co, oy) };
                let (even, odd) = (&even[t0..t0 + tw], &odd[t0..t0 + tw]);
                let mut pairs = row.chunks_exact_mut(2);
                for (pair, (&e, &o)) in (&mut pairs).zip(even.iter().zip(odd)) {
                    (pair[0], pair[1]) = (e, o);
                }
                if let [last] = pairs.into_remainder() {
                    *last = even[tw - 1];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wavy(n: usize, phase: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.7391 + phase).sin()).collect()
    }

    fn geometry(batch: usize, cin: usize, cout: usize, hw: [usize; 2], pad: usize) -> Geometry {
        let [h, w] = hw;
        Geometry {
            batch,
            cin,
            h,
            w,
            cout,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            pad: [pad, pad],
            ho: h + 2 * pad - 2,
            wo: w + 2 * pad - 2,
        }
    }

    /// The direct sums in f64.
    fn direct(g: &Geometry, xs: &[f32], ws: &[f32]) -> Vec<f64> {
        let mut y = vec![0.0f64; g.batch * g.cout * g.p()];
        for (o, y) in y.iter_mut().enumerate() {
            let (ox, oy) = (o % g.wo, (o / g.wo) % g.ho);
            let (co, b) = ((o / g.p()) % g.cout, o / (g.p() * g.cout));
            for ci in 0..g.cin {
                for i in 0..3 {
                    for j in 0..3 {
                        let iy = (oy + i).checked_sub(g.pad[0]).filter(|&v| v < g.h);
                        let ix = (ox + j).checked_sub(g.pad[1]).filter(|&v| v < g.w);
                        if let (Some(iy), Some(ix)) = (iy, ix) {
                            let x = xs[((b * g.cin + ci) * g.h + iy) * g.w + ix] as f64;
                            *y += x * ws[((co * g.cin + ci) * 3 + i) * 3 + j] as f64;
                        }
                    }
                }
            }
        }
        y
    }

    /// Odd and even sizes, every padding it takes, blocks of whole images and of bands of
    /// tile rows: the forward pass (with a bias) agrees with the direct sums.
    #[test]
    fn forward_matches_the_direct_sums() {
        for (batch, cin, cout, hw, pad) in [
            (2, 16, 17, [5, 7], 1),
            (3, 16, 16, [6, 4], 0),
            (2, 17, 16, [3, 3], 2),
            (5, 16, 16, [47, 45], 1),
        ] {
            let g = geometry(batch, cin, cout, hw, pad);
            assert!(applies(&g));
            let xs = wavy(batch * cin * hw[0] * hw[1], 0.0);
            let ws = wavy(cout * cin * 9, 1.0);
            let bias = wavy(cout, 3.0);
            let want = direct(&g, &xs, &ws);
            let y = forward(&g, &xs, &ws, Some(&bias));
            let worst = y
                .iter()
                .zip(&want)
                .enumerate()
                .map(|(i, (&y, &w))| (y as f64 - w - bias[(i / g.p()) % cout] as f64).abs())
                .fold(0.0, f64::max);
            assert!(
                worst < 1e-4,
                "{batch}x{cin}->{cout} {hw:?} pad {pad}: off by {worst}"
            );
        }
    }

    /// The same bits on one thread and on three.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let g = geometry(20, 16, 24, [17, 16], 1);
        let xs = wavy(g.batch * g.cin * g.h * g.w, 0.0);
        let ws = wavy(g.cout * g.cin * 9, 1.0);
        let run = || forward(&g, &xs, &ws, None);
        let pool = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        };
        let bits = |t: Vec<f32>| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert!(bits(pool(1).install(run)) == bits(pool(3).install(run)));
    }
}
