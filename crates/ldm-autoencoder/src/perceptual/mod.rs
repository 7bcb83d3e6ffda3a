//! Perceptual distance: LPIPS-style comparison of unit-normalised features of a frozen
//! network. The default network is learned here, on the user's own images, by contrastive
//! self-supervision (`ldm train-perceptual`), so nothing has to be downloaded.

mod augment;
mod contrastive;
mod distance;
mod net;
mod train;

pub use augment::{AugmentConfig, two_views};
pub use contrastive::{ContrastiveHead, info_nce, retrieval_accuracy};
pub use distance::lpips;
pub use net::{FeatureNet, FeatureNetConfig};
pub use train::{PerceptualSection, train_perceptual};
