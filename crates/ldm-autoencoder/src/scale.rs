//! The latent scale factor: 1 / std of sampled latents over many training images (not one
//! batch), so the denoiser sees latents of unit variance.

use std::sync::Arc;

use burn::tensor::Device;

use ldm_data::{DataConfig, Loader, LoaderOptions, Source, Transform};

use crate::autoencoder::Autoencoder;

/// Encode up to `images` training images (in order, centre-cropped) and return 1 / std of
/// their sampled latents, and how many images were used.
pub fn scale_factor(
    ae: &Autoencoder,
    train: Arc<dyn Source>,
    data: &DataConfig,
    images: usize,
    seed: u64,
    device: &Device,
) -> Result<(f64, usize), String> {
    let opts = LoaderOptions::evaluation(data, 64, seed);
    let mut loader = Loader::new(train, Transform::eval(data), opts);
    device.seed(ldm_core::seed::derive(seed, "scale-factor", 0));
    // Accumulate in f64: sum and sum of squares over every latent element.
    let (mut sum, mut sum_sq, mut count, mut n) = (0.0f64, 0.0f64, 0usize, 0usize);
    while n < images {
        let Some(batch) = loader.next_batch().map_err(|e| e.to_string())? else {
            break;
        };
        let z = ae.encode(batch.tensor(device)).sample();
        let v: Vec<f32> = z
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| format!("{e:?}"))?;
        for x in &v {
            sum += *x as f64;
            sum_sq += (*x as f64) * (*x as f64);
        }
        count += v.len();
        n += batch.shape[0];
    }
    if count < 2 {
        return Err("no training images could be encoded for the scale factor".into());
    }
    let mean = sum / count as f64;
    let var = (sum_sq / count as f64 - mean * mean).max(1e-12);
    Ok((1.0 / var.sqrt(), n))
}
