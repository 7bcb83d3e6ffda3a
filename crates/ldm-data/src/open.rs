//! Build the training and validation sources named by a `[data]` config.

use std::path::Path;
use std::sync::Arc;

use burn_dataset::Dataset;

use crate::config::{DataConfig, SourceKind};
use crate::imagefolder::ImageFolder;
use crate::sample::Source;
use crate::shapes::{Shapes, ShapesSplit};
use crate::subset::Subset;
use crate::webdataset::WebDataset;

pub struct Splits {
    pub train: Arc<dyn Source>,
    pub val: Arc<dyn Source>,
}

fn open_one(kind: SourceKind, path: &str) -> Result<Arc<dyn Source>, String> {
    let source: Arc<dyn Source> = match kind {
        SourceKind::Imagefolder => Arc::new(ImageFolder::open(Path::new(path))?),
        SourceKind::Webdataset => Arc::new(WebDataset::open(path)?),
        SourceKind::Shapes => unreachable!("shapes has no path"),
    };
    if source.is_empty() {
        return Err(format!("dataset at {path} is empty"));
    }
    Ok(source)
}

/// Open the configured source and split it into training and validation.
pub fn open(cfg: &DataConfig, seed: u64) -> Result<Splits, String> {
    if cfg.source == SourceKind::Shapes {
        let make = |split| Arc::new(Shapes::new(cfg.shapes.clone(), cfg.resolution, seed, split));
        return Ok(Splits {
            train: make(ShapesSplit::Train),
            val: make(ShapesSplit::Val),
        });
    }
    let path = cfg
        .path
        .as_deref()
        .ok_or("data.path is required for this source")?;
    if let Some(name) = &cfg.val_split {
        let folder = ImageFolder::open(Path::new(path))?;
        let (val, train) = folder.partition_by_split(name);
        if val.is_empty() || train.is_empty() {
            return Err(format!(
                "{path}: val_split = \"{name}\" leaves {} validation and {} training rows \
                 (is there a `split` column in the metadata?)",
                val.len(),
                train.len()
            ));
        }
        let all: Arc<dyn Source> = Arc::new(folder);
        return Ok(Splits {
            train: Arc::new(Subset::new(all.clone(), train)),
            val: Arc::new(Subset::new(all, val)),
        });
    }
    let all = open_one(cfg.source, path)?;
    if let Some(val_path) = &cfg.val_path {
        return Ok(Splits {
            train: all,
            val: open_one(cfg.source, val_path)?,
        });
    }
    let (train, val) = crate::subset::split(all, cfg.val_fraction, seed);
    if train.is_empty() {
        return Err(format!(
            "dataset at {path}: nothing left for training after val_fraction"
        ));
    }
    Ok(Splits {
        train: Arc::new(train),
        val: Arc::new(val),
    })
}
