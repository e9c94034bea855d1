//! The connection check: one cheap probe per Defender endpoint kbwatch uses, what the token
//! carries against what each endpoint's page documents, and per probe a diagnosis an admin can
//! act on — "grant the permission" is told apart from "the permission is there and the API
//! still refuses".
//!
//! Adding an endpoint is one row of [`ENDPOINT_NEEDS`]. Everything here is pure: the app
//! performs the calls [`ConnectionCheck::next_call`] asks for, charges them to the fleet scan's
//! [`RateBudget`] (through that method) and reports the answers back; the words live in the
//! app's messages module. No token ever enters this module: only what [`TokenInfo`] read from
//! one, and every text that came from outside is passed through [`redact_tokens`].
//!
//! ```
//! use kbwatch_core::connection::{ConnectionCheck, ProbeState};
//! use kbwatch_core::fleet::budgets::BudgetSet;
//! use kbwatch_core::Endpoints;
//!
//! let endpoints = Endpoints::new("https://api.security.microsoft.com".parse().unwrap());
//! let mut budget = BudgetSet::default();
//! let mut check = ConnectionCheck::new();
//! let call = check.next_call(&endpoints, &mut budget, 0).unwrap();
//! assert_eq!(call.url.path(), "/api/machines");
//! check.answer(call.index, Ok(r#"{"value": []}"#), &mut budget, 10);
//! assert!(matches!(check.states()[0], ProbeState::Done(_)));
//! ```

use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

use crate::api_error::{ApiError, ErrorDetail, MalformedBody};
use crate::cloud::Cloud;
use crate::config::{ApiBase, AppConfig, AuthMode};
use crate::device::DeviceId;
use crate::endpoints::{Endpoints, MachineQuery};
use crate::fleet::budgets::{BudgetSet, EndpointClass};
use crate::fleet::rate::RateBudget;
use crate::lenient::value_as_text;
use crate::odata::{ODataPage, PageRequest};
use crate::software::SoftwareId;
use crate::token_info::{TokenFreshness, TokenInfo};

/// The first-party app ID of the Defender for Endpoint API (`WindowsDefenderATP`): some tokens
/// carry it as their audience instead of the resource URI.
pub const DEFENDER_API_APP_ID: &str = "fc780465-2017-40d4-a0c5-307022471b92";

/// A kbwatch feature, named by what the user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// The device list.
    DeviceList,
    /// One device's missing updates (device page, per-device fleet scan).
    DeviceUpdates,
    /// The fleet's bulk path.
    BulkPath,
    /// The software inventory.
    SoftwareInventory,
    /// Missing updates per software.
    SoftwareUpdates,
    /// Vulnerabilities per device (the JSON export).
    VulnerabilitiesByDevice,
}

/// What one probe's answer hands to later probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// The first device listed.
    Device,
    /// The first software listed.
    Software,
}

/// How a probe's URL is built, always through [`Endpoints`].
#[derive(Debug, Clone, Copy)]
pub enum ProbeTarget {
    Fixed(fn(&Endpoints) -> Url),
    /// With the device an earlier probe found ([`Finding::Device`]).
    Device(fn(&Endpoints, &DeviceId) -> Url),
    /// With the software an earlier probe found ([`Finding::Software`]).
    Software(fn(&Endpoints, &SoftwareId) -> Url),
}

/// One endpoint kbwatch uses, the feature that needs it and the permissions its page in
/// MicrosoftDocs/defender-docs (`defender-endpoint/api/`) documents.
#[derive(Debug, Clone, Copy)]
pub struct EndpointNeed {
    /// Stable key: report lines, test ids.
    pub probe: &'static str,
    /// The request as it is documented.
    pub request: &'static str,
    pub feature: Feature,
    /// The delegated (user) permission; `None` when the page documents application
    /// permissions only.
    pub delegated: Option<&'static str>,
    /// The application permission.
    pub application: &'static str,
    /// Permissions that include the ones above (`Machine.ReadWrite` for `Machine.Read`).
    pub also: &'static [&'static str],
    pub target: ProbeTarget,
    /// What its answer supplies to later probes.
    pub finds: Option<Finding>,
    /// The page documents 404 as "nothing there" (`/api/machines` with no recent devices).
    pub empty_on_404: bool,
    /// The probe of the endpoint kbwatch uses instead when this one is refused.
    pub fallback: Option<&'static str>,
    /// The documentation page, under `defender-endpoint/api/`.
    pub doc: &'static str,
}

/// Rows are compared by their key: the table holds each key once.
impl PartialEq for EndpointNeed {
    fn eq(&self, other: &Self) -> bool {
        self.probe == other.probe
    }
}

impl Eq for EndpointNeed {}

fn machines_probe(e: &Endpoints) -> Url {
    e.machines(
        MachineQuery {
            include_unmanaged: true,
        },
        PageRequest::first(1),
    )
}

fn machine_vulnerabilities_probe(e: &Endpoints) -> Url {
    e.machine_vulnerabilities(PageRequest::first(1))
}

fn software_probe(e: &Endpoints) -> Url {
    e.software(None, PageRequest::first(1))
}

fn vulnerabilities_by_machine_probe(e: &Endpoints) -> Url {
    e.software_vulnerabilities_by_machine(1)
}

/// Every endpoint kbwatch calls, in probe order (a probe that needs a [`Finding`] comes after
/// the one that finds it). Never the file exports (`…Export`): 20 calls an hour.
pub const ENDPOINT_NEEDS: &[EndpointNeed] = &[
    EndpointNeed {
        probe: "machines",
        request: "GET /api/machines?$top=1",
        feature: Feature::DeviceList,
        delegated: Some("Machine.Read"),
        application: "Machine.Read.All",
        also: &["Machine.ReadWrite", "Machine.ReadWrite.All"],
        target: ProbeTarget::Fixed(machines_probe),
        finds: Some(Finding::Device),
        empty_on_404: true,
        fallback: None,
        doc: "get-machines.md",
    },
    EndpointNeed {
        probe: "device-missing-kbs",
        request: "GET /api/machines/{id}/getmissingkbs",
        feature: Feature::DeviceUpdates,
        delegated: None,
        application: "Software.Read.All",
        also: &[],
        target: ProbeTarget::Device(Endpoints::missing_kbs),
        finds: None,
        empty_on_404: false,
        fallback: Some("machines-vulnerabilities"),
        doc: "get-missing-kbs-machine.md",
    },
    EndpointNeed {
        probe: "machines-vulnerabilities",
        request: "GET /api/vulnerabilities/machinesVulnerabilities?$top=1",
        feature: Feature::BulkPath,
        delegated: Some("Vulnerability.Read"),
        application: "Vulnerability.Read.All",
        also: &[],
        target: ProbeTarget::Fixed(machine_vulnerabilities_probe),
        finds: None,
        empty_on_404: false,
        fallback: None,
        doc: "get-all-vulnerabilities-by-machines.md",
    },
    EndpointNeed {
        probe: "software",
        request: "GET /api/Software?$top=1",
        feature: Feature::SoftwareInventory,
        delegated: Some("Software.Read"),
        application: "Software.Read.All",
        also: &[],
        target: ProbeTarget::Fixed(software_probe),
        finds: Some(Finding::Software),
        empty_on_404: false,
        fallback: None,
        doc: "get-software.md",
    },
    EndpointNeed {
        probe: "software-missing-kbs",
        request: "GET /api/Software/{id}/getmissingkbs",
        feature: Feature::SoftwareUpdates,
        delegated: Some("Software.Read"),
        application: "Software.Read.All",
        also: &[],
        target: ProbeTarget::Software(Endpoints::software_missing_kbs),
        finds: None,
        empty_on_404: false,
        fallback: None,
        doc: "get-missing-kbs-software.md",
    },
    EndpointNeed {
        probe: "software-vulnerabilities-by-machine",
        request: "GET /api/machines/SoftwareVulnerabilitiesByMachine?pageSize=1",
        feature: Feature::VulnerabilitiesByDevice,
        delegated: Some("Vulnerability.Read"),
        application: "Vulnerability.Read.All",
        also: &[],
        target: ProbeTarget::Fixed(vulnerabilities_by_machine_probe),
        finds: None,
        empty_on_404: false,
        fallback: None,
        doc: "get-assessment-software-vulnerabilities.md",
    },
];

