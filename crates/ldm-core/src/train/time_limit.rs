//! A wall-clock budget for a training stage (`max_minutes`): the loop ends after the step
//! during which the budget runs out, and treats that step as its last (validation, preview,
//! checkpoint, saved model). Time spent before a resume counts, so a stage interrupted and
//! continued gets the same total budget. A run stopped by time is not reproducible to the bit
//! (how many steps fit depends on the machine); a step budget is.

use std::time::Instant;

pub struct TimeLimit {
    /// Seconds allowed in all (`None`: no limit).
    limit: Option<f64>,
    /// Seconds spent in earlier processes (from the checkpoint resumed).
    before: f64,
    since: Instant,
}

impl TimeLimit {
    /// `max_minutes <= 0` means no limit; `spent_seconds` is what the checkpoint recorded.
    pub fn new(max_minutes: f64, spent_seconds: f64) -> Self {
        Self {
            limit: (max_minutes > 0.0).then_some(max_minutes * 60.0),
            before: spent_seconds,
            since: Instant::now(),
        }
    }

    /// Training seconds so far, this process and earlier ones.
    pub fn spent(&self) -> f64 {
        self.before + self.since.elapsed().as_secs_f64()
    }

    /// Whether the budget has run out.
    pub fn reached(&self) -> bool {
        self.limit.is_some_and(|l| self.spent() >= l)
    }

    /// Whether the step that brought `stage` to `step` (of `steps`) is its last: the final
    /// step, or the one during which the budget ran out (which is logged).
    pub fn is_last(&self, stage: &str, step: u64, steps: u64) -> bool {
        if step >= steps {
            return true;
        }
        let out_of_time = self.reached();
        if out_of_time {
            tracing::info!(
                "{stage}: time budget of {} min reached after step {step} of {steps}",
                self.limit.unwrap_or(0.0) / 60.0
            );
        }
        out_of_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_time_counts_and_zero_is_no_limit() {
        assert!(!TimeLimit::new(0.0, 1e9).reached());
        assert!(TimeLimit::new(1.0, 60.0).reached());
        let fresh = TimeLimit::new(1.0, 0.0);
        assert!(!fresh.reached());
        assert!(fresh.spent() < 60.0);
        assert!(TimeLimit::new(0.0, 0.0).is_last("x", 5, 5));
        assert!(!TimeLimit::new(0.0, 0.0).is_last("x", 4, 5));
        assert!(TimeLimit::new(1.0, 60.0).is_last("x", 4, 5));
    }
}
