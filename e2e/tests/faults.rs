//! The fault suite (issue 6): every failure the Defender API (or the way to it) can produce,
//! against the release build in real Chromium, served with the reference Content-Security-Policy
//! of `deploy/nginx/kbwatch.conf` (`connect-src` extended by the API origins the test uses).
//!
//! The shape of most tests: list the devices, open one so its updates are on screen, make the
//! next answer fail (a fault rule on the in-process mock, or a closed port), reload, and check
//! that the app
//! - says what happened and what to do, in `[data-testid=error-banner]`, with the API's error
//!   code and correlation ID where the API gave them,
//! - keeps what was on screen (`tr[data-testid=kb-row]` and the device list unchanged),
//! - recovers: by itself after a 429, through its retry button after a transient failure,
//! - never panics (no `[data-testid=crash-report]`, no "panicked" in the console) and never
//!   trips the CSP (no violation in the console).
//!
//! Hostile data and bulk answers the mock never generates come from a small server of the
//! test's own ([`CustomApi`]). TESTING.md maps each fault to the test that covers it.

//!
//! Most tests are one row of a table (`reload_faults!`): the fault, the panels whose banner
//! reports it, what the banner says, and how the app gets back. The macro makes one test per
//! row, named after the row, and the test's browser (with its failure screenshot) takes the
//! same name. The tests whose course differs are written out below their table.

use std::time::{Duration, Instant};

use kbwatch_e2e::selectors::{
    device_link, DEVICE_HEADER, DEVICE_ROW, ERROR_BANNER, KB_ROW, KB_TOTALS, REFRESH, TOKEN_INPUT,
    TOKEN_SUBMIT,
};
use kbwatch_e2e::{
    assert_page_healthy, forged_token, free_port, hold_for, mock_options, wait_for, ApiRoute,
    AppAuth, CustomApi, EnvSetup, Page, TestEnv, TestResult, WHOLE_KB_TABLE_MAX,
};
use kbwatch_mock::{IdpOptions, MockOptions, REDIRECT_TARGET};
use serde_json::{json, Value};

const COUNTDOWN: &str = "[data-testid=retry-countdown]";
const ERROR_CODE: &str = "[data-testid=error-code]";
const CORRELATION_ID: &str = "[data-testid=correlation-id]";
const SKIPPED_RECORDS: &str = "[data-testid=skipped-records]";

/// Direct calls to the mock, the reference CSP on the app, the console recorded.
fn setup() -> EnvSetup {
    EnvSetup::new(mock_options()).capture_console().with_csp()
}

/// [`setup`] in token mode, against the mock Entra ID.
fn token_setup() -> EnvSetup {
    EnvSetup::new(MockOptions {
        idp: Some(IdpOptions::default()),
        ..mock_options()
    })
    .auth(AppAuth::Token)
    .capture_console()
    .with_csp()
}

async fn start(setup: EnvSetup) -> TestEnv {
    TestEnv::start_with(setup)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The two panels of the device view; each reports its own failures, with its own retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Panel {
    /// The device list.
    Devices,
    /// The open device's missing updates.
    Kbs,
}

impl Panel {
    fn banner(self) -> &'static str {
        match self {
            Panel::Devices => ".device-panel [data-testid=error-banner]",
            Panel::Kbs => ".kb-panel [data-testid=error-banner]",
        }
    }

    fn retry(self) -> &'static str {
        match self {
            Panel::Devices => ".device-panel [data-testid=retry]",
            Panel::Kbs => ".kb-panel [data-testid=retry]",
        }
    }
}

/// What is on screen before the fault.
#[derive(Debug, Clone)]
struct Shown {
    devices: usize,
    device: String,
    name: String,
    kbs: usize,
}

/// An onboarded Windows device with a handful of missing updates (from `GET /_mock/fleet`).
async fn pick_device(env: &TestEnv) -> TestResult<(String, String, usize)> {
    let fleet = env.api_get("/_mock/fleet").await?;
    let devices = fleet["devices"]
        .as_array()
        .ok_or("/_mock/fleet: no devices")?;
    devices
        .iter()
        .find_map(|d| {
            let kbs = d["missingKbs"].as_u64()? as usize;
            let onboarded = d["onboardingStatus"] == "Onboarded";
            (onboarded && (3..=WHOLE_KB_TABLE_MAX).contains(&kbs)).then(|| {
                (
                    d["id"].as_str().unwrap_or_default().to_owned(),
                    d["computerDnsName"].as_str().unwrap_or_default().to_owned(),
                    kbs,
                )
            })
        })
        .ok_or_else(|| {
            "no onboarded device with a short list of missing updates; change the seed".into()
        })
}

/// Opens the app, then [`open_listed_device`].
async fn open_a_device(env: &TestEnv, page: &Page) -> TestResult<Shown> {
    page.open("/").await?;
    open_listed_device(env, page).await
}

/// Waits for the whole device list and opens one by clicking its link, as a user would.
async fn open_listed_device(env: &TestEnv, page: &Page) -> TestResult<Shown> {
    let devices = env.listed_device_count().await?;
    let (device, name, kbs) = pick_device(env).await?;
    page.wait_count(DEVICE_ROW, devices).await?;
    page.click(&device_link(&device)).await?;
    page.wait_text_contains(DEVICE_HEADER, &name).await?;
    page.wait_count(KB_ROW, kbs).await?;
    page.wait_count(ERROR_BANNER, 0).await?;
    Ok(Shown {
        devices,
        device,
        name,
        kbs,
    })
}

/// The earlier rows, device list and device header are all still there.
async fn assert_still_shown(page: &Page, shown: &Shown) -> TestResult {
    let kb_rows = page.count(KB_ROW).await?;
    let device_rows = page.count(DEVICE_ROW).await?;
    let header = page.text(DEVICE_HEADER).await?.unwrap_or_default();
    let selected = page
        .count(&format!("tr.selected[data-device-id='{}']", shown.device))
        .await?;
    if kb_rows != shown.kbs
        || device_rows != shown.devices
        || !header.contains(&shown.name)
        || selected != 1
    {
        return Err(format!(
            "what was on screen is gone: {kb_rows} KB rows (had {}), {device_rows} device rows \
             (had {}), header {header:?} (had {:?}), device row selected: {selected}",
            shown.kbs, shown.devices, shown.name
        )
        .into());
    }
    Ok(())
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// What the error banner must say.
#[derive(Debug, Clone, Copy)]
struct Expect {
    /// In the banner's text: what happened.
    title: &'static str,
    /// In the banner's text, each of them: what to do.
    action: &'static [&'static str],
    /// `[data-testid=error-code]`, when the API sent a documented error body.
    code: Option<&'static str>,
    /// The API's message (or part of it), when it sent one.
    message: Option<&'static str>,
    /// `[data-testid=correlation-id]` holds the API's GUID.
    correlation_id: bool,
    /// A `[data-testid=retry]` button is offered.
    retry_button: bool,
}

