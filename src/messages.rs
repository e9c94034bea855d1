//! Every word the user reads. English for now; a Dutch table follows (the seed page is
//! Dutch), which is why components never hold string literals of their own.

use kbwatch_core::api_error::MalformedBody;
use kbwatch_core::config::ConfigError;
use kbwatch_core::connection::{
    utc_text, CheckReport, Diagnosis, EndpointNeed, Feature, Finding, Grant, ProbeLine,
    ProbeOutcome, ProbeState, SkipReason, TokenProblem, TokenView,
};
use kbwatch_core::fleet::plan::FleetPath;
use kbwatch_core::fleet::scan::ScanFailure;
use kbwatch_core::overview::Count;
use kbwatch_core::token_info::TokenRejected;
use kbwatch_core::url_state::IgnoredParam;
use kbwatch_core::{ApiError, DeviceRefError, KbTotals};
use time::OffsetDateTime;

use crate::auth::Identity;

pub const APP_NAME: &str = "kbwatch";
pub const TAGLINE: &str =
    "Missing security updates per device, from Microsoft Defender for Endpoint";
pub const LOADING_CONFIG: &str = "Loading configuration…";
pub const CONFIG_INVALID_TITLE: &str = "config.json needs fixing";
pub const CONFIG_INVALID_HELP: &str =
    "kbwatch reads config.json next to index.html at start-up. Correct the keys below and reload.";
pub const MODE_DEMO: &str = "Demo mode: local mock API";
pub const SCAN_PROGRESS_LABEL: &str = "scan progress";

pub const DEVICES: &str = "Devices";
pub const DEVICE_SEARCH: &str = "Search devices by name";
pub const DEVICE_SEARCH_PLACEHOLDER: &str = "Search by name…";
pub const INCLUDE_UNMANAGED: &str = "Include devices that are not onboarded";
pub const ANY: &str = "Any";
pub const FILTER_OS: &str = "OS platform";
pub const FILTER_HEALTH: &str = "Health";
pub const FILTER_RISK: &str = "Risk";
pub const FILTER_EXPOSURE: &str = "Exposure";
pub const FILTER_TAG: &str = "Tag";
pub const FILTER_GROUP: &str = "Device group";
pub const CLEAR_FILTERS: &str = "Clear filters";
pub const COL_NAME: &str = "Name";
pub const COL_OS: &str = "OS";
pub const COL_HEALTH: &str = "Health";
pub const COL_RISK: &str = "Risk";
pub const COL_EXPOSURE: &str = "Exposure";
pub const COL_LAST_SEEN: &str = "Last seen";
pub const LOADING_DEVICES: &str = "Loading devices…";
pub const NO_DEVICES: &str = "No devices found.";
pub const NO_DEVICES_MATCH: &str = "No device matches these filters.";

pub const SELECT_DEVICE: &str = "Select a device to see the security updates it is missing.";
pub const LOADING_KBS: &str = "Loading missing updates…";
pub const LOADING_FLEET_VIEW: &str = "Loading the fleet view…";
pub const LOADING_WALL: &str = "Loading the wall display…";
pub const LOADING_SIGN_IN: &str = "Loading the sign-in page…";
pub const VIEW_UNAVAILABLE: &str = "This view could not be downloaded: the network may be down, or kbwatch was updated on the server since this page was opened. Trying again every 30 s; reloading the page also helps.";
pub const OPEN_IN_PORTAL: &str = "Open in Microsoft Defender";
pub const KB_SEARCH: &str = "Filter updates by KB number or name";
pub const KB_SEARCH_PLACEHOLDER: &str = "KB number or name…";
pub const KB_PRODUCT: &str = "Product";
pub const KB_MIN_CVES: &str = "Minimum CVEs";
pub const COL_KB: &str = "KB";
pub const COL_UPDATE: &str = "Update";
pub const COL_PRODUCTS: &str = "Products";
pub const COL_CVES: &str = "CVEs addressed";
pub const KB_ARTICLE: &str = "Article";
pub const KB_ARTICLE_TITLE: &str = "Microsoft Support article for this update";
pub const CATALOG_LINK_TITLE: &str = "Download from the Microsoft Update Catalog";
pub const NO_MISSING_KBS: &str = "No missing security updates: this device is up to date.";
pub const NO_MISSING_KBS_NON_WINDOWS: &str =
    "No missing security updates. Defender reports KBs for Windows devices only.";
