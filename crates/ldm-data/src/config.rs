//! The `[data]` section of an experiment config.

use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};

use crate::shapes::ShapesConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Built-in procedural shapes; needs no files.
    Shapes,
    /// A folder of images with metadata.jsonl / metadata.csv.
    Imagefolder,
    /// Tar shards of `{key}.{jpg,png,webp}` + `{key}.txt`.
    Webdataset,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crop {
    Center,
    Random,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBadSample {
    /// Report the sample with its path, count it, and take the next one.
    Skip,
    /// Stop with an error naming the sample.
    Fail,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Where the (image, caption) pairs come from: "shapes", "imagefolder" or "webdataset".
    pub source: SourceKind,
    /// imagefolder: the folder; webdataset: a shard pattern such as
    /// "data/shard-{0000..0099}.tar" or "data/*.tar". Relative to the working directory.
    pub path: Option<String>,
    /// Images are resized (shorter side) and cropped to resolution x resolution.
    pub resolution: u32,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: u32,
    /// "center" or "random" crop after resizing; validation always crops the centre.
    pub crop: Crop,
    /// Random horizontal flips for training (not for shapes: it would contradict
    /// "to the left of" in captions).
    pub hflip: bool,
    /// Fraction of the source held out for validation, chosen with the seed.
    pub val_fraction: f64,
    /// A separate validation source (same kind as `source`) instead of `val_fraction`.
    pub val_path: Option<String>,
    /// imagefolder only: rows whose metadata `split` column equals this value (e.g. "test")
    /// are the validation set, instead of `val_fraction`.
    pub val_split: Option<String>,
    /// "skip" or "fail" on a corrupt or missing image or a missing caption.
    pub on_bad_sample: OnBadSample,
    /// Decoding threads; 0 means one per core. Never changes the order of samples.
    pub workers: usize,
    /// Options of the built-in shapes source.
    pub shapes: ShapesConfig,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            source: SourceKind::Shapes,
            path: None,
            resolution: 32,
            channels: 3,
            crop: Crop::Center,
            hflip: false,
            val_fraction: 0.05,
            val_path: None,
            val_split: None,
            on_bad_sample: OnBadSample::Skip,
            workers: 0,
            shapes: ShapesConfig::default(),
        }
    }
}

impl Validate for DataConfig {
    fn validate(&self, c: &mut Checks) {
        c.check("resolution", (8..=4096).contains(&self.resolution), || {
            "must be between 8 and 4096".into()
        });
        c.check("channels", matches!(self.channels, 1 | 3), || {
            "must be 1 or 3".into()
        });
        c.check(
            "val_fraction",
            (0.0..1.0).contains(&self.val_fraction),
            || "must be in [0, 1)".into(),
        );
        match self.source {
            SourceKind::Shapes => {
                c.check("hflip", !self.hflip, || {
                    "flipping shapes images would contradict 'left of'/'right of' in their captions"
                        .into()
                });
                c.section("shapes", |c| self.shapes.validate(c));
            }
            kind => c.check("path", self.path.is_some(), || {
                format!("source = \"{kind:?}\" needs `path`").to_lowercase()
            }),
        }
        c.check(
            "val_split",
            self.val_split.is_none() || self.source == SourceKind::Imagefolder,
            || "only an imagefolder's metadata has a split column".into(),
        );
        c.check(
            "val_split",
            self.val_split.is_none() || self.val_path.is_none(),
            || "give either val_split or val_path, not both".into(),
        );
    }
}
