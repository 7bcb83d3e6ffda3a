//! Caption dropout: with probability `p_uncond` a training caption is replaced by the empty
//! caption, so the denoiser also learns the unconditional prediction that classifier-free
//! guidance needs at sampling time.
//!
//! Each decision is a pure function of (seed, step, index in the batch): a resumed run drops
//! exactly the captions the uninterrupted one would have, whatever the batch order or threads.

use rand::Rng;

use ldm_core::seed::{derive, rng};

/// The caption the unconditional branch sees.
pub const EMPTY_CAPTION: &str = "";

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CaptionDropout {
    pub p_uncond: f64,
    pub seed: u64,
}

impl CaptionDropout {
    pub fn new(p_uncond: f64, seed: u64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p_uncond),
            "p_uncond {p_uncond} is not a probability"
        );
        Self { p_uncond, seed }
    }

    /// Whether sample `index` of the batch at `step` loses its caption.
    pub fn drops(&self, step: u64, index: usize) -> bool {
        // Exact at the ends, whatever the draw.
        if self.p_uncond <= 0.0 {
            return false;
        }
        if self.p_uncond >= 1.0 {
            return true;
        }
        let step_seed = derive(self.seed, "caption-dropout", step);
        rng(step_seed, "sample", index as u64).random::<f64>() < self.p_uncond
    }

    /// The batch's captions with the dropped ones replaced by [`EMPTY_CAPTION`].
    pub fn apply(&self, step: u64, captions: &[String]) -> Vec<String> {
        captions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if self.drops(step, i) {
                    EMPTY_CAPTION.to_string()
                } else {
                    c.clone()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_rate_matches_p_uncond() {
        for p in [0.1, 0.5] {
            let d = CaptionDropout::new(p, 7);
            let (steps, batch) = (2000u64, 32usize);
            let n = (steps as usize * batch) as f64;
            let dropped = (0..steps)
                .flat_map(|s| (0..batch).map(move |i| (s, i)))
                .filter(|&(s, i)| d.drops(s, i))
                .count() as f64;
            // 5 binomial standard deviations: a fixed seed makes this exact, the margin only
            // says the generator is not biased.
            let sd = (n * p * (1.0 - p)).sqrt();
            assert!(
                (dropped - n * p).abs() < 5.0 * sd,
                "p={p}: dropped {dropped} of {n}, expected {}",
                n * p
            );
        }
    }

    #[test]
    fn decisions_are_reproducible_and_vary() {
        let d = CaptionDropout::new(0.5, 3);
        let a: Vec<bool> = (0..64).map(|i| d.drops(10, i)).collect();
        let b: Vec<bool> = (0..64).map(|i| d.drops(10, i)).collect();
        assert_eq!(a, b);
        let next_step: Vec<bool> = (0..64).map(|i| d.drops(11, i)).collect();
        assert_ne!(a, next_step);
        let other_seed: Vec<bool> = (0..64)
            .map(|i| CaptionDropout::new(0.5, 4).drops(10, i))
            .collect();
        assert_ne!(a, other_seed);
    }

    #[test]
    fn apply_replaces_dropped_captions_with_the_empty_one() {
        let caps: Vec<String> = (0..200).map(|i| format!("caption {i}")).collect();
        let d = CaptionDropout::new(0.3, 1);
        let out = d.apply(5, &caps);
        for (i, (o, c)) in out.iter().zip(&caps).enumerate() {
            assert_eq!(
                o,
                if d.drops(5, i) {
                    EMPTY_CAPTION
                } else {
                    c.as_str()
                }
            );
        }
        assert!(out.iter().any(|c| c.is_empty()) && out.iter().any(|c| !c.is_empty()));
        assert!(CaptionDropout::new(0.0, 1).apply(5, &caps) == caps);
        assert!(
            CaptionDropout::new(1.0, 1)
                .apply(5, &caps)
                .iter()
                .all(String::is_empty)
        );
    }
}