/// What a 200 with an unusable body gets: no API detail, and (today) no retry button, since
/// the app counts these as permanent; Refresh reloads.
const fn malformed(title: &'static str) -> Expect {
    Expect {
        title,
        action: &["a proxy or gateway may be altering responses"],
        code: None,
        message: None,
        correlation_id: false,
        retry_button: false,
    }
}

/// Checks the banner matching `banner` against `expect`, returning its text.
async fn check_banner(page: &Page, banner: &str, expect: Expect) -> TestResult<String> {
    let text = page.wait_text_contains(banner, expect.title).await?;
    for action in expect.action {
        if !text.contains(action) {
            return Err(format!("banner lacks the action {action:?}: {text:?}").into());
        }
    }
    if let Some(message) = expect.message {
        if !text.contains(message) {
            return Err(format!("banner lacks the API's message {message:?}: {text:?}").into());
        }
    }
    let code = page.text(&format!("{banner} {ERROR_CODE}")).await?;
    if code.as_deref() != expect.code {
        return Err(format!("error code {code:?}, expected {:?}: {text:?}", expect.code).into());
    }
    let correlation = page.text(&format!("{banner} {CORRELATION_ID}")).await?;
    match (&correlation, expect.correlation_id) {
        (Some(id), true) if is_guid(id) => {}
        (None, false) => {}
        _ => {
            return Err(format!(
                "correlation id {correlation:?}, expected one: {}; banner {text:?}",
                expect.correlation_id
            )
            .into())
        }
    }
    let retry = page.count(&format!("{banner} [data-testid=retry]")).await?;
    if (retry > 0) != expect.retry_button {
        return Err(format!(
            "{retry} retry buttons, expected one: {}; banner {text:?}",
            expect.retry_button
        )
        .into());
    }
    Ok(text)
}

/// After a failed reload: the banner of each of `panels` as `expect` says (the KB panel's
/// also saying its rows are the earlier ones), everything on screen kept, no panic, no CSP
/// violation.
async fn assert_fault_reported(
    page: &Page,
    shown: &Shown,
    panels: &[Panel],
    expect: Expect,
) -> TestResult {
    for &panel in panels {
        let text = check_banner(page, panel.banner(), expect).await?;
        if panel == Panel::Kbs {
            let kept = format!("Still showing the last data loaded for {}", shown.name);
            if !text.contains(&kept) {
                return Err(format!("the banner does not say {kept:?}: {text:?}").into());
            }
        }
    }
    assert_still_shown(page, shown).await?;
    assert_page_healthy(page).await
}

/// When the very first call fails: the device panel's banner as `expect` says, no device
/// listed, no panic, no CSP violation.
async fn assert_nothing_listed(page: &Page, expect: Expect) -> TestResult {
    check_banner(page, Panel::Devices.banner(), expect).await?;
    assert_eq!(page.count(DEVICE_ROW).await?, 0);
    assert_page_healthy(page).await
}

/// How the app gets back to normal after the fault is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// The retry button of each panel that failed (transient failures).
    RetryButton,
    /// The Refresh button in the top bar (failures with no retry button).
    Refresh,
}

/// Once the fault is gone: `recovery` (the retry buttons of `panels`, device list first),
/// then no banner, the same rows, no panic, no CSP violation.
async fn recover(page: &Page, shown: &Shown, panels: &[Panel], recovery: Recovery) -> TestResult {
    match recovery {
        Recovery::RetryButton => {
            for panel in [Panel::Devices, Panel::Kbs] {
                if panels.contains(&panel) {
                    page.click(panel.retry()).await?;
                }
            }
        }
        Recovery::Refresh => page.click(REFRESH).await?,
    }
    page.wait_count(ERROR_BANNER, 0).await?;
    page.wait_count(KB_ROW, shown.kbs).await?;
    assert_still_shown(page, shown).await?;
    assert_page_healthy(page).await
}

/// How a test breaks the API for the reload, and mends it afterwards.
#[derive(Debug, Clone)]
enum Fault {
    /// A fault rule on the mock (`POST /_mock/faults`); `path_contains` defaults to
    /// `getmissingkbs`, `count` to more than any retry the app might do on its own. A
    /// `forbidden` rule also refuses the fallback (`machinesVulnerabilities`).
    Rule(Value),
    /// The API's port refuses connections: the app calls the mock through a [`TcpRelay`]
    /// (`ApiRoute::Relay`) that is closed, and reopened to mend it.
    ///
    /// [`TcpRelay`]: kbwatch_e2e::TcpRelay
    ApiDown,
}

impl Fault {
    /// The mock's fault `kind` on the updates' reload.
    fn kind(kind: &str) -> Self {
        Fault::Rule(json!({ "kind": kind }))
    }

    /// What the test starts: [`setup`], through the relay for [`Fault::ApiDown`].
    fn setup(&self) -> EnvSetup {
        match self {
            Fault::Rule(_) => setup(),
            Fault::ApiDown => setup().api(ApiRoute::Relay),
        }
    }

    async fn make(&self, env: &TestEnv) -> TestResult {
        match self {
            Fault::Rule(rule) => {
                let mut rule = rule.clone();
                if rule.get("count").is_none() {
                    rule["count"] = json!(100);
                }
                // A 403 on the per-device call sends the app to the device's
                // machinesVulnerabilities rows: the fault refuses those too, so the first
                // refusal is what the page explains.
                let mut paths = vec![rule
                    .get("path_contains")
                    .cloned()
                    .unwrap_or_else(|| json!("getmissingkbs"))];
                if rule["kind"] == "forbidden" {
                    paths.push(json!("machinesVulnerabilities"));
                }
                for path in paths {
                    rule["path_contains"] = path;
                    env.inject_fault(rule.clone()).await?;
                }
                Ok(())
            }
            Fault::ApiDown => env.close_relay().await,
        }
    }

