//! Figures 2 and 3: the release build in headless Chromium, driven through chromedriver with the
//! e2e harness (`kbwatch-e2e`), against the mock Defender API.
//!
//! For the load figure the app and the API are served by the release `kbwatch-mock` binary, as in
//! `make run`: a debug-built server in this process would add ~50 ms of its own to every load.
//!
//! - Time to first KB table: `N` cold loads of `/?device=<id>`, each in a new Chromium with a
//!   fresh profile (empty HTTP and code caches), reading the app's Performance mark
//!   `kb-table-rendered` (navigation start → first KB rows in the DOM). After each cold load the
//!   same tab reloads once: the warm figure (HTTP cache and compiled code reused).
//! - Interaction: a device with 2,000 missing KBs. The mock has no such device, so a small
//!   front server answers that device's `getmissingkbs` with 2,000 generated KBs (shaped after a
//!   real answer of the mock) and passes every other request through to the mock. In the page,
//!   a script dispatches `input` events on the KB search box and clicks on the sort headers, and
//!   times, with a MutationObserver, the last DOM change the action caused and the next frame
//!   after it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use kbwatch_e2e::{config_for, AppServer, BoxError, Chromedriver, LocalServer};
use serde_json::{json, Value};
use thirtyfour::prelude::*;

use crate::stats::Summary;

/// The Performance mark the app sets when the first KB rows are in the DOM
/// (`src/components/kb_panel.rs`, `KB_TABLE_RENDERED_MARK`).
pub const MARK: &str = "kb-table-rendered";
const KB_ROW: &str = "tr[data-testid=kb-row]";

pub struct BrowserArgs {
    /// The release build to load (`dist/` layout).
    pub dist: PathBuf,
    /// Where the figures go (JSON).
    pub out: PathBuf,
    /// Cold loads for the time to first KB table.
    pub loads: usize,
    /// Missing KBs of the interaction device (0: no interaction figure).
    pub big_kbs: usize,
    /// The release `kbwatch-mock` binary.
    pub mock: PathBuf,
}

/// Reads the performance entries once the mark exists (else `null`).
const READ_LOAD: &str = r#"
const mark = performance.getEntriesByName(arguments[0])[0];
if (!mark) return null;
const nav = performance.getEntriesByType("navigation")[0];
return {
  mark: mark.startTime,
  rows: document.querySelectorAll(arguments[1]).length,
  nav: nav ? { responseEnd: nav.responseEnd, domInteractive: nav.domInteractive,
               domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd } : null,
  resources: performance.getEntriesByType("resource").map(r => ({
    name: r.name, type: r.initiatorType, start: r.startTime, end: r.responseEnd,
    transfer: r.transferSize, encoded: r.encodedBodySize, decoded: r.decodedBodySize })),
};
"#;

