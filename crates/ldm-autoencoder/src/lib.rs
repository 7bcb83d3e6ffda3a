//! The KL autoencoder of latent diffusion: model, critic, losses, perceptual distance,
//! reconstruction metrics and the training loops.

pub mod artifacts;
pub mod autoencoder;
pub mod blocks;
pub mod critic;
pub mod decoder;
pub mod encode;
pub mod encoder;
pub mod losses;
pub mod metrics;
pub mod perceptual;
pub mod posterior;
pub mod scale;
pub mod train;

pub use autoencoder::{Autoencoder, AutoencoderConfig};
pub use critic::{Critic, CriticConfig};
pub use posterior::Posterior;
