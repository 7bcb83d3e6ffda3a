//! `ldm encode`: every image's posterior (mean and std) and caption into the latent cache, so
//! the denoiser never touches pixels again.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use burn::tensor::Device;
use serde_json::json;

use ldm_core::progress;
use ldm_core::warm::Warm;
use ldm_data::latents::{LatentManifest, LatentWriter, SplitShards, write_manifest};
use ldm_data::{DataConfig, Loader, LoaderOptions, Source, Splits, Transform};

use crate::artifacts::AutoencoderInfo;
use crate::autoencoder::Autoencoder;

fn encode_split(
    ae: &Autoencoder,
    source: Arc<dyn Source>,
    data: &DataConfig,
    dir: &Path,
    split: &str,
    device: &Device,
) -> Result<(SplitShards, [usize; 3]), String> {
    let opts = LoaderOptions {
        batch_size: 64,
        seed: 0,
        shuffle: false,
        repeat: false,
        on_bad_sample: data.on_bad_sample,
        workers: data.workers,
    };
    let mut loader = Loader::new(source, Transform::eval(data), opts);
    let bar = progress::bar(loader.len() as u64, &format!("encode {split}"));
    let mut writer: Option<LatentWriter> = None;
    let mut shape = [0; 3];
    while let Some(batch) = loader.next_batch().map_err(|e| e.to_string())? {
        let _warm = Warm::start();
        let post = ae.encode(batch.tensor(device));
        let [b, c, h, w] = post.mean.dims();
        shape = [c, h, w];
        let mean: Vec<f32> = post
            .mean
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| format!("{e:?}"))?;
        let std: Vec<f32> = post
            .std()
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| format!("{e:?}"))?;
        let n = c * h * w;
        let out = writer.get_or_insert_with(|| LatentWriter::new(dir, split, shape, 4096));
        for i in 0..b {
            out.push(
                &mean[i * n..(i + 1) * n],
                &std[i * n..(i + 1) * n],
                &batch.captions[i],
            )?;
        }
        bar.inc(b as u64);
    }
    bar.finish_and_clear();
    if loader.skipped() > 0 {
        tracing::warn!(
            "{split}: skipped {} bad samples while encoding",
            loader.skipped()
        );
    }
    let writer = writer.ok_or_else(|| format!("the {split} split has no readable images"))?;
    Ok((writer.finish()?, shape))
}

/// Encode both splits into `dir` and write its manifest.
pub fn encode_dataset(
    ae: &Autoencoder,
    info: &AutoencoderInfo,
    splits: &Splits,
    data: &DataConfig,
    dir: &Path,
    device: &Device,
) -> Result<LatentManifest, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (train, shape) = encode_split(ae, splits.train.clone(), data, dir, "train", device)?;
    let (val, _) = encode_split(ae, splits.val.clone(), data, dir, "val", device)?;
    let manifest = LatentManifest {
        format: String::new(),
        version: 0,
        shape,
        scale_factor: info.scale_factor,
        splits: BTreeMap::from([("train".to_string(), train), ("val".to_string(), val)]),
        source: json!({ "autoencoder": info }),
    };
    write_manifest(dir, manifest.clone())?;
    Ok(manifest)
}
