//! End-to-end tests of the fleet view: a scan of the demo fleet against the mock with its rate
//! limits on and time-scaled (a "minute" lasts 1 s), plus injected 429s, 5xx and slow answers.
//!
//! Every expectation is computed from the mock's own API before the app runs (and before any
//! fault is injected), never hard-coded.
//!
//! Why the numbers: the app's scheduler runs in real time while the mock's windows are scaled,
//! so the app's own budget (`fleet.perMinute` 90) is the binding limit, and a scan of more
//! devices than that would take over a minute. The fleets here stay below it, so the scans
//! finish in seconds; throttling is exercised by injected 429s (whose `Retry-After` the mock
//! does not scale), the hourly budget by a configured `fleet.perHour` below the fleet size.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kbwatch_e2e::selectors::{CRASH_REPORT, DEVICE_HEADER, DEVICE_ROW, KB_TOTALS};
use kbwatch_e2e::{assert_page_healthy, hold_for, wait_for, EnvSetup, Page, TestEnv, TestResult};
use kbwatch_mock::MockOptions;
use serde_json::{json, Value};

const FLEET_PAGE: &str = "[data-testid=fleet-page]";
const SCAN_PROGRESS: &str = "[data-testid=scan-progress]";
const SCAN_DETAIL: &str = "[data-testid=scan-detail]";
const SCAN_SCOPE: &str = "[data-testid=scan-scope]";
const SCAN_PAUSE: &str = "[data-testid=scan-pause]";
const SCAN_RESUME: &str = "[data-testid=scan-resume]";
const SCAN_CANCEL: &str = "[data-testid=scan-cancel]";
const SCAN_FAILURES: &str = "[data-testid=scan-failures]";
const SCAN_FAILURE: &str = "[data-testid=scan-failure]";
const FLEET_KB_ROW: &str = "tr[data-testid=fleet-kb-row]";
const FLEET_DEVICE_ROW: &str = "tr[data-testid=fleet-device-row]";
const SELECTED_KB: &str = "[data-testid=selected-kb]";
const SELECTED_KB_DEVICE: &str = "a[data-testid=selected-kb-device]";
const OVER_BUDGET: &str = "[data-testid=over-budget]";
const GETMISSINGKBS: &str = "/api/machines/{id}/getmissingkbs";
/// What every fleet cache key starts with (the rest names the account: `storage.rs`).
const CACHE_KEY: &str = "kbwatch.fleet.v1";

/// How long a whole scan may take before a test gives up (the default wait is for one step).
const SCAN_TIMEOUT: Duration = Duration::from_secs(60);

/// A small fixed fleet, limits as documented (100/min, 1,500/h), windows scaled 60×.
fn mock_options() -> MockOptions {
    MockOptions {
        seed: 20_241_105,
        devices: 60,
        time_scale: 60.0,
        ..MockOptions::default()
    }
}

/// `config.json` overrides: the fleet scan's budget, 4 calls in flight.
fn fleet_config(per_minute: u32, per_hour: u32) -> Value {
    json!({ "fleet": { "perMinute": per_minute, "perHour": per_hour, "concurrency": 4 } })
}

/// [`mock_options`] with the app's fleet budget (see [`fleet_config`]).
fn fleet_setup(per_minute: u32, per_hour: u32) -> EnvSetup {
    EnvSetup::new(mock_options()).config(fleet_config(per_minute, per_hour))
}

