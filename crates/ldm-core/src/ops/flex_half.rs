//! Half-precision tensors (bf16, f16) on `flex` (a mixed-precision step, `train::Precision`)
//! through the f32 kernels: the inputs widened to f32, the kernel, its result rounded to the
//! inputs' dtype — what a half-precision kernel computes (f32 accumulation, half-precision
//! stores). flex's own bf16 operations widen and round the same way around its stock f32
//! kernels: the bf16 denoiser step ran at 2.07 steps/s that way, against about 4.5 in f32
//! (`benches/README.md`); the conversions here are one parallel pass each.

use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::{DType, TensorMetadata};
use burn::tensor::{Bytes, bf16, f16};
use rayon::prelude::*;

use super::flex::{CHUNK, contiguous, f32_tensor, wide, zeros};

/// `kernel` run on half-precision inputs through f32, its result rounded to their dtype.
/// None unless every input is bf16, or every input f16, and the kernel applies (the caller
/// then takes the stock operation).
pub fn through_f32<const N: usize>(
    ts: [&FlexTensor; N],
    kernel: impl FnOnce([&FlexTensor; N]) -> Option<FlexTensor>,
) -> Option<FlexTensor> {
    let dtype = ts[0].dtype();
    if !matches!(dtype, DType::BF16 | DType::F16) || ts.iter().any(|t| t.dtype() != dtype) {
        return None;
    }
    let wide: Vec<FlexTensor> = ts
        .iter()
        .map(|t| match dtype {
            DType::BF16 => widen::<bf16>(t),
            _ => widen::<f16>(t),
        })
        .collect();
    kernel(std::array::from_fn(|i| &wide[i])).map(|y| match dtype {
        DType::BF16 => narrow::<bf16>(y),
        _ => narrow::<f16>(y),
    })
}

/// `kernel` on f32 inputs, or through f32 on half-precision ones ([`through_f32`]); None
/// where neither applies (the caller then takes the stock operation).
pub fn f32_or_half<const N: usize>(
    ts: [&FlexTensor; N],
    kernel: impl Fn([&FlexTensor; N]) -> Option<FlexTensor>,
) -> Option<FlexTensor> {
    kernel(ts).or_else(|| through_f32(ts, kernel))
}

/// A half-precision element type and its conversions.
trait Half: Copy + Send + Sync + 'static {
    const ZERO: Self;
    const DTYPE: DType;
    /// The first `n` elements of a contiguous tensor of this dtype.
    fn elements(t: &FlexTensor, n: usize) -> &[Self];
    /// `data` as a tensor's storage.
    fn bytes(data: Vec<Self>) -> Bytes;
    fn widen(self) -> f32;
    fn narrow(x: f32) -> Self;
}

impl Half for bf16 {
    const ZERO: Self = bf16::ZERO;
    const DTYPE: DType = DType::BF16;
    fn elements(t: &FlexTensor, n: usize) -> &[Self] {
        &t.storage::<bf16>()[..n]
    }
    fn bytes(data: Vec<Self>) -> Bytes {
        Bytes::from_elems(data)
    }
    /// Exact: bf16 is the top half of an f32 (a shift, where the library's conversion
    /// branches on NaN).
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from_bits((self.to_bits() as u32) << 16)
    }
    #[inline(always)]
    fn narrow(x: f32) -> Self {
        bf16::from_f32(x)
    }
}

impl Half for f16 {
    const ZERO: Self = f16::ZERO;
    const DTYPE: DType = DType::F16;
    fn elements(t: &FlexTensor, n: usize) -> &[Self] {
        &t.storage::<f16>()[..n]
    }
    fn bytes(data: Vec<Self>) -> Bytes {
        Bytes::from_elems(data)
    }
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn narrow(x: f32) -> Self {
        f16::from_f32(x)
    }
}

/// A half-precision tensor as f32 (exact).
fn widen<H: Half>(t: &FlexTensor) -> FlexTensor {
    let t = contiguous(t.clone());
    let shape = t.shape();
    let n = shape.num_elements();
    let src = H::elements(&t, n);
    let mut out = zeros(n);
    out.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(o, s)| {
            wide(|| {
                for (o, s) in o.iter_mut().zip(s) {
                    *o = s.widen();
                }
            })
        });
    f32_tensor(out, shape)
}

