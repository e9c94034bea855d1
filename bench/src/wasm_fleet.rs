//! Fleet aggregation in the browser: the 5,000 × 40 fleet of [`crate::fleet_data`] aggregated
//! by `kbwatch-core` compiled to wasm32 with the app's release profile, in headless Chromium.
//!
//! Run by scripts/bench.sh as
//! `cargo test --release --target wasm32-unknown-unknown -p kbwatch-bench --lib`; each figure is
//! printed as one `KBWATCH_BENCH {json}` line that `kbwatch-bench report` reads back. It asserts
//! nothing about time: the benchmark never fails on a figure.

use std::hint::black_box;

use kbwatch_core::fleet::aggregate::{FleetDeviceFilter, FleetKbFilter};
use kbwatch_core::Sort;
use serde_json::json;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

use crate::fleet_data::{aggregate, fleet_data, DEVICES, KBS_PER_DEVICE};
use crate::stats::Summary;

wasm_bindgen_test_configure!(run_in_browser);

/// Timed repetitions after the first (cold) one.
const RUNS: usize = 15;

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .expect("window.performance")
}

/// Runs `f` once cold and `RUNS` more times; prints and returns nothing (the figures go to the
/// runner's output).
fn measure<T>(name: &str, mut f: impl FnMut() -> T) {
    let t0 = now_ms();
    black_box(f());
    let first = now_ms() - t0;
    let samples: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t0 = now_ms();
            black_box(f());
            now_ms() - t0
        })
        .collect();
    let line = json!({
        "name": name,
        "first_ms": first,
        "summary": Summary::of(&samples),
        "samples_ms": samples,
    });
    console_log!("KBWATCH_BENCH {line}");
}

#[wasm_bindgen_test]
fn fleet_aggregation_5000_by_40() {
    let t0 = now_ms();
    let data = fleet_data();
    let generate = now_ms() - t0;
    let fleet = aggregate(&data);
    let summary = fleet.summary();
    console_log!(
        "KBWATCH_BENCH {}",
        json!({
            "name": "fleet_shape",
            "devices": DEVICES,
            "kbs_per_device": KBS_PER_DEVICE,
            "distinct_kbs": summary.distinct_kbs,
            "device_kb_pairs": summary.device_kb_pairs,
            "generate_ms": generate,
            "user_agent": web_sys::window().map(|w| w.navigator().user_agent().unwrap_or_default()),
        })
    );
    measure("aggregate", || aggregate(&data));
    measure("aggregate_and_kb_rows", || {
        let fleet = aggregate(&data);
        fleet
            .kb_rows(&FleetKbFilter::default(), Sort::default())
            .len()
    });
    measure("kb_rows", || {
        fleet
            .kb_rows(&FleetKbFilter::default(), Sort::default())
            .len()
    });
    measure("device_rows", || {
        fleet
            .device_rows(&FleetDeviceFilter::default(), Sort::default())
            .len()
    });
    measure("summary", || fleet.summary());
}