/// The row of `probe` in [`ENDPOINT_NEEDS`].
pub fn endpoint_need(probe: &str) -> Option<&'static EndpointNeed> {
    ENDPOINT_NEEDS.iter().find(|n| n.probe == probe)
}

impl EndpointNeed {
    /// Whether `permission` (as a token carries it) grants this endpoint.
    fn granted_by(&self, permission: &str) -> bool {
        self.delegated
            .into_iter()
            .chain([self.application])
            .chain(self.also.iter().copied())
            .any(|p| p.eq_ignore_ascii_case(permission))
    }

    /// Whether the API's `permission` is an application permission (`….All`).
    fn is_application_permission(&self, permission: &str) -> bool {
        permission.eq_ignore_ascii_case(self.application)
            || permission.to_ascii_lowercase().ends_with(".all")
    }

    /// What the token carries for this endpoint.
    pub fn grant(&self, token: &TokenView) -> Grant {
        let TokenView::Read(token) = token else {
            return Grant::Unknown;
        };
        let carried = if token.application {
            &token.roles
        } else {
            &token.scopes
        };
        if let Some(found) = carried.iter().find(|p| self.granted_by(p)) {
            return Grant::Has(found.clone());
        }
        match (token.application, self.delegated) {
            (true, _) => Grant::Lacks(self.application),
            (false, Some(delegated)) => Grant::Lacks(delegated),
            (false, None) => Grant::ApplicationOnly,
        }
    }
}

/// What the token carries for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// This permission, as the token names it.
    Has(String),
    /// Not this one: the delegated permission for a user token, the role for an app token.
    Lacks(&'static str),
    /// A user token, and the endpoint's page documents application permissions only.
    ApplicationOnly,
    /// No claims to compare (demo mode, an unreadable token).
    Unknown,
}

/// What kbwatch could read about the token its calls carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenView {
    /// Demo mode: no token; the mock needs none.
    Demo,
    /// No readable claims: not a JWT, or no token could be obtained.
    Unreadable,
    Read(TokenSummary),
}

/// A token's claims that matter here (never the token, nor who it belongs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSummary {
    pub tenant_id: Option<String>,
    pub audience: Option<String>,
    /// The audience is the Defender API's.
    pub audience_ok: bool,
    /// An application token (roles, no `scp`).
    pub application: bool,
    pub scopes: Vec<String>,
    pub roles: Vec<String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// At the time the claims were read.
    pub freshness: TokenFreshness,
}

/// Something wrong with the token before any call is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Demo mode: the check is for real tenants; the demo needs no permission.
    Demo,
    Unreadable,
    WrongAudience,
    Expired,
}

impl TokenView {
    /// The claims of `info` as of `now_unix`, its audience compared with `expected_audiences`
    /// (see [`expected_audiences`]).
    pub fn read(info: &TokenInfo, expected_audiences: &[String], now_unix: i64) -> Self {
        let audience_ok = info.audience.as_deref().is_some_and(|aud| {
            let aud = normalise_audience(aud);
            expected_audiences
                .iter()
                .any(|e| normalise_audience(e) == aud)
        });
        Self::Read(TokenSummary {
            tenant_id: info.tenant_id.as_deref().map(redact_tokens),
            audience: info.audience.as_deref().map(redact_tokens),
            audience_ok,
            application: info.scopes.is_empty() && !info.roles.is_empty(),
            scopes: info.scopes.iter().map(|s| redact_tokens(s)).collect(),
            roles: info.roles.iter().map(|s| redact_tokens(s)).collect(),
            expires_at: info.expires_at,
            freshness: info.freshness(now_unix),
        })
    }

    /// What is wrong with the token itself, worst first.
    pub fn problems(&self) -> Vec<TokenProblem> {
        match self {
            Self::Demo => vec![TokenProblem::Demo],
            Self::Unreadable => vec![TokenProblem::Unreadable],
            Self::Read(token) => {
                let mut problems = Vec::new();
                if token.freshness == TokenFreshness::Expired {
                    problems.push(TokenProblem::Expired);
                }
                if !token.audience_ok {
                    problems.push(TokenProblem::WrongAudience);
                }
                problems
            }
        }
    }
}

fn normalise_audience(audience: &str) -> String {
    audience.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The audiences a Defender API token may carry in `cloud`: the resource URI of the cloud's
/// default scope (and, commercially, its newer host), the API's app ID, and the resource of
/// every configured sign-in scope (`https://host/.default` → `https://host`).
pub fn expected_audiences(cloud: Cloud, configured_scopes: &[String]) -> Vec<String> {
    let resource = |scope: &str| {
        scope
            .rsplit_once('/')
            .map(|(resource, _)| resource.to_owned())
            .filter(|r| r.contains("://"))
    };
    let mut audiences: Vec<String> = resource(cloud.default_scope()).into_iter().collect();
    if cloud == Cloud::Commercial {
        audiences.push(Cloud::Commercial.default_api_base().to_owned());
    }
    audiences.push(DEFENDER_API_APP_ID.to_owned());
    for scope in configured_scopes {
        if let Some(r) = resource(scope).filter(|r| !audiences.contains(r)) {
            audiences.push(r);
        }
    }
    audiences
}

/// Where the check's calls go and how it signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSetup {
    /// The resolved API base.
    pub api_base: String,
    /// Calls go through a same-origin reverse proxy.
    pub proxy: bool,
    /// `demo`, `token` or `msal`.
    pub auth_mode: &'static str,
    /// See [`expected_audiences`].
    pub expected_audiences: Vec<String>,
}

