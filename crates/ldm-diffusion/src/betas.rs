//! Beta sequences of the discrete noise schedules, and the zero-terminal-SNR rescaling.
//!
//! Everything here is computed bit for bit as diffusers (torch, float32 on the CPU) does, so
//! that a model trained here and a scheduler config from diffusers agree exactly: float32
//! linspace as torch evaluates it, float32 arithmetic where torch uses float32, and float64
//! where diffusers uses Python floats.

use serde::{Deserialize, Serialize};

/// How the betas run over `T` steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BetaSchedule {
    /// DDPM: betas linear from `beta_start` to `beta_end` (1e-4 to 0.02 for T = 1000).
    Linear,
    /// Stable Diffusion: sqrt(beta) linear, squared (0.00085 to 0.012 for T = 1000).
    ScaledLinear,
    /// Nichol & Dhariwal's cosine ā (diffusers' "squaredcos_cap_v2"); ignores the beta range.
    Cosine,
}

/// The betas of `kind` over `steps` timesteps, optionally rescaled to zero terminal SNR.
pub fn betas(
    kind: BetaSchedule,
    steps: usize,
    beta_start: f64,
    beta_end: f64,
    zero_terminal_snr: bool,
) -> Vec<f32> {
    let betas = match kind {
        BetaSchedule::Linear => linspace_f32(beta_start, beta_end, steps),
        BetaSchedule::ScaledLinear => linspace_f32(beta_start.sqrt(), beta_end.sqrt(), steps)
            .into_iter()
            .map(|b| b * b)
            .collect(),
        BetaSchedule::Cosine => cosine(steps),
    };
    if zero_terminal_snr {
        rescale_zero_terminal_snr(&betas)
    } else {
        betas
    }
}

/// ā_t = prod_{s <= t} (1 - beta_s). torch's CPU cumprod of a float32 tensor accumulates in
/// float64 and rounds each partial product to float32; a float32 running product drifts from
/// diffusers' values by ~1e-6 relative after 1000 steps.
pub fn alphas_cumprod(betas: &[f32]) -> Vec<f32> {
    let mut acc = 1.0f64;
    betas
        .iter()
        .map(|&b| {
            acc *= (1.0f32 - b) as f64;
            acc as f32
        })
        .collect()
}

/// Lin et al. 2023 ("Common diffusion noise schedules and sample steps are flawed"), Alg. 1:
/// shift and scale sqrt(ā) so the last step is pure noise (ā_T = 0) while the first keeps its
/// value. Without it a model never sees pure noise in training but starts from it at sampling,
/// which biases samples towards mid-range brightness.
pub fn rescale_zero_terminal_snr(betas: &[f32]) -> Vec<f32> {
    let mut sqrt_ab: Vec<f32> = alphas_cumprod(betas).iter().map(|a| a.sqrt()).collect();
    let first = sqrt_ab[0];
    let last = *sqrt_ab.last().expect("at least one step");
    let scale = first / (first - last);
    for s in &mut sqrt_ab {
        *s = (*s - last) * scale;
    }
    let ab: Vec<f32> = sqrt_ab.iter().map(|s| s * s).collect();
    // Undo the cumulative product: alpha_t = ā_t / ā_{t-1}, and alpha_0 = ā_0.
    (0..ab.len())
        .map(|t| {
            let alpha = if t == 0 { ab[0] } else { ab[t] / ab[t - 1] };
            1.0 - alpha
        })
        .collect()
}

/// `torch.linspace(start, end, n, dtype=float32)` exactly: the ends are rounded to float32,
/// the step is a float32 division, and each value is one fused multiply-add from the nearer
/// end (that is how torch's CPU kernel is compiled). A float64 linspace rounded to float32
/// differs in the last bit for about a third of the values.
pub fn linspace_f32(start: f64, end: f64, n: usize) -> Vec<f32> {
    let (start, end) = (start as f32, end as f32);
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((n - 1 - i) as f32, end)
            }
        })
        .collect()
}

/// diffusers' `betas_for_alpha_bar` with the cosine ā(t) = cos²((t + 0.008) / 1.008 · π/2),
/// in float64 (Python floats), each beta capped at 0.999 and then rounded to float32.
fn cosine(steps: usize) -> Vec<f32> {
    let alpha_bar = |t: f64| {
        ((t + 0.008) / 1.008 * std::f64::consts::PI / 2.0)
            .cos()
            .powi(2)
    };
    (0..steps)
        .map(|i| {
            let t1 = i as f64 / steps as f64;
            let t2 = (i + 1) as f64 / steps as f64;
            (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_hits_both_ends_and_is_monotone() {
        let v = linspace_f32(0.0001, 0.02, 1000);
        assert_eq!(v[0], 0.0001f32);
        assert_eq!(v[999], 0.02f32);
        assert!(v.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn zero_snr_ends_at_exactly_zero_and_keeps_the_start() {
        for kind in [
            BetaSchedule::Linear,
            BetaSchedule::ScaledLinear,
            BetaSchedule::Cosine,
        ] {
            let plain = alphas_cumprod(&betas(kind, 1000, 0.00085, 0.012, false));
            let zero = alphas_cumprod(&betas(kind, 1000, 0.00085, 0.012, true));
            assert_eq!(*zero.last().unwrap(), 0.0, "{kind:?}");
            assert!((zero[0] - plain[0]).abs() < 1e-6, "{kind:?}");
            assert!(zero.windows(2).all(|w| w[1] < w[0]), "{kind:?}");
        }
    }
}
