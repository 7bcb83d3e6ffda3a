//! Global-norm gradient clipping. burn's own clipping works per parameter tensor; training
//! recipes (and PyTorch's `clip_grad_norm_`) scale all gradients together.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use crate::ops::{scale, sum_squares};

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(p.id) {
            let s = sum_squares(g);
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(p.id) {
            self.grads.register::<D>(p.id, scale(g, self.factor));
        }
    }
}

/// Scale `grads` so their global L2 norm is at most `max_norm` (no-op when `max_norm <= 0`).
/// Returns the norm before clipping, for logging.
pub fn clip_global_norm<M: Module>(
    grads: GradientsParams,
    model: &M,
    max_norm: f64,
) -> (GradientsParams, f64) {
    unscale_and_clip(grads, model, 1.0, max_norm)
}

/// Gradients of a scaled loss (`LossScale`) divided by `loss_scale`, then clipped to
/// `max_norm` as [`clip_global_norm`] does, in one pass over them. Returns the unscaled norm
/// before clipping. Scaled gradients that overflowed (a non-finite norm) are left as they
/// are, for the step to be skipped; at a scale of 1 they go through as they always did.
pub fn unscale_and_clip<M: Module>(
    mut grads: GradientsParams,
    model: &M,
    loss_scale: f64,
    max_norm: f64,
) -> (GradientsParams, f64) {
    let mut v = SquaredNorm {
        grads: &grads,
        total: None,
    };
    model.visit(&mut v);
    let norm = v.total.map_or(0.0, |t| (t.into_scalar::<f64>()).sqrt()) / loss_scale;
    if !norm.is_finite() && loss_scale != 1.0 {
        return (grads, norm);
    }
    let clip = if max_norm > 0.0 && norm > max_norm {
        max_norm / (norm + 1e-6)
    } else {
        1.0
    };
    let factor = clip / loss_scale;
    if factor != 1.0 {
        let mut s = Scale {
            grads: &mut grads,
            factor,
        };
        model.visit(&mut s);
    }
    (grads, norm)
}