impl CheckSetup {
    /// For the app as configured, loaded from `page`.
    pub fn new(config: &AppConfig, endpoints: &Endpoints, page: &Url) -> Self {
        let base = endpoints.base();
        let scopes = match &config.auth {
            AuthMode::Msal(msal) => msal.scopes.clone(),
            AuthMode::Demo | AuthMode::Token => Vec::new(),
        };
        Self {
            api_base: base.as_str().to_owned(),
            proxy: matches!(config.api_base, ApiBase::SameOrigin(_))
                || base.origin() == page.origin(),
            auth_mode: config.auth.name(),
            expected_audiences: expected_audiences(config.cloud, &scopes),
        }
    }
}

/// How one probe's call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// Answered with a readable collection of `records` records.
    Ok {
        records: usize,
    },
    /// No HTTP answer: CORS (a browser hides which) or the network.
    Blocked {
        reason: String,
    },
    Unauthorized(ErrorDetail),
    Forbidden {
        detail: ErrorDetail,
        /// The permissions the API's message names.
        required: Vec<String>,
    },
    NotFound(ErrorDetail),
    Throttled {
        detail: ErrorDetail,
        retry_after_secs: Option<u32>,
    },
    /// Anything else (400, 5xx, time-out, an unreadable answer, sign-in needed).
    Other(ApiError),
}

impl ProbeOutcome {
    /// Classifies a failed call; any token-like text in it is redacted first.
    pub fn from_api_error(error: ApiError) -> Self {
        match redact_error(error) {
            ApiError::Network(reason) => Self::Blocked { reason },
            ApiError::Unauthorized(detail) => Self::Unauthorized(detail),
            ApiError::Forbidden {
                detail,
                required_roles,
            } => Self::Forbidden {
                detail,
                required: required_roles,
            },
            ApiError::NotFound(detail) => Self::NotFound(detail),
            ApiError::Throttled {
                detail,
                retry_after_secs,
            } => Self::Throttled {
                detail,
                retry_after_secs,
            },
            other => Self::Other(other),
        }
    }

    /// The HTTP status of a failure, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Ok { .. } | Self::Blocked { .. } => None,
            Self::Unauthorized(_) => Some(401),
            Self::Forbidden { .. } => Some(403),
            Self::NotFound(_) => Some(404),
            Self::Throttled { .. } => Some(429),
            Self::Other(ApiError::BadRequest(_)) => Some(400),
            Self::Other(ApiError::Server { status, .. }) => Some(*status),
            Self::Other(_) => None,
        }
    }

    /// The API's error code, message and correlation id.
    pub fn detail(&self) -> Option<&ErrorDetail> {
        match self {
            Self::Ok { .. } | Self::Blocked { .. } => None,
            Self::Unauthorized(d) | Self::NotFound(d) => Some(d),
            Self::Forbidden { detail, .. } | Self::Throttled { detail, .. } => Some(detail),
            Self::Other(error) => error.detail(),
        }
    }
}

/// Why a probe was not called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The probe that finds it answered, with nothing in it.
    NoneFound(Finding),
    /// The probe that finds it failed.
    SourceFailed(Finding),
    /// The rate budget allows the next call at this time (Unix ms).
    Budget { available_at_ms: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeState {
    Waiting,
    Running,
    Done(ProbeOutcome),
    Skipped(SkipReason),
}

/// A call the check asks for: the probe's index in the table and its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeCall {
    pub index: usize,
    pub url: Url,
}

/// A run of every probe of a table, one call at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCheck {
    table: &'static [EndpointNeed],
    states: Vec<ProbeState>,
    /// The request as sent (path and decoded query), per probe.
    requests: Vec<Option<String>>,
    device: Option<DeviceId>,
    software: Option<SoftwareId>,
    started_at_ms: Option<u64>,
}

impl Default for ConnectionCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectionCheck {
    /// A check of [`ENDPOINT_NEEDS`], nothing called yet.
    pub fn new() -> Self {
        Self::with_table(ENDPOINT_NEEDS)
    }

    pub fn with_table(table: &'static [EndpointNeed]) -> Self {
        Self {
            table,
            states: vec![ProbeState::Waiting; table.len()],
            requests: vec![None; table.len()],
            device: None,
            software: None,
            started_at_ms: None,
        }
    }

    pub fn table(&self) -> &'static [EndpointNeed] {
        self.table
    }

    pub fn states(&self) -> &[ProbeState] {
        &self.states
    }

    /// When the first call was asked for (Unix ms).
    pub fn started_at_ms(&self) -> Option<u64> {
        self.started_at_ms
    }

    /// Every probe answered or skipped.
    pub fn is_done(&self) -> bool {
        self.states
            .iter()
            .all(|s| matches!(s, ProbeState::Done(_) | ProbeState::Skipped(_)))
    }

    /// The next call to make, recorded in `budget` as starting at `now_ms`; `None` while one
    /// is under way or when done. Probes whose finding is missing are skipped; when the budget
    /// forbids a call, it and every probe after it are skipped with the time it allows one.
    pub fn next_call(
        &mut self,
        endpoints: &Endpoints,
        budget: &mut BudgetSet,
        now_ms: u64,
    ) -> Option<ProbeCall> {
        if self.states.contains(&ProbeState::Running) {
            return None;
        }
        self.started_at_ms.get_or_insert(now_ms);
        while let Some(index) = self.states.iter().position(|s| *s == ProbeState::Waiting) {
            let need = &self.table[index];
            let url = match (need.target, &self.device, &self.software) {
                (ProbeTarget::Fixed(build), _, _) => build(endpoints),
                (ProbeTarget::Device(build), Some(device), _) => build(endpoints, device),
                (ProbeTarget::Software(build), _, Some(software)) => build(endpoints, software),
                (ProbeTarget::Device(_), None, _) => {
                    self.states[index] = ProbeState::Skipped(self.missing(Finding::Device));
                    continue;
                }
                (ProbeTarget::Software(_), _, None) => {
                    self.states[index] = ProbeState::Skipped(self.missing(Finding::Software));
                    continue;
                }
            };
            // The export APIs have a budget of their own inside the global one.
            let class = EndpointClass::of_path(url.path());
            if !budget.allows(class, now_ms) {
                let skipped = ProbeState::Skipped(SkipReason::Budget {
                    available_at_ms: budget.available_at(class, now_ms),
                });
                for state in &mut self.states[index..] {
                    if *state == ProbeState::Waiting {
                        *state = skipped.clone();
                    }
                }
                return None;
            }
            budget.record(class, now_ms);
            self.states[index] = ProbeState::Running;
            self.requests[index] = Some(shown_request(&url));
            return Some(ProbeCall { index, url });
        }
        None
    }

    /// Why a probe needing `finding` cannot run.
    fn missing(&self, finding: Finding) -> SkipReason {
        let source = self
            .table
            .iter()
            .zip(&self.states)
            .find(|(need, _)| need.finds == Some(finding));
        match source {
            Some((_, ProbeState::Done(ProbeOutcome::Ok { .. }))) => SkipReason::NoneFound(finding),
            Some((need, ProbeState::Done(ProbeOutcome::NotFound(_)))) if need.empty_on_404 => {
                SkipReason::NoneFound(finding)
            }
            _ => SkipReason::SourceFailed(finding),
        }
    }

    /// The answer to call `index`: the body of a 2xx answer, or the error. A 429 holds
    /// `budget` for its `Retry-After`, so the probes after it wait (are skipped) too.
    pub fn answer(
        &mut self,
        index: usize,
        result: Result<&str, ApiError>,
        budget: &mut BudgetSet,
        now_ms: u64,
    ) {
        if self.states.get(index) != Some(&ProbeState::Running) {
            return;
        }
        let outcome = match result.and_then(ODataPage::<Value>::parse) {
            Ok(page) => {
                let first_id = page
                    .items
                    .first()
                    .and_then(|record| record.get("id"))
                    .cloned()
                    .and_then(value_as_text);
                match (self.table[index].finds, first_id) {
                    (Some(Finding::Device), Some(id)) => self.device = DeviceId::parse(&id),
                    (Some(Finding::Software), Some(id)) => {
                        self.software = SoftwareId::parse(&id).ok()
                    }
                    _ => {}
                }
                ProbeOutcome::Ok {
                    records: page.received,
                }
            }
            Err(error) => {
                if let Some(seconds) = error.auto_retry_after() {
                    budget.hold_until(now_ms.saturating_add(u64::from(seconds) * 1_000));
                }
                ProbeOutcome::from_api_error(error)
            }
        };
        self.states[index] = ProbeState::Done(outcome);
    }

    /// Everything the page and the copied report show, as of now.
    pub fn report(&self, setup: &CheckSetup, token: &TokenView) -> CheckReport {
        let probes = self
            .table
            .iter()
            .zip(&self.states)
            .zip(&self.requests)
            .map(|((need, state), request)| ProbeLine {
                need,
                request: request.clone().unwrap_or_else(|| need.request.to_owned()),
                grant: need.grant(token),
                state: state.clone(),
                diagnosis: diagnose(need, state, token, setup.proxy),
            })
            .collect();
        CheckReport {
            checked_at_ms: self.started_at_ms,
            setup: setup.clone(),
            token: token.clone(),
            probes,
        }
    }
}