/// An f32 kernel's result rounded to the nearest half-precision value.
fn narrow<H: Half>(t: FlexTensor) -> FlexTensor {
    let t = contiguous(t);
    let shape = t.shape();
    let n = shape.num_elements();
    let src: &[f32] = &t.storage::<f32>()[..n];
    let mut out = vec![H::ZERO; n];
    out.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(o, s)| {
            wide(|| {
                for (o, &s) in o.iter_mut().zip(s) {
                    *o = H::narrow(s);
                }
            })
        });
    FlexTensor::new(H::bytes(out), Layout::contiguous(shape), H::DTYPE)
}

#[cfg(test)]
mod tests {
    use burn::backend::flex::FlexTensor;
    use burn::backend::{DType, TensorMetadata};
    use burn::tensor::{TensorData, bf16, f16};

    /// Widening is exact and narrowing rounds to nearest (ties to even), for a transposed
    /// (strided) input too; other dtypes are left to the stock operation.
    #[test]
    fn round_trip_and_rounding() {
        // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: to even, 1. 1 + 3·2^-8 rounds up.
        let xs = [
            1.0f32,
            1.0 + 1.0 / 256.0,
            1.0 + 3.0 / 256.0,
            -2.5,
            1e-30,
            3e38,
        ];
        let halves: Vec<bf16> = xs.iter().map(|&x| bf16::from_f32(x)).collect();
        assert_eq!(halves[1].to_f32(), 1.0);
        assert_eq!(halves[2].to_f32(), 1.0 + 4.0 / 256.0);
        let h = FlexTensor::from_data(TensorData::new(halves.clone(), [2, 3])).transpose(0, 1);
        // The kernel sees exact f32 copies, laid out in order; its result is rounded.
        let out = super::through_f32([&h], |[x]| {
            assert_eq!(x.dtype(), DType::F32);
            let v = x.clone().into_data().try_to_vec::<f32>().unwrap();
            let want: Vec<f32> = [0, 3, 1, 4, 2, 5]
                .iter()
                .map(|&i| halves[i].to_f32())
                .collect();
            assert_eq!(v, want);
            let nudged: Vec<f32> = v.iter().map(|x| x * (1.0 + 1.0 / 256.0)).collect();
            Some(FlexTensor::from_data(TensorData::new(nudged, [3, 2])))
        })
        .unwrap();
        assert_eq!(out.dtype(), DType::BF16);
        assert_eq!(out.shape().dims::<2>(), [3, 2]);
        let got = out.into_data().try_to_vec::<bf16>().unwrap();
        let want: Vec<bf16> = [0, 3, 1, 4, 2, 5]
            .iter()
            .map(|&i| bf16::from_f32(halves[i].to_f32() * (1.0 + 1.0 / 256.0)))
            .collect();
        assert_eq!(got, want);
        // 1·(1 + 2^-8) is the tie again: it must come back as 1.
        assert_eq!(got[0].to_f32(), 1.0);
        let f = FlexTensor::from_data(TensorData::new(xs.to_vec(), [2, 3]));
        assert!(super::through_f32([&f], |[x]| Some(x.clone())).is_none());
        // Mixed half-precision dtypes are left to the stock operation too.
        assert!(super::through_f32([&h, &f16s(&[1.0])], |[x, _]| Some(x.clone())).is_none());
    }

    fn f16s(xs: &[f32]) -> FlexTensor {
        let v: Vec<f16> = xs.iter().map(|&x| f16::from_f32(x)).collect();
        FlexTensor::from_data(TensorData::new(v, [xs.len()]))
    }

    /// f16 the same way: exact widening, rounding to nearest f16 (ties to even), overflow to
    /// infinity beyond 65504.
    #[test]
    fn f16_round_trip_and_rounding() {
        // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: to even, 1.
        let xs = [
            1.0f32,
            1.0 + 1.0 / 2048.0,
            1.0 + 3.0 / 2048.0,
            -2.5,
            1e-6,
            7e4,
        ];
        let h = f16s(&xs);
        let out = super::through_f32([&h], |[x]| {
            let v = x.clone().into_data().try_to_vec::<f32>().unwrap();
            let want: Vec<f32> = xs.iter().map(|&x| f16::from_f32(x).to_f32()).collect();
            assert_eq!(v, want);
            Some(FlexTensor::from_data(TensorData::new(xs.to_vec(), [6])))
        })
        .unwrap();
        assert_eq!(out.dtype(), DType::F16);
        let got: Vec<f32> = out
            .into_data()
            .try_to_vec::<f16>()
            .unwrap()
            .iter()
            .map(|x| x.to_f32())
            .collect();
        assert_eq!(got[..3], [1.0, 1.0, 1.0 + 4.0 / 2048.0]);
        assert_eq!(got[3], -2.5);
        assert!(got[5].is_infinite());
    }
}