pub const NO_KBS_MATCH: &str = "No update matches these filters.";
pub const RETRY: &str = "Retry";
pub const REFRESH: &str = "Refresh";
pub const CODE: &str = "Code";
pub const CORRELATION_ID: &str = "Correlation ID";
pub const LABEL_HEALTH: &str = "Health";
pub const LABEL_RISK: &str = "Risk";
pub const LABEL_EXPOSURE: &str = "Exposure";
pub const LABEL_LAST_SEEN: &str = "Last seen";
pub const LABEL_GROUP: &str = "Group";
pub const LABEL_TAGS: &str = "Tags";
pub const UNKNOWN: &str = "—";
pub const SORT_ASCENDING: &str = "sorted ascending";
pub const SORT_DESCENDING: &str = "sorted descending";
pub const CRASH_TITLE: &str = "kbwatch hit an internal error";
pub const CRASH_ACTION: &str = "Reload the page; if it happens again, report this text";

pub fn device_count(shown: usize, total: usize) -> String {
    if shown == total {
        format!("{total} {}", plural(total, "device", "devices"))
    } else {
        format!("{shown} of {total} {}", plural(total, "device", "devices"))
    }
}

pub fn kb_totals(totals: KbTotals, of_all: Option<KbTotals>) -> String {
    let base = format!(
        "{} {} · {} {}",
        totals.kbs,
        plural(totals.kbs, "update", "updates"),
        totals.cves,
        plural(totals.cves as usize, "CVE", "CVEs")
    );
    match of_all {
        Some(all) if all != totals => format!("{base} (of {} updates, {} CVEs)", all.kbs, all.cves),
        _ => base,
    }
}

pub fn skipped_records(count: usize) -> String {
    format!(
        "{count} {} from the API could not be read and {} not shown.",
        plural(count, "record", "records"),
        plural(count, "is", "are")
    )
}

pub fn loading_device(device: &str) -> String {
    format!("Loading {device}…")
}

pub fn while_loading(device: &str) -> String {
    format!("While loading {device}.")
}

pub fn showing_previous(device: &str) -> String {
    format!("Still showing the last data loaded for {device}.")
}

pub fn retrying_in(seconds: u32) -> String {
    format!("Retrying automatically in {seconds} s…")
}

/// The sign-in page of a configuration whose authority is not the cloud's sign-in host.
pub fn foreign_sign_in_host(host: &str) -> String {
    format!(
        "Sign-in goes to {}, which is not Microsoft's sign-in host: this configuration is for tests (auth.testOnlyAllowAnyAuthority is on). Do not sign in there with a real account.",
        kbwatch_core::quote::quoted(host)
    )
}

pub fn ignored_params(params: &[IgnoredParam]) -> String {
    let list: Vec<String> = params
        .iter()
        .map(|p| kbwatch_core::quote::quoted(&format!("{}={}", p.key, p.value)))
        .collect();
    format!("Ignored unreadable link parameters: {}", list.join(", "))
}

pub fn invalid_device_ref(input: &str, error: &DeviceRefError) -> String {
    let why = match error {
        DeviceRefError::Empty => "it is empty".to_owned(),
        DeviceRefError::TooLong => "it is longer than 255 characters".to_owned(),
        DeviceRefError::InvalidCharacter(c) => {
            format!(
                "it contains {}",
                kbwatch_core::quote::quoted(&c.to_string())
            )
        }
        DeviceRefError::PathTrick => "it contains an empty or '..' name part".to_owned(),
    };
    format!(
        "{} is not a device ID (40 hexadecimal characters) or a computer name: {why}. No request was sent.",
        kbwatch_core::quote::quoted(input)
    )
}

pub fn config_error(error: &ConfigError) -> String {
    match error {
        ConfigError::NotJson(reason) => format!("config.json is not valid JSON: {reason}"),
        ConfigError::NotAnObject => "config.json must contain a JSON object ({ … }).".to_owned(),
        // `key` is the file's own text, quoted by core.
        ConfigError::UnknownKey { key, suggestion } => match suggestion {
            Some(s) => format!("Unknown key {key}. Did you mean \"{s}\"?"),
            None => format!("Unknown key {key}."),
        },
        ConfigError::Missing { key } => format!("\"{key}\" is required."),
        ConfigError::WrongType { key, expected } => format!("\"{key}\" must be {expected}."),
        ConfigError::InvalidValue {
            key,
            value,
            allowed,
        } => {
            format!("\"{key}\" is {value}, which is not allowed. Allowed: {allowed}.")
        }
    }
}

pub fn config_unreachable(status: Option<u16>, reason: &str) -> String {
    match status {
        Some(s) => {
            format!("config.json could not be loaded (HTTP {s}). Put it next to index.html.")
        }
        None => format!("config.json could not be loaded: {reason}"),
    }
}

/// The parts of an error report: what happened, what the API said, what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorText {
    pub title: String,
    pub action: String,
    pub code: Option<String>,
    pub message: Option<String>,
    pub correlation_id: Option<String>,
}