    async fn mend(&self, env: &TestEnv) -> TestResult {
        match self {
            Fault::Rule(_) => env.clear_faults().await,
            Fault::ApiDown => env.reopen_relay().await,
        }
    }
}

/// One row of a fault table: the course of [`fault_on_reload`].
#[derive(Debug, Clone)]
struct Reload {
    fault: Fault,
    /// The panels whose banner reports the fault.
    panels: &'static [Panel],
    expect: Expect,
    recovery: Recovery,
}

impl Reload {
    /// The mock's fault `kind` on the updates' reload, reported in the KB panel.
    fn kbs(kind: &str, expect: Expect, recovery: Recovery) -> Self {
        Reload {
            fault: Fault::kind(kind),
            panels: &[Panel::Kbs],
            expect,
            recovery,
        }
    }

    /// A 200 whose body (fault `kind`) cannot be used, reported as `title`; Refresh recovers.
    fn malformed(kind: &str, title: &'static str) -> Self {
        Reload::kbs(kind, malformed(title), Recovery::Refresh)
    }
}

/// The common course: device open, the fault made, Refresh clicked; the banners as the case
/// says and the earlier rows kept; then the fault mended, and the case's recovery brings the
/// rows back.
async fn fault_on_reload(name: &str, case: Reload) {
    TestEnv::run_in_browser(case.fault.setup(), name, async |env, page| {
        let shown = open_a_device(env, &page).await?;
        case.fault.make(env).await?;
        page.click(REFRESH).await?;
        assert_fault_reported(&page, &shown, case.panels, case.expect).await?;
        case.fault.mend(env).await?;
        recover(&page, &shown, case.panels, case.recovery).await
    })
    .await;
}

/// One `#[tokio::test]` per row `name: case;` running [`fault_on_reload`], whose browser is
/// named after the test.
macro_rules! reload_faults {
    ($($(#[$doc:meta])* $name:ident: $case:expr;)+) => {$(
        $(#[$doc])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            fault_on_reload(stringify!($name), $case).await;
        }
    )+};
}

/// What a 401 from the API says, whatever made the token unacceptable.
const UNAUTHORIZED: Expect = Expect {
    title: "did not accept your sign-in (401)",
    action: &["sign in again"],
    code: Some("Unauthorized"),
    message: None,
    correlation_id: true,
    retry_button: false,
};

/// What an HTML error page from a gateway gets: no API detail, a retry.
const fn gateway(title: &'static str) -> Expect {
    Expect {
        title,
        action: &["retry in a moment"],
        code: None,
        message: None,
        correlation_id: false,
        retry_button: true,
    }
}

/// What an API that cannot be reached gets, in both panels.
const UNREACHABLE: Expect = Expect {
    title: "The API could not be reached",
    action: &["apiBase in config.json", "CORS"],
    code: None,
    message: None,
    correlation_id: false,
    retry_button: true,
};

// --- 4xx -------------------------------------------------------------------------------------

reload_faults! {
    unauthorized_401_says_sign_in_again_and_keeps_the_rows: Reload::kbs(
        "unauthorized",
        Expect { message: Some("expired or invalid"), ..UNAUTHORIZED },
        Recovery::Refresh,
    );
    forbidden_403_names_the_missing_permission: Reload::kbs(
        "forbidden",
        Expect {
            title: "not allowed to read this (403)",
            action: &["Missing permission: Software.Read.All"],
            code: Some("Forbidden"),
            message: Some("API required roles: Software.Read.All"),
            correlation_id: true,
            retry_button: false,
        },
        Recovery::Refresh,
    );
    not_found_404_on_reload_keeps_the_rows: Reload::kbs(
        "not_found",
        Expect {
            title: "does not know this device (404)",
            action: &["Check the device ID or name"],
            code: Some("NotFound"),
            message: Some("was not found"),
            correlation_id: true,
            retry_button: false,
        },
        Recovery::Refresh,
    );
    bad_request_400_odata_error_asks_for_a_report_with_the_correlation_id: Reload::kbs(
        "bad_request",
        Expect {
            title: "refused the request (400)",
            action: &["report it with the correlation ID"],
            code: Some("ODataError"),
            message: None,
            correlation_id: true,
            retry_button: false,
        },
        Recovery::Refresh,
    );
}

/// Token mode against the mock Entra ID: a pasted token that the API later calls expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_401_says_sign_in_again_and_keeps_the_rows() {
    let env = start(token_setup()).await;
    let token = env
        .mint_token()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .access_token;
    let env = &env;
    env.with_browser("fault-401-expired", |page: Page| async move {
        page.open("/").await?;
        page.type_into(TOKEN_INPUT, &token).await?;
        page.click(TOKEN_SUBMIT).await?;
        let shown = open_listed_device(env, &page).await?;

        let expired = env.idp().ok_or("IdP")?.expire_access_tokens();
        assert!(expired > 0, "the IdP expired the minted token");
        page.click(REFRESH).await?;
        let expect = Expect {
            message: Some("Authorization token is expired"),
            ..UNAUTHORIZED
        };
        assert_fault_reported(&page, &shown, &[Panel::Kbs, Panel::Devices], expect).await
    })
    .await;
}

/// Token mode: a well-formed JWT the API did not issue is refused with the API's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_token_401_shows_the_apis_reason() {
    TestEnv::run_in_browser(token_setup(), "fault-401-invalid", async |_, page| {
        page.open("/").await?;
        page.type_into(TOKEN_INPUT, &forged_token()).await?;
        page.click(TOKEN_SUBMIT).await?;
        let expect = Expect {
            message: Some("Invalid token"),
            ..UNAUTHORIZED
        };
        assert_nothing_listed(&page, expect).await
    })
    .await;
}

/// A link to a device the API does not know (a well-formed ID): one lookup, then a 404 that
/// names the device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_device_404_from_a_link_names_the_device() {
    TestEnv::run_in_browser(setup(), "fault-404-unknown-device", async |env, page| {
        let unknown = "0123456789abcdef0123456789abcdef01234567";
        let devices = env.listed_device_count().await?;
        page.open(&format!("/?device={unknown}")).await?;
        let text = check_banner(
            &page,
            Panel::Kbs.banner(),
            Expect {
                title: "does not know this device (404)",
                action: &["Check the device ID or name"],
                code: Some("NotFound"),
                message: Some(unknown),
                correlation_id: true,
                retry_button: false,
            },
        )
        .await?;
        assert!(
            text.contains(&format!("While loading {unknown}")),
            "{text:?}"
        );
        page.wait_count(DEVICE_ROW, devices).await?;
        assert_eq!(page.count(KB_ROW).await?, 0);
        assert_page_healthy(&page).await
    })
    .await;
}

