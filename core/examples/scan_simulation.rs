//! Prints the fleet-scan simulation's figures next to a naive baseline:
//! `cargo run -p kbwatch-core --example scan_simulation [devices] [seed]`.
//!
//! The simulator is the one the test `tests/scan_simulation.rs` asserts on.

#[path = "../tests/scan_simulation.rs"]
mod scan_simulation;

use kbwatch_core::fleet::scan::{FleetScan, ScanPolicy};
use scan_simulation::sim::{run_fleet_scan, run_naive, ServerConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let devices = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(2024);
    let server = ServerConfig::default();
    println!(
        "Simulated server: {}/min and {}/h (sliding windows), {:.0} % random 429 (Retry-After {}–{} s), \
         {:.0} % 5xx, latency {}–{} ms; seed {seed}\n",
        server.per_minute,
        server.per_hour,
        server.injected_throttle_rate * 100.0,
        server.retry_after_secs.0,
        server.retry_after_secs.1,
        server.server_error_rate * 100.0,
        server.latency_ms.0,
        server.latency_ms.1,
    );

    let policy = ScanPolicy::default();
    let plan = FleetScan::plan(devices, policy, 0);
    println!(
        "Plan before starting: {} calls, about {:.1} h by the budget, exceeds the hourly budget: {}\n",
        plan.calls,
        plan.estimated_ms as f64 / 3_600_000.0,
        plan.exceeds_hourly_budget
    );

    let scan = run_fleet_scan(devices, policy, server.clone(), seed);
    let naive = run_naive(devices, server.clone(), seed);
    // Why the defaults stay under the limits: a budget equal to them is exact at the client,
    // but latency jitter moves calls closer together by the time they reach the server.
    let at_limit = ScanPolicy {
        per_minute: 100,
        per_hour: 1_500,
        ..policy
    };
    let mut exact = run_fleet_scan(devices, at_limit, server, seed);
    exact.label = format!("{} — budget equal to the server's limits", exact.label);

    println!("{scan}");
    for (device, error) in scan.failures.iter().take(5) {
        println!("  failed: {device}: {error:?}");
    }
    println!("{naive}");
    println!("{exact}");
    if let Some(rate) = scan.achieved_per_hour() {
        println!(
            "FleetScan achieved {rate:.0} calls/h = {:.1} % of its {}/h budget over {} full hours.",
            rate / f64::from(policy.per_hour) * 100.0,
            policy.per_hour,
            scan.full_hours
        );
    }
}
