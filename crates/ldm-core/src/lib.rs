//! Plumbing shared by every ldm crate: experiment configs, run directories, atomic file
//! writes, device selection, seeding, logging, progress bars and metrics, and the
//! allocator's settings.

pub mod alloc;
pub mod atomic;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod progress;
pub mod record;
pub mod rundir;
pub mod seed;
pub mod stop;
pub mod train;
pub mod warm;

pub use config::{ConfigError, Loaded};
pub use device::DeviceSpec;
pub use rundir::RunDir;
