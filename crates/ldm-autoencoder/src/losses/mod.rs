//! Autoencoder losses: pixel reconstruction, adversarial (critic and generator sides), and
//! the adaptive weight that balances them.

mod adaptive;
mod gan;
mod pixel;

pub use adaptive::adaptive_weight;
pub use gan::{GanLoss, critic_loss, generator_loss};
pub use pixel::{PixelLoss, pixel_loss};
