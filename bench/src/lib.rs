//! `make bench` for kbwatch: what the app costs to download, how fast it shows a device's
//! missing KBs, how fast it reacts on a big device, how fast it aggregates a fleet in the
//! browser, and how well the fleet scan uses the API's budget. See bench/README.md.
//!
//! - [`fleet_data`]: the 5,000 × 40 fleet (shared by the wasm test and the native run).
//! - [`stats`]: median/p95 of samples.
//! - `native` (not on wasm32): the subcommands of the `kbwatch-bench` binary that
//!   scripts/bench.sh runs — payload sizes, browser timings, scan simulation, report.
//! - `wasm_fleet` (wasm32 test only): fleet aggregation timed in headless Chromium.
//! - `wasm_fleet_table` (wasm32 test only): a filter keystroke on the app's per-device fleet
//!   table with 100,000 devices, timed to the rendered DOM in headless Chromium.

pub mod fleet_data;
pub mod stats;

#[cfg(not(target_arch = "wasm32"))]
pub mod native;

#[cfg(all(test, target_arch = "wasm32"))]
mod wasm_fleet;

#[cfg(all(test, target_arch = "wasm32"))]
mod wasm_fleet_table;
