//! Evaluation of generated images: exact attribute scores on the built-in shapes dataset, a
//! learned image-text evaluator for any dataset, and distribution distances.
//!
//! # Shapes: [`detector`]
//!
//! - `Detector::new(&ShapesConfig) -> Detector`; `detector.detect(&RgbImage) -> Vec<Detection>`
//!   (colour, shape, size, centre in [0, 1], pixels, fit error; largest first). Images are
//!   8-bit RGB at the dataset resolution; a decoded `[B, 3, H, W]` batch in [-1, 1] converts
//!   with `ldm_data::grid::to_images(&data, shape)` and `.to_rgb8()`.
//! - `Prompt::parse(caption) -> Result<Prompt, String>` reads the shapes caption grammar
//!   (`Prompt::from(&Scene)` for ground truth).
//! - `score(&Prompt, &[Detection]) -> Score`: `count`, `color`, `shape`, `size`,
//!   `relation: Option<bool>`, `all`.
//! - `Aggregate::new(&ShapesConfig)`; `agg.add(&Prompt, &Score)` sorts each image into `seen`
//!   or `held_out` (prompt names a pair from `data.shapes.holdout`); `agg.seen.rates()`,
//!   `agg.held_out.rates()`, `agg.total().rates()` give fractions (`Rates`, serde).
//!
//! # Learned evaluator: [`evaluator`]
//!
//! A CLIP-style dual encoder: conv image tower, MLP text tower over a pooled embedding from a
//! frozen text encoder chosen by the caller.
//!
//! - `CaptionEmbedder` (implemented by the caller): `fingerprint() -> String`, `dim() -> usize`,
//!   `embed(&mut self, &[String]) -> Result<Tensor<2>, String>` giving `[B, dim]` pooled
//!   embeddings (e.g. `ldm_text::mean_pool(enc.hidden, enc.mask)`: the mean over real tokens).
//! - `train_evaluator(&EvaluatorConfig, &DataConfig, &Splits, &mut dyn CaptionEmbedder,
//!   &RunDir, seed, &Device) -> Result<(Evaluator, EvaluatorInfo), String>`: trains on the
//!   training split, logs stage "evaluator" to metrics.jsonl, measures top-1 retrieval among
//!   `val_candidates` captions on the validation split (`info.val_retrieval`, `info.chance`),
//!   and saves `<run>/evaluator/{model.bpk, info.json}`.
//! - `load_evaluator(&evaluator_dir(run), &Device) -> Result<(Evaluator, EvaluatorInfo), _>`;
//!   check `info.text_encoder` against the embedder's fingerprint before use.
//! - `evaluator.image_features(Tensor<4>) -> Tensor<2>` (images in [-1, 1]) and
//!   `evaluator.text_features(Tensor<2>) -> Tensor<2>`: unit-norm `[B, dim]`.
//! - `evaluator.alignment(images, prompt_embeddings) -> f64`: mean cosine of paired rows.
//! - `r_precision(image, own, own_captions, distractors, distractor_captions, dim, k, seed)
//!   -> Result<f64, String>` on row-major unit features (`k = 99` is the usual setting).
//!
//! # Distances
//!
//! - `Features::new(Vec<f32>, dim)` / `Features::from_tensor(Tensor<2>)`: one row per image.
//! - [`fid()`]`(&Features, &Features) -> Result<f64, String>` (pytorch-fid's formula);
//!   `FeatureStats::new` + `frechet_distance` to reuse reference statistics.
//! - [`kid()`]`(&Features, &Features, &KidConfig) -> Result<Kid, String>`: `mean`, `std` of
//!   unbiased MMD^2 over seeded subsets (torch-fidelity's estimator).

pub mod detector;
pub mod evaluator;
mod features;
mod fid;
mod kid;

pub use features::Features;
pub use fid::{FeatureStats, fid, frechet_distance};
pub use kid::{Kid, KidConfig, kid};
