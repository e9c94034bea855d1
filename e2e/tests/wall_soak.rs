//! Soak test of the SOC wall display: the wall runs against the mock with its clock
//! accelerated (`speed=360`: one simulated hour every 10 real seconds, a 30-minute refresh
//! every 5 s), with a fault injected every simulated hour. Every simulated hour it asserts
//! that the wall shows data, and samples the DOM size, the JS heap and the wasm memory; at the
//! end the samples must be bounded. The figures are printed.
//!
//! `KBWATCH_SOAK_HOURS` sets the simulated duration: `make test` runs 3 hours, `make soak` 24.

use std::time::Duration;

use kbwatch_e2e::selectors::CRASH_REPORT;
use kbwatch_e2e::{EnvSetup, Page, TestEnv, TestResult};
use kbwatch_mock::MockOptions;
use serde_json::{json, Value};

const SPEED: u64 = 360;
/// Real milliseconds per simulated hour.
const HOUR_MS: u64 = 3_600_000 / SPEED;

fn soak_hours() -> u64 {
    std::env::var("KBWATCH_SOAK_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .filter(|h| *h > 0)
        .unwrap_or(3)
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    hour: u64,
    dom_nodes: u64,
    js_heap: u64,
    wasm_memory: u64,
}

async fn sample(page: &Page, hour: u64) -> TestResult<Sample> {
    let v: Value = page
        .eval(
            "return { dom: document.getElementsByTagName('*').length, \
                      heap: (performance.memory && performance.memory.usedJSHeapSize) || 0, \
                      wasm: window.kbwatchWasmMemoryBytes ? window.kbwatchWasmMemoryBytes() : 0 };",
            vec![],
        )
        .await?;
    Ok(Sample {
        hour,
        dom_nodes: v["dom"].as_u64().unwrap_or(0),
        js_heap: v["heap"].as_u64().unwrap_or(0),
        wasm_memory: v["wasm"].as_u64().unwrap_or(0),
    })
}

/// The fault of simulated hour `hour`: they rotate through the kinds a wall meets.
fn fault_for(hour: u64) -> Option<Value> {
    match hour % 4 {
        1 => Some(json!({"kind": "server_error", "path_contains": "/api/machines", "count": 2})),
        2 => Some(
            json!({"kind": "throttle", "retry_after_secs": 1, "path_contains": "getmissingkbs", "count": 3}),
        ),
        3 => {
            Some(json!({"kind": "bad_gateway_html", "path_contains": "/api/machines", "count": 1}))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_runs_for_a_simulated_day_with_bounded_memory() {
    let hours = soak_hours();
    let setup = EnvSetup::new(MockOptions {
        seed: 7,
        devices: 40,
        ..MockOptions::default()
    })
    .capture_console();
    let env = TestEnv::start_with(setup)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let env = &env;

    env.with_browser("wall-soak", |page: Page| async move {
        page.open(&format!(
            "/?view=wall&panels=tiles,kbs,devices&rotate=600&refresh=30&speed={SPEED}"
        ))
        .await?;
        page.wait_any("[data-testid=wall-kb], [data-testid=tile-devices]").await?;

        let mut samples = Vec::new();
        let mut stale_seen = 0;
        let mut panels_seen = std::collections::BTreeSet::new();
        for hour in 1..=hours {
            if let Some(fault) = fault_for(hour) {
                env.inject_fault(fault).await?;
            }
            let hour_end = tokio::time::Instant::now() + Duration::from_millis(HOUR_MS);
            let mut max_dom_this_hour = 0;
            // Several looks per simulated hour (panels rotate in between): data must be on screen
            // at every one, and the largest DOM seen is recorded.
            while tokio::time::Instant::now() < hour_end {
                let shown = page
                    .count("[data-testid=wall-kb], [data-testid=wall-device], [data-testid=tile-devices]")
                    .await?;
                let sign_in = page.count("[data-testid=wall-sign-in-needed]").await?;
                assert_eq!(sign_in, 0, "hour {hour}: the wall asked for sign-in in demo mode");
                assert!(shown > 0, "hour {hour}: the wall shows no data");
                stale_seen += page.count("[data-testid=wall-stale]").await?;
                panels_seen.extend(page.attrs("[data-testid=wall-panel]", "data-panel").await?);
                max_dom_this_hour = max_dom_this_hour.max(sample(&page, hour).await?.dom_nodes);
                tokio::time::sleep(Duration::from_millis(HOUR_MS / 8)).await;
            }
            let mut at_end = sample(&page, hour).await?;
            at_end.dom_nodes = at_end.dom_nodes.max(max_dom_this_hour);
            samples.push(at_end);
        }

        // It rotated through every panel and refreshed on schedule (every simulated 30 min).
        let all_panels: std::collections::BTreeSet<String> =
            ["tiles", "kbs", "devices"].iter().map(|p| p.to_string()).collect();
        assert_eq!(panels_seen, all_panels, "panels shown during the soak");
        let stats = env.mock_stats().await?;
        let list_calls = stats["routes"]["/api/machines"].as_u64().unwrap_or(0);
        assert!(
            list_calls >= hours * 2 - 1,
            "{list_calls} device-list loads in {hours} simulated hours: the wall did not refresh every 30 min"
        );

        let crash = page.count(CRASH_REPORT).await?;
        assert_eq!(crash, 0, "the wall panicked");
        let console = page.console_log().await?;
        assert!(
            !console.iter().any(|l| l.contains("panicked")),
            "a panic was logged: {console:?}"
        );

        println!("wall soak: {hours} simulated hours ({SPEED}x), fault every hour but each 4th");
        println!("{:>5} {:>10} {:>14} {:>14}", "hour", "max DOM", "JS heap (B)", "wasm mem (B)");
        for s in &samples {
            println!("{:>5} {:>10} {:>14} {:>14}", s.hour, s.dom_nodes, s.js_heap, s.wasm_memory);
        }
        println!("stale banner seen in {stale_seen} looks; {list_calls} device-list refreshes");

        // Bounded: after the first hour's warm-up, nothing keeps growing.
        let warm = samples.first().copied().expect("at least one sample");
        let last = samples.last().copied().expect("at least one sample");
        let max_dom = samples.iter().map(|s| s.dom_nodes).max().unwrap_or(0);
        assert!(max_dom < 3_000, "DOM grew to {max_dom} nodes");
        assert!(
            last.wasm_memory <= warm.wasm_memory.max(1) * 2,
            "wasm memory grew from {} to {} bytes",
            warm.wasm_memory,
            last.wasm_memory
        );
        if warm.js_heap > 0 {
            assert!(
                last.js_heap <= warm.js_heap * 2,
                "JS heap grew from {} to {} bytes",
                warm.js_heap,
                last.js_heap
            );
        }
        Ok(())
    })
    .await;
}