/// One device's scan failure, for the list of failed devices: the error with the API's own
/// message when it gave one (e.g. "not found: Machine … was not found").
pub fn scan_failure(failure: &ScanFailure) -> String {
    let detail = |error: &ApiError| match error.detail().and_then(|d| d.message.as_deref()) {
        Some(message) if !message.trim().is_empty() => format!("{error}: {}", message.trim()),
        _ => error.to_string(),
    };
    match failure {
        ScanFailure::Refused(error) => detail(error),
        ScanFailure::SignInNeeded => "sign-in needed".to_owned(),
        ScanFailure::GaveUp { attempts, last } => {
            let why = match last {
                ApiError::Throttled { .. } => "throttled by the API (429) on every attempt".into(),
                other => detail(other),
            };
            format!("{why} (gave up after {attempts} attempts)")
        }
    }
}

/// Who the data is read as: the top bar's and the wall's footer.
pub fn identity(identity: &Identity) -> String {
    match identity {
        Identity::Demo => MODE_DEMO.to_owned(),
        Identity::Token(owner) => owner.clone().unwrap_or_else(|| MODE_TOKEN.to_owned()),
        Identity::Account(name) => name.clone(),
    }
}

pub fn api_error(error: &ApiError) -> ErrorText {
    let (title, action) = match error {
        ApiError::Unauthorized(_) => (
            "The API did not accept your sign-in (401).".to_owned(),
            "Your session or token may have expired: sign in again (in token mode, paste a new token).".to_owned(),
        ),
        ApiError::Forbidden { required_roles, .. } => (
            "You are signed in, but not allowed to read this (403).".to_owned(),
            if required_roles.is_empty() {
                "Ask your Defender administrator for the API permissions Machine.Read and Software.Read and a role with 'View data'.".to_owned()
            } else {
                format!(
                    "Missing permission: {}. Ask your administrator to grant it (with admin consent).",
                    required_roles.join(", ")
                )
            },
        ),
        ApiError::NotFound(_) => (
            "Defender does not know this device (404).".to_owned(),
            "Check the device ID or name; the device may have been removed or be outside your device groups.".to_owned(),
        ),
        ApiError::BadRequest(_) => (
            "The API refused the request (400).".to_owned(),
            "This is likely a kbwatch bug or an unsupported filter: please report it with the correlation ID.".to_owned(),
        ),
        ApiError::Throttled { .. } => (
            "The API is throttling requests (429).".to_owned(),
            "kbwatch waits as the API asks and retries by itself.".to_owned(),
        ),
        ApiError::Server { status, html, .. } => (
            if *html {
                format!("A gateway in front of the API failed (HTTP {status}).")
            } else {
                format!("The API had an internal problem (HTTP {status}).")
            },
            "This is usually temporary: retry in a moment.".to_owned(),
        ),
        ApiError::Network(reason) => (
            if reason.is_empty() {
                "The API could not be reached.".to_owned()
            } else {
                format!("The API could not be reached: {reason}")
            },
            "Check the network, apiBase in config.json and, for direct calls, CORS (or use the proxy). Then retry.".to_owned(),
        ),
        ApiError::Redirected => (
            "The API answered with a redirect, which kbwatch does not follow: your sign-in would go along to wherever it points.".to_owned(),
            "Check apiBase in config.json: it must be the API's own address (or the proxy's path), not one that forwards elsewhere.".to_owned(),
        ),
        ApiError::Timeout(seconds) => (
            format!("The API did not answer within {seconds} s."),
            "Retry; if this persists, raise refresh.requestTimeoutSeconds in config.json.".to_owned(),
        ),
        ApiError::SignInRequired { code, message } => (
            match code {
                Some(code) => format!("Sign-in needed ({code})."),
                None => "Sign-in needed.".to_owned(),
            },
            if message.is_empty() {
                "Sign in again to continue.".to_owned()
            } else {
                format!("Sign in again to continue. {message}")
            },
        ),
        ApiError::Malformed(kind) => (
            match kind {
                MalformedBody::Empty => "The API sent an empty answer.".to_owned(),
                MalformedBody::Truncated => "The API's answer was cut off.".to_owned(),
                MalformedBody::NotJson(_) => "The API's answer is not JSON.".to_owned(),
                MalformedBody::WrongShape(what) => format!("The API's answer has an unexpected shape: {what}."),
            },
            "Use Refresh to try again; if it persists, a proxy or gateway may be altering responses.".to_owned(),
        ),
    };
    let detail = error.detail();
    ErrorText {
        title,
        action,
        code: detail.and_then(|d| d.code.clone()),
        message: detail.and_then(|d| d.message.clone()),
        correlation_id: detail.and_then(|d| d.correlation_id.clone()),
    }
}

/// "2024-10-20 10:15 UTC (3 days ago)".
pub fn timestamp(at: Option<OffsetDateTime>, now: OffsetDateTime) -> String {
    let Some(at) = at else {
        return UNKNOWN.to_owned();
    };
    // Fields rather than time's formatter: the app ships without time's formatting code.
    let utc = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC ({})",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        ago(now - at)
    )
}