/// "GET /api/machines?$top=1": the path as sent and the query decoded, for people to read.
fn shown_request(url: &Url) -> String {
    let query: Vec<String> = url
        .query_pairs()
        .map(|(k, v)| {
            if v.is_empty() {
                k.into_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    if query.is_empty() {
        format!("GET {}", url.path())
    } else {
        format!("GET {}?{}", url.path(), query.join("&"))
    }
}

/// Whether the check can start at `now_ms` with room for `probes` calls, else when it can
/// (Unix ms). Limits smaller than `probes` count as the limit (the rest would be skipped).
pub fn check_available_at(budget: &RateBudget, probes: usize, now_ms: u64) -> u64 {
    let calls = u32::try_from(probes)
        .unwrap_or(u32::MAX)
        .min(budget.per_minute())
        .min(budget.per_hour())
        .max(1);
    // With all but one of the calls placed at `now_ms`, the last is allowed exactly when
    // every window has room for all of them.
    let mut trial = budget.clone();
    for _ in 1..calls {
        trial.record(now_ms);
    }
    trial.available_at(now_ms)
}

/// What a probe's result means and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnosis {
    Works,
    /// 404 where the page documents it as "nothing there" (no recent devices).
    Empty,
    /// 403, and the token lacks these permissions: grant them (delegated ones in the app
    /// registration, with admin consent).
    MissingPermission {
        permissions: Vec<String>,
        /// Application permissions of an app token (not the browser app's).
        application: bool,
    },
    /// 403 though the user token carries the permission: a Defender role with "View data"
    /// and the device groups it covers decide.
    RoleOrDeviceGroups {
        permission: String,
    },
    /// 403, and the endpoint accepts application permissions only. A browser app signs users
    /// in, so granting one would not help: kbwatch uses `fallback` instead.
    ApplicationOnly {
        application: &'static str,
        fallback: Option<&'static EndpointNeed>,
    },
    /// 403 and nothing more can be told (no readable token, or it carries all named).
    Refused {
        required: Vec<String>,
    },
    /// 401 with an expired token.
    Expired,
    /// 401 with a token for another API.
    WrongAudience {
        audience: Option<String>,
    },
    /// 401 otherwise (another tenant, a revoked session, a forged token).
    NotAccepted,
    /// No answer: CORS when calling the API directly, else the proxy or the network.
    Blocked {
        proxy: bool,
    },
    Throttled {
        retry_after_secs: Option<u32>,
    },
    NotFound,
    /// Anything else: see the outcome.
    Failed,
    Skipped(SkipReason),
}

/// The diagnosis of one probe's state; `None` while it waits or runs.
pub fn diagnose(
    need: &EndpointNeed,
    state: &ProbeState,
    token: &TokenView,
    proxy: bool,
) -> Option<Diagnosis> {
    let outcome = match state {
        ProbeState::Waiting | ProbeState::Running => return None,
        ProbeState::Skipped(why) => return Some(Diagnosis::Skipped(*why)),
        ProbeState::Done(outcome) => outcome,
    };
    Some(match outcome {
        ProbeOutcome::Ok { .. } => Diagnosis::Works,
        ProbeOutcome::Blocked { .. } => Diagnosis::Blocked { proxy },
        ProbeOutcome::Unauthorized(_) => match token {
            TokenView::Read(t) if t.freshness == TokenFreshness::Expired => Diagnosis::Expired,
            TokenView::Read(t) if !t.audience_ok => Diagnosis::WrongAudience {
                audience: t.audience.clone(),
            },
            _ => Diagnosis::NotAccepted,
        },
        ProbeOutcome::Forbidden { required, .. } => forbidden(need, required, token),
        ProbeOutcome::NotFound(_) if need.empty_on_404 => Diagnosis::Empty,
        ProbeOutcome::NotFound(_) => Diagnosis::NotFound,
        ProbeOutcome::Throttled {
            retry_after_secs, ..
        } => Diagnosis::Throttled {
            retry_after_secs: *retry_after_secs,
        },
        ProbeOutcome::Other(_) => Diagnosis::Failed,
    })
}

/// A 403: the token lacks the permission, or has it and is refused anyway, or the endpoint
/// takes application permissions only. What the API's message names outweighs the docs.
fn forbidden(need: &EndpointNeed, required: &[String], token: &TokenView) -> Diagnosis {
    let TokenView::Read(token) = token else {
        return Diagnosis::Refused {
            required: required.to_vec(),
        };
    };
    let carries = |list: &[String], p: &str| list.iter().any(|c| c.eq_ignore_ascii_case(p));
    let application_only = || Diagnosis::ApplicationOnly {
        application: need.application,
        fallback: need.fallback.and_then(endpoint_need),
    };
    if token.application {
        let lacking: Vec<String> = if required.is_empty() {
            let has_role = token.roles.iter().any(|r| need.granted_by(r));
            (!has_role)
                .then(|| need.application.to_owned())
                .into_iter()
                .collect()
        } else {
            let lacking = required.iter().filter(|r| !carries(&token.roles, r));
            lacking.cloned().collect()
        };
        return if lacking.is_empty() {
            Diagnosis::Refused {
                required: required.to_vec(),
            }
        } else {
            Diagnosis::MissingPermission {
                permissions: lacking,
                application: true,
            }
        };
    }
    if !required.is_empty() {
        if required.iter().all(|r| need.is_application_permission(r)) {
            return application_only();
        }
        let lacking: Vec<String> = required
            .iter()
            .filter(|r| !carries(&token.scopes, r))
            .cloned()
            .collect();
        return if lacking.is_empty() {
            Diagnosis::RoleOrDeviceGroups {
                permission: required.join(", "),
            }
        } else {
            Diagnosis::MissingPermission {
                permissions: lacking,
                application: false,
            }
        };
    }
    match (
        need.delegated,
        token.scopes.iter().find(|s| need.granted_by(s)),
    ) {
        (None, _) => application_only(),
        (Some(_), Some(scope)) => Diagnosis::RoleOrDeviceGroups {
            permission: scope.clone(),
        },
        (Some(delegated), None) => Diagnosis::MissingPermission {
            permissions: vec![delegated.to_owned()],
            application: false,
        },
    }
}

/// One probe in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeLine {
    pub need: &'static EndpointNeed,
    /// As sent, or as documented when it was not.
    pub request: String,
    pub grant: Grant,
    pub state: ProbeState,
    pub diagnosis: Option<Diagnosis>,
}

impl ProbeLine {
    pub fn outcome(&self) -> Option<&ProbeOutcome> {
        match &self.state {
            ProbeState::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        self.outcome().and_then(ProbeOutcome::status)
    }

    pub fn code(&self) -> Option<&str> {
        self.outcome()?.detail()?.code.as_deref()
    }

    pub fn correlation_id(&self) -> Option<&str> {
        self.outcome()?.detail()?.correlation_id.as_deref()
    }
}

/// Everything the connection page shows and the copied report says: where the calls go, the
/// token's claims, and each probe with its diagnosis. Holds no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// When the check started (Unix ms); `None` before it ran.
    pub checked_at_ms: Option<u64>,
    pub setup: CheckSetup,
    pub token: TokenView,
    pub probes: Vec<ProbeLine>,
}

/// Whether `error` is one the connection check can explain (401, 403, no answer): the error
/// messages link to the check for these.
pub fn explains(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Unauthorized(_) | ApiError::Forbidden { .. } | ApiError::Network(_)
    )
}

