//! Does the learned distance behave like a perceptual one? It must grow with the strength of
//! blur, noise and JPEG blockiness, and judge a 1-pixel shift closer than noise of the same
//! L2 error (which L2 itself cannot tell apart).

use burn::tensor::{Device, Tensor, TensorData};
use image::{DynamicImage, RgbImage};
use rand::{Rng, SeedableRng};

use ldm_autoencoder::perceptual::FeatureNet;
use ldm_data::transform::to_chw;
use ldm_data::{DataConfig, Splits, Transform};

fn batch(images: &[DynamicImage], device: &Device) -> Tensor<4> {
    let (w, h) = (images[0].width() as usize, images[0].height() as usize);
    let data: Vec<f32> = images.iter().flat_map(|i| to_chw(i, 3)).collect();
    Tensor::from_data(TensorData::new(data, [images.len(), 3, h, w]), device)
}

fn mean_distance(net: &FeatureNet, a: &[DynamicImage], b: &[DynamicImage], d: &Device) -> f64 {
    net.distance(batch(a, d), batch(b, d))
        .mean()
        .into_scalar::<f64>()
}

fn add_noise(img: &DynamicImage, sigma: f32, rng: &mut impl Rng) -> DynamicImage {
    let mut out = img.to_rgb8();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            let (u1, u2): (f32, f32) = (rng.random_range(1e-7..1.0), rng.random());
            let n = sigma * 127.5 * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
            *c = (*c as f32 + n).round().clamp(0.0, 255.0) as u8;
        }
    }
    out.into()
}

fn jpeg(img: &DynamicImage, quality: u8) -> DynamicImage {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(&img.to_rgb8())
        .unwrap();
    image::load_from_memory(&bytes).unwrap()
}

fn shift(img: &DynamicImage) -> DynamicImage {
    let src = img.to_rgb8();
    let (w, h) = src.dimensions();
    RgbImage::from_fn(w, h, |x, y| *src.get_pixel(x.saturating_sub(1), y)).into()
}

fn mse(a: &DynamicImage, b: &DynamicImage) -> f64 {
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    let n = a.as_raw().len() as f64;
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| ((*x as f64 - *y as f64) / 127.5).powi(2))
        .sum::<f64>()
        / n
}

fn assert_increasing(name: &str, ds: &[f64]) {
    println!("{name}: {ds:.4?}");
    assert!(
        ds.windows(2).all(|w| w[0] < w[1]),
        "{name} distances not increasing: {ds:?}"
    );
}

pub fn check(net: &FeatureNet, data: &DataConfig, splits: &Splits) {
    let d = Device::flex();
    let t = Transform::eval(data);
    let imgs: Vec<DynamicImage> = (0..32)
        .map(|i| t.image(&splits.val.get(i).unwrap().image, &mut rand::rng()))
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);

    let blur: Vec<f64> = [0.5f32, 1.0, 1.5, 2.5]
        .iter()
        .map(|&s| {
            mean_distance(
                net,
                &imgs,
                &imgs.iter().map(|i| i.blur(s)).collect::<Vec<_>>(),
                &d,
            )
        })
        .collect();
    assert_increasing("blur sigma 0.5, 1, 1.5, 2.5", &blur);
    let noise: Vec<f64> = [0.05f32, 0.1, 0.2, 0.4]
        .iter()
        .map(|&s| {
            mean_distance(
                net,
                &imgs,
                &imgs
                    .iter()
                    .map(|i| add_noise(i, s, &mut rng))
                    .collect::<Vec<_>>(),
                &d,
            )
        })
        .collect();
    assert_increasing("noise sigma 0.05, 0.1, 0.2, 0.4", &noise);
    let blocks: Vec<f64> = [90u8, 50, 20, 5]
        .iter()
        .map(|&q| {
            mean_distance(
                net,
                &imgs,
                &imgs.iter().map(|i| jpeg(i, q)).collect::<Vec<_>>(),
                &d,
            )
        })
        .collect();
    assert_increasing("jpeg quality 90, 50, 20, 5", &blocks);

    // Noise scaled per image to the shifted image's L2 error.
    let shifted: Vec<DynamicImage> = imgs.iter().map(shift).collect();
    let matched: Vec<DynamicImage> = imgs
        .iter()
        .zip(&shifted)
        .map(|(i, s)| add_noise(i, mse(i, s).sqrt() as f32, &mut rng))
        .collect();
    let l2 = |xs: &[DynamicImage]| {
        imgs.iter().zip(xs).map(|(a, b)| mse(a, b)).sum::<f64>() / imgs.len() as f64
    };
    let (l2_shift, l2_noise) = (l2(&shifted), l2(&matched));
    let (p_shift, p_noise) = (
        mean_distance(net, &imgs, &shifted, &d),
        mean_distance(net, &imgs, &matched, &d),
    );
    println!(
        "1-px shift: L2 {l2_shift:.4} perceptual {p_shift:.4}; matched noise: L2 {l2_noise:.4} perceptual {p_noise:.4}"
    );
    assert!(
        (l2_shift - l2_noise).abs() < 0.25 * l2_shift,
        "noise should match the shift's L2"
    );
    // A pixel distance scores the two at 1.0 by construction (equal L2); the trained net
    // must put the shift clearly closer. Measured ratios: 0.30, 0.38 and 0.48 after 1200
    // steps with kernels that differ only in summation order (learning.rs says more), hence
    // 0.75.
    assert!(
        p_shift < 0.75 * p_noise,
        "a 1-pixel shift should be clearly closer than equal-L2 noise"
    );
}
