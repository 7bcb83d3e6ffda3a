//! One AdamW update through [`FastOps::fast_adamw`] (`flex_adamw.rs` says why).

use burn::backend::Dispatch;
use burn::tensor::Tensor;

use super::FastOps;

/// The constants of one AdamW update, as burn's `AdamW` computes them for step `time`.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    pub lr: f64,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    /// The factor the weights keep, 1 - lr · decay: 1 without decay, where multiplying by
    /// it changes no bit (burn skips the multiplication then).
    pub keep: f64,
    /// 1 - β₁ᵗ and 1 - β₂ᵗ.
    pub correction_1: f32,
    pub correction_2: f32,
}

/// The updated parameter `p`, first moment `m` and second moment `v` for gradient `g`.
pub fn adamw_step<const D: usize>(
    p: Tensor<D>,
    g: Tensor<D>,
    m: Tensor<D>,
    v: Tensor<D>,
    s: AdamStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let (p, m, v) = <Dispatch as FastOps>::fast_adamw(
        p.into_dispatch(),
        g.into_dispatch(),
        m.into_dispatch(),
        v.into_dispatch(),
        s,
    );
    (
        Tensor::from_dispatch(p),
        Tensor::from_dispatch(m),
        Tensor::from_dispatch(v),
    )
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::backend::flex::FlexTensor;
    use burn::tensor::TensorData;

    use super::super::{f32_bits, flex_adamw, stock::stock_adamw};
    use super::*;

    fn wavy(n: usize, phase: f32, f: fn(f32) -> f32) -> FlexTensor {
        let v: Vec<f32> = (0..n).map(|i| f((i as f32 * 0.37 + phase).sin())).collect();
        FlexTensor::from_data(TensorData::new(v, [n / 50, 50]))
    }

    /// The stock composition (what GPU backends run) gives the flex kernel's bits, with and
    /// without weight decay, over several of the kernel's chunks.
    #[test]
    fn stock_composition_matches_the_flex_kernel() {
        for keep in [1.0, 1.0 - 3e-3 * 0.01] {
            let s = AdamStep {
                lr: 3e-3,
                beta_1: 0.5,
                beta_2: 0.9,
                epsilon: 1e-8,
                keep,
                correction_1: 1.0 - 0.5f32.powi(3),
                correction_2: 1.0 - 0.9f32.powi(3),
            };
            let n = 50_000;
            let (p, g, m) = (
                wavy(n, 0.0, |x| x),
                wavy(n, 1.0, |x| x),
                wavy(n, 2.0, |x| x),
            );
            let v = wavy(n, 3.0, |x| x * x * 0.1); // a second moment: not negative
            let bits = |t: FlexTensor| f32_bits(t.into_data());
            let (pa, ma, va) = flex_adamw::step(p.clone(), g.clone(), m.clone(), v.clone(), s);
            let (pb, mb, vb) = stock_adamw::<Flex>(p, g, m, v, s);
            assert!(bits(pa) == bits(pb) && bits(ma) == bits(mb) && bits(va) == bits(vb));
        }
    }
}
