//! [`Warm`]: keeps rayon's other threads looking for work while a training or sampling step
//! runs, instead of going to sleep between the step's parallel regions.
//!
//! Why: a step is hundreds of short parallel regions (every kernel splits its work) with
//! serial work on the calling thread between them (autodiff bookkeeping, small stock
//! operations). Idle that long, rayon's workers sleep, and each region then starts with a
//! futex wake-up: a system call on the calling thread, and tens of microseconds before the
//! woken thread steals its share while the calling thread works alone. OpenMP runtimes
//! (PyTorch's) spin-wait between regions for the same reason. Under the guard each other
//! thread runs a job that polls for work (`rayon::yield_now`) until the guard is dropped
//! (or nothing came for [`IDLE_LIMIT`]):
//! in 12 denoiser steps at 2 threads the context switches fell from 5258 to 366 (`perf
//! stat`), and alternated runs went from 4.20 to 4.43 steps/s (medians of 10).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A spinning job gives up after this long without finding work (a guard held across
/// I/O, or forgotten, then costs one core for this long, not for ever).
const IDLE_LIMIT: Duration = Duration::from_millis(50);

/// While alive, the other threads of the caller's rayon pool poll for work instead of
/// sleeping (each gives up after [`IDLE_LIMIT`] without work). Hold one per step; dropping it
/// lets them sleep again. A no-op on a thread outside the pool: its parallel regions are
/// handed to the pool and it sleeps until they are done, so spinning would not spare it a
/// wake-up, and the spinners would compete with it (and with other such callers) for cores.
pub struct Warm {
    stop: Arc<AtomicBool>,
}

impl Warm {
    pub fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(owner) = rayon::current_thread_index()
            && rayon::current_num_threads() > 1
        {
            let flag = stop.clone();
            rayon::spawn_broadcast(move |ctx| {
                // The caller's own copy runs when it next waits for work: it returns at once.
                if ctx.index() != owner {
                    spin(&flag);
                }
            });
        }
        Self { stop }
    }
}

impl Drop for Warm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Run the pool's pending jobs as they appear until `stop` is set (or nothing came for
/// [`IDLE_LIMIT`]).
fn spin(stop: &AtomicBool) {
    let mut last_work = Instant::now();
    let mut polls = 0u32;
    while !stop.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            last_work = Instant::now();
            continue;
        }
        std::hint::spin_loop();
        polls = polls.wrapping_add(1);
        // Now and then give the core up to any other runnable thread (more threads than
        // cores, as when tests run side by side), and check the idle limit: reading the
        // clock on every poll would cost more than the poll.
        if polls.is_multiple_of(256) {
            std::thread::yield_now();
            if last_work.elapsed() > IDLE_LIMIT {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rayon::prelude::*;

    use super::Warm;

    fn sum(n: u64) -> u64 {
        (0..n).into_par_iter().map(|i| i * i).sum()
    }

    /// Parallel work under the guard completes with the same result: on a pool of 3 run
    /// from one of its threads (as ldm runs), with guards nested, with a guard started on a
    /// pool thread and held outside it, and with one started outside the pool (a no-op);
    /// the pool still runs work after they are dropped.
    #[test]
    fn work_under_the_guard_completes() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let want = sum(100_000);
        for _ in 0..20 {
            pool.install(|| {
                let _warm = Warm::start();
                for _ in 0..20 {
                    assert_eq!(sum(100_000), want);
                    let _inner = Warm::start();
                    assert_eq!(sum(100_000), want);
                }
            });
        }
        let _outside = pool.install(Warm::start);
        for _ in 0..20 {
            assert_eq!(pool.install(|| sum(100_000)), want);
        }
        drop(_outside);
        let idle = Warm::start();
        assert_eq!(pool.install(|| sum(100_000)), want);
        drop(idle);
        assert_eq!(pool.install(|| sum(100_000)), want);
    }
}