/// `2026-11-26 10:15:03 UTC` for Unix seconds (`—` out of range).
pub fn utc_text(unix_secs: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(unix_secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => "—".to_owned(),
    }
}

/// Marks where a token was taken out of a text.
pub const REDACTED: &str = "[token removed]";

/// `text` with anything that looks like a bearer token removed: JWTs (`eyJ….….…`) and the
/// word after `Bearer `. A proxy or gateway may echo request headers into its error page;
/// nothing from outside reaches the report without passing here.
pub fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let jwt = rest.find("eyJ");
        let bearer = find_ignore_case(rest, "bearer ");
        let first_jwt = match (jwt, bearer) {
            (None, None) => {
                out.push_str(rest);
                return out;
            }
            (Some(j), Some(b)) => j < b,
            (jwt, _) => jwt.is_some(),
        };
        if first_jwt {
            let at = jwt.unwrap_or_default();
            let len = jwt_len(&rest[at..]);
            out.push_str(&rest[..at]);
            if len > 0 {
                out.push_str(REDACTED);
                rest = &rest[at + len..];
            } else {
                out.push_str("eyJ");
                rest = &rest[at + 3..];
            }
        } else {
            let word = bearer.unwrap_or_default() + "bearer ".len();
            let end = rest[word..]
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
                .map_or(rest.len(), |e| word + e);
            out.push_str(&rest[..word]);
            if end > word {
                out.push_str(REDACTED);
            }
            rest = &rest[end..];
        }
    }
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .to_ascii_lowercase()
        .find(&needle.to_ascii_lowercase())
}

/// Length of the JWT at the start of `text` (three base64url parts, the last may be empty),
/// or 0.
fn jwt_len(text: &str) -> usize {
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=';
    let bytes = text.as_bytes();
    let mut at = 0;
    for part in 0..3 {
        let start = at;
        while at < bytes.len() && base64url(bytes[at]) {
            at += 1;
        }
        if at == start && part < 2 {
            return 0;
        }
        if part < 2 {
            if bytes.get(at) != Some(&b'.') {
                return 0;
            }
            at += 1;
        }
    }
    at
}

