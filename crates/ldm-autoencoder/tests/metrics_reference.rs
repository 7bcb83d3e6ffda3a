//! PSNR and SSIM against scikit-image (fixture from scripts/make_metric_fixtures.py).

use burn::tensor::{Device, Tensor, TensorData};
use ldm_autoencoder::metrics::{psnr, ssim};

#[test]
fn psnr_and_ssim_match_scikit_image() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/metrics.json"
    ))
    .unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let d = Device::flex();
    for case in fixture["cases"].as_array().unwrap() {
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let img = |key: &str| {
            let v: Vec<f32> = case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            Tensor::<4>::from_data(TensorData::new(v, [1, shape[0], shape[1], shape[2]]), &d)
        };
        let (p, s) = (psnr(img("a"), img("b")), ssim(img("a"), img("b")));
        let (want_p, want_s) = (
            case["psnr"].as_f64().unwrap(),
            case["ssim"].as_f64().unwrap(),
        );
        println!("{shape:?}: PSNR {p:.5} vs {want_p:.5}, SSIM {s:.6} vs {want_s:.6}");
        assert!((p - want_p).abs() < 1e-3, "PSNR {p} vs skimage {want_p}");
        assert!((s - want_s).abs() < 1e-4, "SSIM {s} vs skimage {want_s}");
    }
}