/// Compact relative age for table cells: "3 d ago".
pub fn age(at: Option<OffsetDateTime>, now: OffsetDateTime) -> String {
    at.map_or_else(|| UNKNOWN.to_owned(), |at| ago(now - at))
}

fn ago(elapsed: time::Duration) -> String {
    let minutes = elapsed.whole_minutes();
    match minutes {
        i64::MIN..=-1 => "in the future".to_owned(),
        0 => "just now".to_owned(),
        1..=59 => format!("{minutes} min ago"),
        60..=2879 => format!("{} h ago", minutes / 60),
        _ => format!("{} d ago", minutes / 1440),
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

pub const MODE_TOKEN: &str = "Pasted token";
pub const SIGN_IN_TITLE: &str = "Sign in to Microsoft Defender";
pub const SIGN_IN_HELP: &str =
    "kbwatch reads device and vulnerability data with your own Microsoft Entra account (Machine.Read, Software.Read).";
pub const SIGN_IN: &str = "Sign in with Microsoft";
pub const SIGN_OUT: &str = "Sign out";
pub const SIGNING_IN: &str = "Signing in…";
pub const SIGN_IN_FAILED: &str = "Sign-in did not succeed";
pub const TOKEN_TITLE: &str = "Paste an access token";
pub const TOKEN_HELP: &str = "The token stays in this tab's memory only and is sent to the configured API host and nowhere else. Get one with:";
pub const TOKEN_COMMAND: &str = "az account get-access-token --resource https://api.securitycenter.microsoft.com --query accessToken -o tsv";
pub const TOKEN_LABEL: &str = "Access token";
pub const TOKEN_USE: &str = "Use this token";
pub const TOKEN_REPLACE: &str = "Replace token";
pub fn token_rejected(why: TokenRejected) -> &'static str {
    match why {
        TokenRejected::NotAJwt => {
            "This is not an access token: a token is three base64url parts separated by dots."
        }
        TokenRejected::UnreadableClaims => "This token's claims cannot be read.",
        TokenRejected::Expired => "This token has already expired. Get a new one.",
    }
}

/// Explains an MSAL error code in words, keeping the code for support.
pub fn msal_error(code: &str, message: &str) -> String {
    let what = match code {
        "unauthorized_client" | "invalid_client" => {
            "The app registration was not found or is not allowed: check auth.clientId and auth.tenantId in config.json."
        }
        "invalid_request" => "The sign-in request was refused: check the redirect URI registered for this app (Single-page application, including redirect.html).",
        "access_denied" | "consent_required" => "Consent for kbwatch's API permissions is missing: ask an administrator to grant admin consent.",
        "interaction_required" | "login_required" | "no_account" => "Your sign-in has expired: sign in again.",
        "script_load_failed" => "The MSAL library could not be loaded (msal-browser.min.js next to index.html).",
        "endpoints_resolution_error" | "network_error" | "post_request_failed" => "The sign-in service could not be reached.",
        _ => "Sign-in failed.",
    };
    if message.is_empty() {
        format!("{what} ({code})")
    } else {
        format!("{what} ({code}: {message})")
    }
}

pub fn token_owner(subject: Option<&str>) -> String {
    match subject {
        Some(s) => format!("Token for {s}"),
        None => "Token".to_owned(),
    }
}

pub fn token_expires_in(seconds: i64) -> String {
    if seconds >= 3600 {
        format!(
            "expires in {} h {} min",
            seconds / 3600,
            (seconds % 3600) / 60
        )
    } else if seconds >= 60 {
        format!("expires in {} min", seconds / 60)
    } else {
        format!("expires in {seconds} s")
    }
}

pub fn token_expiring_soon(seconds: i64) -> String {
    format!("{} — paste a new token soon", token_expires_in(seconds))
}

pub const TOKEN_EXPIRED: &str = "expired — paste a new token";
pub const TOKEN_NO_EXPIRY: &str = "no expiry in the token";

pub const NAV_LABEL: &str = "Views";
pub const NAV_DEVICES: &str = "Devices";
pub const NAV_FLEET: &str = "Fleet";
pub const FLEET_TITLE: &str = "Missing updates across the fleet";
pub const FLEET_WAITING_FOR_DEVICES: &str = "Waiting for the device list…";
pub const FLEET_TAB_KBS: &str = "By update";
pub const FLEET_TAB_DEVICES: &str = "By device";
pub const TILE_DEVICES_SCANNED: &str = "Devices scanned";
pub const TILE_FULLY_PATCHED: &str = "Fully patched";
pub const TILE_DISTINCT_KBS: &str = "Distinct missing updates";
pub const TILE_TOTAL_CVES: &str = "CVEs addressable";
pub const CHART_TITLE: &str = "Top missing updates by devices affected";
pub const COL_DEVICES_MISSING: &str = "Devices missing";
pub const COL_MISSING_KBS: &str = "Missing updates";
pub const COL_CVES_TOTAL: &str = "CVEs addressable";
pub const COL_OLDEST: &str = "Oldest missing update";
pub const FLEET_KB_SEARCH: &str = "Filter updates by KB number or name";
pub const FLEET_MIN_DEVICES: &str = "Minimum devices";
pub const FLEET_DEVICE_SEARCH: &str = "Filter devices by name";
pub const SCAN_START: &str = "Scan now";
pub const SCAN_ANYWAY: &str = "Scan anyway";
pub const SCAN_REFRESH: &str = "Refresh all";
pub const SCAN_PAUSE: &str = "Pause";
pub const SCAN_RESUME: &str = "Resume";
pub const SCAN_CANCEL: &str = "Cancel";
pub const SCAN_RETRY_FAILED: &str = "Retry failed";
pub const SCAN_PATH: &str =
    "Data from one getmissingkbs call per device (within the API's rate limits).";
pub const FAILED_DEVICES: &str = "Devices that could not be scanned";
pub const EXPORT_KBS: &str = "Export updates (CSV)";
pub const EXPORT_DEVICES: &str = "Export devices (CSV)";
pub const EXPORT_MATRIX: &str = "Export device × update matrix (CSV)";
pub const EXPORT_DEVICE_KBS: &str = "Export (CSV)";
pub const CLOSE: &str = "Close";
pub const NO_FLEET_DATA: &str = "No results yet: start a scan.";
pub const NO_FLEET_MATCH: &str = "Nothing matches these filters.";
pub const FLEET_STORAGE_FULL: &str =
    "Results are too large for this tab's storage: they are kept in memory only and a reload scans again.";

pub fn scan_progress(
    done: usize,
    failed: usize,
    remaining: usize,
    cancelled: usize,
    total: usize,
) -> String {
    let base = format!("{done} of {total} devices done · {failed} failed · {remaining} remaining");
    if cancelled > 0 {
        format!("{base} · {cancelled} cancelled")
    } else {
        base
    }
}

pub fn scan_eta(ms: u64) -> String {
    format!("about {} left", duration(ms))
}

pub fn scan_throttled_until(seconds: u64) -> String {
    format!("The API asked us to wait: resuming in {seconds} s")
}

pub fn scan_paused() -> &'static str {
    "Paused"
}

