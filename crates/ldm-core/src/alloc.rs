//! The C allocator's settings for training: large buffers stay with the process between
//! operations instead of going back to the system.
//!
//! A training step allocates and frees the same multi-megabyte buffers again and again
//! (activations, patch matrices, weight gradients; 8 MB for one of the critic's). glibc
//! serves blocks above its mmap threshold with fresh mappings, and hands freed memory at the
//! top of its heap back to the system above its trim threshold (both a few hundred KB at
//! first), so each step paid the page faults and the kernel's zero-filling for the same
//! memory again: about 6% of the critic step's samples under `perf` were page-fault and
//! unmapping work. With both thresholds raised, freed blocks are reused. Measured on the
//! autoencoder benchmark (5 steps, 1 thread): page faults 170k -> 93k (most of those left are
//! the models' first allocation), 0.928-0.939 -> 0.946-0.954 steps/s in alternated runs,
//! with 16 MB more peak memory.
//!
//! One arena for all threads, too. Buffers allocated inside the kernels' parallel tasks came
//! from the worker threads' own arenas, whose extra 64 MB heaps glibc maps when an arena
//! outgrows its first and unmaps as soon as one is empty again, whatever the trim threshold:
//! about ten maps and twenty unmaps per autoencoder step, 13-22k page faults per step (2
//! threads). In the main arena the memory is kept: 76 page faults per step, peak memory
//! 296 -> 274 MB, and 1.648 -> 1.727 steps/s (medians of 8 alternated runs; the denoiser 3.96
//! -> 4.15 over 3, 1 thread unchanged within noise). The allocations are few and large, so
//! the threads hardly ever wait on the one arena's lock.

/// Blocks up to this size come from the heap (32 MB: glibc's largest allowed setting).
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free memory at the top of the heap is kept up to this much.
const TRIM_THRESHOLD: i32 = 512 << 20;

/// Raise the thresholds and keep to one arena; call once at the start of a program (`ldm`,
/// the benchmarks). A no-op where the C library is not glibc.
pub fn keep_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes the allocator's tuning parameters; called before any
    // threads are started, as glibc's manual advises for changing them.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        // All threads in the main arena, which keeps freed memory (above).
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
