//! Figure 6: the fleet paths at 100,000 devices, side by side in one run, against the release
//! `kbwatch-mock` with 100,000 devices and the API's real limits (100 calls a minute, 1,500 an
//! hour, per token), over HTTP.
//!
//! - **per-product overview**, performed: `GET /api/Software?$filter=vendor eq 'microsoft'`,
//!   then `GET /api/Software/{id}/getmissingkbs` per product, the URLs built by
//!   `kbwatch_core::Endpoints` as the app builds them, the answers parsed with the app's types
//!   (`ODataPage<Software>`, `ODataPage<MissingKb>`) into a `ProductOverview`.
//! - **per-device scan**: planned only (`FleetScan::plan_with_budget`), one call per device.
//! - **bulk** (`machinesVulnerabilities`, pages of 10,000): the rows are counted
//!   (`/_mock/fleet`), an evenly spread sample of pages is read and folded into a
//!   `BulkAccumulator`, and the rest is extrapolated from the sample.
//! - **drill-down** of the KB with the most devices ≤ 2,000, performed; and the call count of
//!   the KB with the most devices (its rows counted by `$top=1&$skip=n` probes).
//! - **the planner's pick** for the overview (`fleet::plan::plan`) beside what was measured.
//!
//! Calls are made back to back: the latencies are real. The API time is what the app would
//! take: the calls in order, each starting when the app's budget (a fresh `BudgetSet`: 90 a
//! minute, 1,400 an hour) lets it and the previous one answered, each taking its measured
//! latency (see [`sequential_api_ms`]). The mock enforces its limits per bearer token, so each
//! path uses tokens of its own, each for at most [`CALLS_PER_TOKEN`] calls: the figures never
//! rest on a 429 (their count is reported and must be 0).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kbwatch_core::fleet::budgets::{BudgetSet, EndpointClass};
use kbwatch_core::fleet::bulk::{BulkAccumulator, MachineVulnerability};
use kbwatch_core::fleet::plan::{plan, FleetPath, PlanInput, Question};
use kbwatch_core::fleet::rate::RateBudget;
use kbwatch_core::fleet::scan::FleetScan;
use kbwatch_core::odata::{next_page, NextPage, MAX_TOP};
use kbwatch_core::overview::{DrillDownBuilder, ProductOverview};
use kbwatch_core::{
    Endpoints, KbId, MissingKb, ODataPage, PageRequest, Software, VulnerabilityFilter,
};
use kbwatch_e2e::BoxError;
use serde_json::{json, Value};
use url::Url;

use super::alloc;
use crate::stats::Summary;

/// At most this many calls per bearer token: the mock's limit is 100 a minute per token.
pub const CALLS_PER_TOKEN: usize = 90;
/// The vendor whose products have KBs (as `src/product_overview.rs` asks).
const KB_VENDOR: &str = "microsoft";
/// The drill-down figure takes the KB with the most devices up to this many.
pub const DRILL_MAX_DEVICES: u32 = 2_000;

pub struct FleetPathsArgs {
    /// The release `kbwatch-mock` binary.
    pub mock: PathBuf,
    pub devices: usize,
    /// `machinesVulnerabilities` pages read for the bulk figure.
    pub bulk_sample_pages: usize,
    pub out: PathBuf,
}

/// The mock with `devices` devices and the real limits, on a free port.
struct MockProcess {
    child: Child,
    api: String,
    started_ms: f64,
}

