//! bf16 tensors on `flex` (a mixed-precision step, `train::Precision`) through the f32
//! kernels: the inputs widened to f32, the kernel, its result rounded to bf16 — what a bf16
//! kernel computes (f32 accumulation, bf16 stores). flex's own bf16 operations widen and
//! round the same way around its stock f32 kernels, which ran the denoiser step at 0.46x the
//! speed of f32; the conversions are one parallel pass each.

use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::{DType, TensorMetadata};
use burn::tensor::{Bytes, bf16};
use rayon::prelude::*;

use super::flex::{CHUNK, f32_tensor, wide, zeros};

/// `kernel` run on bf16 inputs through f32, its result rounded to bf16. None unless every
/// input is bf16 and the kernel applies (the caller then takes the stock operation).
pub fn through_f32<const N: usize>(
    ts: [&FlexTensor; N],
    kernel: impl FnOnce([&FlexTensor; N]) -> Option<FlexTensor>,
) -> Option<FlexTensor> {
    if ts.iter().any(|t| t.dtype() != DType::BF16) {
        return None;
    }
    let wide: Vec<FlexTensor> = ts.iter().map(|t| widen(t)).collect();
    kernel(std::array::from_fn(|i| &wide[i])).map(narrow)
}

/// A bf16 tensor as f32 (exact: bf16 is the top half of an f32).
fn widen(t: &FlexTensor) -> FlexTensor {
    let t = if t.layout().is_contiguous() && t.layout().start_offset() == 0 {
        t.clone()
    } else {
        t.to_contiguous()
    };
    let shape = t.shape();
    let n = shape.num_elements();
    let src: &[bf16] = &t.storage::<bf16>()[..n];
    let mut out = zeros(n);
    out.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(o, s)| {
            wide(|| {
                for (o, s) in o.iter_mut().zip(s) {
                    *o = f32::from_bits((s.to_bits() as u32) << 16);
                }
            })
        });
    f32_tensor(out, shape)
}

/// An f32 kernel's (contiguous) result rounded to the nearest bf16.
fn narrow(t: FlexTensor) -> FlexTensor {
    let t = if t.layout().is_contiguous() && t.layout().start_offset() == 0 {
        t
    } else {
        t.to_contiguous()
    };
    let shape = t.shape();
    let n = shape.num_elements();
    let src: &[f32] = &t.storage::<f32>()[..n];
    let mut out = vec![bf16::ZERO; n];
    out.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(o, s)| {
            wide(|| {
                for (o, &s) in o.iter_mut().zip(s) {
                    *o = bf16::from_f32(s);
                }
            })
        });
    FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(shape),
        DType::BF16,
    )
}

#[cfg(test)]
mod tests {
    use burn::backend::flex::FlexTensor;
    use burn::backend::{DType, TensorMetadata};
    use burn::tensor::{TensorData, bf16};

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
    }
}