pub fn scan_scope(devices: usize, to_fetch: usize) -> String {
    if to_fetch == 0 {
        format!("All {devices} devices in the current device filter have fresh results.")
    } else {
        format!("{to_fetch} of {devices} devices in the current device filter need a fresh scan.")
    }
}

pub fn scan_over_budget(calls: usize, estimated_ms: u64) -> String {
    format!(
        "Scanning {calls} devices one by one exceeds the API's hourly budget: it would take {}. Narrow the device filter, or scan anyway.",
        duration(estimated_ms)
    )
}

pub fn data_age(age_ms: u64) -> String {
    format!("Oldest result fetched {} ago", duration(age_ms))
}

pub fn selected_kb_devices(label: &str, n: usize) -> String {
    format!("{n} {} missing {label}", plural(n, "device", "devices"))
}

/// `value` rounded to a whole percent ("97 %"); integer formatting keeps Rust's float
/// printer out of the wasm.
/// The device view's table when the per-device call was refused.
pub const KB_SOURCE_VULNERABILITIES: &str = "Defender refused the per-device update list \
(403: its documentation grants it to application permissions only), so this table comes from \
the device's vulnerabilities (machinesVulnerabilities), grouped by the update that fixes them. \
Update names are not known from that source; KB numbers, products, CVE counts and Catalog \
links are. The connection check tells more.";

/// The fleet's source note when some devices' KBs came from their vulnerabilities.
pub fn fleet_from_vulnerabilities(devices: usize) -> String {
    format!(
        "{devices} device(s) read from machinesVulnerabilities: the per-device update list was \
         refused (403), so their updates have no names."
    )
}

/// The devices tile while a scan covers part of the scope.
pub fn scanned_of(scanned: usize, of: usize) -> String {
    format!("{scanned} of {of}")
}

/// A fleet list's title while a scan covers part of the scope.
pub fn partial_title(title: &str, scanned: usize, of: usize) -> String {
    format!("{title} ({scanned} of {of} scanned)")
}

/// A fleet figure that waits for the whole scope to be read.
pub const NOT_YET: &str = "after the scan";

pub fn percent(value: f64) -> String {
    format!("{} %", value.round() as i64)
}

pub fn duration(ms: u64) -> String {
    let seconds = ms / 1000;
    if seconds < 60 {
        format!("{seconds} s")
    } else if seconds < 3600 {
        format!("{} min", seconds.div_ceil(60))
    } else {
        format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60)
    }
}

