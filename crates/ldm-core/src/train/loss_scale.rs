//! Dynamic loss scaling for f16 steps (the scheme of PyTorch's `GradScaler`): the loss is
//! multiplied by the scale before the backward pass, so small gradients stay above f16's
//! underflow, and the gradients are divided by it before clipping and the optimizer. A step
//! whose gradients overflowed (a non-finite norm) is skipped and the scale halved; after
//! [`GROWTH_INTERVAL`] applied steps in a row it doubles. f32 and bf16 steps keep it at 1.
//! Its state is saved in checkpoints: whether a step is skipped depends on it, so a resumed
//! run must carry it on to stay identical to an uninterrupted one.

use burn::tensor::{Gradients, Tensor};
use serde::{Deserialize, Serialize};

use super::Precision;

/// The scale f16 steps start at (PyTorch's default).
pub const INITIAL: f64 = 65536.0;
/// Applied steps in a row after which the scale doubles (PyTorch's default).
pub const GROWTH_INTERVAL: u64 = 2000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    pub scale: f64,
    /// Applied steps since the scale last changed.
    pub good_steps: u64,
    /// Steps skipped for overflowing gradients, over the whole run.
    pub skipped: u64,
    #[serde(skip)]
    dynamic: bool,
}

impl LossScale {
    pub fn new(precision: Precision) -> Self {
        let dynamic = precision == Precision::F16;
        Self {
            scale: if dynamic { INITIAL } else { 1.0 },
            good_steps: 0,
            skipped: 0,
            dynamic,
        }
    }

    /// What a checkpoint keeps: the state of a dynamic scale, None for a fixed one.
    pub fn saved(&self) -> Option<&LossScale> {
        self.dynamic.then_some(self)
    }

    /// Carry on from a checkpoint's [`Self::saved`] state. A run that scales its loss and
    /// resumes from a checkpoint without a dynamic scale (one trained in f32 or bf16) starts
    /// its own at [`INITIAL`]; a run with a fixed scale keeps it at 1.
    pub fn restore(&mut self, saved: Option<LossScale>) {
        if let (true, Some(saved)) = (self.dynamic, saved) {
            *self = LossScale {
                dynamic: true,
                ..saved
            };
        }
    }

    /// The gradients of `loss` times the scale (the plain backward pass at a scale of 1).
    pub fn backward(&self, loss: Tensor<1>) -> Gradients {
        if self.scale == 1.0 {
            loss.backward()
        } else {
            loss.mul_scalar(self.scale).backward()
        }
    }

    /// Record a step's (unscaled) gradient norm: whether to apply the update. Overflowed
    /// gradients (a non-finite norm) skip it and halve the scale; with a fixed scale every
    /// step is applied, as without scaling.
    pub fn update(&mut self, grad_norm: f64) -> bool {
        if !self.dynamic {
            return true;
        }
        if !grad_norm.is_finite() {
            self.scale *= 0.5;
            self.good_steps = 0;
            self.skipped += 1;
            return false;
        }
        self.good_steps += 1;
        if self.good_steps == GROWTH_INTERVAL {
            self.scale *= 2.0;
            self.good_steps = 0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{DType, Device, Distribution, Tensor};

    /// Why f16 steps scale the loss: the gradient of a small loss (1e-9 per output, below
    /// f16's smallest subnormal, 6e-8) flushes to zero in f16; scaled by [`INITIAL`] and
    /// divided after, it matches the f32 gradient.
    #[test]
    fn scaling_keeps_small_f16_gradients() {
        let ad = Device::flex().autodiff();
        ad.seed(3);
        let lin = LinearConfig::new(16, 16).init(&ad);
        let x = Tensor::<2>::random([8, 16], Distribution::Normal(0.0, 1.0), &ad);
        let grad = |dtype: DType, scale: f64| {
            let y = crate::ops::linear(&lin, x.clone().cast(dtype)).cast(DType::F32);
            let grads = y.sum().mul_scalar(1e-9 * scale).backward();
            lin.weight.grad(&grads).unwrap().div_scalar(scale)
        };
        let full = grad(DType::F32, 1.0);
        let lost = grad(DType::F16, 1.0);
        assert_eq!(lost.abs().max().into_scalar::<f32>(), 0.0);
        let kept = grad(DType::F16, INITIAL);
        let err = (kept - full.clone()).abs().max().into_scalar::<f32>()
            / full.abs().max().into_scalar::<f32>();
        assert!(err < 0.01, "{err}");
    }

    #[test]
    fn halves_on_overflow_and_doubles_after_the_interval() {
        let mut s = LossScale::new(Precision::F16);
        assert_eq!(s.scale, INITIAL);
        assert!(!s.update(f64::INFINITY));
        assert!(!s.update(f64::NAN));
        assert_eq!((s.scale, s.skipped), (INITIAL / 4.0, 2));
        for _ in 0..GROWTH_INTERVAL - 1 {
            assert!(s.update(1.0));
        }
        assert_eq!(s.scale, INITIAL / 4.0);
        assert!(s.update(1.0));
        assert_eq!((s.scale, s.good_steps), (INITIAL / 2.0, 0));

        // Saved and restored (the dynamic flag is not saved: the run's precision sets it).
        let json = serde_json::to_value(s.saved()).unwrap();
        let mut resumed = LossScale::new(Precision::F16);
        resumed.restore(serde_json::from_value(json).unwrap());
        assert_eq!(resumed, s);
        assert!(!resumed.update(f64::INFINITY));
        assert_eq!(resumed.scale, INITIAL / 4.0);
    }

    #[test]
    fn fixed_at_one_outside_f16() {
        for p in [Precision::F32, Precision::Bf16] {
            let mut s = LossScale::new(p);
            assert!(s.update(f64::INFINITY));
            assert!(s.saved().is_none());
            // Resumed from an f16 checkpoint, it stays fixed; an f16 run resumed from this
            // one's checkpoint (nothing saved) starts its own scale.
            let mut f16 = LossScale::new(Precision::F16);
            f16.update(f64::INFINITY);
            s.restore(f16.saved().cloned());
            assert_eq!((s.scale, s.skipped), (1.0, 0));
            let json = serde_json::to_value(s.saved()).unwrap();
            let mut resumed = LossScale::new(Precision::F16);
            resumed.restore(serde_json::from_value(json).unwrap());
            assert_eq!(resumed, LossScale::new(Precision::F16));
        }
    }
}
