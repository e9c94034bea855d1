//! Figure 5: the fleet-scan simulation of `kbwatch-core` (the very simulator
//! `core/tests/scan_simulation.rs` asserts on and `examples/scan_simulation.rs` prints), run
//! here to get its figures as data: `FleetScan` at its default budget, the naive sequential scan
//! (one call at a time, stops at the first 429), and `FleetScan` with a budget equal to the
//! server's limits, all against the same simulated server and seed.

use std::path::PathBuf;
use std::time::Instant;

use kbwatch_core::fleet::scan::ScanPolicy;
use kbwatch_e2e::BoxError;
use serde_json::{json, Value};

#[path = "../../core/tests/scan_simulation.rs"]
#[allow(dead_code)]
mod scan_simulation;

use scan_simulation::sim::{run_fleet_scan, run_naive, Figures, ServerConfig};

pub struct ScanArgs {
    pub devices: usize,
    pub seed: u64,
    pub out: PathBuf,
}

fn figures(f: &Figures, budget_per_hour: Option<u32>) -> Value {
    let hours = f.simulated_ms as f64 / 3_600_000.0;
    let full_hour_rate = f.achieved_per_hour();
    json!({
        "label": f.label,
        "devices": f.devices,
        "simulated_ms": f.simulated_ms,
        "calls": f.calls,
        "injected_429": f.injected_429,
        "limit_429": f.limit_429,
        "server_errors": f.server_errors,
        "retries": f.retries,
        "calls_over_the_limit": f.violations,
        "max_calls_60s_at_server": f.max_calls_60s,
        "max_calls_3600s_at_server": f.max_calls_3600s,
        "max_starts_60s": f.max_starts_60s,
        "max_starts_3600s": f.max_starts_3600s,
        "full_hours": f.full_hours,
        "achieved_per_hour_full_hours": full_hour_rate,
        "achieved_ratio_of_budget": full_hour_rate.zip(budget_per_hour).map(|(r, b)| r / f64::from(b)),
        "calls_per_hour_over_run": (hours > 0.0).then(|| f.calls as f64 / hours),
        "devices_with_data": f.with_data,
        "devices_failed": f.failed,
        "devices_cancelled": f.cancelled,
        "devices_not_scanned": f.unaccounted,
        "stopped_at_first_429": f.stopped_early,
        "eta_at_start_ms": f.eta_at_start_ms,
        "eta_at_half_ms": f.eta_at_half.map(|(eta, _)| eta),
        "actual_rest_at_half_ms": f.eta_at_half.map(|(_, actual)| actual),
    })
}

pub fn run(args: ScanArgs) -> Result<(), BoxError> {
    let started = Instant::now();
    let server = ServerConfig::default();
    let policy = ScanPolicy::default();
    let scan = run_fleet_scan(args.devices, policy, server.clone(), args.seed);
    let naive = run_naive(args.devices, server.clone(), args.seed);
    let at_limit_policy = ScanPolicy {
        per_minute: server.per_minute,
        per_hour: server.per_hour,
        ..policy
    };
    let at_limit = run_fleet_scan(args.devices, at_limit_policy, server.clone(), args.seed);
    let out = json!({
        "devices": args.devices,
        "seed": args.seed,
        "server": {
            "per_minute": server.per_minute,
            "per_hour": server.per_hour,
            "injected_throttle_rate": server.injected_throttle_rate,
            "retry_after_secs": [server.retry_after_secs.0, server.retry_after_secs.1],
            "server_error_rate": server.server_error_rate,
            "latency_ms": [server.latency_ms.0, server.latency_ms.1],
        },
        "policy": {
            "per_minute": policy.per_minute,
            "per_hour": policy.per_hour,
            "concurrency": policy.concurrency,
            "max_attempts": policy.max_attempts,
        },
        "fleet_scan": figures(&scan, Some(policy.per_hour)),
        "naive": figures(&naive, None),
        "fleet_scan_budget_at_limits": figures(&at_limit, Some(at_limit_policy.per_hour)),
        "seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&out)? + "\n")
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    Ok(())
}
