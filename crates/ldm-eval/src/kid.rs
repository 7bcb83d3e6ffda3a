//! Kernel distance (KID): the unbiased estimate of MMD^2 between two feature sets with the
//! cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random equal-size subsets
//! as torch-fidelity and clean-fid do. Unlike FID it is unbiased, so small sample counts
//! compare fairly, and its spread over subsets says how much to trust a difference.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::features::Features;

/// How the subsets are drawn. With `subset_size` at least the size of both sets, every subset
/// is all of each set, and the result is the exact full-sample estimate (std 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KidConfig {
    pub subsets: usize,
    /// Rows per subset from each set; capped at the smaller set's size.
    pub subset_size: usize,
    pub seed: u64,
}

impl Default for KidConfig {
    fn default() -> Self {
        Self {
            subsets: 100,
            subset_size: 1000,
            seed: 0,
        }
    }
}

/// Mean and (population) standard deviation of MMD^2 over the subsets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kid {
    pub mean: f64,
    pub std: f64,
    pub subsets: usize,
    pub subset_size: usize,
}

/// KID between two feature sets of the same width, each with at least two rows.
pub fn kid(a: &Features, b: &Features, cfg: &KidConfig) -> Result<Kid, String> {
    if a.dim() != b.dim() {
        return Err(format!("feature sizes differ: {} vs {}", a.dim(), b.dim()));
    }
    let m = cfg.subset_size.min(a.len()).min(b.len());
    if m < 2 {
        return Err(format!("subsets of {m} rows: need at least 2"));
    }
    if cfg.subsets == 0 {
        return Err("need at least one subset".into());
    }
    let values: Vec<f64> = (0..cfg.subsets)
        .map(|i| {
            let mut rng = ldm_core::seed::rng(cfg.seed, "kid/subset", i as u64);
            let pick = |n: usize, rng: &mut _| -> Vec<usize> {
                if m == n {
                    (0..n).collect()
                } else {
                    rand::seq::index::sample(rng, n, m).into_vec()
                }
            };
            let ia = pick(a.len(), &mut rng);
            let ib = pick(b.len(), &mut rng);
            mmd2(&a.matrix(&ia), &b.matrix(&ib))
        })
        .collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    Ok(Kid {
        mean,
        std: var.sqrt(),
        subsets: cfg.subsets,
        subset_size: m,
    })
}

/// The cubic polynomial kernel between the rows of `x` and of `y`.
fn kernel(x: &DMatrix<f64>, y: &DMatrix<f64>) -> DMatrix<f64> {
    let d = x.ncols() as f64;
    (x * y.transpose()).map(|v| (v / d + 1.0).powi(3))
}

/// Unbiased MMD^2 of two equal-size samples: the within-set means leave out the diagonal.
fn mmd2(x: &DMatrix<f64>, y: &DMatrix<f64>) -> f64 {
    let m = x.nrows() as f64;
    let kxx = kernel(x, x);
    let kyy = kernel(y, y);
    let kxy = kernel(x, y);
    let off_diag = |k: &DMatrix<f64>| k.sum() - k.trace();
    (off_diag(&kxx) + off_diag(&kyy)) / (m * (m - 1.0)) - 2.0 * kxy.sum() / (m * m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(n: usize, d: usize, shift: f32) -> Features {
        let data = (0..n * d)
            .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) + shift)
            .collect();
        Features::new(data, d).unwrap()
    }

    #[test]
    fn whole_set_subsets_agree_and_shift_increases_kid() {
        let a = features(60, 8, 0.0);
        let b = features(60, 8, 0.0);
        let same = kid(
            &a,
            &b,
            &KidConfig {
                subsets: 3,
                subset_size: 1000,
                seed: 0,
            },
        )
        .unwrap();
        assert_eq!(same.subset_size, 60);
        assert!(same.std < 1e-12);
        let far = kid(&a, &features(60, 8, 0.5), &KidConfig::default()).unwrap();
        assert!(far.mean > same.mean + 0.01, "{far:?} vs {same:?}");
        // Random subsets: seeded, so repeatable, with a spread.
        let cfg = KidConfig {
            subsets: 10,
            subset_size: 20,
            seed: 3,
        };
        let r1 = kid(&a, &features(60, 8, 0.5), &cfg).unwrap();
        let r2 = kid(&a, &features(60, 8, 0.5), &cfg).unwrap();
        assert_eq!(r1, r2);
        assert!(r1.std > 0.0);
    }
}