/// One timed action in the page (executeAsyncScript). Arguments: kind (`input` | `sort`), value
/// (search text | sort key), quiet ms (the action is over after this long without DOM change),
/// no-change ms (give up waiting for a first change), callback.
///
/// `dom`: from just before the event is dispatched to the last DOM mutation it caused (the
/// observer callback runs right after the mutating task). `rendered`: the same, plus the style
/// and layout of those changes (forced in the observer callback by reading a layout property):
/// the app's and the browser's work, without waiting for the display. `frame`: to the end of
/// the first frame after that mutation (a message posted from requestAnimationFrame runs once
/// the frame's style, layout and paint are done), i.e. until the user can see the result;
/// headless Chromium draws at 60 Hz, so this adds a wait of 0-16.7 ms for the next tick. (A
/// message posted to measure "the app is done" runs after that frame too: Chromium renders
/// first after an input.) An action that changes nothing in the DOM (a keystroke that leaves
/// the same rows) has no `dom` and no `rendered`; its `frame` includes the app's work on it.
const TIMED_ACTION: &str = r#"
const [kind, value, quietMs, noChangeMs, done] = arguments;
const root = document.querySelector(".kb-panel") || document.body;
let t0 = 0, first = null, last = null, frame = null, rendered = null, records = 0, timer = null;
// The end of the first frame after time `t` (the last DOM change, or the event if none).
const frameAfter = (t) => requestAnimationFrame(() => {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => { if ((last === null ? t0 : last) === t) frame = performance.now(); };
  channel.port2.postMessage(0);
});
const finish = () => {
  if (frame === null) { timer = setTimeout(finish, 10); return; }
  observer.disconnect();
  done({
    mutated: last !== null, records,
    first: first === null ? null : first - t0,
    dom: last === null ? null : last - t0,
    frame: frame - t0,
    rendered: rendered === null ? null : rendered - t0,
    rows: document.querySelectorAll("tr[data-testid=kb-row]").length,
  });
};
const observer = new MutationObserver((list) => {
  const t = performance.now();
  records += list.length;
  if (first === null) first = t;
  last = t;
  void document.body.offsetHeight;
  rendered = performance.now();
  frame = null;
  frameAfter(t);
  clearTimeout(timer);
  timer = setTimeout(finish, quietMs);
});
observer.observe(root, { subtree: true, childList: true, characterData: true });
if (kind === "input") {
  const input = document.querySelector("input[data-testid=kb-search]");
  if (!input) { observer.disconnect(); done({ error: "no input[data-testid=kb-search]" }); return; }
  input.value = value;
  t0 = performance.now();
  input.dispatchEvent(new Event("input", { bubbles: true }));
} else {
  const button = document.querySelector(`[data-testid=kb-table] th[data-sort-key="${value}"] button`);
  if (!button) { observer.disconnect(); done({ error: `no sort button for ${value}` }); return; }
  t0 = performance.now();
  button.click();
}
frameAfter(t0);
if (last === null) timer = setTimeout(finish, noChangeMs);
"#;

