//! The evaluator: an image tower and a text tower meeting in one unit-norm space, and CLIP's
//! learnable temperature.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::EvaluatorConfig;
use super::image_tower::ImageTower;
use super::text_tower::TextTower;

/// CLIP's initial temperature 0.07, stored as log(1 / 0.07) so it stays positive.
const INIT_LOG_SCALE: f64 = 2.659_260_036_932_778;
/// CLIP's clamp: logits at most 100x the cosine, so training cannot blow up the softmax.
const MAX_LOG_SCALE: f64 = 4.605_170_185_988_092;

#[derive(Module, Debug)]
pub struct Evaluator {
    pub(crate) image: ImageTower,
    pub(crate) text: TextTower,
    /// log of the factor cosine similarities are multiplied by to make logits.
    log_scale: Param<Tensor<1>>,
}

impl EvaluatorConfig {
    /// A freshly initialised evaluator for images of `image_channels` channels and pooled
    /// text embeddings of width `text_dim`.
    pub fn init(&self, image_channels: usize, text_dim: usize, device: &Device) -> Evaluator {
        Evaluator {
            image: ImageTower::new(self, image_channels, device),
            text: TextTower::new(self, text_dim, device),
            log_scale: Param::from_tensor(Tensor::from_floats([INIT_LOG_SCALE], device)),
        }
    }
}

impl Evaluator {
    /// Unit-norm features `[B, dim]` of images `[B, C, H, W]` in [-1, 1].
    pub fn image_features(&self, images: Tensor<4>) -> Tensor<2> {
        self.image.forward(images)
    }

    /// Unit-norm features `[B, dim]` of pooled caption embeddings `[B, text_dim]`.
    pub fn text_features(&self, pooled: Tensor<2>) -> Tensor<2> {
        self.text.forward(pooled)
    }

    /// The factor (clamped, as a `[1]` tensor) turning cosine similarities into logits.
    pub fn logit_scale(&self) -> Tensor<1> {
        self.log_scale.val().clamp_max(MAX_LOG_SCALE).exp()
    }

    /// Mean cosine similarity between each image and its own prompt (rows paired): how well
    /// images show what their prompts say, in [-1, 1].
    pub fn alignment(&self, images: Tensor<4>, prompt_embeddings: Tensor<2>) -> f64 {
        let cos = (self.image_features(images) * self.text_features(prompt_embeddings)).sum_dim(1);
        cos.mean().into_scalar::<f64>()
    }
}
