//! Learning-rate schedule: linear warm-up, then constant or cosine decay.

use serde::{Deserialize, Serialize};

use crate::config::{Checks, Validate};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrShape {
    Constant,
    Cosine,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LrConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Steps of linear warm-up from 0 to `lr`.
    pub warmup: u64,
    /// "constant" after warm-up, or "cosine" decay to `min_lr` at the last step.
    pub shape: LrShape,
    pub min_lr: f64,
}

impl Default for LrConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            warmup: 100,
            shape: LrShape::Constant,
            min_lr: 0.0,
        }
    }
}

impl Validate for LrConfig {
    fn validate(&self, c: &mut Checks) {
        c.check("lr", self.lr > 0.0 && self.lr.is_finite(), || {
            "must be > 0".into()
        });
        c.check("min_lr", (0.0..=self.lr).contains(&self.min_lr), || {
            "must be in [0, lr]".into()
        });
    }
}

impl LrConfig {
    /// The rate for 0-based `step` of `total`.
    pub fn at(&self, step: u64, total: u64) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        match self.shape {
            LrShape::Constant => self.lr,
            LrShape::Cosine => {
                let span = total.saturating_sub(self.warmup).max(1) as f64;
                let t = ((step - self.warmup) as f64 / span).min(1.0);
                self.min_lr
                    + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_to_min() {
        let c = LrConfig {
            lr: 1.0,
            warmup: 10,
            shape: LrShape::Cosine,
            min_lr: 0.1,
        };
        assert!((c.at(0, 110) - 0.1).abs() < 1e-12);
        assert!((c.at(9, 110) - 1.0).abs() < 1e-12);
        assert!((c.at(10, 110) - 1.0).abs() < 1e-12);
        assert!((c.at(60, 110) - 0.55).abs() < 1e-12);
        assert!((c.at(110, 110) - 0.1).abs() < 1e-12);
        let k = LrConfig {
            shape: LrShape::Constant,
            ..c
        };
        assert_eq!(k.at(50, 110), 1.0);
    }
}