// --- 429 -------------------------------------------------------------------------------------

/// `Retry-After: 2`: a countdown, no retry button, the rows stay, and the app retries by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_429_short_counts_down_and_recovers_by_itself() {
    TestEnv::run_in_browser(setup(), "fault-429-short", async |env, page| {
        let shown = open_a_device(env, &page).await?;
        env.reset_mock().await?;
        env.inject_fault(json!({
            "kind": "throttle", "retry_after_secs": 2,
            "path_contains": "getmissingkbs", "count": 1,
        }))
        .await?;
        page.click(REFRESH).await?;
        let countdown = page
            .wait_text_contains(COUNTDOWN, "Retrying automatically in")
            .await?;
        assert!(
            countdown.contains("in 2 s") || countdown.contains("in 1 s"),
            "{countdown:?}"
        );
        let text = page.text(Panel::Kbs.banner()).await?.unwrap_or_default();
        assert!(text.contains("throttling requests (429)"), "{text:?}");
        assert!(text.contains("retries by itself"), "{text:?}");
        assert_eq!(
            page.count(Panel::Kbs.retry()).await?,
            0,
            "no retry button while waiting"
        );
        assert_still_shown(&page, &shown).await?;

        // By itself: banner gone, rows back, the second call answered 200.
        page.wait_count(ERROR_BANNER, 0).await?;
        page.wait_count(KB_ROW, shown.kbs).await?;
        let stats = env.mock_stats().await?;
        let calls = stats["routes"]["/api/machines/{id}/getmissingkbs"]
            .as_u64()
            .unwrap_or(0);
        assert_eq!(calls, 2, "one 429, then one retry: {stats}");
        assert_eq!(stats["throttled"].as_u64(), Some(1), "{stats}");
        assert_page_healthy(&page).await
    })
    .await;
}

/// `Retry-After: 120`: the countdown shows it, the rows stay while it runs, and Refresh does
/// not have to wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_429_long_counts_down_keeps_the_rows_and_refresh_cuts_the_wait() {
    TestEnv::run_in_browser(setup(), "fault-429-long", async |env, page| {
        let shown = open_a_device(env, &page).await?;
        env.inject_fault(json!({
            "kind": "throttle", "retry_after_secs": 120,
            "path_contains": "getmissingkbs", "count": 1,
        }))
        .await?;
        page.click(REFRESH).await?;
        let countdown = page
            .wait_text_contains(COUNTDOWN, "Retrying automatically in")
            .await?;
        assert!(
            countdown.contains("in 120 s") || countdown.contains("in 119 s"),
            "{countdown:?}"
        );
        hold_for(
            "rows and countdown stay while throttled",
            Duration::from_secs(3),
            || {
                let page = &page;
                let shown = &shown;
                async move {
                    if let Err(e) = assert_still_shown(page, shown).await {
                        return Ok(Err(e.to_string()));
                    }
                    let text = page.text(COUNTDOWN).await?.unwrap_or_default();
                    let seconds = text
                        .split_whitespace()
                        .find_map(|w| w.parse::<u32>().ok())
                        .unwrap_or(0);
                    Ok(if (110..=120).contains(&seconds) {
                        Ok(())
                    } else {
                        Err(format!("countdown {text:?}"))
                    })
                }
            },
        )
        .await?;
        assert_page_healthy(&page).await?;

        page.click(REFRESH).await?;
        page.wait_count(ERROR_BANNER, 0).await?;
        page.wait_count(KB_ROW, shown.kbs).await?;
        assert_page_healthy(&page).await
    })
    .await;
}

// --- 5xx -------------------------------------------------------------------------------------

reload_faults! {
    server_error_500_offers_retry_and_recovers: Reload::kbs(
        "server_error",
        Expect {
            title: "internal problem (HTTP 500)",
            action: &["retry in a moment"],
            code: Some("InternalServerError"),
            message: None,
            correlation_id: true,
            retry_button: true,
        },
        Recovery::RetryButton,
    );
    bad_gateway_502_html_page_offers_retry_and_recovers: Reload::kbs(
        "bad_gateway_html",
        gateway("A gateway in front of the API failed (HTTP 502)"),
        Recovery::RetryButton,
    );
    service_unavailable_503_html_page_offers_retry_and_recovers: Reload::kbs(
        "service_unavailable_html",
        gateway("A gateway in front of the API failed (HTTP 503)"),
        Recovery::RetryButton,
    );
    /// The device list's reload fails too (a gateway page on every `/api/machines…` call): both
    /// panels say so, both keep their rows, and retrying both brings everything back.
    device_list_reload_failure_keeps_the_list_and_recovers: Reload {
        fault: Fault::Rule(json!({
            "kind": "service_unavailable_html",
            "path_contains": "/api/machines",
        })),
        panels: &[Panel::Devices, Panel::Kbs],
        expect: gateway("A gateway in front of the API failed (HTTP 503)"),
        recovery: Recovery::RetryButton,
    };
}

// --- bodies that cannot be used --------------------------------------------------------------

reload_faults! {
    empty_body_is_reported_and_the_rows_stay:
        Reload::malformed("empty_body", "The API sent an empty answer.");
    truncated_json_is_reported_and_the_rows_stay:
        Reload::malformed("truncated_json", "The API's answer was cut off.");
    /// `{"value": [ {"id": ` — JSON that stops mid-record.
    malformed_json_is_reported_and_the_rows_stay:
        Reload::malformed("malformed_json", "The API's answer was cut off.");
    /// `{"value": {"oops": 1}}`.
    wrong_shape_json_is_reported_and_the_rows_stay: Reload::malformed(
        "wrong_shape",
        "The API's answer has an unexpected shape: \"value\" is not a list.",
    );
    value_null_is_reported_and_the_rows_stay: Reload::malformed(
        "value_null",
        "The API's answer has an unexpected shape: \"value\" is null.",
    );
}

