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

/// Blocks up to this size come from the heap (32 MB: glibc's largest allowed setting).
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free memory at the top of the heap is kept up to this much.
const TRIM_THRESHOLD: i32 = 512 << 20;

/// Raise the thresholds; call once at the start of a program (`ldm`, the benchmarks). A
/// no-op where the C library is not glibc.
pub fn keep_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes the allocator's tuning parameters; called before any
    // threads are started, as glibc's manual advises for changing them.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
