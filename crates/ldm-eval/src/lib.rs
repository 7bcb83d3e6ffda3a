//! Evaluation of generated images.
//!
//! - [`detector`]: reads the objects of a built-in shapes image (colour, shape, size, centre)
//!   and scores them against the prompt, attribute by attribute, tallied apart for prompts
//!   with held-out colour-shape pairs.
//! - [`fid()`] / [`kid()`]: Fréchet and kernel distances between two feature sets.

pub mod detector;
mod features;
mod fid;
mod kid;

pub use features::Features;
pub use fid::{FeatureStats, fid, frechet_distance};
pub use kid::{Kid, KidConfig, kid};
