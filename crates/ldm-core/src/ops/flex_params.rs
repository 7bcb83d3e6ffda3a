//! The `flex` kernels of `params.rs`: one pass over the tensor, split across threads in
//! fixed chunks. The scaling and the blend write in place when nothing else holds the
//! tensor (a gradient taken out of `GradientsParams`; the EMA's own weights).

use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

use super::flex::{CHUNK, Kernel, f32_contiguous, f32_tensor, map, run_wide, zip};
use super::math::lane_sum;

/// Σ x², `[1]`: each chunk summed in 16 f32 lanes, the chunks' sums added in order in f64,
/// so the result is the same bits on any number of threads.
pub fn sum_squares(x: FlexTensor) -> FlexTensor {
    let x = f32_contiguous(x).expect("f32 (f32_alike)");
    let n = x.shape().num_elements();
    let xs = &x.storage::<f32>()[..n];
    let partials: Vec<f32> = xs.par_chunks(CHUNK).map(|c| run_wide(Squares(c))).collect();
    let total: f64 = partials.iter().map(|&p| f64::from(p)).sum();
    f32_tensor(vec![total as f32], [1])
}

struct Squares<'a>(&'a [f32]);

impl Kernel for Squares<'_> {
    type Out = f32;
    #[inline(always)]
    fn run(self) -> f32 {
        let c = self.0;
        lane_sum(c.len(), |i| c[i] * c[i])
    }
}

/// `x * factor`, the factor rounded to f32 first (as burn's `mul_scalar` does).
pub fn scale(x: FlexTensor, factor: f64) -> FlexTensor {
    let f = factor as f32;
    map(x, move |v| v * f).expect("f32 (f32_alike)")
}

/// `avg * keep + new * (1 - keep)` in f32, each product rounded before the sum (the stock
/// operations' bits).
pub fn blend(avg: FlexTensor, new: FlexTensor, keep: f64) -> FlexTensor {
    let (k, e) = (keep as f32, (1.0 - keep) as f32);
    zip(new, avg, move |n, a| a * k + n * e).expect("f32 of one shape (f32_alike)")
}
