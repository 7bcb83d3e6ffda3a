//! Adversarial losses on per-patch logits.

use burn::tensor::Tensor;
use burn::tensor::activation::{relu, softplus};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GanLoss {
    /// max(0, 1 - D(real)) + max(0, 1 + D(fake)) for the critic; -D(fake) for the generator.
    Hinge,
    /// softplus(-D(real)) + softplus(D(fake)) for the critic; softplus(-D(fake)) for the generator.
    NonSaturating,
}

/// The critic's loss (halved, as in taming), given logits on real and on (detached) fakes.
pub fn critic_loss(kind: GanLoss, real: Tensor<4>, fake: Tensor<4>) -> Tensor<1> {
    let (r, f) = match kind {
        GanLoss::Hinge => (relu(real.neg().add_scalar(1.0)), relu(fake.add_scalar(1.0))),
        GanLoss::NonSaturating => (softplus(real.neg(), 1.0), softplus(fake, 1.0)),
    };
    (r.mean() + f.mean()) * 0.5
}

/// The generator's adversarial loss given the critic's logits on its reconstructions.
pub fn generator_loss(kind: GanLoss, fake: Tensor<4>) -> Tensor<1> {
    match kind {
        GanLoss::Hinge => fake.mean().neg(),
        GanLoss::NonSaturating => softplus(fake.neg(), 1.0).mean(),
    }
}
