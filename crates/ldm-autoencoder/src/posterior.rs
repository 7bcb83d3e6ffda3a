//! The diagonal Gaussian posterior q(z|x) = N(mean, exp(logvar)).

use burn::tensor::{Distribution, Tensor};

#[derive(Clone, Debug)]
pub struct Posterior {
    pub mean: Tensor<4>,
    /// Clamped so exp() stays finite early in training.
    pub logvar: Tensor<4>,
}

impl Posterior {
    /// Split `[B, 2z, h, w]` moments into mean and log-variance.
    pub fn from_moments(moments: Tensor<4>, logvar_min: f64, logvar_max: f64) -> Self {
        let [_, c2, _, _] = moments.dims();
        let mut parts = moments.split(c2 / 2, 1);
        let logvar = parts
            .pop()
            .expect("two halves")
            .clamp(logvar_min, logvar_max);
        let mean = parts.pop().expect("two halves");
        Self { mean, logvar }
    }

    pub fn std(&self) -> Tensor<4> {
        self.logvar.clone().mul_scalar(0.5).exp()
    }

    /// z = mean + std * eps with eps ~ N(0, I) drawn from the device's (seeded) generator.
    pub fn sample(&self) -> Tensor<4> {
        let eps = self.mean.random_like(Distribution::Normal(0.0, 1.0));
        self.mean.clone() + self.std() * eps
    }

    pub fn mode(&self) -> Tensor<4> {
        self.mean.clone()
    }

    /// KL(q || N(0, I)) summed over latent dims, averaged over the batch.
    pub fn kl(&self) -> Tensor<1> {
        let [b, _, _, _] = self.mean.dims();
        let var = self.logvar.clone().exp();
        let kl = (self.mean.clone().square() + var - self.logvar.clone()).sub_scalar(1.0) * 0.5;
        kl.sum().div_scalar(b as f64)
    }
}