impl MockProcess {
    fn start(bin: &std::path::Path, devices: usize) -> Result<MockProcess, BoxError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let t0 = Instant::now();
        let child = Command::new(bin)
            .args(["--port", &port.to_string()])
            .args(["--devices", &devices.to_string()])
            // The documented limits (the mock's defaults), spelled out.
            .args(["--rate-per-minute", "100", "--rate-per-hour", "1500"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {} ({e}): build it with `cargo build --release -p kbwatch-mock`",
                    bin.display()
                )
            })?;
        let mut mock = MockProcess {
            child,
            api: format!("http://127.0.0.1:{port}"),
            started_ms: 0.0,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = mock.child.try_wait()? {
                return Err(format!("{} exited during start-up: {status}", bin.display()).into());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                mock.started_ms = t0.elapsed().as_secs_f64() * 1e3;
                return Ok(mock);
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not listen within 60 s", bin.display()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One call: what was asked and how long until its whole body had arrived.
#[derive(Debug, Clone)]
struct Call {
    status: u16,
    latency_ms: f64,
    bytes: usize,
}

/// Calls of one path, on tokens of its own (a fresh one every [`CALLS_PER_TOKEN`] calls).
struct Client {
    http: reqwest::Client,
    token_prefix: String,
    calls: Vec<Call>,
}

impl Client {
    fn new(http: &reqwest::Client, path: &str) -> Self {
        Self {
            http: http.clone(),
            token_prefix: format!("kbwatch-bench-{path}"),
            calls: Vec::new(),
        }
    }

    /// GET `url`; the body of a 2xx answer, else an error naming the status.
    async fn get(&mut self, url: &Url) -> Result<String, BoxError> {
        let token = format!(
            "{}-{}",
            self.token_prefix,
            self.calls.len() / CALLS_PER_TOKEN
        );
        let t0 = Instant::now();
        let response = self
            .http
            .get(url.as_str())
            .bearer_auth(token)
            .header("Accept", "application/json")
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        self.calls.push(Call {
            status,
            latency_ms: t0.elapsed().as_secs_f64() * 1e3,
            bytes: body.len(),
        });
        if !(200..300).contains(&status) {
            return Err(format!("GET {url}: {status} {}", truncate(&body, 300)).into());
        }
        Ok(body)
    }

    fn latencies(&self) -> Vec<f64> {
        self.calls.iter().map(|c| c.latency_ms).collect()
    }

    fn throttled(&self) -> usize {
        self.calls.iter().filter(|c| c.status == 429).count()
    }

    /// Calls, latencies, bytes and the API time of this path's calls as made.
    fn figures(&self) -> Value {
        let latencies = self.latencies();
        json!({
            "calls": self.calls.len(),
            "throttled_429": self.throttled(),
            "latency_ms": Summary::of(&latencies),
            "latency_sum_ms": latencies.iter().sum::<f64>(),
            "bytes": self.calls.iter().map(|c| c.bytes).sum::<usize>(),
            "api_ms": sequential_api_ms(&latencies),
            "last_start_ms": BudgetSet::default().last_start_for(EndpointClass::General, self.calls.len() as u64, 0),
        })
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The time until the last of these calls answers when the app makes them one after the
/// other: call `i` starts as soon as call `i - 1` has answered and a fresh `BudgetSet` (the
/// app's default budget) allows a start, and takes `latencies_ms[i]`. For more calls than
/// latencies, the latencies are used again in turn (`calls` of them in all).
pub fn sequential_api_ms_of(latencies_ms: &[f64], calls: usize) -> f64 {
    if latencies_ms.is_empty() || calls == 0 {
        return 0.0;
    }
    let mut budget = BudgetSet::default();
    let mut t = 0.0_f64;
    for i in 0..calls {
        let start = budget.available_at(EndpointClass::General, t.ceil() as u64) as f64;
        let start = start.max(t);
        budget.record(EndpointClass::General, start as u64);
        t = start + latencies_ms[i % latencies_ms.len()];
    }
    t
}

/// [`sequential_api_ms_of`] for exactly these calls.
pub fn sequential_api_ms(latencies_ms: &[f64]) -> f64 {
    sequential_api_ms_of(latencies_ms, latencies_ms.len())
}

/// The `/api` counters of the mock, per route template.
async fn mock_routes(http: &reqwest::Client, api: &str) -> Result<Value, BoxError> {
    let stats: Value = http
        .get(format!("{api}/_mock/stats"))
        .send()
        .await?
        .json()
        .await?;
    Ok(stats["routes"].clone())
}

/// Calls per route between two snapshots of [`mock_routes`].
fn routes_diff(before: &Value, after: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(after) = after.as_object() {
        for (route, n) in after {
            let d = n.as_u64().unwrap_or(0) - before[route].as_u64().unwrap_or(0);
            if d > 0 {
                out.insert(route.clone(), json!(d));
            }
        }
    }
    Value::Object(out)
}

/// Reads every page of `first` (a paged collection at `collection`), as the app's `pages`
/// does: `@odata.nextLink`, else `$skip` while pages are full.
async fn read_pages<T: serde::de::DeserializeOwned>(
    client: &mut Client,
    collection: &Url,
    first: PageRequest,
    url_for: impl Fn(PageRequest) -> Url,
    mut on_page: impl FnMut(ODataPage<T>),
) -> Result<usize, BoxError> {
    let mut request = first;
    let mut url = url_for(request);
    let mut pages = 0;
    loop {
        let body = client.get(&url).await?;
        let page = ODataPage::<T>::parse(&body)?;
        pages += 1;
        let next = next_page(collection, request, &page)?;
        on_page(page);
        url = match next {
            NextPage::Done => return Ok(pages),
            NextPage::Link(link) => link,
            NextPage::Skip(r) => {
                request = r;
                url_for(r)
            }
        };
    }
}

fn secs(ms: f64) -> f64 {
    ms / 1e3
}

pub async fn run(args: FleetPathsArgs) -> Result<(), BoxError> {
    let started = Instant::now();
    let mock = MockProcess::start(&args.mock, args.devices)?;
    let http = reqwest::Client::new();
    let endpoints = Endpoints::new(Url::parse(&mock.api)?);
    // The mock listens first and generates its fleet before it answers: ready = answered.
    let fleet: Value = http
        .get(format!("{}/_mock/fleet", mock.api))
        .send()
        .await?
        .json()
        .await?;
    let mock_ready_ms = started.elapsed().as_secs_f64() * 1e3;
    eprintln!(
        "    mock with {} devices ready after {mock_ready_ms:.0} ms (listening after {:.0} ms)",
        args.devices, mock.started_ms
    );
    let devices = fleet["devices"].as_array().map_or(0, Vec::len);
    let bulk_rows = fleet["machinesVulnerabilities"].as_u64().unwrap_or(0);
    let device_kb_pairs: u64 = fleet["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["missingKbs"].as_u64())
        .sum();
    let devices_with_rows: Vec<String> = fleet["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["vulnerabilities"].as_u64().unwrap_or(0) > 0)
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect();

    // --- 1. the per-product overview ----------------------------------------------------
    let before = mock_routes(&http, &mock.api).await?;
    let mut client = Client::new(&http, "overview");
    let t0 = Instant::now();
    let mut software: Vec<Software> = Vec::new();
    let software_collection = endpoints.software_collection();
    read_pages(
        &mut client,
        &software_collection,
        PageRequest::first(MAX_TOP),
        |r| endpoints.software(Some(KB_VENDOR), r),
        |page: ODataPage<Software>| software.extend(page.items),
    )
    .await?;
    let mut overview = ProductOverview::new();
    for product in &software {
        let url = endpoints.software_missing_kbs(&product.id);
        let body = client.get(&url).await?;
        let page = ODataPage::<MissingKb>::parse(&body)?;
        overview.add_product(product, &page.items);
    }
    let overview_wall_ms = t0.elapsed().as_secs_f64() * 1e3;
    let rows = overview.rows();
    let tiles = overview.tiles();
    let overview_mock_routes = routes_diff(&before, &mock_routes(&http, &mock.api).await?);
    let overview_figures = client.figures();
    eprintln!(
        "    per-product overview: {} calls, {} KBs, API time {:.2} s",
        client.calls.len(),
        rows.len(),
        secs(overview_figures["api_ms"].as_f64().unwrap_or(0.0))
    );

    // --- 5. the planner, before and after the software list was read -------------------
    let budgets = BudgetSet::default();
    let plan_json = |products: Option<u64>, rows_per_device: Option<u64>| {
        let input = PlanInput {
            devices: devices as u64,
            microsoft_products: products,
            bulk_rows_per_device: rows_per_device,
            already_cached_devices: 0,
        };
        let p = plan(&input, Question::Overview, &budgets, 0);
        json!({
            "input": {
                "devices": input.devices,
                "microsoft_products": products,
                "bulk_rows_per_device": rows_per_device,
            },
            "chosen": p.chosen.map(path_name),
            "options": p.options.iter().map(|o| json!({
                "path": path_name(o.path),
                "calls": o.calls,
                "api_ms": o.api_ms,
                "answers": o.answers,
                "estimated": o.estimated,
            })).collect::<Vec<_>>(),
        })
    };
    let rows_per_device = (bulk_rows as f64 / devices.max(1) as f64).round() as u64;
    let planner = json!({
        "before_software_list": plan_json(None, None),
        "with_products_known": plan_json(Some(software.len() as u64), None),
        "with_products_and_rows_known": plan_json(Some(software.len() as u64), Some(rows_per_device)),
    });

    // --- 2. the per-device scan, planned --------------------------------------------------
    let scan_plan = FleetScan::plan_with_budget(devices, &RateBudget::default(), 0);
    let per_device = json!({
        "calls": scan_plan.calls,
        "eta_ms": scan_plan.estimated_ms,
        "exceeds_hourly_budget": scan_plan.exceeds_hourly_budget,
    });

    // --- 4. drill-downs -----------------------------------------------------------------
    let drill_pick = rows
        .iter()
        .filter(|kb| kb.devices.value() <= DRILL_MAX_DEVICES && kb.kb_id().is_some())
        .max_by_key(|kb| (kb.devices.value(), std::cmp::Reverse(kb.id.clone())))
        .cloned();
    let drill = match drill_pick {
        None => Value::Null,
        Some(kb) => {
            let kb_id = kb.kb_id().ok_or("KB id")?;
            let before = mock_routes(&http, &mock.api).await?;
            let mut client = Client::new(&http, "drill");
            let collection = endpoints.machine_vulnerabilities_collection();
            let filter = VulnerabilityFilter::FixingKb(kb_id.clone());
            let mut builder = DrillDownBuilder::new(kb_id.clone());
            let t0 = Instant::now();
            let pages = read_pages(
                &mut client,
                &collection,
                PageRequest::first(MAX_TOP),
                |r| endpoints.machine_vulnerabilities_where(&filter, r),
                |page: ODataPage<MachineVulnerability>| builder.add_rows(&page.items),
            )
            .await?;
            let wall_ms = t0.elapsed().as_secs_f64() * 1e3;
            let drilled = overview.set_drill_down(builder.finish()).clone();
            let routes = routes_diff(&before, &mock_routes(&http, &mock.api).await?);
            let f = client.figures();
            eprintln!(
                "    drill-down {}: {pages} pages, {} devices, API time {:.2} s",
                kb.label,
                drilled.devices.len(),
                secs(f["api_ms"].as_f64().unwrap_or(0.0))
            );
            json!({
                "kb": kb.label,
                "overview_devices": kb.devices.to_string(),
                "overview_devices_exact": kb.devices.is_exact(),
                "devices_found": drilled.devices.len(),
                "rows": drilled.rows,
                "pages": pages,
                "wall_ms": wall_ms,
                "figures": f,
                "mock_routes": routes,
            })
        }
    };
    let worst_pick = rows
        .iter()
        .filter(|kb| kb.kb_id().is_some())
        .max_by_key(|kb| (kb.devices, std::cmp::Reverse(kb.id.clone())))
        .cloned();
    let worst = match worst_pick {
        None => Value::Null,
        Some(kb) => {
            let kb_id = kb.kb_id().ok_or("KB id")?;
            worst_drill_down(
                &http,
                &endpoints,
                &kb_id,
                &kb.label,
                &kb.devices.to_string(),
            )
            .await?
        }
    };

    // --- 3. bulk ------------------------------------------------------------------------
    let bulk = bulk_path(
        &http,
        &endpoints,
        &mock.api,
        bulk_rows,
        args.bulk_sample_pages,
        device_kb_pairs,
        &devices_with_rows,
    )
    .await?;

    let mock_listening_ms = mock.started_ms;
    drop(mock);
    let out = json!({
        "mock": {
            "devices": devices,
            "listening_ms": mock_listening_ms,
            "ready_ms": mock_ready_ms,
            "rate_per_minute": 100,
            "rate_per_hour": 1500,
            "machines_vulnerabilities_rows": bulk_rows,
            "device_kb_pairs": device_kb_pairs,
            "devices_with_vulnerability_rows": devices_with_rows.len(),
        },
        "budget": {
            "per_minute": RateBudget::default().per_minute(),
            "per_hour": RateBudget::default().per_hour(),
        },
        "overview": {
            "products": software.len(),
            "kbs": rows.len(),
            "kbs_exact": tiles.exact_kbs,
            "devices_missing_any": tiles.devices_missing_any.to_string(),
            "products_with_missing_kbs": tiles.products_with_missing_kbs,
            "wall_ms": overview_wall_ms,
            "figures": overview_figures,
            "mock_routes": overview_mock_routes,
        },
        "per_device": per_device,
        "bulk": bulk,
        "drill_down": drill,
        "worst_drill_down": worst,
        "planner": planner,
        "seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&out)? + "\n")
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    Ok(())
}

/// The model at the fleet's full size, built and measured: every device with rows gets the
/// KBs of one sampled device in turn (the sample's devices with their real KB sets), one row
/// per (device, KB); each KB gets as many CVEs as the sample saw for it, under made-up IDs.
/// The rows are not the mock's (reading its 6,360 pages takes too long), but the model has the
/// fleet's devices, a realistic KB set per device and the catalogue's KBs.
fn full_size_model(
    sample: &kbwatch_core::fleet::aggregate::FleetAggregate,
    devices: &[String],
) -> Value {
    use std::collections::BTreeMap;
    // Per sampled device, its (KB, product) pairs.
    // Sampled devices without any KB row (third-party fixes only) stay in, empty.
    let mut templates: BTreeMap<String, Vec<(String, Option<String>)>> = sample
        .devices()
        .map(|d| (d.id.as_str().to_owned(), Vec::new()))
        .collect();
    let mut kb_cves: Vec<(String, u32)> = Vec::new();
    for kb in sample.kbs() {
        kb_cves.push((kb.id.clone(), kb.cves));
        for device in sample.devices_missing(&kb.id) {
            templates
                .entry(device.id.as_str().to_owned())
                .or_default()
                .push((kb.id.clone(), kb.products.first().cloned()));
        }
    }
    let templates: Vec<Vec<(String, Option<String>)>> = templates.into_values().collect();
    if templates.is_empty() {
        return Value::Null;
    }
    let row = |device: &str, kb: &str, cve: String, product: Option<String>| MachineVulnerability {
        id: None,
        cve_id: Some(cve),
        machine_id: Some(device.to_owned()),
        fixing_kb_id: Some(kb.to_owned()),
        product_name: product,
        product_vendor: Some(KB_VENDOR.to_owned()),
        product_version: None,
        severity: None,
    };
    let t0 = Instant::now();
    let live_before = alloc::live_bytes();
    let mut accumulator = BulkAccumulator::new();
    let mut rows = 0u64;
    for (i, device) in devices.iter().enumerate() {
        for (kb, product) in &templates[i % templates.len()] {
            let r = row(device, kb, format!("CVE-{kb}-0"), product.clone());
            accumulator.add_row(&r);
            rows += 1;
        }
    }
    // Every KB's CVEs, on the first device.
    if let Some(first) = devices.first() {
        for (kb, cves) in &kb_cves {
            for c in 0..*cves {
                accumulator.add_row(&row(first, kb, format!("CVE-{kb}-{c}"), None));
                rows += 1;
            }
        }
    }
    let accumulator_bytes = alloc::live_bytes().saturating_sub(live_before);
    let live = alloc::live_bytes();
    let aggregate = accumulator.aggregate();
    let aggregate_bytes = alloc::live_bytes().saturating_sub(live);
    let summary = aggregate.summary();
    json!({
        "devices": summary.devices_scanned,
        "device_kb_pairs": summary.device_kb_pairs,
        "kbs": summary.distinct_kbs,
        "rows_folded": rows,
        "templates": templates.len(),
        "accumulator_bytes": accumulator_bytes,
        "aggregate_bytes": aggregate_bytes,
        "build_ms_debug_build": t0.elapsed().as_secs_f64() * 1e3,
    })
}

/// Bytes at `pairs_full` (device, KB) pairs from two measurements `(pairs, bytes)`: a line
/// through both (bytes per pair, and the rest that does not grow with pairs), or through the
/// origin when there is one measurement or the two do not differ in pairs.
pub fn linear_fit(half: Option<(usize, usize)>, full: (usize, usize), pairs_full: u64) -> Value {
    let (p1, b1) = (full.0 as f64, full.1 as f64);
    let (per_pair, fixed) = match half {
        Some((p0, b0)) if full.0 > p0 && full.1 >= b0 => {
            let per_pair = (b1 - b0 as f64) / (p1 - p0 as f64);
            (per_pair, (b1 - per_pair * p1).max(0.0))
        }
        _ => (b1 / p1.max(1.0), 0.0),
    };
    json!({
        "bytes_per_pair": per_pair,
        "fixed_bytes": fixed,
        "bytes_extrapolated": fixed + per_pair * pairs_full as f64,
    })
}

fn path_name(path: FleetPath) -> &'static str {
    match path {
        FleetPath::PerProduct => "per_product",
        FleetPath::PerDevice => "per_device",
        FleetPath::Bulk => "bulk",
    }
}

/// The KB with the most devices: its rows are counted with `$top=1&$skip=n` probes (a
/// doubling, then a bisection), its first page of 10,000 is read for the latency; its
/// drill-down would take `ceil(rows / 10,000)` calls.
async fn worst_drill_down(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    kb: &KbId,
    label: &str,
    overview_devices: &str,
) -> Result<Value, BoxError> {
    let filter = VulnerabilityFilter::FixingKb(kb.clone());
    let mut probes = Client::new(http, "worst-probe");
    // Whether row `n` (0-based) exists.
    let mut exists = async |n: u64| -> Result<bool, BoxError> {
        let skip = u32::try_from(n).map_err(|_| "too many rows to count")?;
        let url = endpoints.machine_vulnerabilities_where(&filter, PageRequest { top: 1, skip });
        let body = probes.get(&url).await?;
        Ok(ODataPage::<MachineVulnerability>::parse(&body)?.received > 0)
    };
    let rows = if !exists(0).await? {
        0
    } else {
        // Invariant: row `lo` exists, row `hi` does not.
        let mut lo = 0u64;
        let mut hi = 1u64;
        while exists(hi).await? {
            lo = hi;
            hi *= 2;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if exists(mid).await? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    };
    let probe_calls = probes.calls.len();
    let mut client = Client::new(http, "worst-page");
    let url = endpoints.machine_vulnerabilities_where(&filter, PageRequest::first(MAX_TOP));
    let body = client.get(&url).await?;
    let first = ODataPage::<MachineVulnerability>::parse(&body)?;
    let pages = rows.div_ceil(u64::from(MAX_TOP)).max(1);
    let latencies = client.latencies();
    let api_ms = sequential_api_ms_of(&latencies, pages as usize);
    let mut builder = DrillDownBuilder::new(kb.clone());
    builder.add_rows(&first.items);
    let first_page_devices = builder.finish().devices.len();
    eprintln!(
        "    worst KB {label} ({overview_devices} devices): {rows} rows = {pages} pages, API time {:.0} s (extrapolated)",
        secs(api_ms)
    );
    Ok(json!({
        "kb": label,
        "overview_devices": overview_devices,
        "rows": rows,
        "pages": pages,
        "first_page_latency_ms": latencies.first(),
        "first_page_devices": first_page_devices,
        "api_ms": api_ms,
        "last_start_ms": BudgetSet::default().last_start_for(EndpointClass::General, pages, 0),
        "counting_probes": probe_calls,
        "throttled_429": probes.throttled() + client.throttled(),
    }))
}

/// The bulk path: `sample` pages spread evenly over the collection are read and folded into
/// one `BulkAccumulator`; the page count comes from the row count, the API time from the
/// sample's latencies (used in turn for every page), the model's memory from the sample's
/// bytes per (device, KB) pair times the fleet's pairs.
async fn bulk_path(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    api: &str,
    rows: u64,
    sample: usize,
    device_kb_pairs: u64,
    devices_with_rows: &[String],
) -> Result<Value, BoxError> {
    let pages = rows.div_ceil(u64::from(MAX_TOP)).max(1);
    let sample = (sample as u64).clamp(1, pages);
    let before = mock_routes(http, api).await?;
    let mut client = Client::new(http, "bulk");
    // The bodies first (so the accumulator's bytes can be counted alone), then the model.
    let mut bodies = Vec::new();
    let t0 = Instant::now();
    for i in 0..sample {
        let page_index = i * pages / sample;
        let skip = u32::try_from(page_index * u64::from(MAX_TOP)).map_err(|_| "too many rows")?;
        let url = endpoints.machine_vulnerabilities(PageRequest { top: MAX_TOP, skip });
        bodies.push(client.get(&url).await?);
    }
    let download_ms = t0.elapsed().as_secs_f64() * 1e3;
    let routes = routes_diff(&before, &mock_routes(http, api).await?);
    // Folded in two halves, each spread over the whole collection (even sample pages, then
    // odd), so that the bytes after each half give bytes per (device, KB) pair and the part
    // that does not grow with pairs (KBs, their CVEs), for the extrapolation to the fleet.
    let order: Vec<usize> = (0..bodies.len())
        .step_by(2)
        .chain((1..bodies.len()).step_by(2))
        .collect();
    let half = bodies.len().div_ceil(2);
    let live_before = alloc::live_bytes();
    alloc::reset_peak();
    let mut accumulator = BulkAccumulator::new();
    let mut parse_ms = Vec::new();
    let mut fold_ms = Vec::new();
    let mut at_half = None;
    for (n, &i) in order.iter().enumerate() {
        let t = Instant::now();
        let page = ODataPage::<MachineVulnerability>::parse(&bodies[i])?;
        parse_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        accumulator.add_page(&page);
        fold_ms.push(t.elapsed().as_secs_f64() * 1e3);
        drop(page);
        if n + 1 == half && half < bodies.len() {
            let bytes = alloc::live_bytes().saturating_sub(live_before);
            let live = alloc::live_bytes();
            let aggregate = accumulator.aggregate();
            let aggregate_bytes = alloc::live_bytes().saturating_sub(live);
            let pairs = aggregate.summary().device_kb_pairs;
            drop(aggregate);
            at_half = Some((pairs, bytes, aggregate_bytes));
        }
    }
    let peak_while_folding = alloc::peak_bytes().saturating_sub(live_before);
    let accumulator_bytes = alloc::live_bytes().saturating_sub(live_before);
    let live_before_aggregate = alloc::live_bytes();
    let t = Instant::now();
    let aggregate = accumulator.aggregate();
    let aggregate_ms = t.elapsed().as_secs_f64() * 1e3;
    let aggregate_bytes = alloc::live_bytes().saturating_sub(live_before_aggregate);
    let summary = aggregate.summary();
    let stats = accumulator.stats();
    drop(accumulator);
    let full_size = if alloc::installed() {
        full_size_model(&aggregate, devices_with_rows)
    } else {
        Value::Null
    };
    let body_bytes: usize = bodies.iter().map(String::len).sum();
    drop(bodies);
    let latencies = client.latencies();
    let api_ms = sequential_api_ms_of(&latencies, pages as usize);
    let pairs = summary.device_kb_pairs;
    let fit = |half_bytes: Option<usize>, bytes: usize| {
        linear_fit(
            at_half.map(|(p, _, _)| p).zip(half_bytes),
            (pairs, bytes),
            device_kb_pairs,
        )
    };
    let accumulator_fit = fit(at_half.map(|(_, b, _)| b), accumulator_bytes);
    let aggregate_fit = fit(at_half.map(|(_, _, b)| b), aggregate_bytes);
    let counted = alloc::installed();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    eprintln!(
        "    bulk: {rows} rows = {pages} pages; {sample} read; API time {:.0} min (extrapolated)",
        api_ms / 60_000.0
    );
    Ok(json!({
        "rows": rows,
        "pages": pages,
        "sample_pages": sample,
        "sample_rows": stats.rows,
        "sample_bytes": body_bytes,
        "sample_download_ms": download_ms,
        "sample_devices": summary.devices_scanned,
        "sample_device_kb_pairs": summary.device_kb_pairs,
        "sample_kbs": summary.distinct_kbs,
        "figures": client.figures(),
        "mock_routes": routes,
        "api_ms": api_ms,
        "last_start_ms": BudgetSet::default().last_start_for(EndpointClass::General, pages, 0),
        "download_ms_extrapolated": mean(&latencies) * pages as f64,
        "client_debug_build": {
            "parse_ms_per_page": Summary::of(&parse_ms),
            "fold_ms_per_page": Summary::of(&fold_ms),
            "aggregate_ms_sample": aggregate_ms,
        },
        "memory": if counted { json!({
            "accumulator_bytes_sample": accumulator_bytes,
            "accumulator_peak_bytes_sample": peak_while_folding,
            "aggregate_bytes_sample": aggregate_bytes,
            "half_sample": at_half.map(|(p, a, g)| json!({"pairs": p, "accumulator_bytes": a, "aggregate_bytes": g})),
            "fleet_device_kb_pairs": device_kb_pairs,
            "fleet_devices_with_rows": devices_with_rows.len(),
            "full_size": full_size,
            "accumulator": accumulator_fit,
            "aggregate": aggregate_fit,
        }) } else { Value::Null },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_calls_wait_for_the_answer_and_the_budget() {
        // Under the minute's 90, calls follow each other.
        assert_eq!(sequential_api_ms(&[10.0, 20.0, 30.0]), 60.0);
        assert_eq!(sequential_api_ms(&[]), 0.0);
        // The 91st call of 1-ms calls waits for the first minute's first start to age out.
        let t = sequential_api_ms_of(&[1.0], 91);
        assert_eq!(t, 60_000.0 + 1.0);
        // 1,401 calls: the hour binds.
        let t = sequential_api_ms_of(&[1.0], 1_401);
        assert!(t >= 3_600_000.0, "{t}");
    }

    #[test]
    fn two_measurements_split_bytes_per_pair_from_the_rest() {
        // 1,000 fixed bytes and 10 a pair.
        let fit = linear_fit(Some((100, 2_000)), (300, 4_000), 1_000);
        assert_eq!(fit["bytes_per_pair"], 10.0);
        assert_eq!(fit["fixed_bytes"], 1_000.0);
        assert_eq!(fit["bytes_extrapolated"], 11_000.0);
        let fit = linear_fit(None, (300, 3_000), 1_000);
        assert_eq!(fit["bytes_extrapolated"], 10_000.0);
    }

    #[test]
    fn route_counters_are_diffed() {
        let before = json!({"/api/Software": 1});
        let after = json!({"/api/Software": 2, "/api/Software/{id}/getmissingkbs": 14});
        assert_eq!(
            routes_diff(&before, &after),
            json!({"/api/Software": 1, "/api/Software/{id}/getmissingkbs": 14})
        );
    }
}
