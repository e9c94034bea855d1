//! The native side of `make bench`: subcommands of the `kbwatch-bench` binary.

pub mod browser;
pub mod payload;
pub mod report;
