//! Seeded Gaussian noise, drawn on the host so a seed gives the same noise on every device.

use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A `shape` tensor of independent N(0, 1) values from `rng`.
pub fn gaussian(rng: &mut impl Rng, shape: [usize; 4], device: &Device) -> Tensor<4> {
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(normals(rng, n), shape), device)
}

/// `n` standard normal values by the Box-Muller transform (in f64, rounded to f32): a few
/// lines instead of another dependency, and stable across rand versions.
pub fn normals(rng: &mut impl Rng, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        // 1 - u lies in (0, 1], so the log is finite.
        let r = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
        let theta = std::f64::consts::TAU * rng.random::<f64>();
        out.push((r * theta.cos()) as f32);
        out.push((r * theta.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// One noise stream per image of a batch, so image `i` of a seed is the same whatever the
/// batch size or the position of its batch: stream `(seed, "sample-noise", first + i)`.
pub struct Noise {
    rngs: Vec<ChaCha8Rng>,
    device: Device,
}

impl Noise {
    /// Streams for images `first .. first + batch`.
    pub fn new(seed: u64, first: u64, batch: usize, device: &Device) -> Self {
        let rngs = (0..batch as u64)
            .map(|i| ldm_core::seed::rng(seed, "sample-noise", first + i))
            .collect();
        Self {
            rngs,
            device: device.clone(),
        }
    }

    /// The next `[batch, c, h, w]` draw.
    pub fn draw(&mut self, [c, h, w]: [usize; 3]) -> Tensor<4> {
        let per = c * h * w;
        let mut data = Vec::with_capacity(self.rngs.len() * per);
        for rng in &mut self.rngs {
            data.extend(normals(rng, per));
        }
        let shape = [self.rngs.len(), c, h, w];
        Tensor::from_data(TensorData::new(data, shape), &self.device)
    }

    pub fn batch(&self) -> usize {
        self.rngs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn normals_have_unit_moments() {
        let v = normals(&mut ChaCha8Rng::seed_from_u64(3), 200_001);
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.01,
            "{mean} {var}"
        );
    }

    #[test]
    fn an_image_does_not_depend_on_its_batch() {
        let dev = Device::flex();
        let big: Vec<f32> = Noise::new(7, 0, 4, &dev)
            .draw([2, 3, 3])
            .try_into_vec_as()
            .unwrap();
        let one: Vec<f32> = Noise::new(7, 2, 1, &dev)
            .draw([2, 3, 3])
            .try_into_vec_as()
            .unwrap();
        assert_eq!(big[2 * 18..3 * 18], one[..]);
    }
}
