//! Reading the reference fixtures in tests/fixtures (written by scripts/make_*_fixtures.py).

#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensors};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    pub fn open(name: &str) -> Self {
        let path = fixture(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self { bytes }
    }

    /// (shape, values) of an f32 tensor.
    pub fn f32(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st.tensor(name).unwrap();
        assert_eq!(t.dtype(), Dtype::F32, "{name}");
        let v = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()));
        (t.shape().to_vec(), v.collect())
    }

    /// (shape, values) of an i64 tensor.
    pub fn i64(&self, name: &str) -> (Vec<usize>, Vec<i64>) {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st.tensor(name).unwrap();
        assert_eq!(t.dtype(), Dtype::I64, "{name}");
        let v = t
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()));
        (t.shape().to_vec(), v.collect())
    }
}

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap()
}

/// max |a - b| over all values.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// max |a - b| over the real tokens of `[B, L, D]` hidden states with per-row `lengths`.
pub fn max_abs_diff_real(a: &[f32], b: &[f32], lengths: &[usize], l: usize, d: usize) -> f32 {
    let mut m = 0.0f32;
    for (i, &n) in lengths.iter().enumerate() {
        let r = i * l * d..(i * l + n) * d;
        m = m.max(max_abs_diff(&a[r.clone()], &b[r]));
    }
    m
}
