//! Exponential moving average of a model's weights, with the usual warm-up of the decay
//! (`min(decay, (1 + n) / (10 + n))`) so early averages are not dominated by the init.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

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
            e.mul_scalar(d) + src.reshape(shape).mul_scalar(1.0 - d)
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
        self.model = self.model.clone().map(&mut blend);
        self.updates += 1;
    }
}
