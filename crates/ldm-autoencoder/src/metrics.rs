//! Reconstruction quality: PSNR and SSIM on images in [-1, 1] (compared on [0, 1]).

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

/// Mean over the batch of per-image PSNR in dB.
pub fn psnr(a: Tensor<4>, b: Tensor<4>) -> f64 {
    let [n, _, _, _] = a.dims();
    // [-1, 1] -> [0, 1] halves the difference.
    let mse = (a - b)
        .mul_scalar(0.5)
        .square()
        .reshape([n as i32, -1])
        .mean_dim(1)
        .reshape([n]);
    let per_image = mse
        .clamp_min(1e-10)
        .log()
        .mul_scalar(-10.0 / std::f64::consts::LN_10);
    per_image.mean().into_scalar::<f64>()
}

/// Mean SSIM (Wang et al. 2004): 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
/// computed per channel over valid window positions and averaged.
pub fn ssim(a: Tensor<4>, b: Tensor<4>) -> f64 {
    let [_, c, h, w] = a.dims();
    let k = 11.min(h).min(w);
    let window = gaussian_window(k, 1.5, c, &a.device());
    let (a, b) = (
        a.add_scalar(1.0).mul_scalar(0.5),
        b.add_scalar(1.0).mul_scalar(0.5),
    );
    let filt = |x: Tensor<4>| {
        conv2d(
            x,
            window.clone(),
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], c),
        )
    };
    let (mu_a, mu_b) = (filt(a.clone()), filt(b.clone()));
    let (mu_aa, mu_bb, mu_ab) = (mu_a.clone().square(), mu_b.clone().square(), mu_a * mu_b);
    let var_a = filt(a.clone().square()) - mu_aa.clone();
    let var_b = filt(b.clone().square()) - mu_bb.clone();
    let cov = filt(a * b) - mu_ab.clone();
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let num = (mu_ab.mul_scalar(2.0).add_scalar(c1)) * (cov.mul_scalar(2.0).add_scalar(c2));
    let den = (mu_aa + mu_bb).add_scalar(c1) * (var_a + var_b).add_scalar(c2);
    (num / den).mean().into_scalar::<f64>()
}

/// A normalised k x k Gaussian, one copy per channel for a depthwise conv: `[c, 1, k, k]`.
fn gaussian_window(k: usize, sigma: f64, c: usize, device: &burn::tensor::Device) -> Tensor<4> {
    let g: Vec<f64> = (0..k)
        .map(|i| {
            let x = i as f64 - (k - 1) as f64 / 2.0;
            (-x * x / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let s: f64 = g.iter().sum();
    let mut w = Vec::with_capacity(c * k * k);
    for _ in 0..c {
        for y in 0..k {
            for x in 0..k {
                w.push((g[y] * g[x] / (s * s)) as f32);
            }
        }
    }
    Tensor::from_data(TensorData::new(w, [c, 1, k, k]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn identical_images_are_perfect_and_noise_lowers_both() {
        let d = Device::flex();
        d.seed(0);
        let x = Tensor::<4>::random([2, 3, 16, 16], Distribution::Uniform(-1.0, 1.0), &d);
        assert!(psnr(x.clone(), x.clone()) >= 99.0);
        assert!((ssim(x.clone(), x.clone()) - 1.0).abs() < 1e-4);
        let small = x.clone() + x.random_like(Distribution::Normal(0.0, 0.02));
        let big = x.clone() + x.random_like(Distribution::Normal(0.0, 0.2));
        assert!(psnr(x.clone(), small.clone()) > psnr(x.clone(), big.clone()) + 10.0);
        assert!(ssim(x.clone(), small) > ssim(x, big));
    }

    #[test]
    fn psnr_matches_the_formula() {
        let d = Device::flex();
        let a = Tensor::<4>::zeros([1, 1, 4, 4], &d);
        // A difference of 0.2 in [-1, 1] is 0.1 in [0, 1]: mse 0.01 -> 20 dB.
        let b = Tensor::<4>::full([1, 1, 4, 4], 0.2, &d);
        assert!((psnr(a, b) - 20.0).abs() < 1e-4);
    }
}
