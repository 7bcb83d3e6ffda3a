//! Fréchet distance between two feature sets, each summarised as a Gaussian (mean,
//! covariance): |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)). With Inception
//! features this is FID; here any features (e.g. the evaluator's image tower) can be used.
//!
//! tr((S1 S2)^(1/2)) is computed without a general matrix square root: S1 S2 is similar to the
//! symmetric positive semi-definite sqrt(S1) S2 sqrt(S1), so the trace is the sum of square
//! roots of that matrix's eigenvalues, and both steps are symmetric eigendecompositions,
//! which are stable even when the covariances are singular (fewer images than features).

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::features::Features;

/// Mean and covariance (unbiased, divided by n - 1, as numpy's `cov`) of a feature set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    pub count: usize,
    pub mean: Vec<f64>,
    /// Row-major `[dim, dim]`.
    pub cov: Vec<f64>,
}

impl FeatureStats {
    /// Needs at least two rows (a covariance of one sample is undefined).
    pub fn new(f: &Features) -> Result<Self, String> {
        let n = f.len();
        if n < 2 {
            return Err(format!(
                "{n} feature rows: need at least 2 for a covariance"
            ));
        }
        let x = f.all();
        let mean = x.row_mean();
        let centred = DMatrix::from_fn(n, f.dim(), |r, c| x[(r, c)] - mean[c]);
        let cov = centred.transpose() * &centred / (n - 1) as f64;
        Ok(Self {
            count: n,
            mean: mean.iter().copied().collect(),
            cov: cov.transpose().iter().copied().collect(),
        })
    }

    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn cov_matrix(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.dim(), self.dim(), &self.cov)
    }
}

/// The Fréchet distance between the Gaussians of two feature sets (>= 0; 0 for equal stats).
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64, String> {
    if a.dim() != b.dim() {
        return Err(format!("feature sizes differ: {} vs {}", a.dim(), b.dim()));
    }
    let (s1, s2) = (a.cov_matrix(), b.cov_matrix());
    let mu_diff = DVector::from_iterator(a.dim(), a.mean.iter().zip(&b.mean).map(|(x, y)| x - y));
    let root1 = psd_sqrt(&s1);
    let inner = &root1 * &s2 * &root1;
    let tr_covmean: f64 = symmetric_eigenvalues(&inner)
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum();
    let d = mu_diff.dot(&mu_diff) + s1.trace() + s2.trace() - 2.0 * tr_covmean;
    // Rounding can leave a tiny negative for identical sets.
    Ok(d.max(0.0))
}

/// FID-style distance between two feature sets.
pub fn fid(a: &Features, b: &Features) -> Result<f64, String> {
    frechet_distance(&FeatureStats::new(a)?, &FeatureStats::new(b)?)
}

/// Eigenvalues of the symmetric part of `m` (removes the asymmetry rounding introduces).
fn symmetric_eigenvalues(m: &DMatrix<f64>) -> DVector<f64> {
    let sym = (m + m.transpose()) * 0.5;
    SymmetricEigen::new(sym).eigenvalues
}

/// The symmetric square root of a positive semi-definite matrix; eigenvalues that rounding
/// pushed below zero count as zero.
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let sym = (m + m.transpose()) * 0.5;
    let e = SymmetricEigen::new(sym);
    let roots = e.eigenvalues.map(|l| l.max(0.0).sqrt());
    &e.eigenvectors * DMatrix::from_diagonal(&roots) * e.eigenvectors.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn gaussian(rng: &mut impl Rng) -> f32 {
        let (u1, u2): (f32, f32) = (rng.random::<f32>().max(1e-12), rng.random());
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// Correlated features: a random mixing of independent Gaussians.
    fn sample(n: usize, d: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mix: Vec<f32> = (0..d * d)
            .map(|_| gaussian(&mut rng) / (d as f32).sqrt())
            .collect();
        (0..n)
            .flat_map(|_| {
                let z: Vec<f32> = (0..d).map(|_| gaussian(&mut rng)).collect();
                (0..d)
                    .map(|i| (0..d).map(|j| mix[i * d + j] * z[j]).sum::<f32>() + 0.3 * i as f32)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn same_set_is_zero() {
        let a = Features::new(sample(200, 16, 0), 16).unwrap();
        assert!(fid(&a, &a).unwrap() < 1e-8);
        // Fewer rows than features: singular covariances are fine.
        let s = Features::new(sample(10, 16, 1), 16).unwrap();
        assert!(fid(&s, &s).unwrap() < 1e-8);
    }

    #[test]
    fn grows_with_added_noise() {
        let (n, d) = (400, 16);
        let base = sample(n, d, 0);
        let a = Features::new(base.clone(), d).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let noise: Vec<f32> = (0..n * d).map(|_| gaussian(&mut rng)).collect();
        let mut last = -1.0;
        for level in [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0] {
            let b: Vec<f32> = base
                .iter()
                .zip(&noise)
                .map(|(x, e)| x + level * e)
                .collect();
            let v = fid(&a, &Features::new(b, d).unwrap()).unwrap();
            assert!(v > last, "noise {level}: {v} <= {last}");
            last = v;
        }
    }

    #[test]
    fn one_dimension_is_the_closed_form() {
        // 1-D Gaussians: (m1 - m2)^2 + (s1 - s2)^2.
        let a = Features::new(vec![0.0, 2.0], 1).unwrap(); // mean 1, var 2
        let b = Features::new(vec![3.0, 11.0], 1).unwrap(); // mean 7, var 32
        let want = 36.0 + (2f64.sqrt() - 32f64.sqrt()).powi(2);
        assert!((fid(&a, &b).unwrap() - want).abs() < 1e-9);
    }
}