pub const WALL_SIGN_IN_NEEDED: &str = "Sign-in needed";
pub const WALL_SIGN_IN_HELP: &str =
    "This display's sign-in has expired and cannot be renewed silently. Someone needs to open kbwatch on this screen and sign in.";
pub const WALL_NO_DATA: &str = "Waiting for the first scan…";
pub const WALL_TOP_KBS: &str = "Top missing updates";
pub const WALL_TOP_DEVICES: &str = "Devices with the most CVEs addressable";
pub const WALL_DEVICE_SELECT: &str = "Add device=<id> to the wall's link to show one device.";

/// A wall clock time, e.g. "14:05:09".
pub fn clock_time(unix_ms: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix_ms as f64));
    date.to_locale_time_string("en-GB").into()
}

pub fn wall_more(n: usize) -> String {
    format!("+{n} more")
}

pub fn wall_devices(n: usize) -> String {
    format!("{n} {}", plural(n, "device", "devices"))
}

pub fn wall_cves(n: u64) -> String {
    format!("{n} CVEs")
}

pub fn wall_last_update(at: Option<&str>) -> String {
    format!("Last update {}", at.unwrap_or(UNKNOWN))
}

pub fn wall_next_refresh(at: &str) -> String {
    format!("Next refresh {at}")
}

pub fn wall_stale(since: Option<&str>, reason: &str) -> String {
    match since {
        Some(t) => format!("Showing data from {t}. The last refresh failed: {reason}"),
        None => format!("The last refresh failed: {reason}"),
    }
}

pub fn wall_scanning(done: usize, total: usize) -> String {
    format!("Refreshing {done}/{total}")
}

pub const BULK_LOAD: &str = "Use the bulk path";
pub const BULK_TITLE: &str = "Bulk path failed";

pub fn bulk_path(rows: u64, pages: u64, without_kb: u64) -> String {
    format!(
        "Data from the bulk endpoint machinesVulnerabilities: {rows} rows in {pages} pages ({without_kb} rows without a KB fix are not counted as missing updates)."
    )
}

pub fn bulk_loading(pages: u64) -> String {
    format!("Reading machinesVulnerabilities… {pages} pages so far")
}

pub const PLANNER_TITLE: &str = "How to answer this view";
pub const PLANNER_PATH: &str = "Path";
pub const PLANNER_CALLS: &str = "API calls";
pub const PLANNER_TIME: &str = "API time (within the rate budget)";
pub const PLANNER_ANSWERS: &str = "Answers this view";
pub const PLANNER_RUN: &str = "Run";
pub const PLANNER_CHOSEN: &str = "cheapest";
pub const PLANNER_YES: &str = "yes";

/// A stable identifier of a path, for tests and styles.
pub fn path_id(path: FleetPath) -> &'static str {
    match path {
        FleetPath::PerProduct => "per-product",
        FleetPath::PerDevice => "per-device",
        FleetPath::Bulk => "bulk",
    }
}

pub fn path_name(path: FleetPath) -> &'static str {
    match path {
        FleetPath::PerProduct => "Per product (Software → getmissingkbs)",
        FleetPath::PerDevice => "Per device (getmissingkbs each)",
        FleetPath::Bulk => "Bulk (machinesVulnerabilities, all pages)",
    }
}

/// Why a path does not answer the view on screen.
pub fn planner_no(path: FleetPath) -> &'static str {
    match path {
        FleetPath::PerProduct => {
            "no: its counts are tenant-wide and cannot honour a device filter or fill per-device tables"
        }
        FleetPath::PerDevice | FleetPath::Bulk => "no",
    }
}

pub const OVERVIEW_TITLE: &str = "Missing updates across the tenant";
pub const OVERVIEW_SOURCE: &str = "Tenant-wide counts (within your device-group scope) from \
Defender's per-product lists (GET /api/Software, then getmissingkbs per product). They ignore the \
device filter. An update listed under several products shows \"≥\": at least that many devices \
and CVEs, until its devices are listed.";
pub const DRILL_DOWN_TITLE: &str = "List the devices missing this update";

pub fn overview_progress(done: usize, of: usize) -> String {
    format!("Reading products: {done} of {of}")
}

/// An exact figure, or "≥ n" for a lower bound.
pub fn count(count: Count) -> String {
    match count {
        Count::Exact(n) => n.to_string(),
        Count::AtLeast(n) => format!("≥ {n}"),
    }
}

pub fn drill_loading(kb: &str) -> String {
    format!("Listing the devices missing {kb}…")
}

