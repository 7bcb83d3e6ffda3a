//! Image-caption datasets for ldm: imagefolder, webdataset and the built-in procedural shapes,
//! with transforms, train/validation splits, and a loader whose order is seeded, parallel-safe
//! and resumable.

pub mod config;
pub mod grid;
pub mod imagefolder;
pub mod latents;
pub mod loader;
pub mod open;
pub mod order;
pub mod sample;
pub mod shapes;
pub mod shards;
pub mod subset;
pub mod transform;
pub mod webdataset;

pub use config::{DataConfig, OnBadSample, SourceKind};
pub use loader::{Batch, Loader, LoaderOptions};
pub use open::{Splits, open};
pub use order::Position;
pub use sample::{BadSample, Sample, Source};
pub use transform::Transform;