/// A 307 from the API (or a gateway in front of it) is not followed: a browser following it
/// sends the `Authorization` header along (the mock's target route would see it). The app
/// says what happened and what to check; the rows stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_307_is_not_followed_and_the_token_stays() {
    let case = Reload::kbs(
        "redirect",
        Expect {
            title: "answered with a redirect, which kbwatch does not follow",
            action: &["Check apiBase in config.json"],
            code: None,
            message: None,
            correlation_id: false,
            retry_button: false,
        },
        Recovery::Refresh,
    );
    let name = "redirect_307_is_not_followed_and_the_token_stays";
    TestEnv::run_in_browser(case.fault.setup(), name, async |env, page| {
        let shown = open_a_device(env, &page).await?;
        case.fault.make(env).await?;
        page.click(REFRESH).await?;
        assert_fault_reported(&page, &shown, case.panels, case.expect).await?;
        let stats = env.mock_stats().await?;
        let followed = stats["paths"]
            .as_object()
            .is_some_and(|paths| paths.keys().any(|p| p.contains(REDIRECT_TARGET)));
        if followed {
            return Err(format!("the redirect was followed: {stats}").into());
        }
        case.fault.mend(env).await?;
        recover(&page, &shown, case.panels, case.recovery).await
    })
    .await;
}

/// Every field of every update is null, so no record has a usable KB id: the app must say the
/// records could not be read — and must not claim the device is up to date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nulls_in_every_field_are_reported_never_as_up_to_date() {
    TestEnv::run_in_browser(setup(), "fault-nulls", async |env, page| {
        let shown = open_a_device(env, &page).await?;
        Fault::kind("nulls").make(env).await?;
        page.click(REFRESH).await?;
        let warning = page
            .wait_text_contains(
                &format!("{SKIPPED_RECORDS}, {}", Panel::Kbs.banner()),
                "could not be read",
            )
            .await?;
        assert!(
            warning.contains(&shown.kbs.to_string()),
            "the warning counts the unreadable records: {warning:?}"
        );
        let panel = page.text(".kb-panel").await?.unwrap_or_default();
        assert!(
            page.count("[data-testid=kb-empty]").await? == 0 && !panel.contains("up to date"),
            "with every record unreadable the panel claims the device is up to date: {panel:?}"
        );
        assert_page_healthy(&page).await?;

        env.clear_faults().await?;
        page.click(REFRESH).await?;
        page.wait_count(KB_ROW, shown.kbs).await?;
        page.wait_count(SKIPPED_RECORDS, 0).await?;
        assert_page_healthy(&page).await
    })
    .await;
}

/// Unknown fields in every object and in the envelope change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_extra_fields_are_ignored() {
    TestEnv::run_in_browser(setup(), "fault-extra-fields", async |env, page| {
        let shown = open_a_device(env, &page).await?;
        let before = page.attrs(KB_ROW, "data-kb-id").await?;
        env.reset_mock().await?;
        env.inject_fault(json!({"kind": "extra_fields", "count": 100}))
            .await?;
        page.click(REFRESH).await?;
        wait_for(
            "the reload to reach the mock",
            Duration::from_secs(20),
            || async {
                let stats = env.mock_stats().await?;
                let calls = stats["routes"]["/api/machines/{id}/getmissingkbs"]
                    .as_u64()
                    .unwrap_or(0);
                Ok(if calls >= 1 {
                    Ok(())
                } else {
                    Err(stats.to_string())
                })
            },
        )
        .await?;
        // Give the answer time to render, then compare.
        hold_for("no banner, same rows", Duration::from_secs(2), || {
            let page = &page;
            let shown = &shown;
            async move {
                if page.count(ERROR_BANNER).await? > 0 {
                    return Ok(Err(format!("banner {:?}", page.text(ERROR_BANNER).await?)));
                }
                if page.count(SKIPPED_RECORDS).await? > 0 {
                    return Ok(Err("records reported as skipped".into()));
                }
                Ok(assert_still_shown(page, shown)
                    .await
                    .map_err(|e| e.to_string()))
            }
        })
        .await?;
        assert_eq!(page.attrs(KB_ROW, "data-kb-id").await?, before);
        assert_page_healthy(&page).await
    })
    .await;
}

// --- no answer -------------------------------------------------------------------------------

reload_faults! {
    /// The API host goes away (its port refuses connections): both panels say it could not be
    /// reached, keep their rows, and the retry buttons bring everything back once it is up
    /// again.
    connection_refused_keeps_the_rows_and_recovers_after_retry: Reload {
        fault: Fault::ApiDown,
        panels: &[Panel::Kbs, Panel::Devices],
        expect: UNREACHABLE,
        recovery: Recovery::RetryButton,
    };
}

/// `refresh.requestTimeoutSeconds` 2 and an answer that takes 4 s: a timeout with a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_response_times_out_offers_retry_and_recovers() {
    TestEnv::run_in_browser(
        setup().config(json!({"refresh": {"requestTimeoutSeconds": 2}})),
        "fault-timeout",
        async |env, page| {
            let shown = open_a_device(env, &page).await?;
            Fault::Rule(json!({"kind": "slow", "ms": 4000, "count": 1}))
                .make(env)
                .await?;
            let clicked = Instant::now();
            page.click(REFRESH).await?;
            check_banner(
                &page,
                Panel::Kbs.banner(),
                Expect {
                    title: "did not answer within 2 s",
                    action: &["raise refresh.requestTimeoutSeconds"],
                    code: None,
                    message: None,
                    correlation_id: false,
                    retry_button: true,
                },
            )
            .await?;
            let waited = clicked.elapsed();
            assert!(
                waited >= Duration::from_millis(1900) && waited < Duration::from_millis(3900),
                "aborted after the configured 2 s, not the mock's 4 s: {waited:?}"
            );
            assert_still_shown(&page, &shown).await?;
            // The one slow answer is spent: the retry gets a prompt one.
            recover(&page, &shown, &[Panel::Kbs], Recovery::RetryButton).await
        },
    )
    .await;
}

/// `apiBase` on a port where nothing listens, from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_at_start_points_at_api_base_and_cors() {
    let closed = free_port().expect("a free port");
    TestEnv::run_in_browser(
        setup().api(ApiRoute::Url(format!("http://127.0.0.1:{closed}"))),
        "fault-connection-refused-start",
        async |_, page| {
            page.open("/").await?;
            assert_nothing_listed(&page, UNREACHABLE).await
        },
    )
    .await;
}