pub const NAV_CONNECTION: &str = "Connection";
pub const LOADING_CONNECTION: &str = "Loading the connection check…";
pub const CHECK_LINK: &str = "Run the connection check";
pub const CHECK_TITLE: &str = "Connection check";
pub const CHECK_HELP: &str = "One small request per Defender endpoint kbwatch uses (charged to the fleet scan's rate budget), and what the token carries against what each needs.";
pub const CHECK_RUN: &str = "Run the check";
pub const CHECK_RUNNING: &str = "Checking…";
pub const CHECK_COPY: &str = "Copy report";
pub const CHECK_COPIED: &str = "Copied.";
pub const CHECK_COPY_FAILED: &str = "Could not copy: select the text below.";
pub const CHECK_REPORT_LABEL: &str = "Report for a support ticket (no token in it)";
pub const LABEL_API_BASE: &str = "API base";
pub const LABEL_PROXY: &str = "Same-origin proxy";
pub const LABEL_MODE: &str = "Sign-in mode";
pub const LABEL_TENANT: &str = "Tenant";
pub const LABEL_AUDIENCE: &str = "Audience";
pub const LABEL_SCOPES: &str = "Scopes";
pub const LABEL_ROLES: &str = "Roles";
pub const LABEL_EXPIRES: &str = "Expires";
pub const COL_FEATURE: &str = "Feature";
pub const COL_REQUEST: &str = "Request";
pub const COL_NEEDS: &str = "Needs";
pub const COL_TOKEN: &str = "Token";
pub const COL_RESULT: &str = "Result";

/// Why the check waits: the rate budget has room for it again at `at`.
pub fn check_budget_wait(at: &str) -> String {
    format!("The API's rate budget has room for the check again at {at}.")
}

pub fn yes_no(yes: bool) -> &'static str {
    if yes {
        "yes"
    } else {
        "no"
    }
}

pub fn token_problem(problem: TokenProblem) -> &'static str {
    match problem {
        TokenProblem::Demo => "Demo mode: no token. The check is for real tenants; the demo needs no permission.",
        TokenProblem::Unreadable => "The token's claims cannot be read.",
        TokenProblem::WrongAudience => "The token is not for the Defender API: get one for https://api.securitycenter.microsoft.com.",
        TokenProblem::Expired => "The token has expired: sign in again.",
    }
}

pub fn feature(feature: Feature) -> &'static str {
    match feature {
        Feature::DeviceList => "Device list",
        Feature::DeviceUpdates => "Missing updates per device",
        Feature::BulkPath => "Fleet bulk path",
        Feature::SoftwareInventory => "Software inventory",
        Feature::SoftwareUpdates => "Missing updates per software",
        Feature::VulnerabilitiesByDevice => "Vulnerabilities per device",
    }
}

/// "Machine.Read (app: Machine.Read.All)", or "app only: Software.Read.All".
pub fn endpoint_needs(need: &EndpointNeed) -> String {
    match need.delegated {
        Some(d) => format!("{d} (app: {})", need.application),
        None => format!("app only: {}", need.application),
    }
}

pub fn grant(grant: &Grant) -> String {
    match grant {
        Grant::Has(p) => format!("has {p}"),
        Grant::Lacks(p) => format!("lacks {p}"),
        Grant::ApplicationOnly => "user token".to_owned(),
        Grant::Unknown => UNKNOWN.to_owned(),
    }
}

/// "OK", "HTTP 403", "no answer"… with the request's outcome, or "—" before it ran.
pub fn probe_result(line: &ProbeLine) -> String {
    match (&line.state, line.status()) {
        (ProbeState::Done(ProbeOutcome::Ok { .. }), _) => "OK".to_owned(),
        (ProbeState::Done(ProbeOutcome::Blocked { .. }), _) => "no answer".to_owned(),
        (ProbeState::Done(_), Some(status)) => format!("HTTP {status}"),
        (ProbeState::Done(outcome), None) => match outcome {
            ProbeOutcome::Other(e) => e.to_string(),
            _ => UNKNOWN.to_owned(),
        },
        (ProbeState::Running, _) => CHECK_RUNNING.to_owned(),
        (ProbeState::Skipped(_), _) => "skipped".to_owned(),
        (ProbeState::Waiting, _) => UNKNOWN.to_owned(),
    }
}

