//! AdamW as burn's, each parameter's update one fused pass ([`ops::adamw_step`]) instead of
//! about twelve single-threaded tensor operations. Its state is burn's `AdamWState`, so
//! checkpoints are the same records either way.

use burn::optim::{AdamWState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};

use crate::ops::{self, AdamStep};

/// The training loops' AdamW: ε 1e-8 (PyTorch's default; burn's is 1e-5), the given betas
/// and weight decay.
pub fn adamw(betas: [f32; 2], weight_decay: f32) -> ModuleOptimizer {
    AdamW {
        betas,
        epsilon: 1e-8,
        weight_decay,
    }
    .init()
}

/// AdamW without AMSGrad or cautious decay, as burn's `AdamW` with these settings.
#[derive(Clone, Debug)]
pub struct AdamW {
    pub betas: [f32; 2],
    pub epsilon: f32,
    pub weight_decay: f32,
}

impl AdamW {
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

impl Optimizer for AdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let [beta_1, beta_2] = self.betas;
        // The first step starts from zero moments: 0 · β + g · (1 - β) is burn's g · (1 - β)
        // to the bit.
        let (m, v, time) = match state {
            Some(s) => (
                s.momentum.moment_1,
                s.momentum.moment_2,
                s.momentum.time + 1,
            ),
            None => (grad.zeros_like(), grad.zeros_like(), 1),
        };
        let decay_rate = lr * self.weight_decay as f64;
        let s = AdamStep {
            lr,
            beta_1,
            beta_2,
            epsilon: self.epsilon,
            keep: 1.0 - decay_rate,
            correction_1: 1.0 - beta_1.powi(time as i32),
            correction_2: 1.0 - beta_2.powi(time as i32),
        };
        let (tensor, moment_1, moment_2) = ops::adamw_step(tensor, grad, m, v, s);
        let momentum = AdaptiveMomentumState {
            time,
            moment_1,
            moment_2,
            max_moment_2: None,
        };
        (tensor, Some(AdamWState { momentum }))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamWConfig, GradientsParams};
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    fn bits(l: &Linear) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for t in [l.weight.val(), l.bias.as_ref().unwrap().val().unsqueeze()] {
            out.extend(crate::ops::f32_bits(t.into_data()));
        }
        out
    }

    /// Ten steps with and without weight decay give burn's AdamW's weights to the bit, and a
    /// run resumed from the saved optimizer state (after three steps, into burn's AdamW)
    /// continues identically: the state is the same record.
    #[test]
    fn matches_burns_adamw_to_the_bit_and_shares_its_state() {
        let device = Device::flex().autodiff();
        for weight_decay in [0.0f32, 0.05] {
            let ours = || AdamW {
                betas: [0.9, 0.99],
                epsilon: 1e-8,
                weight_decay,
            };
            let burns = || {
                AdamWConfig::new()
                    .with_beta_1(0.9)
                    .with_beta_2(0.99)
                    .with_epsilon(1e-8)
                    .with_weight_decay(weight_decay)
                    .init()
            };
            // 300 x 70 weights: several of the kernel's chunks of 16384.
            let start = LinearConfig::new(300, 70).init(&device);
            let x = Tensor::<2>::random([8, 300], Distribution::Normal(0.0, 1.0), &device);
            let (mut a, mut b) = (start.clone(), start.clone());
            let (mut opt_a, mut opt_b) = (ours().init(), burns());
            for step in 0..10 {
                if step == 3 {
                    // Hand our state to burn's optimizer and the other way round.
                    let (ra, rb) = (opt_a.to_record(), opt_b.to_record());
                    opt_a = ours().init().load_record(rb);
                    opt_b = burns().load_record(ra);
                }
                let lr = 1e-3 * (step + 1) as f64;
                let ga = a.forward(x.clone()).powi_scalar(2).mean().backward();
                let gb = b.forward(x.clone()).powi_scalar(2).mean().backward();
                a = opt_a.step(lr, a.clone(), GradientsParams::from_grads(ga, &a));
                b = opt_b.step(lr, b.clone(), GradientsParams::from_grads(gb, &b));
                assert!(bits(&a) == bits(&b), "decay {weight_decay}, step {step}");
            }
            assert!(bits(&a) != bits(&start), "the weights moved");
        }
    }
}
