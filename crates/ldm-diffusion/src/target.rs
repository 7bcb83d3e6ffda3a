//! What the network predicts, and the conversions between predictions, x0 and ε.
//!
//! For `x_t = α x0 + σ ε` (variance preserving, α² + σ² = 1) every quantity is a fixed linear
//! combination of two others, so each conversion is a pair of coefficients. Keeping them as
//! numbers (computed in f64) lets training (one level per batch item) and sampling (one level
//! per step) share the same formulas.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// The network's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prediction {
    /// The noise ε (DDPM, Stable Diffusion 1.x).
    Eps,
    /// v = α ε − σ x0 (Salimans & Ho 2022); well defined at zero SNR, where ε-prediction is not.
    V,
    /// The clean sample x0.
    X0,
}

/// A noise level of the variance-preserving process: `x_t = alpha · x0 + sigma · ε`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Level {
    pub alpha: f64,
    pub sigma: f64,
}

impl Level {
    /// From ā: alpha = sqrt(ā), sigma = sqrt(1 − ā).
    pub fn from_alpha_bar(alpha_bar: f64) -> Self {
        Self {
            alpha: alpha_bar.sqrt(),
            sigma: (1.0 - alpha_bar).sqrt(),
        }
    }

    /// From the sigma of the variance-exploding view `x = x0 + s ε` (x divided by alpha).
    pub fn from_ve_sigma(s: f64) -> Self {
        let alpha = 1.0 / (1.0 + s * s).sqrt();
        Self {
            alpha,
            sigma: s * alpha,
        }
    }

    /// Signal-to-noise ratio α² / σ².
    pub fn snr(&self) -> f64 {
        self.alpha * self.alpha / (self.sigma * self.sigma)
    }
}

/// `(a, b)` of a linear combination `a · first + b · second`.
pub type Coefs = (f64, f64);

impl Prediction {
    /// The training target as `a · x0 + b · ε`.
    pub fn target_coefs(self, l: Level) -> Coefs {
        match self {
            Prediction::Eps => (0.0, 1.0),
            Prediction::V => (-l.sigma, l.alpha),
            Prediction::X0 => (1.0, 0.0),
        }
    }

    /// x0 from the noisy input and the prediction, as `a · x_t + b · pred`.
    pub fn x0_coefs(self, l: Level) -> Coefs {
        match self {
            Prediction::Eps => (1.0 / l.alpha, -l.sigma / l.alpha),
            // x0 = α x_t − σ v  (substitute x_t and v; α² + σ² = 1).
            Prediction::V => (l.alpha, -l.sigma),
            Prediction::X0 => (0.0, 1.0),
        }
    }

    /// ε from the noisy input and the prediction, as `a · x_t + b · pred`.
    pub fn eps_coefs(self, l: Level) -> Coefs {
        match self {
            Prediction::Eps => (0.0, 1.0),
            Prediction::V => (l.sigma, l.alpha),
            Prediction::X0 => (1.0 / l.sigma, -l.alpha / l.sigma),
        }
    }

    /// The training target for `x_t = α x0 + σ ε`; `levels` has one entry per batch item, or
    /// one for the whole batch.
    pub fn target(self, x0: Tensor<4>, eps: Tensor<4>, levels: &[Level]) -> Tensor<4> {
        let c: Vec<Coefs> = levels.iter().map(|&l| self.target_coefs(l)).collect();
        combine(x0, eps, &c)
    }

    /// x0 implied by the prediction `pred` for the input `x_t`.
    pub fn to_x0(self, pred: Tensor<4>, x_t: Tensor<4>, levels: &[Level]) -> Tensor<4> {
        let c: Vec<Coefs> = levels.iter().map(|&l| self.x0_coefs(l)).collect();
        combine(x_t, pred, &c)
    }

    /// ε implied by the prediction `pred` for the input `x_t`.
    pub fn to_eps(self, pred: Tensor<4>, x_t: Tensor<4>, levels: &[Level]) -> Tensor<4> {
        let c: Vec<Coefs> = levels.iter().map(|&l| self.eps_coefs(l)).collect();
        combine(x_t, pred, &c)
    }
}

/// `a · first + b · second` with one coefficient pair for the batch or one per item. Zero
/// coefficients skip their term, so an infinite or undefined input there does no harm.
pub fn combine(first: Tensor<4>, second: Tensor<4>, coefs: &[Coefs]) -> Tensor<4> {
    let n = first.dims()[0];
    assert!(
        coefs.len() == 1 || coefs.len() == n,
        "{} coefficient pairs for a batch of {n}",
        coefs.len()
    );
    if let [(a, b)] = coefs {
        return match (*a == 0.0, *b == 0.0) {
            (true, _) => second.mul_scalar(*b),
            (_, true) => first.mul_scalar(*a),
            _ => first.mul_scalar(*a) + second.mul_scalar(*b),
        };
    }
    let device = first.device();
    let column = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [n, 1, 1, 1]), &device);
    let a = column(coefs.iter().map(|c| c.0 as f32).collect());
    let b = column(coefs.iter().map(|c| c.1 as f32).collect());
    first * a + second * b
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn max_diff(a: &Tensor<4>, b: &Tensor<4>) -> f32 {
        let d: Vec<f32> = (a.clone() - b.clone())
            .abs()
            .try_into_vec_as::<f32>()
            .unwrap();
        d.into_iter().fold(0.0, f32::max)
    }

    /// Build x_t and each target from known x0 and ε, then recover x0 and ε from every
    /// prediction type, per item and for a whole batch.
    #[test]
    fn conversions_round_trip() {
        let dev = Device::flex();
        let data = |seed: usize| -> Vec<f32> {
            (0..2 * 3 * 4 * 4)
                .map(|i| (((i * 7919 + seed * 104729) % 1000) as f32 / 500.0) - 1.0)
                .collect()
        };
        let x0 = Tensor::<4>::from_data(TensorData::new(data(1), [2, 3, 4, 4]), &dev);
        let eps = Tensor::<4>::from_data(TensorData::new(data(2), [2, 3, 4, 4]), &dev);
        for levels in [
            vec![Level::from_alpha_bar(0.9), Level::from_alpha_bar(0.01)],
            vec![Level::from_ve_sigma(3.0)],
        ] {
            let x_t = combine(x0.clone(), eps.clone(), &coefs_xt(&levels));
            for p in [Prediction::Eps, Prediction::V, Prediction::X0] {
                let pred = p.target(x0.clone(), eps.clone(), &levels);
                let x0_back = p.to_x0(pred.clone(), x_t.clone(), &levels);
                let eps_back = p.to_eps(pred, x_t.clone(), &levels);
                assert!(max_diff(&x0_back, &x0) < 1e-4, "{p:?} x0");
                assert!(max_diff(&eps_back, &eps) < 1e-4, "{p:?} eps");
            }
        }
    }

    fn coefs_xt(levels: &[Level]) -> Vec<Coefs> {
        levels.iter().map(|l| (l.alpha, l.sigma)).collect()
    }

    #[test]
    fn levels_agree_between_views() {
        let l = Level::from_alpha_bar(0.2);
        let v = Level::from_ve_sigma(l.sigma / l.alpha);
        assert!((l.alpha - v.alpha).abs() < 1e-12 && (l.sigma - v.sigma).abs() < 1e-12);
        assert!((l.snr() - 0.25).abs() < 1e-12);
    }
}