async fn start(mock: MockOptions, config: Value) -> TestEnv {
    TestEnv::start_with(EnvSetup::new(mock).config(config))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What the scan should find, from the mock's own answers.
struct Expected {
    /// Onboarded devices in `/api/machines` order: (id, display name, KB keys).
    devices: Vec<(String, String, BTreeSet<String>)>,
    /// KB key ("5044285") → devices missing it.
    kb_devices: BTreeMap<String, BTreeSet<String>>,
    /// KB key → the largest `cveAddressed` any device reported.
    kb_cves: BTreeMap<String, u64>,
}

impl Expected {
    async fn from_mock(env: &TestEnv) -> TestResult<Self> {
        let mut devices = Vec::new();
        let mut kb_devices: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut kb_cves: BTreeMap<String, u64> = BTreeMap::new();
        for machine in env.onboarded_machines().await? {
            let id = machine["id"]
                .as_str()
                .ok_or("machine without id")?
                .to_owned();
            let name = machine["computerDnsName"]
                .as_str()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(&id)
                .to_owned();
            let mut keys = BTreeSet::new();
            for kb in env.missing_kbs(&id).await? {
                let raw = kb["id"].as_str().ok_or("KB without id")?;
                let key = raw.strip_prefix("KB").unwrap_or(raw).to_owned();
                let cves = kb["cveAddressed"].as_u64().unwrap_or(0);
                kb_devices
                    .entry(key.clone())
                    .or_default()
                    .insert(id.clone());
                let max = kb_cves.entry(key.clone()).or_default();
                *max = (*max).max(cves);
                keys.insert(key);
            }
            devices.push((id, name, keys));
        }
        Ok(Self {
            devices,
            kb_devices,
            kb_cves,
        })
    }

    fn n(&self) -> usize {
        self.devices.len()
    }

    fn fully_patched_pct(&self) -> String {
        let patched = self.devices.iter().filter(|d| d.2.is_empty()).count();
        format!("{:.0} %", patched as f64 * 100.0 / self.n() as f64)
    }

    fn total_cves(&self) -> u64 {
        self.kb_cves.values().sum()
    }

    fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.devices
            .iter()
            .find(|d| d.0 == id)
            .map(|d| d.1.as_str())
            .unwrap_or(id)
    }
}

fn done_text(done: usize, failed: usize, remaining: usize, total: usize) -> String {
    format!("{done} of {total} devices done · {failed} failed · {remaining} remaining")
}

fn missing_kbs_calls(stats: &Value) -> u64 {
    stats["routes"][GETMISSINGKBS].as_u64().unwrap_or(0)
}

fn status_count(stats: &Value, status: &str) -> u64 {
    stats["statuses"][status].as_u64().unwrap_or(0)
}

/// `getmissingkbs` calls the mock has seen.
async fn calls(env: &TestEnv) -> TestResult<u64> {
    Ok(missing_kbs_calls(&env.mock_stats().await?))
}

/// Fails if, at any time within `duration`, the mock has seen other than `expected`
/// `getmissingkbs` calls.
async fn hold_calls(env: &TestEnv, what: &str, duration: Duration, expected: u64) -> TestResult {
    hold_for(what, duration, || async move {
        let now = calls(env).await?;
        Ok(if now == expected {
            Ok(())
        } else {
            Err(format!("{now} getmissingkbs calls, expected {expected}"))
        })
    })
    .await
}

/// The mock never refused a call for being over its limits, and no window held more calls
/// than allowed.
fn assert_within_limits(stats: &Value) {
    let limits = &stats["rate_limits"];
    assert_eq!(limits["over_limit"], 0, "calls over the limits: {limits}");
    let default = &limits["budgets"]["default"];
    let max_minute = default["max_per_minute"].as_u64().unwrap_or(u64::MAX);
    let max_hour = default["max_per_hour"].as_u64().unwrap_or(u64::MAX);
    assert!(
        max_minute <= default["per_minute"].as_u64().unwrap_or(0)
            && max_hour <= default["per_hour"].as_u64().unwrap_or(0),
        "a window held more calls than allowed: {default}"
    );
}

/// Clicks the button inside `container` whose text is `label` (for buttons without a test id).
async fn click_button_with_text(page: &Page, container: &str, label: &str) -> TestResult {
    let clicked: bool = page
        .eval(
            "const b = Array.from(document.querySelectorAll(arguments[0] + ' button'))
                 .find(b => b.textContent.trim() === arguments[1]);
             if (b) b.click();
             return !!b;",
            vec![json!(container), json!(label)],
        )
        .await?;
    if clicked {
        Ok(())
    } else {
        Err(format!("no button {label:?} in `{container}`").into())
    }
}

async fn tile(page: &Page, test_id: &str) -> TestResult<String> {
    Ok(page
        .text(&format!("[data-testid={test_id}] .tile-value"))
        .await?
        .unwrap_or_default())
}

