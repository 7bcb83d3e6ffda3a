//! `tracing` to stderr (around the progress bars) and, once a run directory exists, to its
//! `log.txt`.

use std::fs::OpenOptions;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::progress::MULTI;

/// Install the global subscriber. `RUST_LOG` overrides the default `info` level.
/// Call once per process; later calls are ignored (tests may call it repeatedly).
pub fn init(log_file: Option<&Path>) -> io::Result<()> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(SuspendingStderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .with_filter(filter());
    let file = match log_file {
        Some(p) => {
            let f = OpenOptions::new().create(true).append(true).open(p)?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(Mutex::new(f))
                    .with_ansi(false)
                    .with_target(false)
                    .with_filter(filter()),
            )
        }
        None => None,
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    Ok(())
}

/// Writes each log line to stderr with the progress bars hidden for the moment.
#[derive(Clone, Copy)]
struct SuspendingStderr;

struct LineBuffer(Vec<u8>);

impl Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.0);
        MULTI.suspend(|| {
            let _ = io::stderr().write_all(&bytes);
        });
    }
}

impl<'a> MakeWriter<'a> for SuspendingStderr {
    type Writer = LineBuffer;
    fn make_writer(&'a self) -> LineBuffer {
        LineBuffer(Vec::new())
    }
}
