//! Stopping training on purpose, between steps: on SIGINT/SIGTERM, or at `--until-step N`.
//! A loop asks [`check`] after each step; on a stop it writes a checkpoint and returns an
//! error built by [`halted`], and `main` reads [`reason`] to tell a planned stop (exit 0)
//! from an interruption (exit 130). A second signal exits at once, for a user who really
//! means it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static SIGNALLED: AtomicBool = AtomicBool::new(false);
static UNTIL: AtomicU64 = AtomicU64::new(u64::MAX);
static HALTED: Mutex<Option<Reason>> = Mutex::new(None);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// SIGINT or SIGTERM.
    Signal,
    /// `--until-step`: the run reached the step it was asked to stop at.
    UntilStep(u64),
}

/// Route SIGINT and SIGTERM to [`check`]; call once, from `main`.
pub fn install_signal_handlers() -> Result<(), String> {
    ctrlc::set_handler(|| {
        if SIGNALLED.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting now without a checkpoint");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: finishing this step and writing a checkpoint (again to exit now)");
    })
    .map_err(|e| format!("installing signal handlers: {e}"))
}

/// Stop every training loop once it has completed `step` steps (`None`: no such limit).
pub fn set_until_step(step: Option<u64>) {
    UNTIL.store(step.unwrap_or(u64::MAX), Ordering::SeqCst);
}

/// Whether a loop that has completed `step` steps should checkpoint and stop now.
pub fn check(step: u64) -> Option<Reason> {
    if SIGNALLED.load(Ordering::SeqCst) {
        return Some(Reason::Signal);
    }
    let until = UNTIL.load(Ordering::SeqCst);
    (step >= until).then_some(Reason::UntilStep(until))
}

/// Record that `stage` stopped for `reason` after `step` steps with its state in
/// `checkpoint`, and return the message the loop returns as its error.
pub fn halted(reason: Reason, stage: &str, step: u64, checkpoint: &std::path::Path) -> String {
    *HALTED.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    let why = match reason {
        Reason::Signal => "interrupted".to_string(),
        Reason::UntilStep(n) => format!("stopped at --until-step {n}"),
    };
    format!(
        "{stage} {why} after step {step}; checkpoint {} written; rerun with --resume latest to continue",
        checkpoint.display()
    )
}

/// Why the last loop stopped early, if one did.
pub fn reason() -> Option<Reason> {
    *HALTED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Forget signals and limits (between runs in one process, e.g. tests).
pub fn reset() {
    SIGNALLED.store(false, Ordering::SeqCst);
    set_until_step(None);
    *HALTED.lock().unwrap_or_else(|e| e.into_inner()) = None;
}
