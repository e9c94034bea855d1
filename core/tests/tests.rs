//! kbwatch-core's integration tests, one binary (fewer test binaries to link in CI):
//!
//! - `parser_fuzz`: every parser that reads outside input, fuzzed
//!   (`cargo test -p kbwatch-core --test tests parser_fuzz`);
//! - `scan_simulation`: the fleet scan against a simulated rate-limited server (its simulator is
//!   shared with `examples/scan_simulation.rs` and the bench, which include the file by path).

mod parser_fuzz;
mod scan_simulation;