/// What a probe's result means and what to do.
pub fn diagnosis(line: &ProbeLine) -> String {
    let Some(diagnosis) = &line.diagnosis else {
        return String::new();
    };
    match diagnosis {
        Diagnosis::Works => "Works.".to_owned(),
        Diagnosis::Empty => "Works: no devices yet.".to_owned(),
        Diagnosis::MissingPermission { permissions, application: false } => format!(
            "The token lacks {0}: grant the delegated permission {0} (WindowsDefenderATP) to the app registration, with admin consent, then sign in again.",
            permissions.join(", ")
        ),
        Diagnosis::MissingPermission { permissions, application: true } => {
            format!("This application token lacks the role {}.", permissions.join(", "))
        }
        Diagnosis::RoleOrDeviceGroups { permission } => format!(
            "The token has {permission} and the API still refused: the user needs a Defender role with 'View data' whose device groups cover the devices."
        ),
        Diagnosis::ApplicationOnly { application, fallback } => {
            let instead = fallback
                .and_then(|f| f.request.trim_start_matches("GET ").split('?').next())
                .map(|path| format!(" kbwatch reads {path} instead."))
                .unwrap_or_default();
            format!("This endpoint accepts application permissions only ({application}), which a browser sign-in cannot carry.{instead}")
        }
        Diagnosis::Refused { required } if required.is_empty() => "Refused (403).".to_owned(),
        Diagnosis::Refused { required } => format!("Refused (403): the API requires {}.", required.join(", ")),
        Diagnosis::Expired => token_problem(TokenProblem::Expired).to_owned(),
        Diagnosis::WrongAudience { .. } => token_problem(TokenProblem::WrongAudience).to_owned(),
        Diagnosis::NotAccepted => "The API did not accept the token (another tenant, a revoked sign-in, or not issued by Entra ID).".to_owned(),
        Diagnosis::Blocked { proxy: false } => "No answer: the API sends browsers no CORS headers, so use the same-origin proxy (deploy/nginx); else check the network and apiBase.".to_owned(),
        Diagnosis::Blocked { proxy: true } => "No answer from the proxy: check that it runs and forwards to the API.".to_owned(),
        Diagnosis::Throttled { retry_after_secs } => format!(
            "Throttled: retry after {} s.",
            retry_after_secs.unwrap_or(kbwatch_core::api_error::DEFAULT_RETRY_AFTER_SECS)
        ),
        Diagnosis::NotFound => "Not found (404).".to_owned(),
        Diagnosis::Failed => match line.outcome() {
            Some(ProbeOutcome::Other(e)) => api_error(e).title,
            _ => UNKNOWN.to_owned(),
        },
        Diagnosis::Skipped(SkipReason::NoneFound(Finding::Device)) => "Skipped: no device listed.".to_owned(),
        Diagnosis::Skipped(SkipReason::NoneFound(Finding::Software)) => "Skipped: no software listed.".to_owned(),
        Diagnosis::Skipped(SkipReason::SourceFailed(_)) => "Skipped: the request it needs an ID from failed.".to_owned(),
        Diagnosis::Skipped(SkipReason::Budget { available_at_ms }) => {
            format!("Skipped: the rate budget allows the next call at {}.", utc_text((available_at_ms / 1000) as i64))
        }
    }
}

/// The plain-text report an admin pastes into a ticket: built from the report's data only,
/// which holds no token.
pub fn check_report(report: &CheckReport) -> String {
    let text = |v: Option<&str>| v.unwrap_or(UNKNOWN).to_owned();
    let list = |l: &[String]| {
        if l.is_empty() {
            UNKNOWN.to_owned()
        } else {
            l.join(" ")
        }
    };
    let mut lines = vec![
        format!("kbwatch {CHECK_TITLE}"),
        format!(
            "Date: {}",
            report
                .checked_at_ms
                .map_or_else(|| UNKNOWN.to_owned(), |ms| utc_text((ms / 1000) as i64))
        ),
        format!("{LABEL_API_BASE}: {}", report.setup.api_base),
        format!("{LABEL_PROXY}: {}", yes_no(report.setup.proxy)),
        format!("{LABEL_MODE}: {}", report.setup.auth_mode),
    ];
    match &report.token {
        TokenView::Read(t) => lines.extend([
            format!("{LABEL_TENANT}: {}", text(t.tenant_id.as_deref())),
            format!(
                "{LABEL_AUDIENCE}: {}{}",
                text(t.audience.as_deref()),
                if t.audience_ok {
                    ""
                } else {
                    " (not the Defender API)"
                }
            ),
            format!("{LABEL_SCOPES}: {}", list(&t.scopes)),
            format!("{LABEL_ROLES}: {}", list(&t.roles)),
            format!(
                "{LABEL_EXPIRES}: {}",
                t.expires_at.map_or_else(|| UNKNOWN.to_owned(), utc_text)
            ),
        ]),
        TokenView::Demo => lines.push(token_problem(TokenProblem::Demo).to_owned()),
        TokenView::Unreadable => lines.push(token_problem(TokenProblem::Unreadable).to_owned()),
    }
    for line in &report.probes {
        lines.push(String::new());
        lines.push(format!(
            "{}: {} ({})",
            line.need.probe,
            line.request,
            feature(line.need.feature)
        ));
        lines.push(format!(
            "  {COL_NEEDS}: {}; {COL_TOKEN}: {}",
            endpoint_needs(line.need),
            grant(&line.grant)
        ));
        lines.push(format!(
            "  {COL_RESULT}: {}; {CODE}: {}; {CORRELATION_ID}: {}",
            probe_result(line),
            text(line.code()),
            text(line.correlation_id())
        ));
        if line.diagnosis.is_some() {
            lines.push(format!("  {}", diagnosis(line)));
        }
    }
    lines.join("\n")
}
