//! Validation on held-out images: PSNR, SSIM and perceptual distance of the posterior-mode
//! reconstructions, and a grid of originals above reconstructions.

use std::path::Path;
use std::sync::Arc;

use burn::tensor::Device;

use ldm_data::grid::{to_images, write_grid};
use ldm_data::{DataConfig, Loader, LoaderOptions, Source, Transform};

use crate::autoencoder::Autoencoder;
use crate::metrics::{psnr, ssim};
use crate::perceptual::Perceptual;

#[derive(Clone, Copy, Debug, Default)]
pub struct ValMetrics {
    pub psnr: f64,
    pub ssim: f64,
    pub perceptual: f64,
    pub images: usize,
}

/// Evaluate `ae` (a copy without autodiff) on the first `limit` validation images, writing a
/// grid of up to 8 originals above their reconstructions to `grid` if given.
pub fn validate(
    ae: &Autoencoder,
    perceptual: Option<&Perceptual>,
    val: Arc<dyn Source>,
    data: &DataConfig,
    limit: usize,
    device: &Device,
    grid: Option<&Path>,
) -> Result<ValMetrics, String> {
    let opts = LoaderOptions::evaluation(data, 32, 0);
    let mut loader = Loader::new(val, Transform::eval(data), opts);
    let (mut sums, mut n) = ((0.0, 0.0, 0.0), 0usize);
    let mut first = true;
    while n < limit {
        let Some(batch) = loader.next_batch().map_err(|e| e.to_string())? else {
            break;
        };
        let x = batch.tensor(device);
        let recon = ae.decode(ae.encode(x.clone()).mode()).clamp(-1.0, 1.0);
        let b = batch.shape[0] as f64;
        sums.0 += psnr(recon.clone(), x.clone()) * b;
        sums.1 += ssim(recon.clone(), x.clone()) * b;
        if let Some(net) = perceptual {
            sums.2 += net
                .distance(recon.clone(), x.clone())
                .mean()
                .into_scalar::<f64>()
                * b;
        }
        if first && let Some(path) = grid {
            let k = batch.shape[0].min(8);
            let [_, c, h, w] = batch.shape;
            let per = c * h * w;
            let recon_data: Vec<f32> = recon
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| format!("{e:?}"))?;
            let mut imgs = to_images(&batch.images[..k * per], [k, c, h, w]);
            imgs.extend(to_images(&recon_data[..k * per], [k, c, h, w]));
            write_grid(path, &imgs, k, 64)?;
        }
        first = false;
        n += batch.shape[0];
    }
    if n == 0 {
        return Err("the validation split has no readable images".into());
    }
    let n_f = n as f64;
    Ok(ValMetrics {
        psnr: sums.0 / n_f,
        ssim: sums.1 / n_f,
        perceptual: sums.2 / n_f,
        images: n,
    })
}