/// `error` with every text in it passed through [`redact_tokens`].
fn redact_error(error: ApiError) -> ApiError {
    let text = |s: String| redact_tokens(&s);
    let option = |s: Option<String>| s.map(text);
    let detail = |d: ErrorDetail| ErrorDetail {
        code: option(d.code),
        message: option(d.message),
        correlation_id: option(d.correlation_id),
    };
    match error {
        ApiError::Unauthorized(d) => ApiError::Unauthorized(detail(d)),
        ApiError::Forbidden {
            detail: d,
            required_roles,
        } => ApiError::Forbidden {
            detail: detail(d),
            required_roles: required_roles.into_iter().map(text).collect(),
        },
        ApiError::NotFound(d) => ApiError::NotFound(detail(d)),
        ApiError::BadRequest(d) => ApiError::BadRequest(detail(d)),
        ApiError::Throttled {
            detail: d,
            retry_after_secs,
        } => ApiError::Throttled {
            detail: detail(d),
            retry_after_secs,
        },
        ApiError::Server {
            status,
            detail: d,
            html,
        } => ApiError::Server {
            status,
            detail: detail(d),
            html,
        },
        ApiError::Network(reason) => ApiError::Network(text(reason)),
        ApiError::Timeout(secs) => ApiError::Timeout(secs),
        ApiError::Redirected => ApiError::Redirected,
        ApiError::Malformed(kind) => ApiError::Malformed(match kind {
            MalformedBody::NotJson(s) => MalformedBody::NotJson(text(s)),
            MalformedBody::WrongShape(s) => MalformedBody::WrongShape(text(s)),
            other => other,
        }),
        ApiError::SignInRequired { code, message } => ApiError::SignInRequired {
            code: option(code),
            message: text(message),
        },
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use proptest::prelude::*;

    use super::*;
    use crate::fleet::rate::MINUTE_MS;

    const DEVICE: &str = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07";

    fn endpoints() -> Endpoints {
        Endpoints::new(Url::parse("https://api.security.microsoft.com").unwrap())
    }

    fn jwt(claims: serde_json::Value) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn user_token(scopes: &str) -> TokenView {
        let token = jwt(serde_json::json!({
            "aud": "https://api.securitycenter.microsoft.com",
            "tid": "t-1", "scp": scopes, "exp": 10_000,
        }));
        let info = TokenInfo::decode(&token).unwrap();
        TokenView::read(&info, &expected_audiences(Cloud::Commercial, &[]), 1_000)
    }

    fn setup() -> CheckSetup {
        CheckSetup {
            api_base: "https://api.security.microsoft.com/".into(),
            proxy: false,
            auth_mode: "token",
            expected_audiences: expected_audiences(Cloud::Commercial, &[]),
        }
    }

    fn page(ids: &[&str]) -> String {
        let value: Vec<_> = ids.iter().map(|id| serde_json::json!({"id": id})).collect();
        serde_json::json!({ "value": value }).to_string()
    }

    fn forbidden(message: &str) -> ApiError {
        let body = serde_json::json!({"error": {"code": "Forbidden", "message": message, "target": "corr-1"}});
        ApiError::from_response(403, None, &body.to_string())
    }

    /// Runs the whole check, answering each call with `answer(probe key, url)`.
    fn run(
        answer: impl Fn(&str, &Url) -> Result<String, ApiError>,
    ) -> (ConnectionCheck, BudgetSet) {
        let mut check = ConnectionCheck::new();
        let mut budget = BudgetSet::default();
        let mut now = 1_000;
        while let Some(call) = check.next_call(&endpoints(), &mut budget, now) {
            let key = check.table()[call.index].probe;
            let result = answer(key, &call.url);
            check.answer(
                call.index,
                result.as_deref().map_err(Clone::clone),
                &mut budget,
                now + 5,
            );
            now += 10;
        }
        (check, budget)
    }

    fn diagnosis_of(report: &CheckReport, probe: &str) -> Option<Diagnosis> {
        report
            .probes
            .iter()
            .find(|p| p.need.probe == probe)
            .and_then(|p| p.diagnosis.clone())
    }

    #[test]
    fn the_table_is_sound() {
        let e = endpoints();
        let device = DeviceId::parse(DEVICE).unwrap();
        let software = SoftwareId::parse("microsoft-_-edge").unwrap();
        for (i, need) in ENDPOINT_NEEDS.iter().enumerate() {
            assert_eq!(endpoint_need(need.probe), Some(need), "{} once", need.probe);
            let url = match need.target {
                ProbeTarget::Fixed(build) => build(&e),
                ProbeTarget::Device(build) => build(&e, &device),
                ProbeTarget::Software(build) => build(&e, &software),
            };
            assert!(url
                .as_str()
                .starts_with("https://api.security.microsoft.com/api/"));
            // Never the file exports (20 calls an hour).
            assert!(!url.path().to_ascii_lowercase().contains("export"), "{url}");
            // The request as sent is the documented one.
            let documented = need.request.split(['?', '{']).next().unwrap();
            assert!(
                shown_request(&url).starts_with(documented),
                "{url} vs {documented}"
            );
            if matches!(need.target, ProbeTarget::Fixed(_)) {
                assert_eq!(shown_request(&url), need.request);
            }
            assert!(need.application.ends_with(".All"));
            let finding = match need.target {
                ProbeTarget::Fixed(_) => None,
                ProbeTarget::Device(_) => Some(Finding::Device),
                ProbeTarget::Software(_) => Some(Finding::Software),
            };
            if let Some(finding) = finding {
                assert!(
                    ENDPOINT_NEEDS[..i].iter().any(|n| n.finds == Some(finding)),
                    "{} needs an earlier probe finding {finding:?}",
                    need.probe
                );
            }
            if let Some(fallback) = need.fallback {
                assert!(endpoint_need(fallback).is_some(), "{fallback}");
            }
        }
        // As documented: the per-device getmissingkbs names no delegated permission.
        let per_device = endpoint_need("device-missing-kbs").unwrap();
        assert_eq!(per_device.delegated, None);
        assert_eq!(per_device.application, "Software.Read.All");
        assert_eq!(
            endpoint_need("machines").unwrap().delegated,
            Some("Machine.Read")
        );
    }

    #[test]
    fn outcomes_are_classified_from_api_errors() {
        let detail = ErrorDetail::default();
        let cases = [
            (ApiError::Network("Failed to fetch".into()), None),
            (ApiError::Unauthorized(detail.clone()), Some(401)),
            (forbidden("x"), Some(403)),
            (ApiError::NotFound(detail.clone()), Some(404)),
            (ApiError::from_response(429, Some("12"), ""), Some(429)),
            (ApiError::from_response(502, None, "<html>"), Some(502)),
            (ApiError::BadRequest(detail), Some(400)),
            (ApiError::Timeout(30), None),
        ];
        for (error, status) in cases {
            let outcome = ProbeOutcome::from_api_error(error.clone());
            assert_eq!(outcome.status(), status, "{error:?}");
            let expected_kind = match error {
                ApiError::Network(_) => matches!(outcome, ProbeOutcome::Blocked { .. }),
                ApiError::Unauthorized(_) => matches!(outcome, ProbeOutcome::Unauthorized(_)),
                ApiError::Forbidden { .. } => matches!(outcome, ProbeOutcome::Forbidden { .. }),
                ApiError::NotFound(_) => matches!(outcome, ProbeOutcome::NotFound(_)),
                ApiError::Throttled { .. } => matches!(
                    outcome,
                    ProbeOutcome::Throttled {
                        retry_after_secs: Some(12),
                        ..
                    }
                ),
                _ => matches!(outcome, ProbeOutcome::Other(_)),
            };
            assert!(expected_kind, "{error:?} became {outcome:?}");
        }
        assert_eq!(
            ProbeOutcome::from_api_error(forbidden("x"))
                .detail()
                .and_then(|d| d.correlation_id.as_deref()),
            Some("corr-1")
        );
    }

    #[test]
    fn probes_use_what_earlier_probes_found_and_skip_with_a_reason() {
        let (check, budget) = run(|key, url| match key {
            "machines" => Ok(page(&[DEVICE])),
            "software" => Err(ApiError::NotFound(ErrorDetail::default())),
            _ => {
                if key == "device-missing-kbs" {
                    assert_eq!(url.path(), format!("/api/machines/{DEVICE}/getmissingkbs"));
                }
                Ok(page(&[]))
            }
        });
        assert!(check.is_done());
        let states = check.states();
        assert_eq!(states[1], ProbeState::Done(ProbeOutcome::Ok { records: 0 }));
        assert_eq!(
            states[4],
            ProbeState::Skipped(SkipReason::SourceFailed(Finding::Software))
        );
        // Five calls made, each charged to the budget.
        assert_eq!(budget.global().calls_in_last(MINUTE_MS, 2_000), 5);
        let report = check.report(&setup(), &user_token("Machine.Read"));
        assert_eq!(report.checked_at_ms, Some(1_000));
        assert_eq!(
            report.probes[0].request, "GET /api/machines?$top=1",
            "the request as sent, query decoded"
        );
        assert_eq!(
            report.probes[4].request,
            "GET /api/Software/{id}/getmissingkbs"
        );
    }

    #[test]
    fn no_devices_is_empty_not_a_failure_and_skips_the_device_probe() {
        let (check, _) = run(|key, _| match key {
            "machines" => Err(ApiError::NotFound(ErrorDetail::default())),
            _ => Ok(page(&["microsoft-_-edge"])),
        });
        assert_eq!(
            check.states()[1],
            ProbeState::Skipped(SkipReason::NoneFound(Finding::Device))
        );
        let report = check.report(&setup(), &TokenView::Demo);
        assert_eq!(diagnosis_of(&report, "machines"), Some(Diagnosis::Empty));
        assert_eq!(
            diagnosis_of(&report, "software-missing-kbs"),
            Some(Diagnosis::Works)
        );
    }

    #[test]
    fn the_export_probe_spends_the_export_budget_too() {
        let (check, budget) = run(|_, _| Ok(page(&[DEVICE, "x"])));
        assert!(check.is_done());
        let export = budget
            .class(EndpointClass::Export)
            .expect("the export class has a budget");
        assert_eq!(
            export.calls_in_last(MINUTE_MS, 5_000),
            1,
            "SoftwareVulnerabilitiesByMachine is an export API"
        );
        assert_eq!(
            budget.global().calls_in_last(MINUTE_MS, 5_000) as usize,
            check.table().len(),
            "every probe counts in the global budget"
        );
    }

    #[test]
    fn the_check_never_calls_past_the_budget() {
        let mut budget = BudgetSet::from(RateBudget::new(3, 100));
        let mut check = ConnectionCheck::new();
        let mut calls = 0;
        while let Some(call) = check.next_call(&endpoints(), &mut budget, 500) {
            calls += 1;
            check.answer(call.index, Ok(&page(&[DEVICE, "x"])), &mut budget, 500);
        }
        assert_eq!(calls, 3);
        assert!(check.is_done());
        let skipped = ProbeState::Skipped(SkipReason::Budget {
            available_at_ms: 500 + MINUTE_MS,
        });
        assert_eq!(
            check.states()[3..],
            [skipped.clone(), skipped.clone(), skipped]
        );
    }

    #[test]
    fn a_throttled_probe_holds_the_rest_for_its_retry_after() {
        let (check, budget) = run(|key, _| match key {
            "machines" => Ok(page(&[DEVICE])),
            _ => Err(ApiError::from_response(429, Some("20"), "")),
        });
        // The machines probe at 1,000, the throttled one at 1,010, answered at 1,015.
        assert_eq!(budget.held_until(1_020), Some(21_015));
        assert_eq!(
            check.states()[2],
            ProbeState::Skipped(SkipReason::Budget {
                available_at_ms: 21_015
            })
        );
        let report = check.report(&setup(), &TokenView::Demo);
        assert_eq!(
            diagnosis_of(&report, "device-missing-kbs"),
            Some(Diagnosis::Throttled {
                retry_after_secs: Some(20)
            })
        );
    }

    #[test]
    fn room_for_the_whole_check_is_computed_exactly() {
        let mut budget = RateBudget::new(10, 100);
        assert_eq!(check_available_at(&budget, 6, 0), 0);
        for t in [0, 1_000, 2_000, 3_000, 4_000] {
            budget.record(t);
        }
        // Five in the minute: six more fit once the first has left the window.
        assert_eq!(check_available_at(&budget, 6, 5_000), MINUTE_MS);
        assert_eq!(check_available_at(&budget, 5, 5_000), 5_000);
        budget.hold_until(70_000);
        assert_eq!(check_available_at(&budget, 1, 5_000), 70_000);
        // Not more than the limit: a budget of 2 a minute runs two probes.
        assert_eq!(check_available_at(&RateBudget::new(2, 10), 6, 0), 0);
    }

    /// The two 403s an admin must tell apart, on the same endpoint.
    #[test]
    fn forbidden_tells_a_missing_scope_from_a_refusal_despite_it() {
        let need = endpoint_need("machines-vulnerabilities").unwrap();
        let refused = ProbeState::Done(ProbeOutcome::from_api_error(forbidden("Forbidden")));
        assert_eq!(
            diagnose(need, &refused, &user_token("Machine.Read"), false),
            Some(Diagnosis::MissingPermission {
                permissions: vec!["Vulnerability.Read".into()],
                application: false
            })
        );
        assert_eq!(
            diagnose(
                need,
                &refused,
                &user_token("Machine.Read vulnerability.read"),
                false
            ),
            Some(Diagnosis::RoleOrDeviceGroups {
                permission: "vulnerability.read".into()
            })
        );
        // The API's own words count: it names the permission the token lacks ...
        let named = ProbeState::Done(ProbeOutcome::from_api_error(forbidden(
            "Missing user permissions. API required permissions: Software.Read. User permissions: Machine.Read.",
        )));
        let per_device = endpoint_need("device-missing-kbs").unwrap();
        assert_eq!(
            diagnose(per_device, &named, &user_token("Machine.Read"), false),
            Some(Diagnosis::MissingPermission {
                permissions: vec!["Software.Read".into()],
                application: false
            })
        );
        // ... or one the token has: then it is the role or the device groups.
        assert_eq!(
            diagnose(per_device, &named, &user_token("Software.Read"), false),
            Some(Diagnosis::RoleOrDeviceGroups {
                permission: "Software.Read".into()
            })
        );
    }

    #[test]
    fn an_application_only_endpoint_is_said_to_be_one_with_its_fallback() {
        let per_device = endpoint_need("device-missing-kbs").unwrap();
        let expected = Some(Diagnosis::ApplicationOnly {
            application: "Software.Read.All",
            fallback: endpoint_need("machines-vulnerabilities"),
        });
        let plain = ProbeState::Done(ProbeOutcome::from_api_error(forbidden("Forbidden")));
        let token = user_token("Machine.Read Software.Read Vulnerability.Read");
        assert_eq!(diagnose(per_device, &plain, &token, false), expected);
        let app_roles_named = ProbeState::Done(ProbeOutcome::from_api_error(forbidden(
            "Missing application roles. API required roles: Software.Read.All. Application roles: .",
        )));
        assert_eq!(
            diagnose(per_device, &app_roles_named, &token, false),
            expected
        );
        // A user token is never told to get an application permission ...
        assert_eq!(
            per_device.grant(&token),
            Grant::ApplicationOnly,
            "the table shows the endpoint as application-only"
        );
        // ... but an application token lacking its role is.
        let app = TokenInfo::decode(&jwt(serde_json::json!({
            "aud": DEFENDER_API_APP_ID, "roles": ["Machine.Read.All"],
        })))
        .unwrap();
        let app = TokenView::read(&app, &setup().expected_audiences, 0);
        assert_eq!(
            diagnose(per_device, &app_roles_named, &app, false),
            Some(Diagnosis::MissingPermission {
                permissions: vec!["Software.Read.All".into()],
                application: true
            })
        );
        assert_eq!(per_device.grant(&app), Grant::Lacks("Software.Read.All"));
        assert_eq!(
            endpoint_need("machines").unwrap().grant(&app),
            Grant::Has("Machine.Read.All".into())
        );
    }

    #[test]
    fn unauthorized_says_expired_wrong_audience_or_not_accepted() {
        let need = endpoint_need("machines").unwrap();
        let state = ProbeState::Done(ProbeOutcome::Unauthorized(ErrorDetail::default()));
        let audiences = expected_audiences(Cloud::Commercial, &[]);
        let view = |claims: serde_json::Value| {
            TokenView::read(&TokenInfo::decode(&jwt(claims)).unwrap(), &audiences, 5_000)
        };
        let expired = view(
            serde_json::json!({"aud": DEFENDER_API_APP_ID, "scp": "Machine.Read", "exp": 4_000}),
        );
        assert_eq!(
            diagnose(need, &state, &expired, false),
            Some(Diagnosis::Expired)
        );
        assert_eq!(expired.problems(), [TokenProblem::Expired]);
        let graph =
            view(serde_json::json!({"aud": "https://graph.microsoft.com", "scp": "User.Read"}));
        assert_eq!(
            diagnose(need, &state, &graph, false),
            Some(Diagnosis::WrongAudience {
                audience: Some("https://graph.microsoft.com".into())
            })
        );
        assert_eq!(graph.problems(), [TokenProblem::WrongAudience]);
        let good = view(
            serde_json::json!({"aud": "https://api.security.microsoft.com/", "scp": "Machine.Read"}),
        );
        assert!(good.problems().is_empty());
        assert_eq!(
            diagnose(need, &state, &good, false),
            Some(Diagnosis::NotAccepted)
        );
        assert_eq!(TokenView::Demo.problems(), [TokenProblem::Demo]);
    }

    #[test]
    fn audiences_follow_the_cloud_and_the_configured_scopes() {
        let gcc = expected_audiences(Cloud::Gcc, &["https://custom.example/.default".into()]);
        assert_eq!(
            gcc,
            [
                "https://api-gcc.securitycenter.microsoft.us",
                DEFENDER_API_APP_ID,
                "https://custom.example"
            ]
        );
        let commercial = expected_audiences(
            Cloud::Commercial,
            &["https://api.securitycenter.microsoft.com/.default".into()],
        );
        assert_eq!(commercial.len(), 3, "no duplicates: {commercial:?}");
    }

    #[test]
    fn the_proxy_is_recognised_from_the_config_or_the_origin() {
        let page = Url::parse("https://kbwatch.example/app/index.html").unwrap();
        let config = |api_base: &str| {
            AppConfig::parse(&format!(
                r#"{{"apiBase": "{api_base}", "auth": {{"mode": "token"}}}}"#
            ))
            .unwrap()
        };
        let proxied = config("/mde");
        let endpoints = Endpoints::new(proxied.api_base.resolve(&page));
        let setup = CheckSetup::new(&proxied, &endpoints, &page);
        assert!(setup.proxy);
        assert_eq!(setup.api_base, "https://kbwatch.example/mde");
        assert_eq!(setup.auth_mode, "token");
        let direct = config("https://api.security.microsoft.com");
        let endpoints = Endpoints::new(direct.api_base.resolve(&page));
        assert!(!CheckSetup::new(&direct, &endpoints, &page).proxy);
        let blocked = ProbeState::Done(ProbeOutcome::Blocked {
            reason: "Failed to fetch".into(),
        });
        let need = endpoint_need("machines").unwrap();
        assert_eq!(
            diagnose(need, &blocked, &TokenView::Demo, true),
            Some(Diagnosis::Blocked { proxy: true })
        );
    }

    #[test]
    fn the_report_of_a_check_never_contains_the_token() {
        let token = jwt(serde_json::json!({
            "aud": "https://api.securitycenter.microsoft.com", "tid": "tenant-7",
            "upn": "ana@contoso.example", "scp": "Machine.Read", "exp": 9_000,
        }));
        let parts: Vec<&str> = token.split('.').collect();
        let info = TokenInfo::decode(&format!("Bearer {token}")).unwrap();
        let view = TokenView::read(&info, &setup().expected_audiences, 1_000);
        // A gateway echoing the request's headers into every answer.
        let echo = format!("Authorization: Bearer {token}");
        let (check, _) = run(|key, _| {
            match key {
            "machines" => Ok(page(&[DEVICE])),
            "device-missing-kbs" => Err(ApiError::from_response(
                403,
                None,
                &serde_json::json!({"error": {"code": token, "message": echo, "target": format!("id {token}")}}).to_string(),
            )),
            "software" => Err(ApiError::Network(echo.clone())),
            "software-vulnerabilities-by-machine" => Err(ApiError::SignInRequired {
                code: Some(token.clone()),
                message: echo.clone(),
            }),
            _ => Err(ApiError::from_response(502, None, &echo)),
        }
        });
        let report = check.report(&setup(), &view);
        let everything = format!("{report:?}");
        assert!(everything.contains("tenant-7") && everything.contains("Machine.Read"));
        assert!(
            everything.contains(REDACTED),
            "the echoes were seen: {everything}"
        );
        assert!(
            !everything.contains("ana@contoso.example"),
            "nor who it belongs to"
        );
        for secret in [token.as_str(), parts[1], parts[2]] {
            assert!(!everything.contains(secret), "{secret} in {everything}");
        }
    }

    #[test]
    fn tokens_are_redacted_from_texts() {
        assert_eq!(
            redact_tokens("a eyJhbGc.eyJzdWIi.sig b"),
            format!("a {REDACTED} b")
        );
        assert_eq!(
            redact_tokens("Authorization: BEARER abc.def, next"),
            format!("Authorization: BEARER {REDACTED}, next")
        );
        assert_eq!(redact_tokens("eyJ alone and eyJx."), "eyJ alone and eyJx.");
        assert_eq!(redact_tokens("bearer "), "bearer ");
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_text(1_795_000_000), "2026-11-18 11:06:40 UTC");
    }

    #[test]
    fn only_auth_and_network_failures_link_to_the_check() {
        assert!(explains(&ApiError::Unauthorized(ErrorDetail::default())));
        assert!(explains(&forbidden("x")));
        assert!(explains(&ApiError::Network(String::new())));
        assert!(!explains(&ApiError::Timeout(3)));
        assert!(!explains(&ApiError::NotFound(ErrorDetail::default())));
    }

    proptest! {
        #[test]
        fn an_embedded_jwt_never_survives(
            before in "\\PC{0,30}", after in "\\PC{0,30}",
            header in "[A-Za-z0-9_-]{1,40}", claims in "[A-Za-z0-9_-]{1,80}", sig in "[A-Za-z0-9_-]{0,60}",
        ) {
            let token = format!("eyJ{header}.{claims}.{sig}");
            let text = format!("{before}{token}{after}");
            let redacted = redact_tokens(&text);
            prop_assert!(!redacted.contains(&token), "{}", redacted);
        }

        #[test]
        fn redaction_never_panics(text in "\\PC{0,120}") {
            let _ = redact_tokens(&text);
        }
    }
}