/// (KB id, device count shown) of every per-KB row, top to bottom.
async fn kb_rows(page: &Page) -> TestResult<Vec<(String, usize)>> {
    let rows: Vec<(String, String)> = page
        .eval(
            "return Array.from(document.querySelectorAll(arguments[0]), r => [
                 r.getAttribute('data-kb-id'),
                 (r.querySelector('[data-testid=fleet-kb-devices]') || {}).textContent || ''
             ]);",
            vec![json!(FLEET_KB_ROW)],
        )
        .await?;
    rows.into_iter()
        .map(|(id, count)| {
            let n = count
                .trim()
                .parse()
                .map_err(|_| format!("KB {id}: device count {count:?}"))?;
            Ok((id, n))
        })
        .collect()
}

async fn is_disabled(page: &Page, css: &str) -> TestResult<Option<bool>> {
    page.eval(
        "const e = document.querySelector(arguments[0]); return e ? e.disabled : null;",
        vec![json!(css)],
    )
    .await
}

/// Waits up to [`SCAN_TIMEOUT`] for the progress line to read `expected`.
async fn wait_progress(page: &Page, expected: &str) -> TestResult {
    wait_for(
        &format!("scan progress {expected:?}"),
        SCAN_TIMEOUT,
        || async move {
            Ok(match page.text(SCAN_PROGRESS).await? {
                Some(t) if t == expected => Ok(()),
                other => Err(format!("{other:?}")),
            })
        },
    )
    .await
}

/// Tiles and per-KB rows match the whole expected fleet.
async fn assert_full_results(page: &Page, expected: &Expected) -> TestResult {
    let n = expected.n();
    page.wait_count(FLEET_KB_ROW, expected.kb_devices.len())
        .await?;
    assert_eq!(tile(page, "tile-devices").await?, n.to_string());
    assert_eq!(
        tile(page, "tile-kbs").await?,
        expected.kb_devices.len().to_string()
    );
    assert_eq!(
        tile(page, "tile-cves").await?,
        expected.total_cves().to_string()
    );
    assert_eq!(
        tile(page, "tile-patched").await?,
        expected.fully_patched_pct()
    );
    let rows = kb_rows(page).await?;
    let shown: BTreeMap<String, usize> = rows.iter().cloned().collect();
    let wanted: BTreeMap<String, usize> = expected
        .kb_devices
        .iter()
        .map(|(kb, devices)| (kb.clone(), devices.len()))
        .collect();
    assert_eq!(shown, wanted, "device count per KB");
    let counts: Vec<usize> = rows.iter().map(|r| r.1).collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "rows sorted by devices, most first: {counts:?}"
    );
    assert_eq!(
        counts.first().copied(),
        wanted.values().max().copied(),
        "the top row is the KB missing on the most devices"
    );
    Ok(())
}

/// Records the mock's `getmissingkbs` and 429 counters every 40 ms, to see when calls happened.
struct Sampler {
    samples: Arc<Mutex<Vec<(Duration, u64, u64)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(env: &TestEnv) -> Self {
        let samples: Arc<Mutex<Vec<(Duration, u64, u64)>>> = Arc::default();
        let url = format!("{}/_mock/stats", env.api_url());
        let sink = samples.clone();
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let t0 = Instant::now();
            loop {
                if let Ok(resp) = http.get(&url).send().await {
                    if let Ok(stats) = resp.json::<Value>().await {
                        let at = t0.elapsed();
                        let throttled = status_count(&stats, "429");
                        sink.lock().unwrap_or_else(PoisonError::into_inner).push((
                            at,
                            missing_kbs_calls(&stats),
                            throttled,
                        ));
                    }
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        });
        Sampler { samples, task }
    }

    fn stop(self) -> Vec<(Duration, u64, u64)> {
        self.task.abort();
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        samples.clone()
    }
}

/// The acceptance path: a throttled, flaky, slow scan of the whole fleet completes with every
/// device, shows partial results, pauses and resumes, stays inside the limits, honours
/// Retry-After, caches its results across a reload, and links KBs to devices to device views.
/// The wasm files the page has fetched so far (the main module and any chunks).
async fn wasm_fetched(page: &Page) -> TestResult<Vec<String>> {
    page.eval(
        "return performance.getEntriesByType('resource')
            .map(e => new URL(e.name).pathname.slice(1))
            .filter(p => p.endsWith('.wasm'));",
        vec![],
    )
    .await
}

