//! Classifier-free guidance (Ho & Salimans 2021).

use burn::tensor::Tensor;

use crate::samplers::Denoiser;

/// uncond + scale · (cond − uncond). Scale 1 is the conditional prediction, 0 the
/// unconditional one, larger values trade diversity for adherence to the condition.
///
/// Applied to the raw network output whatever the target: for a fixed input and timestep,
/// x0 and ε are the same affine function of ε, v or x0 predictions for both halves, so
/// guiding the raw output guides x0 and ε identically.
pub fn combine(uncond: Tensor<4>, cond: Tensor<4>, scale: f64) -> Tensor<4> {
    uncond.clone() + (cond - uncond).mul_scalar(scale)
}

/// A denoiser with guidance: it evaluates `net` once on the batch stacked twice, the first
/// half to be read as unconditional and the second as conditional, and combines the halves.
/// So `net` must condition row `i` on the null caption and row `N + i` on caption `i`
/// (build its context as `cat([null; cond])`). One forward of 2N rather than two of N.
pub struct Cfg<D> {
    pub net: D,
    pub scale: f64,
}

impl<D> Cfg<D> {
    pub fn new(net: D, scale: f64) -> Self {
        Self { net, scale }
    }
}

impl<D: Denoiser> Denoiser for Cfg<D> {
    fn predict(&mut self, x_t: Tensor<4>, t: Tensor<1>) -> Tensor<4> {
        let n = x_t.dims()[0];
        let x2 = Tensor::cat(vec![x_t.clone(), x_t], 0);
        let t2 = Tensor::cat(vec![t.clone(), t], 0);
        let out = self.net.predict(x2, t2);
        let uncond = out.clone().narrow(0, 0, n);
        let cond = out.narrow(0, n, n);
        combine(uncond, cond, self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn cfg_extrapolates_from_uncond_through_cond() {
        let dev = Device::flex();
        // A "network" that outputs 1 for unconditional rows (the first half of its doubled
        // batch) and 3 for conditional ones.
        let net = |x: Tensor<4>, t: Tensor<1>| {
            let n = x.dims()[0];
            assert_eq!((n, t.dims()), (4, [4]));
            let v: Vec<f32> = (0..n * 2).map(|i| if i < n { 1.0 } else { 3.0 }).collect();
            Tensor::<4>::from_data(TensorData::new(v, [n, 2, 1, 1]), &dev)
        };
        let x = Tensor::<4>::zeros([2, 2, 1, 1], &dev);
        let t = Tensor::<1>::zeros([2], &dev);
        for (scale, want) in [(0.0, 1.0), (1.0, 3.0), (7.5, 16.0)] {
            let out: Vec<f32> = Cfg::new(net, scale)
                .predict(x.clone(), t.clone())
                .try_into_vec_as()
                .unwrap();
            assert!(
                out.iter().all(|&v| (v - want).abs() < 1e-5),
                "{scale}: {out:?}"
            );
        }
    }
}