pub async fn run(args: BrowserArgs) -> Result<(), BoxError> {
    let started = Instant::now();
    let http = reqwest::Client::new();
    let chromedriver = Chromedriver::start().await?;

    // The load figure: the release mock serves the app and the API, as `make run` does, so
    // neither a debug-built server nor a proxy adds to the time measured.
    let mock = MockProcess::start(&args.mock, &args.dist)?;
    let device = pick_device(&http, &mock.api).await?;
    eprintln!(
        "    device for the load figure: {} ({}), {} missing KBs (median of the {} onboarded Windows devices with any)",
        device.name, device.id, device.kbs, device.population
    );
    let load = first_table(&chromedriver, &mock.app, &device, args.loads).await?;

    // The interaction figure: the big device is answered by a front server in this process,
    // which passes everything else on to the mock.
    let interaction = if args.big_kbs == 0 {
        Value::Null
    } else {
        let big_id = format!("{:040x}", 0xb16_u64);
        let template = kb_template(&http, &mock.api, &device.id).await?;
        let big_body = json!({
            "@odata.context": "https://api.security.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.PublicProductFixDto)",
            "value": big_kb_list(&template, args.big_kbs),
        })
        .to_string();
        let machine = big_machine(&http, &mock.api, &big_id).await?;
        let front = Front::start(mock.api.clone(), big_id.clone(), big_body, machine).await?;
        let app =
            AppServer::start(&args.dist, app_config(&args.dist, &front.server.url())?).await?;
        interaction(&chromedriver, &app.url(), &big_id, args.big_kbs).await?
    };
    drop(mock);

    let out = json!({
        "device": {
            "id": device.id, "name": device.name, "missing_kbs": device.kbs,
            "onboarded_windows_with_kbs": device.population,
        },
        "first_table": load,
        "interaction": interaction,
        "seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&out)? + "\n")
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    Ok(())
}

/// `kbwatch-mock` (release binary) serving the API and `dist/` on free ports, with no rate
/// limit. `dist/config.json` points at it while it runs and is put back afterwards.
struct MockProcess {
    child: Child,
    api: String,
    app: String,
    config_path: PathBuf,
    original_config: Option<Vec<u8>>,
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl MockProcess {
    fn start(bin: &Path, dist: &Path) -> Result<MockProcess, BoxError> {
        let (api_port, app_port) = (free_port()?, free_port()?);
        let api = format!("http://127.0.0.1:{api_port}");
        let config_path = dist.join("config.json");
        let original_config = std::fs::read(&config_path).ok();
        let config = app_config(dist, &api)?;
        std::fs::write(&config_path, serde_json::to_string_pretty(&config)? + "\n")?;
        let spawned = Command::new(bin)
            .args(["--port", &api_port.to_string(), "--cors"])
            .arg("--app-dir")
            .arg(dist)
            .args(["--app-port", &app_port.to_string()])
            .args(["--rate-per-minute", "0", "--rate-per-hour", "0"])
            .args([
                "--export-rate-per-minute",
                "0",
                "--export-rate-per-hour",
                "0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                if let Some(original) = &original_config {
                    let _ = std::fs::write(&config_path, original);
                }
                return Err(format!(
                    "cannot start {} ({e}): build it with `cargo build --release -p kbwatch-mock`",
                    bin.display()
                )
                .into());
            }
        };
        let mut mock = MockProcess {
            child,
            api,
            app: format!("http://127.0.0.1:{app_port}"),
            config_path,
            original_config,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = mock.child.try_wait()? {
                return Err(format!("{} exited during start-up: {status}", bin.display()).into());
            }
            let up = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if up(api_port) && up(app_port) {
                return Ok(mock);
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not listen within 20 s", bin.display()).into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        match &self.original_config {
            Some(original) => {
                let _ = std::fs::write(&self.config_path, original);
            }
            None => {
                let _ = std::fs::remove_file(&self.config_path);
            }
        }
    }
}

/// The built `config.json` with `apiBase` pointed at `api` and demo sign-in.
fn app_config(dist: &Path, api: &str) -> Result<Value, BoxError> {
    config_for(dist, api, json!({ "mode": "demo" }))
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, BoxError> {
    let resp = http.get(url).bearer_auth("kbwatch-bench").send().await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status} {body}").into());
    }
    Ok(body)
}

struct Device {
    id: String,
    name: String,
    kbs: usize,
    population: usize,
}

/// The onboarded Windows device whose number of missing KBs is the median of the fleet's
/// (among devices missing any): a typical device, not the smallest or the largest.
async fn pick_device(http: &reqwest::Client, api: &str) -> Result<Device, BoxError> {
    let machines = get_json(http, &format!("{api}/api/machines")).await?;
    let mut candidates = Vec::new();
    for m in machines["value"].as_array().into_iter().flatten() {
        let windows = m["osPlatform"]
            .as_str()
            .is_some_and(|p| p.starts_with("Windows"));
        if m["onboardingStatus"] != "Onboarded" || !windows {
            continue;
        }
        let Some(id) = m["id"].as_str() else { continue };
        let kbs = get_json(http, &format!("{api}/api/machines/{id}/getmissingkbs")).await?;
        let n = kbs["value"].as_array().map_or(0, Vec::len);
        if n > 0 {
            let name = m["computerDnsName"].as_str().unwrap_or(id).to_owned();
            candidates.push((n, id.to_owned(), name));
        }
    }
    candidates.sort();
    let population = candidates.len();
    let (kbs, id, name) = candidates
        .get(population / 2)
        .cloned()
        .ok_or("the mock fleet has no onboarded Windows device with missing KBs")?;
    Ok(Device {
        id,
        name,
        kbs,
        population,
    })
}

async fn read_load(driver: &WebDriver) -> Result<Option<Value>, BoxError> {
    let v = driver
        .execute(READ_LOAD, vec![json!(MARK), json!(KB_ROW)])
        .await?
        .json()
        .clone();
    Ok((!v.is_null()).then_some(v))
}

/// Waits (polling) for the mark of the document now loaded.
async fn wait_load(driver: &WebDriver, what: &str) -> Result<Value, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = read_load(driver).await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            let rows: Value = driver
                .execute(
                    "return [location.href, document.body.innerText.slice(0, 400)];",
                    vec![],
                )
                .await?
                .json()
                .clone();
            return Err(format!(
                "{what}: no `{MARK}` Performance mark after 30 s (does the app still set it?); page: {rows}"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// When the first resource whose URL satisfies `pred` finished, in ms after navigation start.
fn resource_end(load: &Value, pred: impl Fn(&str) -> bool) -> Option<f64> {
    load["resources"]
        .as_array()?
        .iter()
        .find(|r| r["name"].as_str().is_some_and(&pred))
        .and_then(|r| r["end"].as_f64())
}

fn summary_of(loads: &[Value], f: impl Fn(&Value) -> Option<f64>) -> Value {
    let samples: Vec<f64> = loads.iter().filter_map(f).collect();
    json!({ "summary": Summary::of(&samples), "samples_ms": samples })
}

async fn first_table(
    chromedriver: &Chromedriver,
    app: &str,
    device: &Device,
    loads: usize,
) -> Result<Value, BoxError> {
    let url = format!("{app}/?device={}", device.id);
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..loads {
        let profile = tempfile::Builder::new()
            .prefix("kbwatch-bench-chromium-")
            .tempdir()?;
        let driver = chromedriver.new_session(profile.path()).await?;
        let result = async {
            driver.goto(&url).await?;
            let c = wait_load(&driver, &format!("cold load {}", i + 1)).await?;
            driver.refresh().await?;
            let w = wait_load(&driver, &format!("warm reload {}", i + 1)).await?;
            Ok::<_, BoxError>((c, w))
        }
        .await;
        let _ = driver.quit().await;
        let (c, w) = result?;
        eprintln!(
            "    load {:>2}/{loads}: cold {:>6.1} ms, warm {:>6.1} ms",
            i + 1,
            c["mark"].as_f64().unwrap_or(f64::NAN),
            w["mark"].as_f64().unwrap_or(f64::NAN)
        );
        cold.push(c);
        warm.push(w);
    }
    let app_origin = app.to_owned();
    // The files a first visit downloads, as the browser fetched them (same origin, no API).
    let fetched: Vec<String> = cold
        .first()
        .and_then(|c| c["resources"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .filter_map(|n| n.strip_prefix(app_origin.as_str()))
        // Chromium asks for it by itself; the static server answers with index.html.
        .filter(|n| *n != "/favicon.ico")
        .map(str::to_owned)
        .collect();
    let is_wasm = |n: &str| n.ends_with(".wasm");
    let is_kbs = |n: &str| n.contains("/getmissingkbs");
    let is_machines = |n: &str| n.contains("/api/machines?") || n.ends_with("/api/machines");
    Ok(json!({
        "url_path": format!("/?device={}", device.id),
        "loads": loads,
        "cold": summary_of(&cold, |l| l["mark"].as_f64()),
        "warm": summary_of(&warm, |l| l["mark"].as_f64()),
        "cold_breakdown": {
            "html_response_end": summary_of(&cold, |l| l["nav"]["responseEnd"].as_f64()),
            "wasm_response_end": summary_of(&cold, |l| resource_end(l, is_wasm)),
            "machines_response_end": summary_of(&cold, |l| resource_end(l, is_machines)),
            "missing_kbs_response_end": summary_of(&cold, |l| resource_end(l, is_kbs)),
            "dom_content_loaded": summary_of(&cold, |l| l["nav"]["domContentLoaded"].as_f64()),
        },
        "rows_at_mark": cold.first().map(|c| c["rows"].clone()),
        // The first cold load's requests: path, start and end (ms after navigation start).
        "first_cold_load_requests": cold.first().and_then(|c| c["resources"].as_array()).map(|rs| rs
            .iter()
            .map(|r| json!({
                "url": r["name"].as_str().map(|n| n.strip_prefix(app_origin.as_str()).unwrap_or(n)),
                "start": r["start"], "end": r["end"],
            }))
            .collect::<Vec<_>>()),
        "fetched_from_app_origin": fetched,
    }))
}

/// A real `getmissingkbs` item of the mock, to shape the generated ones after.
async fn kb_template(http: &reqwest::Client, api: &str, id: &str) -> Result<Value, BoxError> {
    let kbs = get_json(http, &format!("{api}/api/machines/{id}/getmissingkbs")).await?;
    kbs["value"]
        .as_array()
        .and_then(|v| v.first())
        .cloned()
        .ok_or_else(|| format!("device {id} has no missing KB to copy the shape of").into())
}

/// A copy of the mock's first onboarded Windows machine under `id`, the big device.
async fn big_machine(http: &reqwest::Client, api: &str, id: &str) -> Result<Value, BoxError> {
    let machines = get_json(http, &format!("{api}/api/machines")).await?;
    let mut m = machines["value"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| {
            m["onboardingStatus"] == "Onboarded"
                && m["osPlatform"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("Windows"))
        })
        .cloned()
        .ok_or("no onboarded Windows machine in the mock fleet")?;
    m["id"] = json!(id);
    m["computerDnsName"] = json!("bench-2000-kbs.contoso.local");
    Ok(m)
}

/// `n` distinct missing KBs in the API's shape: cumulative, security-only, .NET, Office and
/// servicing-stack updates over ten years, 7-digit KB numbers, 0–89 CVEs each.
pub fn big_kb_list(template: &Value, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let number = 4_000_000 + i * 499;
            let month = i % 120;
            let (year, mm) = (2015 + month / 12, month % 12 + 1);
            let (name, products): (String, &[&str]) = match i % 5 {
                0 => (
                    format!("{year}-{mm:02} Cumulative Update for Windows 10 Version 22H2 for x64-based Systems (KB{number})"),
                    &["windows_10"],
                ),
                1 => (
                    format!("{} {year} Security Updates", crate::fleet_data::MONTHS[mm - 1]),
                    &["windows_10", "windows_server_2019", "edge"],
                ),
                2 => (
                    format!("{year}-{mm:02} Cumulative Update for .NET Framework 3.5 and 4.8 for Windows 10 (KB{number})"),
                    &[".net_framework"],
                ),
                3 => (
                    format!("Security Update for Microsoft Office 2016 (KB{number})"),
                    &["office", "excel", "word"],
                ),
                _ => (
                    format!("{year}-{mm:02} Servicing Stack Update for Windows Server 2019 (KB{number})"),
                    &["windows_server_2019"],
                ),
            };
            let mut kb = template.clone();
            kb["id"] = json!(number.to_string());
            kb["name"] = json!(name);
            kb["productsNames"] = json!(products);
            kb["url"] = json!(format!(
                "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB{number}"
            ));
            kb["machineMissedOn"] = json!(1);
            kb["cveAddressed"] = json!(if i % 5 == 4 { 0 } else { (i * 7) % 90 });
            kb
        })
        .collect()
}

/// What the user types, each then erased again character by character.
const TYPED: [&str; 6] = [
    "cumulative",
    "2019-1",
    "kb4123",
    "office 2016",
    "december",
    "server 2019",
];
/// Rounds of typing the words above (letter by letter, then erasing them): enough keystrokes
/// that change the rows for a p95 that is not just the largest two.
const FILTER_ROUNDS: usize = 3;
/// Rounds of clicks over the sort headers (each header twice: both directions).
const SORT_ROUNDS: usize = 8;

async fn timed_action(driver: &WebDriver, kind: &str, value: &str) -> Result<Value, BoxError> {
    let r = driver
        .execute_async(
            TIMED_ACTION,
            vec![json!(kind), json!(value), json!(150), json!(400)],
        )
        .await?
        .json()
        .clone();
    if let Some(e) = r["error"].as_str() {
        return Err(format!("{kind} {value:?}: {e}").into());
    }
    Ok(r)
}

/// `to_next_frame`: every action; `changed_*`: only the actions that changed the DOM.
fn action_figures(actions: &[Value]) -> Value {
    let changed: Vec<&Value> = actions.iter().filter(|a| a["mutated"] == true).collect();
    let pick = |k: &str| -> Vec<f64> { changed.iter().filter_map(|a| a[k].as_f64()).collect() };
    let frames: Vec<f64> = actions.iter().filter_map(|a| a["frame"].as_f64()).collect();
    json!({
        "actions": actions.len(),
        "changed_the_dom": changed.len(),
        "to_next_frame": Summary::of(&frames),
        "changed_to_rendered": Summary::of(&pick("rendered")),
        "changed_to_dom": Summary::of(&pick("dom")),
        "changed_to_next_frame": Summary::of(&pick("frame")),
        "samples": actions,
    })
}

async fn interaction(
    chromedriver: &Chromedriver,
    app: &str,
    big_id: &str,
    big_kbs: usize,
) -> Result<Value, BoxError> {
    let profile = tempfile::Builder::new()
        .prefix("kbwatch-bench-chromium-")
        .tempdir()?;
    let driver = chromedriver.new_session(profile.path()).await?;
    let result = async {
        driver.set_script_timeout(Duration::from_secs(60)).await?;
        driver.goto(format!("{app}/?device={big_id}")).await?;
        let load = wait_load(&driver, "device with 2,000 KBs").await?;
        // Let the table settle: rows stop changing for half a second.
        let mut last = usize::MAX;
        let mut stable_since = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows: usize = driver
                .execute(
                    "return document.querySelectorAll(arguments[0]).length;",
                    vec![json!(KB_ROW)],
                )
                .await?
                .convert()?;
            if rows != last {
                last = rows;
                stable_since = Instant::now();
            } else if stable_since.elapsed() > Duration::from_millis(500) {
                break;
            }
            if Instant::now() > deadline {
                return Err("the 2,000-KB table did not settle within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rows_in_dom = last;

        // KBWATCH_BENCH_CPU_PROFILE=FILE: a Chrome CPU profile of the timed actions (open it in
        // DevTools; a wasm built without wasm-opt keeps its function names).
        let cpu_profile = std::env::var_os("KBWATCH_BENCH_CPU_PROFILE").map(PathBuf::from);
        let devtools = driver.cdp();
        if cpu_profile.is_some() {
            devtools.send_raw("Profiler.enable", json!({})).await?;
            devtools
                .send_raw("Profiler.setSamplingInterval", json!({"interval": 100}))
                .await?;
            devtools.send_raw("Profiler.start", json!({})).await?;
        }

        let mut filter = Vec::new();
        for _ in 0..FILTER_ROUNDS {
            for word in TYPED {
                let chars: Vec<char> = word.chars().collect();
                let prefixes = (1..=chars.len()).chain((0..chars.len()).rev());
                for k in prefixes {
                    let text: String = chars[..k].iter().collect();
                    let mut r = timed_action(&driver, "input", &text).await?;
                    r["text"] = json!(text);
                    filter.push(r);
                }
            }
        }

        let keys: Vec<String> = driver
            .execute(
                "return Array.from(document.querySelectorAll('[data-testid=kb-table] th[data-sort-key]'), th => th.dataset.sortKey);",
                vec![],
            )
            .await?
            .convert()?;
        if keys.is_empty() {
            return Err("no sortable header in [data-testid=kb-table]".into());
        }
        let mut sort = Vec::new();
        for _ in 0..SORT_ROUNDS {
            for key in &keys {
                for _ in 0..2 {
                    let mut r = timed_action(&driver, "sort", key).await?;
                    r["key"] = json!(key);
                    sort.push(r);
                }
            }
        }
        if let Some(path) = &cpu_profile {
            let stopped = devtools.send_raw("Profiler.stop", json!({})).await?;
            std::fs::write(path, serde_json::to_string(&stopped["profile"])?)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("    CPU profile of the timed actions: {}", path.display());
        }
        Ok::<_, BoxError>(json!({
            "kbs": big_kbs,
            "first_table_ms": load["mark"],
            "rows_in_dom": rows_in_dom,
            "filter": action_figures(&filter),
            "sort": action_figures(&sort),
        }))
    }
    .await;
    let _ = driver.quit().await;
    result
}

/// Answers the big device's `getmissingkbs` and `machines/{id}` itself; passes the rest on to
/// the mock (CORS preflights included, which the mock answers).
struct Front {
    server: LocalServer,
}

struct FrontState {
    mock: String,
    http: reqwest::Client,
    kbs_path: String,
    machine_path: String,
    kbs_body: String,
    machine: Value,
}

impl Front {
    async fn start(
        mock: String,
        big_id: String,
        kbs_body: String,
        machine: Value,
    ) -> Result<Front, BoxError> {
        let state = Arc::new(FrontState {
            mock,
            http: reqwest::Client::new(),
            kbs_path: format!("/api/machines/{big_id}/getmissingkbs"),
            machine_path: format!("/api/machines/{big_id}"),
            kbs_body,
            machine,
        });
        let router = Router::new().fallback(front).with_state(state);
        Ok(Front {
            server: LocalServer::start(router, "bench front server").await?,
        })
    }
}

fn json_answer(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

async fn front(State(st): State<Arc<FrontState>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET && path.eq_ignore_ascii_case(&st.kbs_path) {
        return json_answer(st.kbs_body.clone());
    }
    if req.method() == Method::GET && path.eq_ignore_ascii_case(&st.machine_path) {
        return json_answer(st.machine.to_string());
    }
    match forward(&st, req).await {
        Ok(resp) => resp,
        Err(e) => (StatusCode::BAD_GATEWAY, format!("bench front: {e}")).into_response(),
    }
}

async fn forward(st: &FrontState, req: Request) -> Result<Response, BoxError> {
    let target = format!(
        "{}{}",
        st.mock,
        req.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let mut out = st.http.request(req.method().clone(), target);
    for (name, value) in req.headers() {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            out = out.header(name, value);
        }
    }
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await?;
    let resp = out.body(body).send().await?;
    let mut answer = Response::builder().status(resp.status());
    let hop: [HeaderName; 3] = [
        header::TRANSFER_ENCODING,
        header::CONNECTION,
        header::CONTENT_LENGTH,
    ];
    for (name, value) in resp.headers() {
        if !hop.contains(name) {
            answer = answer.header(name, HeaderValue::from_bytes(value.as_bytes())?);
        }
    }
    let bytes = resp.bytes().await?;
    Ok(answer.body(Body::from(bytes))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_kb_lists_are_distinct_and_shaped_like_the_template() {
        let template = json!({"id": "1", "name": "x", "osBuild": 19045, "productsNames": [],
            "url": null, "machineMissedOn": 3, "cveAddressed": 1});
        let kbs = big_kb_list(&template, 2_000);
        assert_eq!(kbs.len(), 2_000);
        let ids: std::collections::BTreeSet<String> =
            kbs.iter().map(|k| k["id"].to_string()).collect();
        assert_eq!(ids.len(), 2_000);
        assert!(kbs.iter().all(|k| k["osBuild"] == 19045));
        assert!(kbs
            .iter()
            .all(|k| k["id"].as_str().is_some_and(|id| id.len() == 7)));
    }
}
