//! A view of some indices of a source, for train/validation splits.

use std::sync::Arc;

use burn_dataset::Dataset;
use rand::seq::SliceRandom;

use crate::sample::{BadSample, Sample, Source};

pub struct Subset {
    source: Arc<dyn Source>,
    indices: Vec<usize>,
}

impl Subset {
    pub fn new(source: Arc<dyn Source>, indices: Vec<usize>) -> Self {
        Self { source, indices }
    }
}

impl Dataset<Sample, BadSample> for Subset {
    fn get(&self, index: usize) -> Result<Sample, BadSample> {
        self.source.get(self.indices[index])
    }
    fn len(&self) -> usize {
        self.indices.len()
    }
}

/// Split `source` into (train, validation) with `fraction` held out, chosen by `seed`.
/// Each part keeps the source's order, so the split does not depend on later shuffling.
pub fn split(source: Arc<dyn Source>, fraction: f64, seed: u64) -> (Subset, Subset) {
    let n = source.len();
    let n_val = (n as f64 * fraction).round() as usize;
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ldm_core::seed::rng(seed, "split", 0));
    let mut val = idx[..n_val].to_vec();
    let mut train = idx[n_val..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    (
        Subset {
            source: source.clone(),
            indices: train,
        },
        Subset {
            source,
            indices: val,
        },
    )
}
