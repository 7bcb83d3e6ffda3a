//! Perceptual distance: LPIPS-style comparison of unit-normalised features of a frozen
//! network. The default network is learned here, on the user's own images, by contrastive
//! self-supervision (`ldm train-perceptual`), so nothing has to be downloaded. Users who
//! have the PyTorch weights of the original LPIPS (VGG16 or AlexNet) can use those instead
//! ([`PretrainedLpips`]).

mod augment;
mod contrastive;
mod distance;
mod net;
mod pretrained;
mod train;

pub use augment::{AugmentConfig, two_views};
pub use contrastive::{ContrastiveHead, info_nce, retrieval_accuracy};
pub use distance::lpips;
pub use net::{FeatureNet, FeatureNetConfig};
pub use pretrained::{LpipsNet, PretrainedLpips};
pub use train::{PerceptualSection, train_perceptual};

use burn::module::Module;
use burn::tensor::Tensor;

/// The frozen network behind the autoencoder's perceptual loss and validation metric.
#[derive(Module, Debug)]
pub enum Perceptual {
    /// The feature net trained by `ldm train-perceptual`.
    Learned(FeatureNet),
    /// The original LPIPS with pretrained VGG16 or AlexNet weights.
    Lpips(PretrainedLpips),
}

impl Perceptual {
    /// Per-image perceptual distance `[B]` between two image batches in [-1, 1].
    pub fn distance(&self, a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
        match self {
            Self::Learned(net) => net.distance(a, b),
            Self::Lpips(net) => net.distance(a, b),
        }
    }
}