// --- hostile input ---------------------------------------------------------------------------

/// Device IDs with path tricks in the URL are refused before any request: the banner says so
/// (showing the input as text) and the mock sees nothing but the device list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_in_the_device_parameter_are_refused_before_any_call() {
    TestEnv::run_in_browser(setup(), "hostile-device-param", async |env, page| {
        let devices = env.listed_device_count().await?;
        env.reset_mock().await?;
        for (query, shown_as) in [
            ("../admin", "../admin"),
            ("..%2F..%2Fapi%2Fmachines", "../../api/machines"),
            ("a%2Fb", "a/b"),
            ("%2e%2e", ".."),
            // Control and format characters are escaped (a bidi override would reorder the
            // message around it), not shown raw.
            ("abc%00", "abc\\u{0}"),
            ("fin-ws%20..%2F", "fin-ws ../"),
            (
                "%3Cscript%3Ewindow.__pwned%3D1%3C%2Fscript%3E",
                "<script>window.__pwned=1</script>",
            ),
            ("x\u{200b}y", "x\\u{200b}y"),
            ("a%E2%80%AEgpj.exe", "a\\u{202e}gpj.exe"),
            ("javascript:alert(1)", "javascript:alert(1)"),
        ] {
            page.open(&format!("/?device={query}")).await?;
            let text = page
                .wait_text_contains(ERROR_BANNER, "No request was sent")
                .await?;
            assert!(
                text.contains(&format!("\"{}\"", shown_as.trim())),
                "{query}: the input shown as text: {text:?}"
            );
            page.wait_count(DEVICE_ROW, devices).await?;
            assert_eq!(page.count("[data-testid=error-banner] script").await?, 0);
        }
        // An unusable link parameter is named in a warning the same way.
        page.open("/?sort=%E2%80%AEname&mincve=%00").await?;
        let warning = page
            .wait_text_contains("[data-testid=ignored-params]", "Ignored")
            .await?;
        for shown in ["\"sort=\\u{202e}name\"", "\"mincve=\\u{0}\""] {
            assert!(warning.contains(shown), "{shown} in {warning:?}");
        }
        let pwned: Value = page.eval("return window.__pwned ?? null;", vec![]).await?;
        assert_eq!(pwned, Value::Null);
        let stats = env.mock_stats().await?;
        let paths: Vec<&String> = stats["paths"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        assert!(
            paths.iter().all(|p| *p == "/api/machines"),
            "only the device list was requested: {stats}"
        );
        assert_page_healthy(&page).await
    })
    .await;
}

