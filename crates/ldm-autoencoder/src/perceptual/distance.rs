//! The LPIPS distance given two stacks of features: unit-normalise each position's channel
//! vector, square the difference, sum over channels (optionally weighted), average over
//! positions, sum over layers.

use burn::tensor::Tensor;

/// Per-image distance `[B]` between feature stacks of the same shapes. `weights[l]`, when
/// given, are non-negative per-channel weights `[C_l]` (LPIPS' learned "lin" layers).
pub fn lpips(a: &[Tensor<4>], b: &[Tensor<4>], weights: Option<&[Tensor<1>]>) -> Tensor<1> {
    let mut total: Option<Tensor<1>> = None;
    for (l, (fa, fb)) in a.iter().zip(b).enumerate() {
        let [n, c, _, _] = fa.dims();
        let d = (unit(fa.clone()) - unit(fb.clone())).square();
        let d = match weights {
            Some(w) => d * w[l].clone().reshape([1, c, 1, 1]),
            None => d,
        };
        // Sum over channels, mean over positions -> [B].
        let per_image = d.sum_dim(1).mean_dims(&[2, 3]).reshape([n]);
        total = Some(match total {
            Some(t) => t + per_image,
            None => per_image,
        });
    }
    total.expect("at least one feature layer")
}

/// Divide each position's channel vector by its L2 norm.
fn unit(f: Tensor<4>) -> Tensor<4> {
    let norm = f.clone().square().sum_dim(1).sqrt().add_scalar(1e-10);
    f / norm
}
