//! Scalar `f32` functions written so that LLVM vectorizes loops over them: no branches,
//! no calls into libm, rounding by the 1.5 * 2^23 trick instead of `round()`.

/// e^x with relative error below 2e-7 on [-87, 88] (clamped outside; NaN stays NaN).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // e^x = 2^n * e^r, n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2]; ln 2 split in
    // two (Cody-Waite) so r stays exact; e^r by its Taylor polynomial to r^7 (error < 6e-9).
    const MAGIC: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2^n built from its bits: n sits in the low bits of t's mantissa.
    let n_int = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    p * f32::from_bits(((n_int + 127) << 23) as u32)
}

/// The logistic function 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// The standard normal CDF Φ(x) and density φ(x), for GELU: Φ by Abramowitz & Stegun 7.1.26
/// (erfc to 1.5e-7 absolute), computed from the tail on each side so it does not cancel.
#[inline(always)]
pub fn normal_cdf_pdf(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152,
        1.061_405_4,
    ];
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let g = exp(-z * z); // e^(-x^2/2)
    let tail = 0.5 * poly * g; // Φ(-|x|)
    let cdf = if x < 0.0 { tail } else { 1.0 - tail };
    let pdf = g * (0.5 * std::f32::consts::FRAC_2_SQRT_PI * std::f32::consts::FRAC_1_SQRT_2);
    (cdf, pdf)
}

/// Σ f(i) for i in 0..n, in 16 interleaved partial sums added up at the end: a fixed order
/// (the same bits on any thread count) that vectorizes, where a plain running sum is one
/// dependent add per element.
#[inline(always)]
pub fn lane_sum(n: usize, f: impl Fn(usize) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let whole = n / LANES * LANES;
    for i in (0..whole).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(i + l);
        }
    }
    let tail: f32 = (whole..n).map(&f).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_its_range() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            worst = worst.max(((exp(x) as f64 - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 2e-7, "worst relative error {worst:e}");
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(-1000.0), exp(-87.0));
    }

    #[test]
    fn normal_cdf_matches_erf() {
        let mut x = -9.0f32;
        while x < 9.0 {
            let (cdf, pdf) = normal_cdf_pdf(x);
            let want = 0.5 * (1.0 + libm_erf(x as f64 / std::f64::consts::SQRT_2));
            assert!(
                (cdf as f64 - want).abs() < 3e-7,
                "Φ({x}) = {cdf}, want {want}"
            );
            let want_pdf = (-(x as f64).powi(2) / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
            assert!((pdf as f64 - want_pdf).abs() < 1e-7, "φ({x})");
            x += 0.01;
        }
    }

    /// erf by its Taylor series (|x| <= 3) or continued fraction of erfc, in f64.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() <= 3.0 {
            let (mut term, mut sum, mut n) = (x, x, 0.0);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // Lentz-free continued fraction evaluated backwards.
            let z = x.abs();
            let mut f = z;
            for k in (1..60).rev() {
                f = z + (k as f64 / 2.0) / f;
            }
            let erfc = (-z * z).exp() / (f * std::f64::consts::PI.sqrt());
            (1.0 - erfc) * x.signum()
        }
    }
}
