//! Progress bars for long loops: step, loss, it/s and ETA, drawn only on a terminal.
//! Log lines are printed through [`MULTI`] so they never tear a bar.

use std::sync::LazyLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// All bars live here; `tracing` output suspends them while it prints.
pub static MULTI: LazyLock<MultiProgress> = LazyLock::new(MultiProgress::new);

/// A bar of `len` steps labelled `label`; set its message to show the loss.
pub fn bar(len: u64, label: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{prefix:>12} [{bar:30}] {pos}/{len} {per_sec:>10} ETA {eta:>4} {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    let pb = MULTI.add(
        ProgressBar::new(len)
            .with_style(style)
            .with_prefix(label.to_string()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}
