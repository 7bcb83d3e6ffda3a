//! Exponential moving average of a model's weights, with the usual warm-up of the decay
//! (`min(decay, (1 + n) / (10 + n))`) so early averages are not dominated by the init.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

use crate::ops::blend;

struct Collect(HashMap<ParamId, Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        let t = p.val().detach().without_autodiff();
        let n = t.shape().num_elements();
        self.0.insert(p.id, t.reshape([n]));
    }
}

struct Blend {
    src: HashMap<ParamId, Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(src) = self.src.remove(&p.id) else {
            return p;
        };
        let d = self.decay;
        p.map(|e| {
            let shape = e.shape();
            blend(e, src.reshape(shape), d)
        })
    }
}

/// The averaged copy lives without autodiff; its parameters share ids with the model's.
pub struct Ema<M: Module> {
    pub model: M,
    pub decay: f64,
    /// Updates applied so far (drives the decay warm-up; saved with checkpoints).
    pub updates: u64,
}

impl<M: Module> Ema<M> {
    pub fn new(model: &M, decay: f64) -> Self {
        Self {
            model: model.valid(),
            decay,
            updates: 0,
        }
    }

    /// The decay used for the next update.
    pub fn current_decay(&self) -> f64 {
        let n = self.updates as f64;
        self.decay.min((1.0 + n) / (10.0 + n))
    }

    /// Blend the live model's weights into the average.
    pub fn update(&mut self, model: &M) {
        let mut c = Collect(HashMap::new());
        model.visit(&mut c);
        let decay = self.current_decay();
        let mut blend = Blend { src: c.0, decay };
        // The average itself is mapped, not a clone of it: its tensors are then held once,
        // and the blend writes over them instead of filling new buffers (a pass less). A
        // panic inside would leave no model to put back, so it aborts the process; the
        // blend's shapes come from the model itself, and checkpoints already written are
        // complete files (written atomically), so the last one is intact.
        replace_with::replace_with_or_abort(&mut self.model, |m| m.map(&mut blend));
        self.updates += 1;
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::LinearConfig;
    use burn::tensor::Device;

    use super::Ema;

    /// One update blends each weight as avg · d + new · (1 - d), d the warmed-up decay.
    #[test]
    fn update_blends_by_the_current_decay() {
        let device = Device::flex();
        let old = LinearConfig::new(3, 2).init(&device);
        let mut ema = Ema::new(&old, 0.999);
        let other = LinearConfig::new(3, 2).init(&device);
        // The same parameter ids as the averaged model, other values.
        let new = burn::nn::Linear {
            weight: old.weight.clone().map(|_| other.weight.val()),
            bias: old.bias.clone(),
        };
        let d = ema.current_decay();
        assert!((d - 0.1).abs() < 1e-12, "warm-up decay (1 + 0) / (10 + 0)");
        ema.update(&new);
        let want = old.weight.val().mul_scalar(d) + new.weight.val().mul_scalar(1.0 - d);
        let diff = (ema.model.weight.val() - want)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(diff < 1e-6, "{diff}");
        assert_eq!(ema.updates, 1);
    }
}
