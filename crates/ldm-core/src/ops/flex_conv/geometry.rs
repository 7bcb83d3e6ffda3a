//! The sizes of a convolution and the patch matrices its GEMMs run on: `col` ([K, P] per
//! image, side by side for a group of images), `rows` (its transpose, K ordered (i, j, c)),
//! and the copies between per-image and side-by-side layouts.

use burn::backend::Shape;
use burn::backend::ops::ConvOptions;
use rayon::prelude::*;

use super::super::gemm::Parallelism;

/// Columns per GEMM to aim for: the images of a group share one packing of the weights
/// (`mod.rs` says why 256).
const MIN_COLUMNS: usize = 256;

/// Input channels per output column at or above which the patches are built as rows
/// (`by_rows`).
const ROWS_PER_WIDTH: usize = 4;

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

    pub(super) fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    pub(super) fn p(&self) -> usize {
        self.ho * self.wo
    }

    pub(super) fn image(&self) -> usize {
        self.cin * self.h * self.w
    }

    /// 1x1, stride 1, no padding: the image is its own patch matrix.
    pub(super) fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.pad == [0, 0]
    }

    /// Images per GEMM: a function of the sizes alone, so sums never depend on the threads.
    pub(super) fn group(&self) -> usize {
        let most = MIN_COLUMNS.div_ceil(self.p()).clamp(1, self.batch);
        // As few groups as `most` allows, each as large as the batch then needs: 32 images at
        // 9 columns each make two groups of 16, not 29 and 3. (Only the last can be smaller,
        // as 4, 4, 4, 1 for 13 images: the callers chunk by one size.)
        self.batch.div_ceil(self.batch.div_ceil(most))
    }

    /// The groups of images, in order.
    pub(super) fn groups(
        &self,
    ) -> impl IndexedParallelIterator<Item = std::ops::Range<usize>> + '_ {
        let g = self.group();
        (0..self.batch.div_ceil(g))
            .into_par_iter()
            .map(move |i| i * g..((i + 1) * g).min(self.batch))
    }

    /// With at least as many tasks as threads, each GEMM runs on one; otherwise the GEMMs
    /// themselves are split.
    pub(super) fn gemm_par(tasks: usize) -> Parallelism {
        if Self::too_few(tasks) {
            Parallelism::Rayon(0)
        } else {
            Parallelism::None
        }
    }

    /// Fewer tasks than threads: the work inside each task is then split as well.
    pub(super) fn too_few(tasks: usize) -> bool {
        tasks < rayon::current_num_threads()
    }

    /// Build the patches as rows (runs of Cin values) rather than as `col` (runs of Wo
    /// values): small images with many channels, the critic's 4x4 convs (Cin 64-512 at
    /// Wo 8-2) and strided downsamplings. There `col` is copied in runs of 2-8 values, and its
    /// copies cost up to a third of the pass (`perf`, critic's last conv), while the GEMMs
    /// on rows run as fast. A pointwise conv's `col` is whole planes: it stays.
    pub(super) fn by_rows(&self) -> bool {
        !self.pointwise() && self.cin >= ROWS_PER_WIDTH * self.wo
    }

    /// The convolution whose forward pass is this one's input gradient, when the stride is 1:
    /// dOut padded by kh-1-pad and convolved with the weights flipped in space, their in and
    /// out channels swapped. None for strided convs and pads wider than the kernel, and where
    /// the input is larger than the output (the critic's 4x4 convs): that convolution would
    /// compute H·W positions where the GEMM of dcol computes Ho·Wo (16 against 9 at 4x4).
    pub(super) fn transposed(&self) -> Option<Self> {
        let after = |n: usize, o: usize, k: usize, pad: usize| (o + k - 1).checked_sub(n + pad);
        if self.stride != [1, 1]
            || self.h * self.w > self.ho * self.wo
            || self.pad[0] >= self.kh
            || self.pad[1] >= self.kw
            || after(self.h, self.ho, self.kh, self.pad[0])? >= self.kh
            || after(self.w, self.wo, self.kw, self.pad[1])? >= self.kw
        {
            return None;
        }
        Some(Self {
            batch: self.batch,
            cin: self.cout,
            h: self.ho,
            w: self.wo,
            cout: self.cin,
            kh: self.kh,
            kw: self.kw,
            stride: [1, 1],
            pad: [self.kh - 1 - self.pad[0], self.kw - 1 - self.pad[1]],
            ho: self.h,
            wo: self.w,
        })
    }

    /// For each kernel offset `i` along one axis: the output positions whose input position
    /// o * s + i - pad falls inside [0, n), as a range.
    pub(super) fn valid(
        o_len: usize,
        n: usize,
        s: usize,
        pad: usize,
        i: usize,
    ) -> std::ops::Range<usize> {
        // o * s + i >= pad  <=>  o >= ceil((pad - i) / s)
        let lo = pad.saturating_sub(i).div_ceil(s);
        // o * s + i - pad <= n - 1  <=>  o <= (n - 1 + pad - i) / s
        let hi = match (n + pad).checked_sub(i + 1) {
            Some(v) => (v / s + 1).min(o_len),
            None => 0,
        };
        lo.min(hi)..hi
    }

    /// The patch rows of one channel `plane` ([H, W]) of one image: kh·kw rows of P values
    /// `ld` apart in `rows` (the channel's block of the group's matrix, at the image's column).
    fn im2col_plane(&self, plane: &[f32], rows: &mut [f32], ld: usize) {
        let (p, [sy, sx], [py, px]) = (self.p(), self.stride, self.pad);
        for i in 0..self.kh {
            let valid_rows = Self::valid(self.ho, self.h, sy, py, i);
            for j in 0..self.kw {
                let cols = Self::valid(self.wo, self.w, sx, px, j);
                let dst = &mut rows[(i * self.kw + j) * ld..][..p];
                for oy in 0..self.ho {
                    let out = &mut dst[oy * self.wo..][..self.wo];
                    if !valid_rows.contains(&oy) || cols.is_empty() {
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

    /// Add one channel's patch-row gradients (kh·kw rows `ld` apart, at the image's column)
    /// onto that channel's `plane` ([H, W]) of the image gradient.
    fn col2im_plane(&self, rows: &[f32], ld: usize, plane: &mut [f32]) {
        let (p, [sy, sx], [py, px]) = (self.p(), self.stride, self.pad);
        for i in 0..self.kh {
            let valid_rows = Self::valid(self.ho, self.h, sy, py, i);
            for j in 0..self.kw {
                let cols = Self::valid(self.wo, self.w, sx, px, j);
                if cols.is_empty() {
                    continue;
                }
                let src = &rows[(i * self.kw + j) * ld..][..p];
                for oy in valid_rows.clone() {
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

    /// The gradient of the images of a group (`dx`, [images, Cin, H, W]) from the group's
    /// patch-matrix gradient `col` ([K, images · P]). `split`: one task per input channel,
    /// for groups too few to occupy the threads (the critic's last layers are one group).
    ///
    /// Channel by channel, as `patches` is built: a channel's kh·kw rows of `col` are one
    /// contiguous block holding every image's columns, read front to back. Image by image
    /// instead, each small plane gathered its kh·kw short runs from rows `ld` apart across
    /// the whole of `col` (a third of the critic's input-gradient time, `perf`). A group of
    /// several images is gathered channel-major in `by_channel` ([Cin, images, H, W]) and
    /// then copied into place.
    pub(super) fn col2im(
        &self,
        col: &[f32],
        images: usize,
        dx: &mut [f32],
        by_channel: &mut Vec<f32>,
        split: bool,
    ) {
        let (hw, p, ld) = (self.h * self.w, self.p(), images * self.p());
        let block = self.kh * self.kw * ld;
        let planes = images * hw;
        let channel = |(c, dst): (usize, &mut [f32])| {
            let rows = &col[c * block..][..block];
            for (t, plane) in dst.chunks_mut(hw).enumerate() {
                self.col2im_plane(&rows[t * p..], ld, plane);
            }
        };
        let dst: &mut [f32] = if images == 1 {
            // One image's channel-major layout is its own.
            &mut *dx
        } else {
            by_channel.clear();
            by_channel.resize(self.cin * planes, 0.0);
            &mut by_channel[..]
        };
        for_each_chunk(dst, planes, split, channel);
        if images > 1 {
            let by_channel = &by_channel[..];
            let image = |(t, dx_t): (usize, &mut [f32])| {
                for (c, plane) in dx_t.chunks_mut(hw).enumerate() {
                    plane.copy_from_slice(&by_channel[c * planes + t * hw..][..hw]);
                }
            };
            for_each_chunk(dx, self.cin * hw, split, image);
        }
    }

    /// The patches of the images `b` of `x` ([B, Cin, H, W]) side by side: [K, images · P].
    /// One image of a pointwise conv is borrowed as it is. `split`: one task per input
    /// channel, for groups too few to occupy the threads.
    pub(super) fn patches<'a>(
        &self,
        x: &'a [f32],
        b: std::ops::Range<usize>,
        col: &'a mut Vec<f32>,
        split: bool,
    ) -> &'a [f32] {
        let (image, p) = (self.image(), self.p());
        if self.pointwise() && b.len() == 1 {
            return &x[b.start * image..][..image];
        }
        let (ld, hw) = (b.len() * p, self.h * self.w);
        col.resize(self.k() * ld, 0.0);
        // One block of kh·kw rows per input channel, each image's patches at its column.
        let channel = |(c, rows): (usize, &mut [f32])| {
            for (t, bi) in b.clone().enumerate() {
                let plane = &x[bi * image + c * hw..][..hw];
                self.im2col_plane(plane, &mut rows[t * p..], ld);
            }
        };
        let block = self.kh * self.kw * ld;
        for_each_chunk(col, block, split, channel);
        col
    }

    /// The patches of the images `b` of `x` as rows, one per output position: [images · P, K]
    /// with K ordered (i, j, c). In that order a row is kh·kw runs of Cin contiguous values of
    /// the image in HWC layout, so it is built by copies, and the weight gradient's GEMM gets
    /// its reduction (the positions) as rows and K contiguous, the layout gemm packs fastest:
    /// with `col`'s layout it spent more time repacking than multiplying.
    pub(super) fn patch_rows(
        &self,
        x: &[f32],
        b: std::ops::Range<usize>,
        hwc: &mut Vec<f32>,
        rows: &mut Vec<f32>,
        split: bool,
    ) {
        let (k, p, image, cin) = (self.k(), self.p(), self.image(), self.cin);
        let [sy, sx] = self.stride;
        let [py, px] = self.pad;
        rows.resize(b.len() * p * k, 0.0);
        // Every image of the group in HWC first, so that rows can be built in any order.
        hwc.resize(b.len() * image, 0.0);
        let to_hwc = |(t, dst): (usize, &mut [f32])| {
            transpose(
                &x[(b.start + t) * image..][..image],
                cin,
                self.h * self.w,
                dst,
            )
        };
        for_each_chunk(hwc, image, split, to_hwc);
        let hwc = &hwc[..];
        // One row per output position: kh·kw runs of Cin values (zeros where padded).
        let row = |(n, row): (usize, &mut [f32])| {
            let (t, oy, ox) = (n / p, n % p / self.wo, n % self.wo);
            let image = &hwc[t * image..][..image];
            for i in 0..self.kh {
                let iy = (oy * sy + i).checked_sub(py).filter(|&v| v < self.h);
                for j in 0..self.kw {
                    let ix = (ox * sx + j).checked_sub(px).filter(|&v| v < self.w);
                    let dst = &mut row[(i * self.kw + j) * cin..][..cin];
                    match (iy, ix) {
                        (Some(iy), Some(ix)) => {
                            dst.copy_from_slice(&image[(iy * self.w + ix) * cin..][..cin])
                        }
                        _ => dst.fill(0.0),
                    }
                }
            }
        };
        for_each_chunk(rows, k, split, row);
    }

    /// The adjoint of [`Self::patch_rows`]: the gradient of the images of a group (`dx`,
    /// [images, Cin, H, W]) from their patch rows' gradient `rows` ([images · P, K], K ordered
    /// (i, j, c)). Each row's kh·kw runs of Cin values are added onto the image in HWC layout,
    /// which is then transposed into place. `split`: one task per image.
    pub(super) fn rows2im(
        &self,
        rows: &[f32],
        images: usize,
        dx: &mut [f32],
        hwc: &mut Vec<f32>,
        split: bool,
    ) {
        let (k, p, image, cin) = (self.k(), self.p(), self.image(), self.cin);
        let [sy, sx] = self.stride;
        let [py, px] = self.pad;
        hwc.clear();
        hwc.resize(images * image, 0.0);
        let one = |((t, acc), dx_t): ((usize, &mut [f32]), &mut [f32])| {
            for (pos, row) in rows[t * p * k..][..p * k].chunks_exact(k).enumerate() {
                let (oy, ox) = (pos / self.wo, pos % self.wo);
                for i in 0..self.kh {
                    let Some(iy) = (oy * sy + i).checked_sub(py).filter(|&v| v < self.h) else {
                        continue;
                    };
                    for j in 0..self.kw {
                        let Some(ix) = (ox * sx + j).checked_sub(px).filter(|&v| v < self.w) else {
                            continue;
                        };
                        let src = &row[(i * self.kw + j) * cin..][..cin];
                        let dst = &mut acc[(iy * self.w + ix) * cin..][..cin];
                        dst.iter_mut().zip(src).for_each(|(d, &v)| *d += v);
                    }
                }
            }
            transpose(acc, self.h * self.w, cin, dx_t);
        };
        if split {
            hwc.par_chunks_mut(image)
                .enumerate()
                .zip(dx.par_chunks_mut(image))
                .for_each(one);
        } else {
            hwc.chunks_mut(image)
                .enumerate()
                .zip(dx.chunks_mut(image))
                .for_each(one);
        }
    }

    /// The weights ([Cout, Cin, kh, kw]) with K ordered as the patch rows': [Cout, (i, j, c)].
    pub(super) fn weights_by_tap(&self, ws: &[f32]) -> Vec<f32> {
        let (k, taps) = (self.k(), self.kh * self.kw);
        let mut out = vec![0.0f32; self.cout * k];
        out.par_chunks_mut(k)
            .zip(ws.par_chunks(k))
            .for_each(|(dst, src)| {
                for (c, channel) in src.chunks_exact(taps).enumerate() {
                    for (tap, &v) in channel.iter().enumerate() {
                        dst[tap * self.cin + c] = v;
                    }
                }
            });
        out
    }
}

/// `f` on each `size`-long chunk of `buf` with its index: one task per chunk across rayon's
/// threads when `split` (groups too few to occupy them), in order on this thread otherwise.
/// Each chunk's work is the same either way, so the results are too.
fn for_each_chunk(
    buf: &mut [f32],
    size: usize,
    split: bool,
    f: impl Fn((usize, &mut [f32])) + Send + Sync,
) {
    if split {
        buf.par_chunks_mut(size).enumerate().for_each(f);
    } else {
        buf.chunks_mut(size).enumerate().for_each(f);
    }
}

/// Rows of `rows · P` per image, laid side by side: `dst[r][t·P..]` = `src[image t][r]`.
/// One image is borrowed as it is.
pub(super) fn side_by_side<'a>(
    src: &'a [f32],
    images: std::ops::Range<usize>,
    rows: usize,
    p: usize,
    dst: &'a mut Vec<f32>,
) -> &'a [f32] {
    let per_image = rows * p;
    if images.len() == 1 {
        return &src[images.start * per_image..][..per_image];
    }
    let ld = images.len() * p;
    dst.resize(rows * ld, 0.0);
    for (t, b) in images.enumerate() {
        for r in 0..rows {
            dst[r * ld + t * p..][..p].copy_from_slice(&src[(b * rows + r) * p..][..p]);
        }
    }
    dst
}

/// `dst` [cols, rows] = `src` [rows, cols]ᵀ: 16 source rows at a time, so each write fills
/// a whole cache line of `dst` while the 16 rows stream in.
pub(super) fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    const T: usize = 16;
    assert_eq!(dst.len(), rows * cols);
    for r0 in (0..rows).step_by(T) {
        let n = T.min(rows - r0);
        let band: Vec<&[f32]> = (r0..r0 + n).map(|r| &src[r * cols..][..cols]).collect();
        for (c, out) in dst.chunks_exact_mut(rows).enumerate() {
            for (o, row) in out[r0..r0 + n].iter_mut().zip(&band) {
                *o = row[c];
            }
        }
    }
}

/// The inverse of [`side_by_side`]: `[rows, images · P]` back to per-image `[rows, P]` blocks,
/// with `bias[r]` added to row r where given.
pub(super) fn per_image(
    src: &[f32],
    images: usize,
    rows: usize,
    p: usize,
    bias: Option<&[f32]>,
    dst: &mut [f32],
) {
    let ld = images * p;
    for t in 0..images {
        for r in 0..rows {
            let (out, from) = (
                &mut dst[(t * rows + r) * p..][..p],
                &src[r * ld + t * p..][..p],
            );
            match bias {
                Some(b) => out.iter_mut().zip(from).for_each(|(o, &v)| *o = v + b[r]),
                None => out.copy_from_slice(from),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Shape;
    use burn::backend::ops::ConvOptions;

    use super::Geometry;

    /// Images per group for `batch` images of `side`² outputs (a 3x3 conv, stride 1, pad 1).
    fn group(batch: usize, side: usize) -> usize {
        let x = Shape::new([batch, 2, side, side]);
        let w = Shape::new([2, 2, 3, 3]);
        let o = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        Geometry::new(&x, &w, &o).unwrap().group()
    }

    #[test]
    fn groups_share_the_batch_near_the_column_target() {
        assert_eq!(group(16, 16), 1); // 256 columns per image already
        assert_eq!(group(16, 8), 4); // 4 groups of 4
        assert_eq!(group(16, 3), 16); // 29 would do: the whole batch is one group
        assert_eq!(group(32, 3), 16); // two groups of 16, not 29 and 3
        assert_eq!(group(40, 3), 20); // two of 20, not 29 and 11
    }
}
