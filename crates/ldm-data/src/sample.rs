//! What every dataset yields, and how a bad item is reported.

use std::fmt;

use image::DynamicImage;

/// One decoded (image, caption) pair, before transforms.
#[derive(Clone, Debug)]
pub struct Sample {
    pub image: DynamicImage,
    pub caption: String,
    /// What the caption says, when the source knows it (an imagefolder's `label` column):
    /// captions with the same label are paraphrases, and retrieval measures never count one
    /// against another. `None`: the caption is its own label.
    pub label: Option<String>,
    /// Where it came from (a file path or `shard.tar:key`), for messages.
    pub id: String,
}

/// A sample that could not be read: a missing or corrupt image, or a missing caption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadSample {
    pub id: String,
    pub reason: String,
}

impl Sample {
    /// The label, or the caption where there is none.
    pub fn label_or_caption(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.caption)
    }
}

impl BadSample {
    pub fn new(id: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for BadSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.id, self.reason)
    }
}

impl std::error::Error for BadSample {}

/// The dataset interface every source implements (burn-dataset's trait with our error type).
pub trait Source: burn_dataset::Dataset<Sample, BadSample> {}
impl<T: burn_dataset::Dataset<Sample, BadSample>> Source for T {}

/// Decode image bytes, naming `id` if they are not an image.
pub fn decode(id: &str, bytes: &[u8]) -> Result<DynamicImage, BadSample> {
    image::load_from_memory(bytes).map_err(|e| BadSample::new(id, format!("corrupt image: {e}")))
}

/// A caption is required: an empty one is as bad as a missing one.
pub fn require_caption(id: &str, caption: Option<String>) -> Result<String, BadSample> {
    match caption.map(|c| c.trim().to_string()) {
        Some(c) if !c.is_empty() => Ok(c),
        _ => Err(BadSample::new(id, "missing caption")),
    }
}