/// The device view does not download the fleet view's code: the fleet chunk arrives when the
/// fleet view first opens (the wall's not at all), and a second visit fetches nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_view_brings_its_code_when_it_first_opens() {
    TestEnv::run_in_browser(fleet_setup(90, 1_400), "fleet-chunk", async |_, page| {
        page.open("/").await?;
        page.wait_any(DEVICE_ROW).await?;
        let first = wasm_fetched(&page).await?;
        assert_eq!(first.len(), 1, "only the main module: {first:?}");
        assert!(first[0].starts_with("kbwatch-"), "{first:?}");

        page.click("[data-testid=nav-fleet]").await?;
        page.wait_any(FLEET_PAGE).await?;
        page.wait_any(SCAN_PROGRESS).await?;
        let opened = wasm_fetched(&page).await?;
        assert!(
            opened.iter().any(|f| f.starts_with("split_fleet_view")),
            "{opened:?}"
        );
        assert!(
            !opened.iter().any(|f| f.starts_with("split_wall_view")),
            "{opened:?}"
        );

        page.click("[data-testid=nav-devices]").await?;
        page.wait_any(DEVICE_ROW).await?;
        page.click("[data-testid=nav-fleet]").await?;
        page.wait_any(FLEET_PAGE).await?;
        page.wait_any(SCAN_PROGRESS).await?;
        assert_eq!(
            wasm_fetched(&page).await?.len(),
            opened.len(),
            "nothing fetched again"
        );
        assert_page_healthy(&page).await
    })
    .await;
}

/// Chromium refuses requests whose URL matches one of `patterns` (none: all allowed again).
async fn block_urls(page: &Page, patterns: &[&str]) -> TestResult {
    let cdp = page.driver().cdp();
    cdp.send_raw("Network.enable", json!({})).await?;
    cdp.send_raw("Network.setBlockedURLs", json!({ "urls": patterns }))
        .await?;
    Ok(())
}

