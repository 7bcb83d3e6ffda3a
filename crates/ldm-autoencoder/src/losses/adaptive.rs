//! The adaptive generator weight of taming/LDM:
//! lambda = ||dL_rec/dW|| / (||dL_gan/dW|| + 1e-4), clamped to [0, 1e4], with W the decoder's
//! last conv weight. It keeps the GAN term from swamping reconstruction.

/// lambda from the two gradient norms at the last layer.
pub fn adaptive_weight(rec_grad_norm: f64, gan_grad_norm: f64) -> f64 {
    (rec_grad_norm / (gan_grad_norm + 1e-4)).clamp(0.0, 1e4)
}