const DEVICE_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DEVICE_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn hostile_devices() -> Value {
    json!([
        {
            "id": DEVICE_A,
            "computerDnsName": "<script>window.__pwned='name'</script>evil\u{202e}gnp.exe",
            "osPlatform": "Windows11<img src=x onerror=\"window.__pwned='os'\">",
            "version": "\u{200b}\u{200f}24H2",
            "osBuild": 26100,
            "healthStatus": "Active",
            "riskScore": "High\" onmouseover=\"window.__pwned='attr'",
            "exposureLevel": "<b>High</b>",
            "onboardingStatus": "Onboarded",
            "rbacGroupName": "G".repeat(10_000),
            "machineTags": ["javascript:alert(1)", "\u{202e}gat", "zero\u{200b}width", "<svg onload=alert(1)>"],
            "lastSeen": "2024-10-20T10:15:00Z",
        },
        {
            "id": DEVICE_B,
            "computerDnsName": "W".repeat(10_000),
            "osPlatform": "Windows10",
            "onboardingStatus": "Onboarded",
        },
        // The same device again, as `$skip` paging can return it while the list changes.
        { "id": DEVICE_B, "computerDnsName": "second record of B", "onboardingStatus": "Onboarded" },
        { "id": "../../etc/passwd", "computerDnsName": "path-trick", "onboardingStatus": "Onboarded" },
        { "id": "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "computerDnsName": "non-hex", "onboardingStatus": "Onboarded" },
        { "id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/../x", "computerDnsName": "slash", "onboardingStatus": "Onboarded" },
    ])
}

fn hostile_kbs() -> Value {
    json!([
        {
            "id": "5044285",
            "name": "<script>window.__pwned='kb'</script>",
            "productsNames": ["<b>bold</b>", "windows_11"],
            "url": "javascript:window.__pwned='url'",
            "machineMissedOn": 1, "cveAddressed": 3,
        },
        {
            "id": "5044286",
            "name": "\u{202e}evil\u{200b}.exe",
            "productsNames": ["\u{202e}rtl"],
            "url": "data:text/html,<script>alert(1)</script>",
            "cveAddressed": 1,
        },
        { "id": "5044287", "name": "look-alike host", "url": "https://catalog.update.microsoft.com.evil.example/x", "cveAddressed": 1 },
        { "id": "5044288", "name": "plain http", "url": "http://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB5044288" },
        { "id": "5044290", "name": "credentials", "url": "https://evil@catalog.update.microsoft.com/x" },
        { "id": "5044291", "name": "protocol-relative", "url": "//evil.example/x" },
        {
            "id": "<img src=x onerror=\"window.__pwned='id'\">",
            "name": "N".repeat(10_000),
            "url": "https://evil.example/",
            "cveAddressed": 2,
        },
        { "id": "KB5044289", "name": "good", "url": "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB5044289", "cveAddressed": 5 },
        { "id": null, "name": "no id" },
    ])
}

/// One device JSON for `GET /api/machines/{id}`.
fn device_by_id(devices: &Value, id: &str) -> Option<Value> {
    devices
        .as_array()?
        .iter()
        .find(|d| d["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(id)))
        .cloned()
}

fn not_found(what: &str) -> (u16, String) {
    (
        404,
        json!({"error": {"code": "NotFound", "message": format!("{what} was not found"),
                         "target": "00000000-0000-0000-0000-000000000000"}})
        .to_string(),
    )
}

/// Answers `/api/machines` (one page; `$skip` past it is the API's 404), `/api/machines/{id}`
/// and `/api/machines/{id}/getmissingkbs` from the given JSON.
fn static_api(
    devices: Value,
    kbs_of: impl Fn(&str) -> Option<Value> + Send + Sync + 'static,
) -> impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static {
    move |path: &str, query: &str| {
        let page = |value: Value| json!({"@odata.context": "x", "value": value}).to_string();
        if path == "/api/machines" {
            let skipping = query
                .split('&')
                .any(|kv| kv.starts_with("$skip=") || kv.starts_with("%24skip="))
                && !query.contains("skip=0");
            return if skipping {
                not_found("No recent machines")
            } else {
                (200, page(devices.clone()))
            };
        }
        let Some(rest) = path.strip_prefix("/api/machines/") else {
            return not_found(path);
        };
        match rest.split_once('/') {
            Some((id, "getmissingkbs")) => match kbs_of(id) {
                Some(kbs) => (200, page(kbs)),
                None => not_found(&format!("Machine {id}")),
            },
            None => match device_by_id(&devices, rest) {
                Some(d) => (200, d.to_string()),
                None => not_found(&format!("Machine {rest}")),
            },
            Some(_) => not_found(path),
        }
    }
}

/// Markup, `javascript:`/`data:` URLs, look-alike hosts, RTL and zero-width characters and
/// 10,000-character strings from the API: rendered as text, links only https to the allowed
/// hosts with `rel="noopener noreferrer"`, records without a usable ID reported, not shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_urls_render_as_text_with_safe_links_only() {
    let devices = hostile_devices();
    let api = CustomApi::start(static_api(devices, |id| {
        (id == DEVICE_A || id == DEVICE_B).then(hostile_kbs)
    }))
    .await
    .expect("custom API");
    let api = &api;
    TestEnv::run_in_browser(setup().api(ApiRoute::Url(api.url())), "hostile-data", async |_, page| {
        page.open("/").await?;
        page.wait_count(DEVICE_ROW, 2).await?;
        let skipped = page
            .wait_text_contains("[data-testid=skipped-devices]", "could not be read")
            .await?;
        assert!(skipped.contains("3 records"), "{skipped:?}");
        page.click(&device_link(DEVICE_A)).await?;
        page.wait_count(KB_ROW, 8).await?;
        page.wait_text_contains(SKIPPED_RECORDS, "1 record")
            .await?;

        // Rendered as text: the markup is in the text, no element came from it.
        let names = page.texts("[data-testid=device-link]").await?;
        assert!(
            names.iter().any(|n| n == "<script>window.__pwned='name'</script>evil\u{202e}gnp.exe"),
            "{names:?}"
        );
        assert!(names.iter().any(|n| n.len() == 10_000), "the 10k name is shown whole");
        assert!(
            !names.iter().any(|n| n == "second record of B"),
            "a device ID is listed once: {names:?}"
        );
        let header = page.text(DEVICE_HEADER).await?.unwrap_or_default();
        assert!(header.starts_with("<script>"), "{header:?}");
        let kb_text = page.text("[data-testid=kb-table] tbody").await?.unwrap_or_default();
        for needle in [
            "<script>window.__pwned='kb'</script>",
            "<b>bold</b>",
            "\u{202e}evil\u{200b}.exe",
            "<img src=x onerror=\"window.__pwned='id'\">",
        ] {
            assert!(kb_text.contains(needle), "{needle:?} as text in the KB table");
        }
        let injected: usize = page
            .eval(
                "return document.querySelectorAll(
                    'main script, main img, main svg, main b, main iframe, main object, main embed, \
                     main [onerror], main [onload], main [onmouseover]').length;",
                vec![],
            )
            .await?;
        assert_eq!(injected, 0, "API data created elements");
        let pwned: Value = page.eval("return window.__pwned ?? null;", vec![]).await?;
        assert_eq!(pwned, Value::Null, "API data ran script");

        // Every link: same-origin (the app's own), or https on an allowed host, opened with
        // rel="noopener noreferrer".
        let links: Vec<Value> = page
            .eval(
                "return Array.from(document.querySelectorAll('a[href]'), a => ({
                    raw: a.getAttribute('href'), href: a.href, protocol: a.protocol,
                    host: a.host, origin: a.origin, rel: a.rel, target: a.target,
                    own: a.origin === location.origin }));",
                vec![],
            )
            .await?;
        let allowed = [
            "catalog.update.microsoft.com",
            "support.microsoft.com",
            "security.microsoft.com",
        ];
        let mut external = 0;
        for link in &links {
            if link["own"] == true {
                continue;
            }
            external += 1;
            let rel = link["rel"].as_str().unwrap_or_default();
            assert!(
                link["protocol"] == "https:"
                    && allowed.contains(&link["host"].as_str().unwrap_or_default()),
                "external link to a host that is not allowed: {link}"
            );
            assert!(
                rel.split_whitespace().any(|r| r == "noopener")
                    && rel.split_whitespace().any(|r| r == "noreferrer"),
                "external link without rel=\"noopener noreferrer\": {link}"
            );
        }
        assert!(external >= 8, "catalog, article and portal links: {links:#?}");
        let catalog = page.attrs("[data-testid=kb-link]", "href").await?;
        for kb in ["5044285", "5044286", "5044287", "5044288", "5044290", "5044291"] {
            let built = format!("https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB{kb}");
            assert!(catalog.contains(&built), "KB{kb}: the unsafe url replaced by {built}: {catalog:?}");
        }
        assert_eq!(page.count("[data-testid=kb-label]").await?, 1, "the non-KB id has no link");

        // Only valid device IDs reached the API.
        let hits = api.hits();
        assert!(
            hits.keys().all(|p| p == "/api/machines"
                || p == &format!("/api/machines/{DEVICE_A}/getmissingkbs")
                || p == &format!("/api/machines/{DEVICE_A}")),
            "{hits:?}"
        );

        // The other device: a 10,000-character name in the header, the page still usable.
        page.click(&device_link(DEVICE_B)).await?;
        page.wait_text_contains(DEVICE_HEADER, "WWWWWWWWWW").await?;
        page.wait_count(KB_ROW, 8).await?;
        let widths: Value = page
            .eval(
                "const over = Array.from(document.querySelectorAll('body *'))
                     .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                     .slice(0, 5)
                     .map(e => `${e.tagName.toLowerCase()}.${e.className}[${e.dataset.testid || ''}] \
right=${Math.round(e.getBoundingClientRect().right)}`);
                 return { page: document.documentElement.scrollWidth, viewport: window.innerWidth, over };",
                vec![],
            )
            .await?;
        eprintln!("[hostile-data] page width with 10,000-character names: {widths}");
        assert_page_healthy(&page).await
    })
    .await;
}