/// When the fleet view's code cannot be fetched (network gone, or an older deployment's files
/// removed), the view says so with a retry, the rest of the app keeps working, and the retry
/// brings the view once the code can be fetched again. No crash report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_view_whose_code_cannot_be_fetched_says_so_and_retries() {
    TestEnv::run_in_browser(
        fleet_setup(90, 1_400),
        "fleet-chunk-blocked",
        async |_, page| {
            page.open("/").await?;
            page.wait_any(DEVICE_ROW).await?;
            block_urls(&page, &["*split_fleet_view*"]).await?;
            page.click("[data-testid=nav-fleet]").await?;
            let text = page
                .wait_text_contains("[data-testid=view-unavailable]", "could not be downloaded")
                .await?;
            assert!(text.contains("Trying again"), "{text}");
            assert_eq!(page.count(CRASH_REPORT).await?, 0);

            // The device view still works.
            page.click("[data-testid=nav-devices]").await?;
            page.wait_any(DEVICE_ROW).await?;
            page.click("[data-testid=nav-fleet]").await?;
            page.wait_any("[data-testid=view-unavailable]").await?;

            block_urls(&page, &[]).await?;
            page.click("[data-testid=view-unavailable] button").await?;
            page.wait_any(FLEET_PAGE).await?;
            assert_eq!(page.count("[data-testid=view-unavailable]").await?, 0);
            assert_eq!(page.count(CRASH_REPORT).await?, 0);
            Ok(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_of_the_demo_fleet_within_the_limits() {
    const RETRY_AFTER_SECS: u64 = 3;
    let env = start(mock_options(), fleet_config(90, 1_400)).await;
    let expected = Expected::from_mock(&env).await.expect("mock data");
    let n = expected.n();
    assert!(
        (20..=80).contains(&n),
        "{n} onboarded devices: the scan must fit one minute of the app's 90-call budget"
    );
    assert!(expected.kb_devices.len() > 5, "the fleet misses some KBs");
    env.reset_mock().await.expect("reset");
    // First matching rule wins: 3 × 429 (Retry-After 3 s), then 3 × 500, then every call slow
    // enough (with 4 in flight) that the scan takes seconds and partial results are visible.
    for rule in [
        json!({"kind": "throttle", "retry_after_secs": RETRY_AFTER_SECS, "path_contains": "getmissingkbs", "count": 3}),
        json!({"kind": "server_error", "path_contains": "getmissingkbs", "count": 3}),
        json!({"kind": "slow", "ms": 250, "path_contains": "getmissingkbs"}),
    ] {
        env.inject_fault(rule).await.expect("inject fault");
    }
    let sampler = Sampler::start(&env);
    let env = &env;
    let expected = &expected;

    env.with_browser("fleet-scan", |page: Page| async move {
        let started = Instant::now();
        page.open("/?view=fleet").await?;
        page.wait_any(FLEET_PAGE).await?;

        // The scan starts by itself, meets the 429s, and says it waits.
        page.wait_text_contains(SCAN_DETAIL, "The API asked us to wait")
            .await?;

        // Partial results: some devices in the tiles and rows while the scan still runs.
        let partial = wait_for("partial results", SCAN_TIMEOUT, || {
            let page = &page;
            async move {
                // "12 of 58" while the scan covers part of the fleet.
                let shown = tile(page, "tile-devices").await?;
                let partial = shown.ends_with(&format!(" of {n}"));
                let devices: usize = shown
                    .split_whitespace()
                    .next()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
                let rows = page.count(FLEET_KB_ROW).await?;
                let running = page.count(SCAN_PAUSE).await? == 1;
                Ok(
                    if partial && devices > 0 && devices + 8 <= n && rows > 0 && running {
                        Ok((devices, rows))
                    } else {
                        Err(format!("{devices} devices, {rows} rows, running {running}"))
                    },
                )
            }
        })
        .await?;
        assert!(partial.1 <= expected.kb_devices.len());

        // Pause: once the calls in flight are back, no call starts and nothing moves.
        page.click(SCAN_PAUSE).await?;
        page.wait_any(SCAN_RESUME).await?;
        page.wait_text_contains(SCAN_DETAIL, "Paused").await?;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let paused_calls = calls(env).await?;
        let paused_progress = page.text(SCAN_PROGRESS).await?;
        hold_for(
            "no calls while paused",
            Duration::from_millis(1_500),
            || {
                let page = &page;
                let paused_progress = &paused_progress;
                async move {
                    let now = calls(env).await?;
                    let progress = page.text(SCAN_PROGRESS).await?;
                    Ok(if now == paused_calls && progress == *paused_progress {
                        Ok(())
                    } else {
                        Err(format!("{now} calls (was {paused_calls}), {progress:?}"))
                    })
                }
            },
        )
        .await?;
        assert_ne!(
            paused_progress.as_deref(),
            Some(done_text(n, 0, 0, n).as_str()),
            "the pause came before the end"
        );
        page.click(SCAN_RESUME).await?;

        // Every device ends done: nothing failed, nothing dropped.
        wait_progress(&page, &done_text(n, 0, 0, n)).await?;
        let took = started.elapsed();
        page.wait_count(SCAN_PAUSE, 0).await?;
        page.wait_count(SCAN_CANCEL, 0).await?;
        assert_eq!(page.count(SCAN_FAILURES).await?, 0);
        assert_full_results(&page, expected).await?;
        eprintln!(
            "[fleet-scan] {n} devices scanned in {:.1} s",
            took.as_secs_f64()
        );

        // One call per device, plus one retry per 429 and per 500; all within the limits.
        let stats = env.mock_stats().await?;
        assert_eq!(missing_kbs_calls(&stats), n as u64 + 6, "calls: {stats}");
        assert_eq!(status_count(&stats, "429"), 3);
        assert_eq!(status_count(&stats, "500"), 3);
        assert_within_limits(&stats);

        // Exports and data age.
        for button in ["export-kbs", "export-matrix"] {
            assert_eq!(
                is_disabled(&page, &format!("[data-testid={button}]")).await?,
                Some(false),
                "{button} is there and enabled"
            );
        }
        page.wait_any("[data-testid=data-age]").await?;

        // The per-device tab lists every device.
        page.click("[data-testid=tab-devices]").await?;
        page.wait_count(FLEET_DEVICE_ROW, n).await?;
        assert_eq!(
            is_disabled(&page, "[data-testid=export-devices]").await?,
            Some(false)
        );
        let ids: BTreeSet<String> = page
            .attrs(FLEET_DEVICE_ROW, "data-device-id")
            .await?
            .into_iter()
            .collect();
        let wanted: BTreeSet<String> = expected.devices.iter().map(|d| d.0.clone()).collect();
        assert_eq!(ids, wanted);
        page.click("[data-testid=tab-kbs]").await?;
        page.wait_count(FLEET_KB_ROW, expected.kb_devices.len())
            .await?;

        // The results are in sessionStorage: data, never the token.
        let storage = page.storage("sessionStorage").await?;
        let cache = storage
            .iter()
            .find(|(k, _)| k.starts_with(CACHE_KEY))
            .map(|(_, v)| v.clone())
            .ok_or("no fleet cache in sessionStorage")?;
        assert!(
            cache.contains(&expected.devices[0].0),
            "cache holds device results"
        );
        assert!(
            !cache.contains("kbwatch-demo-token") && !cache.to_lowercase().contains("bearer"),
            "no token in the cache"
        );

        // Reload: everything comes from the cache, with no getmissingkbs call.
        let before = calls(env).await?;
        page.reload().await?;
        page.wait_any(FLEET_PAGE).await?;
        assert_full_results(&page, expected).await?;
        page.wait_text_contains(SCAN_SCOPE, &format!("All {n} devices"))
            .await?;
        hold_calls(
            env,
            "no calls after a reload",
            Duration::from_millis(1_500),
            before,
        )
        .await?;
        assert_eq!(
            is_disabled(&page, "[data-testid=scan-start]").await?,
            Some(true),
            "nothing to scan"
        );

        // A KB's device count lists the devices missing it; each leads to its KB view.
        let (top_kb, top_count) = kb_rows(&page).await?.remove(0);
        page.click(&format!(
            "{FLEET_KB_ROW}[data-kb-id='{top_kb}'] [data-testid=fleet-kb-devices]"
        ))
        .await?;
        page.wait_any(SELECTED_KB).await?;
        page.wait_count(SELECTED_KB_DEVICE, top_count).await?;
        page.wait_query_param("fkb", Some(&top_kb)).await?;
        let missing = &expected.kb_devices[&top_kb];
        let names: BTreeSet<String> = page.texts(SELECTED_KB_DEVICE).await?.into_iter().collect();
        let wanted: BTreeSet<String> = missing
            .iter()
            .map(|id| expected.name_of(id).to_owned())
            .collect();
        assert_eq!(names, wanted, "devices missing KB{top_kb}");
        let href = page
            .attr(SELECTED_KB_DEVICE, "href")
            .await?
            .ok_or("no device link")?;
        let device_id = url::Url::parse(&format!("http://x{href}"))?
            .query_pairs()
            .find(|(k, _)| k == "device")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| format!("device link {href} names no device"))?;
        assert!(
            missing.contains(&device_id),
            "{device_id} misses KB{top_kb}"
        );
        page.click(&format!("{SELECTED_KB_DEVICE}[href='{href}']"))
            .await?;
        page.wait_query_param("device", Some(&device_id)).await?;
        page.wait_query_param("view", None).await?;
        page.wait_text_contains(DEVICE_HEADER, expected.name_of(&device_id))
            .await?;
        let kbs = &expected
            .devices
            .iter()
            .find(|d| d.0 == device_id)
            .ok_or("unknown device")?
            .2;
        // Its whole KB list: every row when it is short, the table's size when it is windowed.
        page.wait_text_contains(KB_TOTALS, &format!("{} update", kbs.len()))
            .await?;
        assert_eq!(
            page.attrs("[data-testid=kb-table]", "aria-rowcount")
                .await?,
            vec![(kbs.len() + 1).to_string()]
        );
        Ok(())
    })
    .await;

    // Retry-After honoured: no call after the first three (the 429s) and the fourth started
    // with them (a 500) before the 429's Retry-After had passed.
    let samples = sampler.stop();
    let first_429 = samples
        .iter()
        .position(|s| s.2 >= 1)
        .expect("the sampler saw the 429s");
    let before_429 = samples[first_429.saturating_sub(1)].0;
    let fifth_call = samples
        .iter()
        .find(|s| s.1 >= 5)
        .expect("the sampler saw a fifth call")
        .0;
    let gap = fifth_call.saturating_sub(before_429);
    eprintln!(
        "[fleet-scan] first call after the 429s: {:.2} s after them (Retry-After {RETRY_AFTER_SECS} s)",
        gap.as_secs_f64()
    );
    assert!(
        gap >= Duration::from_secs(RETRY_AFTER_SECS),
        "a call started {:.2} s after a 429 with Retry-After {RETRY_AFTER_SECS}",
        gap.as_secs_f64()
    );
    assert!(
        gap <= Duration::from_secs(RETRY_AFTER_SECS + 5),
        "the scan waited {:.2} s after a 429 with Retry-After {RETRY_AFTER_SECS}",
        gap.as_secs_f64()
    );
}

/// Devices whose calls fail for good are listed with their error, never dropped; "Retry
/// failed" scans them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_devices_are_listed_and_retry_failed_recovers_them() {
    let env = start(mock_options(), fleet_config(90, 1_400)).await;
    let expected = Expected::from_mock(&env).await.expect("mock data");
    let n = expected.n();
    env.reset_mock().await.expect("reset");
    // Three devices, three errors a retry cannot fix (no automatic retries), once each.
    let failing: Vec<(String, &str, &str)> = expected
        .devices
        .iter()
        .take(3)
        .zip([
            ("not_found", "not found"),
            // Not a 403: that one sends the app to the device's machinesVulnerabilities
            // (`real_tenant.rs`).
            ("bad_request", "bad request"),
            ("malformed_json", "malformed"),
        ])
        .map(|(d, (kind, says))| (d.0.clone(), kind, says))
        .collect();
    for (id, kind, _) in &failing {
        env.inject_fault(json!({"kind": kind, "path_contains": id, "count": 1}))
            .await
            .expect("inject fault");
    }
    let env = &env;
    let expected = &expected;
    let failing = &failing;

    env.with_browser("fleet-failures", |page: Page| async move {
        page.open("/?view=fleet").await?;
        wait_progress(&page, &done_text(n - 3, 3, 0, n)).await?;
        page.wait_count(SCAN_FAILURE, 3).await?;
        let items = page.texts(SCAN_FAILURE).await?;
        let hrefs = page.attrs(&format!("{SCAN_FAILURE} a"), "href").await?;
        for (id, _, says) in failing {
            let item = items
                .iter()
                .find(|t| t.contains(id.as_str()))
                .ok_or_else(|| format!("{id} is not listed as failed: {items:?}"))?;
            assert!(
                item.to_lowercase().contains(says),
                "{id}'s error says {says:?}: {item:?}"
            );
            assert!(
                hrefs.iter().any(|h| h.contains(&format!("device={id}"))),
                "{id} links to its device view: {hrefs:?}"
            );
        }
        assert_eq!(
            tile(&page, "tile-devices").await?,
            format!("{} of {n}", n - 3),
            "three devices without a result: not a fleet figure"
        );
        assert_eq!(
            calls(env).await?,
            n as u64,
            "failures are not retried by themselves"
        );

        page.click("[data-testid=scan-retry-failed]").await?;
        wait_progress(&page, &done_text(n, 0, 0, n)).await?;
        page.wait_count(SCAN_FAILURES, 0).await?;
        assert_full_results(&page, expected).await?;
        let stats = env.mock_stats().await?;
        assert_eq!(missing_kbs_calls(&stats), n as u64 + 3);
        assert_within_limits(&stats);
        Ok(())
    })
    .await;
}

/// More devices than the hourly budget: the app says so and waits for the analyst; scanning
/// anyway stops at the budget (the app's own limit binds, in real time) and can be cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_hourly_budget_asks_first_and_then_stops_at_the_budget() {
    const PER_HOUR: u64 = 20;
    let env = start(mock_options(), fleet_config(90, PER_HOUR as u32)).await;
    let expected = Expected::from_mock(&env).await.expect("mock data");
    let n = expected.n();
    assert!(n as u64 > PER_HOUR);
    env.reset_mock().await.expect("reset");
    let env = &env;

    env.with_browser("fleet-over-budget", |page: Page| async move {
        page.open("/?view=fleet").await?;
        let warning = page
            .wait_text_contains(OVER_BUDGET, &format!("Scanning {n} devices"))
            .await?;
        assert!(warning.contains("hourly budget"), "{warning}");
        hold_calls(
            env,
            "no scan before the analyst decides",
            Duration::from_secs(2),
            0,
        )
        .await?;
        assert_eq!(
            is_disabled(&page, "[data-testid=scan-start]").await?,
            Some(false)
        );

        // It offers the bulk path; here the analyst scans anyway: the hourly budget's worth
        // of calls, then the scan waits.
        assert_eq!(
            page.count(&format!("{OVER_BUDGET} [data-testid=bulk-load]"))
                .await?,
            1,
            "the bulk path is offered"
        );
        click_button_with_text(&page, OVER_BUDGET, "Scan anyway").await?;
        let per_hour = PER_HOUR as usize;
        wait_progress(&page, &done_text(per_hour, 0, n - per_hour, n)).await?;
        hold_calls(
            env,
            "the hourly budget holds",
            Duration::from_secs(2),
            PER_HOUR,
        )
        .await?;
        assert_eq!(page.count(OVER_BUDGET).await?, 0);
        let detail = page.text(SCAN_DETAIL).await?.unwrap_or_default();
        assert!(detail.contains("left"), "an ETA while waiting: {detail:?}");
        assert_eq!(
            tile(&page, "tile-devices").await?,
            format!("{per_hour} of {n}")
        );

        // Cancel: the scan stops, what arrived stays.
        page.click(SCAN_CANCEL).await?;
        page.wait_count(SCAN_CANCEL, 0).await?;
        page.wait_count(SCAN_PAUSE, 0).await?;
        page.wait_text_contains(SCAN_PROGRESS, &format!("{per_hour} of {n} devices done"))
            .await?;
        assert_eq!(
            tile(&page, "tile-devices").await?,
            format!("{per_hour} of {n}")
        );
        assert_eq!(calls(env).await?, PER_HOUR);
        assert_within_limits(&env.mock_stats().await?);
        Ok(())
    })
    .await;
}

