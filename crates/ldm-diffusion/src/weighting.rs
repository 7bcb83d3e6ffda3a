//! Per-timestep weights of the denoising loss.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::target::Prediction;

/// How the squared error of each batch item is weighted by its timestep.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// Weight 1: the plain "simple" loss of the target in use.
    Uniform,
    /// Min-SNR-γ (Hang et al. 2023).
    MinSnr,
}

impl Weighting {
    /// The loss weight at signal-to-noise ratio `snr` for a network predicting `prediction`.
    ///
    /// Min-SNR-γ weights the error *in x0* by min(SNR, γ): easy low-noise steps stop
    /// dominating. The error of each target is a fixed multiple of the x0 error
    /// (|ε error|² = SNR · |x0 error|², |v error|² = (SNR + 1) · |x0 error|²), so the same
    /// weighting reads min(SNR, γ) / SNR for ε, min(SNR, γ) / (SNR + 1) for v and
    /// min(SNR, γ) for x0.
    pub fn weight(self, prediction: Prediction, snr: f64, gamma: f64) -> f64 {
        match self {
            Weighting::Uniform => 1.0,
            Weighting::MinSnr => match prediction {
                // min(SNR, γ) / SNR written as min(1, γ / SNR): finite at SNR = 0.
                Prediction::Eps => (gamma / snr).min(1.0),
                Prediction::V => snr.min(gamma) / (snr + 1.0),
                Prediction::X0 => snr.min(gamma),
            },
        }
    }

    pub fn weights(self, prediction: Prediction, snrs: &[f64], gamma: f64) -> Vec<f64> {
        snrs.iter()
            .map(|&s| self.weight(prediction, s, gamma))
            .collect()
    }
}

/// The weighted loss: each item's mean squared error times its weight, averaged over the
/// batch.
pub fn weighted_mse(pred: Tensor<4>, target: Tensor<4>, weights: &[f64]) -> Tensor<1> {
    let [n, c, h, w] = pred.dims();
    assert_eq!(weights.len(), n, "one weight per batch item");
    let per_item = (pred - target)
        .square()
        .reshape([n, c * h * w])
        .mean_dim(1)
        .reshape([n]);
    let wv: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
    let wt = Tensor::<1>::from_data(TensorData::new(wv, [n]), &per_item.device());
    (per_item * wt).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn min_snr_weights_follow_the_target() {
        let w = Weighting::MinSnr;
        // High noise (SNR < γ): x0 error weight SNR, so ε gets 1 and v SNR / (SNR + 1).
        assert_eq!(w.weight(Prediction::Eps, 0.5, 5.0), 1.0);
        assert!((w.weight(Prediction::V, 0.5, 5.0) - 0.5 / 1.5).abs() < 1e-12);
        assert_eq!(w.weight(Prediction::X0, 0.5, 5.0), 0.5);
        // Low noise (SNR > γ): the weight in x0 is capped at γ.
        assert!((w.weight(Prediction::Eps, 20.0, 5.0) - 0.25).abs() < 1e-12);
        assert!((w.weight(Prediction::V, 20.0, 5.0) - 5.0 / 21.0).abs() < 1e-12);
        assert_eq!(w.weight(Prediction::X0, 20.0, 5.0), 5.0);
        // Zero terminal SNR stays finite.
        assert_eq!(w.weight(Prediction::Eps, 0.0, 5.0), 1.0);
        assert_eq!(w.weight(Prediction::V, 0.0, 5.0), 0.0);
        assert_eq!(Weighting::Uniform.weight(Prediction::V, 3.0, 5.0), 1.0);
    }

    #[test]
    fn weighted_mse_weights_items() {
        let dev = Device::flex();
        let pred = Tensor::<4>::ones([2, 1, 2, 2], &dev);
        let target = Tensor::<4>::zeros([2, 1, 2, 2], &dev);
        let loss: f32 = weighted_mse(pred, target, &[1.0, 3.0]).into_scalar();
        assert!((loss - 2.0).abs() < 1e-6);
    }
}
