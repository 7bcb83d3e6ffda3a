//! What a training loop does with a NaN or infinite loss: stop (the default; the last good
//! checkpoint stays as it was) or skip the update, up to a cap. A skipped step still uses
//! its data and random draws, so a resumed run stays identical to an uninterrupted one.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnNan {
    #[default]
    Stop,
    Skip,
}

/// Counts skipped steps against the cap; its count is saved in checkpoints.
#[derive(Clone, Debug)]
pub struct NanGuard {
    pub policy: OnNan,
    pub max_skips: u64,
    pub skipped: u64,
}

impl NanGuard {
    pub fn new(policy: OnNan, max_skips: u64) -> Self {
        Self {
            policy,
            max_skips,
            skipped: 0,
        }
    }

    /// `Ok(true)`: apply this step's update; `Ok(false)`: skip it; `Err`: stop the run.
    /// `terms` are the loss terms by name, so the message says which one went bad;
    /// `checkpoints` is the stage's checkpoint folder, listed only when the run stops.
    pub fn check(
        &mut self,
        stage: &str,
        step: u64,
        terms: &[(&str, f64)],
        checkpoints: &std::path::Path,
    ) -> Result<bool, String> {
        let bad: Vec<String> = terms
            .iter()
            .filter(|(_, v)| !v.is_finite())
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        if bad.is_empty() {
            return Ok(true);
        }
        let what = format!("non-finite {stage} loss at step {step}: {}", bad.join(", "));
        if self.policy == OnNan::Skip && self.skipped < self.max_skips {
            self.skipped += 1;
            tracing::warn!(
                "{what}; update skipped ({} of at most {})",
                self.skipped,
                self.max_skips
            );
            return Ok(false);
        }
        let kept = crate::checkpoint::latest(checkpoints).map_or_else(
            || "no checkpoint had been written yet".to_string(),
            |p| format!("the last good checkpoint {} is intact", p.display()),
        );
        let cap = if self.policy == OnNan::Skip {
            format!(
                " (after {} skipped steps, the cap of on_nan = \"skip\")",
                self.skipped
            )
        } else {
            String::new()
        };
        Err(format!("{what}{cap}; {kept}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn stop_names_the_term_and_skip_is_capped() {
        let mut g = NanGuard::new(OnNan::Stop, 3);
        assert_eq!(
            g.check("ae", 1, &[("pixel", 0.5)], Path::new("/nonexistent")),
            Ok(true)
        );
        let e = g
            .check(
                "ae",
                7,
                &[("pixel", 0.5), ("gan", f64::NAN)],
                Path::new("/nonexistent"),
            )
            .unwrap_err();
        assert!(e.contains("step 7: gan = NaN"), "{e}");
        let mut g = NanGuard::new(OnNan::Skip, 2);
        let inf = [("loss", f64::INFINITY)];
        assert_eq!(g.check("d", 1, &inf, Path::new("/nonexistent")), Ok(false));
        assert_eq!(g.check("d", 2, &inf, Path::new("/nonexistent")), Ok(false));
        let e = g
            .check("d", 3, &inf, Path::new("/nonexistent"))
            .unwrap_err();
        assert!(
            e.contains("loss = inf") && e.contains("after 2 skipped"),
            "{e}"
        );
    }
}
