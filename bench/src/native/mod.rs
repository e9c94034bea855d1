//! The native side of `make bench`: subcommands of the `kbwatch-bench` binary.

pub mod alloc;
pub mod browser;
pub mod fleet_paths;
pub mod payload;
pub mod report;
