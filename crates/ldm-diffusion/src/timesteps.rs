//! Which training timesteps a batch is noised to.

use rand::Rng;
use serde::{Deserialize, Serialize};

use burn::tensor::{Device, Tensor, TensorData};

/// The distribution of training timesteps over 0..T.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimestepSampling {
    /// Every timestep equally often (DDPM).
    Uniform,
    /// t = ⌊T · sigmoid(m + s · z)⌋, z ~ N(0, 1) (Esser et al. 2024): more of the middle
    /// timesteps, where the prediction is hardest, fewer of the nearly clean and nearly pure
    /// noise ends.
    LogitNormal,
}

impl TimestepSampling {
    /// `n` timesteps in 0..t_max; `mean` and `std` are the logit-normal's m and s.
    pub fn sample(
        self,
        rng: &mut impl Rng,
        n: usize,
        t_max: usize,
        mean: f64,
        std: f64,
    ) -> Vec<usize> {
        match self {
            TimestepSampling::Uniform => (0..n).map(|_| rng.random_range(0..t_max)).collect(),
            TimestepSampling::LogitNormal => crate::noise::normals(rng, n)
                .into_iter()
                .map(|z| {
                    let u = 1.0 / (1.0 + (-(mean + std * z as f64)).exp());
                    ((u * t_max as f64) as usize).min(t_max - 1)
                })
                .collect(),
        }
    }
}

/// Timesteps as the network's `[N]` float input.
pub fn tensor(t: &[usize], device: &Device) -> Tensor<1> {
    let v: Vec<f32> = t.iter().map(|&t| t as f32).collect();
    Tensor::from_data(TensorData::new(v, [t.len()]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn uniform_covers_the_range_and_logit_normal_favours_the_middle() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let u = TimestepSampling::Uniform.sample(&mut rng, 20_000, 1000, 0.0, 1.0);
        assert!(u.iter().all(|&t| t < 1000));
        assert!(u.contains(&0) && u.contains(&999));
        let l = TimestepSampling::LogitNormal.sample(&mut rng, 20_000, 1000, 0.0, 1.0);
        let middle = |v: &[usize]| v.iter().filter(|&&t| (250..750).contains(&t)).count();
        assert!(l.iter().all(|&t| t < 1000));
        // Uniform puts half in the middle half; logit-normal(0, 1) about 0.73.
        assert!(middle(&l) as f64 / 20_000.0 > 0.65 && (middle(&u) as f64 / 20_000.0) < 0.55);
        let again =
            TimestepSampling::Uniform.sample(&mut ChaCha8Rng::seed_from_u64(0), 5, 1000, 0.0, 1.0);
        assert_eq!(again, u[..5]);
    }
}
