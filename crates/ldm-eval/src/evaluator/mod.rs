//! A small CLIP-style dual encoder trained on the user's own (image, caption) pairs, used to
//! judge generated images where no detector exists: prompt alignment (mean cosine),
//! R-precision, and image features for FID/KID.

mod artifacts;
mod config;
mod embedder;
mod image_tower;
mod loss;
mod model;
mod retrieval;
mod text_tower;
mod train;

pub use artifacts::{
    EvaluatorInfo, evaluator_dir, load_evaluator, load_evaluator_info, save_evaluator,
};
pub use config::EvaluatorConfig;
pub use embedder::CaptionEmbedder;
pub use model::Evaluator;
pub use retrieval::r_precision;
pub use train::train_evaluator;

use loss::{symmetric_info_nce, targets};
use retrieval::batch_retrieval;

use burn::tensor::Tensor;

/// Rows scaled to unit length.
fn normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().add_scalar(1e-8);
    x / norm
}