/// The API's limits are per app, not per page load: calls made before a reload still count.
/// Here the mock's windows are real (no time scale): a scan, a reload and "Refresh all" within
/// the same minute must together stay within the app's 90/min, so the mock never refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_survives_a_reload() {
    const PER_MINUTE: u64 = 90;
    let mock = MockOptions {
        time_scale: 1.0,
        ..mock_options()
    };
    let env = start(mock, fleet_config(PER_MINUTE as u32, 1_400)).await;
    let expected = Expected::from_mock(&env).await.expect("mock data");
    let n = expected.n();
    assert!(
        2 * n as u64 > PER_MINUTE,
        "two scans exceed one minute's budget"
    );
    env.reset_mock().await.expect("reset");
    let env = &env;

    env.with_browser("fleet-budget-reload", |page: Page| async move {
        page.open("/?view=fleet").await?;
        wait_progress(&page, &done_text(n, 0, 0, n)).await?;
        page.reload().await?;
        page.wait_text_contains(SCAN_SCOPE, &format!("All {n} devices"))
            .await?;
        page.click("[data-testid=scan-refresh]").await?;
        hold_for(
            "the per-minute budget across the reload",
            Duration::from_secs(4),
            || async {
                let stats = env.mock_stats().await?;
                let made = missing_kbs_calls(&stats);
                let refused = stats["rate_limits"]["over_limit"].as_u64().unwrap_or(0);
                Ok(if made <= PER_MINUTE && refused == 0 {
                    Ok(())
                } else {
                    Err(format!(
                        "{made} getmissingkbs calls within a minute (budget {PER_MINUTE}), \
                         {refused} refused by the mock"
                    ))
                })
            },
        )
        .await
    })
    .await;
}

/// Once a scan has finished, the page says every device has fresh results and "Scan now"
/// has nothing left to do (as it does after a reload).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_scan_leaves_nothing_to_fetch() {
    let env = start(mock_options(), fleet_config(90, 1_400)).await;
    let n = env.onboarded_machines().await.expect("mock data").len();
    let env = &env;
    env.with_browser("fleet-to-fetch", |page: Page| async move {
        page.open("/?view=fleet").await?;
        wait_progress(&page, &done_text(n, 0, 0, n)).await?;
        page.wait_text_contains(SCAN_SCOPE, &format!("All {n} devices"))
            .await?;
        assert_eq!(
            is_disabled(&page, "[data-testid=scan-start]").await?,
            Some(true)
        );
        Ok(())
    })
    .await;
}
