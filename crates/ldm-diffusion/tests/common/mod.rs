//! Fixture reading and comparisons shared by the integration tests.
#![allow(dead_code)]

use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

pub fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/diffusers.json");
    let text = std::fs::read_to_string(path).expect("read the diffusers fixture");
    serde_json::from_str(&text).expect("parse the diffusers fixture")
}

/// A list of float32 values, each read as the float32 it was written from (the fixture stores
/// the shortest decimal that reads back to it).
pub fn floats32(v: &Value) -> Vec<f64> {
    floats(v).into_iter().map(|x| x as f32 as f64).collect()
}

pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("a list of numbers")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// A fixture tensor (`{shape, dtype: float32, data}`) as a rank-4 tensor on the CPU.
pub fn tensor(v: &Value) -> Tensor<4> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f32> = floats(&v["data"]).into_iter().map(|x| x as f32).collect();
    let shape: [usize; 4] = shape.try_into().expect("rank 4");
    Tensor::from_data(TensorData::new(data, shape), &Device::flex())
}

pub fn values(t: &Tensor<4>) -> Vec<f64> {
    let v: Vec<f32> = t.clone().try_into_vec_as().unwrap();
    v.into_iter().map(|x| x as f64).collect()
}

/// Assert `got` matches `want` within `tol` (absolute), printing the largest error.
pub fn check(name: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: lengths");
    let err = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    eprintln!("parity {name:<40} max abs err {err:.2e}");
    assert!(err <= tol, "{name}: max abs err {err:e} > {tol:e}");
}

pub fn check_t(name: &str, got: &Tensor<4>, want: &Tensor<4>, tol: f64) {
    assert_eq!(got.dims(), want.dims(), "{name}: shapes");
    check(name, &values(got), &values(want), tol);
}
