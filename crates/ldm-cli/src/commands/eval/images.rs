//! Image sets as `ldm eval` holds them: planar floats in [-1, 1] with their captions, read
//! from a split or generated, and their evaluator features.

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};

use ldm_data::{DataConfig, Loader, LoaderOptions, Source, Transform};
use ldm_eval::Features;
use ldm_eval::evaluator::Evaluator;

/// `n` images `[n, C, H, W]` (row-major, in [-1, 1]) and the caption of each.
pub struct Images {
    pub data: Vec<f32>,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    pub captions: Vec<String>,
    /// Each caption's label, or the caption itself where the dataset has none.
    pub labels: Vec<String>,
}

impl Images {
    pub fn len(&self) -> usize {
        self.captions.len()
    }

    fn per_image(&self) -> usize {
        self.shape.iter().product()
    }

    /// Images `range` as a `[len, C, H, W]` tensor.
    pub fn tensor(&self, range: std::ops::Range<usize>, device: &Device) -> Tensor<4> {
        let [c, h, w] = self.shape;
        let p = self.per_image();
        let data = self.data[range.start * p..range.end * p].to_vec();
        Tensor::from_data(TensorData::new(data, [range.len(), c, h, w]), device)
    }

    /// The first `n` as 8-bit images (for grids and the shapes detector).
    pub fn to_images(&self, n: usize) -> Vec<image::DynamicImage> {
        let n = n.min(self.len());
        let [c, h, w] = self.shape;
        ldm_data::grid::to_images(&self.data[..n * self.per_image()], [n, c, h, w])
    }

    /// Append a decoded `[B, C, H, W]` batch with its captions and their labels.
    pub fn push(
        &mut self,
        batch: Tensor<4>,
        captions: &[String],
        labels: &[String],
    ) -> anyhow::Result<()> {
        let data = batch
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        self.data.extend(data);
        self.captions.extend_from_slice(captions);
        self.labels.extend_from_slice(labels);
        Ok(())
    }

    pub fn empty(shape: [usize; 3]) -> Self {
        Self {
            data: Vec::new(),
            shape,
            captions: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// The evaluator's unit features of every image, `batch` at a time.
    pub fn features(
        &self,
        ev: &Evaluator,
        batch: usize,
        device: &Device,
    ) -> anyhow::Result<Features> {
        let mut out = Vec::with_capacity(self.len() * 64);
        let mut dim = 0;
        for start in (0..self.len()).step_by(batch) {
            let end = (start + batch).min(self.len());
            let f = ev.image_features(self.tensor(start..end, device));
            dim = f.dims()[1];
            out.extend(
                f.into_data()
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?,
            );
        }
        Features::new(out, dim).map_err(anyhow::Error::msg)
    }
}

/// The first `n` readable images of `source` (centre-cropped, as validation sees them), in
/// the source's order or a seeded shuffle of it.
pub fn read(
    source: Arc<dyn Source>,
    data: &DataConfig,
    n: usize,
    shuffle: bool,
    seed: u64,
) -> anyhow::Result<Images> {
    let opts = LoaderOptions {
        shuffle,
        ..LoaderOptions::evaluation(data, 64, seed)
    };
    let mut loader = Loader::new(source, Transform::eval(data), opts);
    let (c, r) = (data.channels as usize, data.resolution as usize);
    let mut out = Images::empty([c, r, r]);
    while out.len() < n {
        let Some(batch) = loader.next_batch().map_err(anyhow::Error::msg)? else {
            break;
        };
        let keep = batch.shape[0].min(n - out.len());
        out.data
            .extend_from_slice(&batch.images[..keep * out.per_image()]);
        out.captions.extend_from_slice(&batch.captions[..keep]);
        out.labels.extend_from_slice(&batch.labels[..keep]);
    }
    anyhow::ensure!(
        out.len() >= 2,
        "fewer than 2 readable images to evaluate on"
    );
    Ok(out)
}
