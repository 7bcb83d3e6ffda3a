//! Pixel reconstruction loss.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelLoss {
    L1,
    L2,
}

/// Mean absolute (L1) or squared (L2) error per element.
pub fn pixel_loss(kind: PixelLoss, recon: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let d = recon - target;
    match kind {
        PixelLoss::L1 => d.abs().mean(),
        PixelLoss::L2 => d.square().mean(),
    }
}
