//! Whole-tensor passes of the training loop's plumbing: the squared norm and the scaling of
//! global-norm gradient clipping, and the EMA blend of the averaged weights.
//!
//! Why: as stock operations each is several passes over every parameter on the calling
//! thread (`square`, `sum`, `mul_scalar`; two `mul_scalar`s and an `add` into new buffers).
//! These passes are bound by memory bandwidth, so what pays is making fewer of them: the
//! `flex` kernels (`flex_params.rs`) make one each, the scaling and the blend over buffers
//! nothing else holds. Denoiser step, alternated runs at 1 thread: EMA 4.7-6.4 -> 2.7-3.5 ms,
//! clipping 3.0-3.8 -> 2.6-3.4 ms.

use burn::backend::Dispatch;
use burn::tensor::Tensor;

use super::FastOps;

/// The sum of the squares of `x`'s elements, `[1]`.
pub fn sum_squares<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as FastOps>::fast_sum_squares(x.into_dispatch()))
}

/// `x * factor` (the factor rounded to `x`'s precision first, as `mul_scalar` does).
pub fn scale<const D: usize>(x: Tensor<D>, factor: f64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FastOps>::fast_scale(x.into_dispatch(), factor))
}

/// `avg * keep + new * (1 - keep)`, the bits of `avg.mul_scalar(keep) +
/// new.mul_scalar(1 - keep)`.
pub fn blend<const D: usize>(avg: Tensor<D>, new: Tensor<D>, keep: f64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FastOps>::fast_blend(
        avg.into_dispatch(),
        new.into_dispatch(),
        keep,
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::super::f32_bits;

    fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
        f32_bits(t.into_data())
    }

    /// Over several of the kernels' chunks and a ragged end.
    fn wide_tensor(phase: f32) -> Tensor<2> {
        let (rows, cols) = (61, 1501);
        let v: Vec<f32> = (0..rows * cols)
            .map(|i| 2.0 * (i as f32 * 0.37 + phase).sin() * (i as f32 * 0.0013).cos())
            .collect();
        Tensor::from_data(TensorData::new(v, [rows, cols]), &Device::flex())
    }

    /// The scaling and the blend give the stock operations' bits, also where the tensor is
    /// shared (no write in place then) and for a transposed view.
    #[test]
    fn scale_and_blend_give_the_stock_bits() {
        let (a, b) = (wide_tensor(1.0), wide_tensor(2.0));
        for f in [0.37, 1.0 / 3.0, 1e-3] {
            let want = bits(a.clone().mul_scalar(f));
            let kept = a.clone();
            assert!(bits(super::scale(a.clone(), f)) == want);
            assert!(
                bits(super::scale(a.clone().swap_dims(0, 1), f))
                    == bits(a.clone().swap_dims(0, 1).mul_scalar(f))
            );
            assert!(
                bits(kept) == bits(a.clone()),
                "a shared input is left as it was"
            );
            let d = 1.0 - f;
            let want = bits(a.clone().mul_scalar(d) + b.clone().mul_scalar(1.0 - d));
            assert!(bits(super::blend(a.clone(), b.clone(), d)) == want);
        }
        // Unshared inputs are written in place: the same values.
        let want = bits(a.clone().mul_scalar(0.5));
        let unique = Tensor::<2>::from_data(a.to_data(), &a.device());
        assert!(bits(super::scale(unique, 0.5)) == want);
    }

    /// The squared norm agrees with an f64 sum and is the same bits on 1 and 3 threads.
    #[test]
    fn sum_squares_is_accurate_and_thread_independent() {
        let a = wide_tensor(3.0);
        let want: f64 = a
            .to_data()
            .try_to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum();
        let on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| super::sum_squares(a.clone()).into_scalar::<f32>())
        };
        let (one, three) = (on(1), on(3));
        assert_eq!(one.to_bits(), three.to_bits());
        assert!(
            (f64::from(one) - want).abs() / want < 1e-6,
            "{one} vs {want}"
        );
        let small = Tensor::<1>::from_floats([3.0, 4.0], &Device::flex());
        assert_eq!(super::sum_squares(small).into_scalar::<f32>(), 25.0);
    }
}
