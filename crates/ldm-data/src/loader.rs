//! Batches in a deterministic, resumable order. Samples are decoded and transformed in
//! parallel, but results are collected in order, and each sample's augmentation randomness
//! comes from (seed, epoch, index): the thread count never changes a batch.

use std::sync::Arc;

use rayon::prelude::*;

use ldm_core::seed;

use crate::config::{DataConfig, OnBadSample};
use crate::order::{Order, Position};
use crate::sample::{BadSample, Source};
use crate::transform::Transform;

/// A batch of transformed images, planar `[batch, channels, height, width]` in [-1, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub images: Vec<f32>,
    pub shape: [usize; 4],
    pub captions: Vec<String>,
    /// Each caption's label, or the caption itself where the source has none
    /// ([`crate::Sample::label`]).
    pub labels: Vec<String>,
    pub ids: Vec<String>,
}

impl Batch {
    /// The images as a `[B, C, H, W]` tensor on `device`.
    pub fn tensor(&self, device: &burn::tensor::Device) -> burn::tensor::Tensor<4> {
        let data = burn::tensor::TensorData::new(self.images.clone(), self.shape);
        burn::tensor::Tensor::from_data(data, device)
    }
}

pub struct LoaderOptions {
    pub batch_size: usize,
    pub seed: u64,
    /// Visit samples in a fresh seeded permutation each epoch (training) or in order (eval).
    pub shuffle: bool,
    /// Roll over into the next epoch (training) or stop after one pass (evaluation).
    pub repeat: bool,
    pub on_bad_sample: OnBadSample,
    /// Decoding threads; 0 means one per core.
    pub workers: usize,
}

impl LoaderOptions {
    /// Training: a fresh seeded permutation each epoch, endless, bad samples handled as the
    /// config says.
    pub fn training(data: &DataConfig, batch_size: usize, seed: u64) -> Self {
        Self {
            batch_size,
            seed,
            shuffle: true,
            repeat: true,
            on_bad_sample: data.on_bad_sample,
            workers: data.workers,
        }
    }

    /// One pass in order, for validation and measurements: bad samples are skipped (the
    /// training pass is where they are reported or fail).
    pub fn evaluation(data: &DataConfig, batch_size: usize, seed: u64) -> Self {
        Self {
            batch_size,
            seed,
            shuffle: false,
            repeat: false,
            on_bad_sample: OnBadSample::Skip,
            workers: data.workers,
        }
    }
}

pub struct Loader {
    dataset: Arc<dyn Source>,
    transform: Transform,
    order: Order,
    opts: LoaderOptions,
    pool: rayon::ThreadPool,
    skipped: u64,
}

/// One transformed sample, as it goes into a batch.
struct Item {
    image: Vec<f32>,
    caption: String,
    /// The sample's label, or its caption where it has none.
    label: String,
    id: String,
}

impl Loader {
    pub fn new(dataset: Arc<dyn Source>, transform: Transform, opts: LoaderOptions) -> Self {
        let order = Order::new(dataset.len(), opts.seed, opts.shuffle);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.workers)
            .thread_name(|i| format!("ldm-decode-{i}"))
            .build()
            .expect("decode thread pool");
        Self {
            dataset,
            transform,
            order,
            opts,
            pool,
            skipped: 0,
        }
    }

    pub fn position(&self) -> Position {
        self.order.position()
    }

    pub fn restore(&mut self, pos: Position) {
        self.order.restore(pos);
    }

    /// Samples skipped as bad so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Samples per epoch.
    pub fn len(&self) -> usize {
        self.dataset.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dataset.is_empty()
    }

    fn load(&self, epoch: u64, index: usize) -> Result<Item, BadSample> {
        let sample = self.dataset.get(index)?;
        let mut rng = seed::rng(self.opts.seed, "augment", (epoch << 40) ^ index as u64);
        Ok(Item {
            image: self.transform.apply(&sample.image, &mut rng),
            label: sample.label_or_caption().to_string(),
            caption: sample.caption,
            id: sample.id,
        })
    }

    /// The next batch. `Ok(None)` only without `repeat`, once the pass is over. With
    /// `on_bad_sample = "skip"` bad samples are logged, counted and replaced by the next ones
    /// in the order; with "fail" the first one is returned as the error.
    pub fn next_batch(&mut self) -> Result<Option<Batch>, BadSample> {
        let bs = self.opts.batch_size;
        let mut items: Vec<Item> = Vec::with_capacity(bs);
        let mut bad_in_a_row = 0;
        while items.len() < bs {
            let mut want = bs - items.len();
            if !self.opts.repeat {
                want = want.min(self.order.remaining());
                if want == 0 {
                    break;
                }
            }
            let picks: Vec<(u64, usize)> = (0..want).map(|_| self.order.next()).collect();
            let loaded: Vec<Result<Item, BadSample>> = self
                .pool
                .install(|| picks.par_iter().map(|&(e, i)| self.load(e, i)).collect());
            for r in loaded {
                match r {
                    Ok(item) => {
                        items.push(item);
                        bad_in_a_row = 0;
                    }
                    Err(bad) if self.opts.on_bad_sample == OnBadSample::Fail => return Err(bad),
                    Err(bad) => {
                        tracing::warn!("skipping bad sample {bad}");
                        self.skipped += 1;
                        bad_in_a_row += 1;
                        if bad_in_a_row > self.dataset.len() {
                            return Err(BadSample::new("dataset", "no sample could be read"));
                        }
                    }
                }
            }
        }
        if items.is_empty() {
            return Ok(None);
        }
        let n = self.transform.resolution as usize;
        let shape = [items.len(), self.transform.channels as usize, n, n];
        let mut batch = Batch {
            images: Vec::with_capacity(shape.iter().product()),
            shape,
            captions: Vec::with_capacity(items.len()),
            labels: Vec::with_capacity(items.len()),
            ids: Vec::with_capacity(items.len()),
        };
        for item in items {
            batch.images.extend_from_slice(&item.image);
            batch.captions.push(item.caption);
            batch.labels.push(item.label);
            batch.ids.push(item.id);
        }
        Ok(Some(batch))
    }
}