// --- volume ----------------------------------------------------------------------------------

/// A windowed table: its size (`aria-rowcount`, header included) is all `rows`, and only the
/// rows in view are in the DOM.
async fn assert_windowed(page: &Page, table: &str, row: &str, rows: usize) -> TestResult {
    assert_eq!(
        page.attrs(table, "aria-rowcount").await?,
        vec![(rows + 1).to_string()]
    );
    let in_dom = page.count(row).await?;
    assert!(
        in_dom > 0 && in_dom < 100,
        "{in_dom} of {rows} rows of {table} in the DOM"
    );
    Ok(())
}

fn hex_id(n: usize) -> String {
    format!("{n:040x}")
}

/// 10,000 devices in one `/api/machines` page and 5,000 updates for one device: both tables
/// show their full size and the rows in view (timings printed; each must stay under a minute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_devices_and_five_thousand_updates_render() {
    const DEVICES: usize = 10_000;
    const KBS: usize = 5_000;
    let devices: Vec<Value> = (0..DEVICES)
        .map(|n| {
            json!({
                "id": hex_id(n + 1),
                "computerDnsName": format!("ws-{n:05}.contoso.local"),
                "osPlatform": if n % 3 == 0 { "Windows11" } else { "Windows10" },
                "version": "23H2", "osBuild": 22631,
                "healthStatus": "Active",
                "riskScore": (["None", "Low", "Medium", "High"][n % 4]),
                "exposureLevel": (["Low", "Medium", "High"][n % 3]),
                "onboardingStatus": "Onboarded",
                "rbacGroupName": format!("Group {}", n % 7),
                "machineTags": [format!("tag{}", n % 5)],
                "lastSeen": "2024-10-20T10:15:00Z",
            })
        })
        .collect();
    let kbs: Value = (0..KBS)
        .map(|n| {
            json!({
                "id": format!("{}", 5_000_000 + n),
                "name": format!("Security update {n}"),
                "productsNames": [(["windows_11", "office", ".net_framework", "edge"][n % 4])],
                "url": format!("https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB{}", 5_000_000 + n),
                "machineMissedOn": 1,
                "cveAddressed": n % 50,
            })
        })
        .collect();
    let big = hex_id(1);
    let api = CustomApi::start(static_api(Value::Array(devices), move |id| {
        (id == big).then(|| kbs.clone())
    }))
    .await
    .expect("custom API");
    TestEnv::run_in_browser(
        setup().api(ApiRoute::Url(api.url())),
        "volume",
        async |_, page| {
            let long = Duration::from_secs(120);
            let t0 = Instant::now();
            page.open("/").await?;
            page.wait_text_contains("[data-testid=device-count]", "10000 devices")
                .await?;
            let first_row = format!("tr[data-device-id='{}']", hex_id(1));
            let (page_ref, first_row) = (&page, first_row.as_str());
            wait_for("the first device row", long, || async move {
                let shown = page_ref.count(first_row).await?;
                Ok(if shown == 1 {
                    Ok(())
                } else {
                    Err("not yet".to_owned())
                })
            })
            .await?;
            let devices_shown = t0.elapsed();
            assert_windowed(&page, "[data-testid=device-table]", DEVICE_ROW, DEVICES).await?;

            let t1 = Instant::now();
            page.click(&device_link(&hex_id(1))).await?;
            page.wait_text_contains(KB_TOTALS, "5000 updates").await?;
            let kbs_shown = t1.elapsed();
            assert_windowed(&page, "[data-testid=kb-table]", KB_ROW, KBS).await?;

            let t2 = Instant::now();
            page.type_into("input[data-testid=kb-search]", "Security update 4999")
                .await?;
            page.wait_count_within(KB_ROW, 1, long).await?;
            let filtered = t2.elapsed();

            eprintln!(
                "[volume] 10,000 devices listed in {:.1} s; 5,000 updates shown in {:.1} s; \
             KB text filter applied in {:.1} s",
                devices_shown.as_secs_f64(),
                kbs_shown.as_secs_f64(),
                filtered.as_secs_f64()
            );
            assert!(devices_shown < Duration::from_secs(60), "{devices_shown:?}");
            assert!(kbs_shown < Duration::from_secs(60), "{kbs_shown:?}");
            assert_page_healthy(&page).await
        },
    )
    .await;
}

// --- the CSP this suite runs under -----------------------------------------------------------

/// The app server sends the reference policy (read from `deploy/nginx/kbwatch.conf`, the
/// mock's origin added to `connect-src`), and a violation does reach the console, where
/// [`assert_page_healthy`] would fail on it: the CSP checks of this suite are not vacuous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_runs_under_the_reference_csp_and_sees_violations() {
    let env = start(setup()).await;
    let response = reqwest::get(format!("{}/", env.app_url()))
        .await
        .expect("the app server answers");
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (expected, expected_redirect) =
        kbwatch_e2e::reference_csp(None, &[env.api_url()]).expect("reference CSP");
    assert_eq!(csp, expected);
    let redirect_csp = reqwest::get(format!("{}/redirect.html", env.app_url()))
        .await
        .expect("the app server answers")
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(redirect_csp, expected_redirect);
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert!(
        csp.contains(&format!(
            "connect-src 'self' https://login.microsoftonline.com {}",
            env.api_url()
        )),
        "{csp}"
    );
    let env = &env;
    env.with_browser("csp-self-check", |page: Page| async move {
        page.open("/").await?;
        page.wait_any(DEVICE_ROW).await?;
        assert_page_healthy(&page).await?;
        // A call the policy does not allow: refused, and reported in the console.
        let outcome: String = page
            .eval(
                "return fetch('http://127.0.0.2:9/x').then(() => 'answered', e => 'failed: ' + e);",
                vec![],
            )
            .await?;
        assert!(outcome.starts_with("failed"), "{outcome}");
        wait_for(
            "the violation in the console",
            Duration::from_secs(10),
            || async {
                let console = page.console_log().await?;
                Ok(if kbwatch_e2e::csp_violations(&console).is_empty() {
                    Err(format!("{} console lines", console.len()))
                } else {
                    Ok(())
                })
            },
        )
        .await?;
        assert!(assert_page_healthy(&page).await.is_err());
        Ok(())
    })
    .await;
}
