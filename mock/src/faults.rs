//! Switchable faults: the failures a real client meets in the wild, on demand.
//!
//! A fault comes from (first match wins) the `X-Mock-Fault` header or `mock_fault` query
//! parameter of the request itself, or the first matching [`FaultRule`] in the store (set at
//! start with `--fault`, or at run time through `/_mock/faults`). Faults apply to `/api` only,
//! after authentication and rate limiting.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::errors::{ApiError, ODATA_CONTENT_TYPE};
use crate::query::{param, query_pairs};
use crate::MockState;

/// Header naming a fault for one request: `X-Mock-Fault: throttle;retry_after=3`.
pub const FAULT_HEADER: &str = "x-mock-fault";
/// Query parameter naming a fault for one request: `?mock_fault=server_error`.
pub const FAULT_QUERY: &str = "mock_fault";
/// Response header telling which fault was applied (for debugging tests).
pub const APPLIED_HEADER: &str = "x-mock-fault-applied";

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 401 Unauthorized, as for an expired token.
    Unauthorized,
    /// 403 Forbidden with the real "Missing application roles" message.
    Forbidden,
    /// 404 NotFound (machine-specific message on machine paths).
    NotFound,
    /// 429 TooManyRequests with `Retry-After`.
    Throttle { retry_after_secs: u64 },
    /// 500 InternalServerError.
    ServerError,
    /// 502 with an HTML page, as a gateway sends it.
    BadGatewayHtml,
    /// 503 with an HTML page.
    ServiceUnavailableHtml,
    /// 200 with an empty body.
    EmptyBody,
    /// Wait, then answer normally.
    Slow { ms: u64 },
    /// 200 with a body that is not JSON at all.
    MalformedJson,
    /// 200 with the normal body cut in half.
    TruncatedJson,
    /// Normal answer with unknown fields in every object and the envelope.
    ExtraFields,
    /// Every field of every machine/KB object set to null.
    Nulls,
    /// `"value": null`.
    ValueNull,
    /// Valid JSON of the wrong shape: `"value": {"oops": 1}`.
    WrongShape,
    /// 400 ODataError.
    BadRequest,
    /// 307 to [`REDIRECT_TARGET`] on the same origin: a client that follows it sends its
    /// `Authorization` header there (307 keeps method and headers), which the stats show.
    Redirect,
    /// Normal answer plus a `Set-Cookie` header, which a proxy in front must not pass on.
    SetCookie,
}

/// Where a [`FaultKind::Redirect`] points.
pub const REDIRECT_TARGET: &str = "/api/redirected-here";

/// The cookie a `set_cookie` fault sets.
pub const SET_COOKIE_VALUE: &str = "mock-session=from-upstream; Path=/; Secure; HttpOnly";

/// Default `Retry-After` of a throttle fault when none is given.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 1;
/// Default delay of a slow fault when none is given.
pub const DEFAULT_SLOW_MS: u64 = 2_000;

/// Why a fault description could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error("unknown fault kind '{0}'; known kinds: {KNOWN_KINDS}")]
    UnknownKind(String),
    #[error("bad fault parameter '{0}'; use retry_after=<seconds> or ms=<milliseconds>")]
    BadParameter(String),
    #[error("bad fault count '{0}'; use a positive whole number")]
    BadCount(String),
}

const KNOWN_KINDS: &str = "unauthorized, forbidden, not_found, throttle, server_error, \
bad_gateway_html, service_unavailable_html, empty_body, slow, malformed_json, truncated_json, \
extra_fields, nulls, value_null, wrong_shape, bad_request, set_cookie";

impl FaultKind {
    /// Build a kind from its name (any case, `_`/`-` optional, or an HTTP status) and parameters.
    pub fn from_name(
        name: &str,
        retry_after_secs: Option<u64>,
        ms: Option<u64>,
    ) -> Result<Self, FaultError> {
        let normalized: String = name
            .trim()
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Ok(match normalized.as_str() {
            "unauthorized" | "401" => Self::Unauthorized,
            "forbidden" | "403" => Self::Forbidden,
            "notfound" | "404" => Self::NotFound,
            "throttle" | "toomanyrequests" | "429" => Self::Throttle {
                retry_after_secs: retry_after_secs.unwrap_or(DEFAULT_RETRY_AFTER_SECS),
            },
            "servererror" | "internalservererror" | "500" => Self::ServerError,
            "badgatewayhtml" | "badgateway" | "502" => Self::BadGatewayHtml,
            "serviceunavailablehtml" | "serviceunavailable" | "503" => Self::ServiceUnavailableHtml,
            "emptybody" | "empty" => Self::EmptyBody,
            "slow" => Self::Slow {
                ms: ms.unwrap_or(DEFAULT_SLOW_MS),
            },
            "malformedjson" | "malformed" => Self::MalformedJson,
            "truncatedjson" | "truncated" => Self::TruncatedJson,
            "extrafields" => Self::ExtraFields,
            "nulls" => Self::Nulls,
            "valuenull" => Self::ValueNull,
            "wrongshape" => Self::WrongShape,
            "badrequest" | "400" => Self::BadRequest,
            "redirect" | "307" => Self::Redirect,
            "setcookie" => Self::SetCookie,
            _ => return Err(FaultError::UnknownKind(name.trim().to_owned())),
        })
    }

    /// Canonical snake_case name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Throttle { .. } => "throttle",
            Self::ServerError => "server_error",
            Self::BadGatewayHtml => "bad_gateway_html",
            Self::ServiceUnavailableHtml => "service_unavailable_html",
            Self::EmptyBody => "empty_body",
            Self::Slow { .. } => "slow",
            Self::MalformedJson => "malformed_json",
            Self::TruncatedJson => "truncated_json",
            Self::ExtraFields => "extra_fields",
            Self::Nulls => "nulls",
            Self::ValueNull => "value_null",
            Self::WrongShape => "wrong_shape",
            Self::BadRequest => "bad_request",
            Self::Redirect => "redirect",
            Self::SetCookie => "set_cookie",
        }
    }

    /// JSON form used by `/_mock/faults`.
    fn to_json(self) -> Value {
        let mut value = json!({ "kind": self.name() });
        match self {
            Self::Throttle { retry_after_secs } => {
                value["retry_after_secs"] = json!(retry_after_secs)
            }
            Self::Slow { ms } => value["ms"] = json!(ms),
            _ => {}
        }
        value
    }
}

/// `throttle;retry_after=3`, `slow;ms=500`, `server_error`.
impl FromStr for FaultKind {
    type Err = FaultError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.split(';');
        let name = parts.next().unwrap_or_default();
        let (mut retry_after, mut ms) = (None, None);
        for param in parts.map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = param
                .split_once('=')
                .ok_or_else(|| FaultError::BadParameter(param.to_owned()))?;
            let number: u64 = value
                .trim()
                .parse()
                .map_err(|_| FaultError::BadParameter(param.to_owned()))?;
            match key.trim() {
                "retry_after" | "retry_after_secs" | "retry-after" => retry_after = Some(number),
                "ms" => ms = Some(number),
                _ => return Err(FaultError::BadParameter(param.to_owned())),
            }
        }
        Self::from_name(name, retry_after, ms)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Throttle { retry_after_secs } => {
                write!(f, "throttle;retry_after={retry_after_secs}")
            }
            Self::Slow { ms } => write!(f, "slow;ms={ms}"),
            other => f.write_str(other.name()),
        }
    }
}

/// A standing fault: which kind, on which paths, how many more times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub kind: FaultKind,
    /// Applies only when the request path contains this; `None` = every `/api` path.
    pub path_contains: Option<String>,
    /// How many more requests it hits; `None` = forever.
    pub remaining: Option<u32>,
}

impl FaultRule {
    /// A rule hitting every `/api` request forever.
    pub fn always(kind: FaultKind) -> Self {
        Self {
            kind,
            path_contains: None,
            remaining: None,
        }
    }

    fn matches(&self, path: &str) -> bool {
        self.path_contains
            .as_deref()
            .is_none_or(|needle| path.contains(needle))
    }

    /// JSON form used by `/_mock/faults`.
    pub fn to_json(&self) -> Value {
        let mut value = self.kind.to_json();
        value["path_contains"] = json!(self.path_contains);
        value["count"] = json!(self.remaining);
        value
    }
}

/// CLI form: `KIND[;retry_after=N][;ms=N][:PATH_SUBSTRING][:COUNT]`, e.g.
/// `throttle;retry_after=3:getmissingkbs:2` or `server_error::1` (any path, once).
impl FromStr for FaultRule {
    type Err = FaultError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.splitn(3, ':');
        let kind = parts.next().unwrap_or_default().parse()?;
        let path_contains = parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
        let remaining = parts
            .next()
            .filter(|c| !c.is_empty())
            .map(|c| match c.trim().parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(FaultError::BadCount(c.to_owned())),
            })
            .transpose()?;
        Ok(Self {
            kind,
            path_contains,
            remaining,
        })
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(path) = &self.path_contains {
            write!(f, " on paths containing '{path}'")?;
        }
        match self.remaining {
            Some(n) => write!(f, ", {n} time(s)"),
            None => write!(f, ", until cleared"),
        }
    }
}

/// Body of `POST /_mock/faults`.
#[derive(Debug, Deserialize)]
pub(crate) struct FaultRuleBody {
    kind: String,
    retry_after_secs: Option<u64>,
    ms: Option<u64>,
    path_contains: Option<String>,
    count: Option<u32>,
}

impl TryFrom<FaultRuleBody> for FaultRule {
    type Error = FaultError;

    fn try_from(body: FaultRuleBody) -> Result<Self, Self::Error> {
        if body.count == Some(0) {
            return Err(FaultError::BadCount("0".to_owned()));
        }
        Ok(Self {
            kind: FaultKind::from_name(&body.kind, body.retry_after_secs, body.ms)?,
            path_contains: body.path_contains.filter(|p| !p.is_empty()),
            remaining: body.count,
        })
    }
}

/// The standing rules, shared by all requests.
#[derive(Debug, Default)]
pub struct FaultStore {
    rules: Mutex<Vec<FaultRule>>,
}

impl FaultStore {
    pub fn new(rules: Vec<FaultRule>) -> Self {
        Self {
            rules: Mutex::new(rules),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        // A panic while holding the lock cannot leave the Vec half-updated; keep serving.
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn add(&self, rule: FaultRule) {
        self.lock().push(rule);
    }

    /// Remove every rule; returns how many there were.
    pub fn clear(&self) -> usize {
        std::mem::take(&mut *self.lock()).len()
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    /// The first rule matching `path`, using up one of its remaining hits.
    pub fn take(&self, path: &str) -> Option<FaultKind> {
        let mut rules = self.lock();
        let index = rules.iter().position(|r| r.matches(path))?;
        let kind = rules[index].kind;
        if let Some(remaining) = &mut rules[index].remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                rules.remove(index);
            }
        }
        Some(kind)
    }
}

/// The fault named by the request itself, if any.
fn per_request_fault(request: &Request) -> Result<Option<FaultKind>, FaultError> {
    if let Some(value) = request.headers().get(FAULT_HEADER) {
        let text = value
            .to_str()
            .map_err(|_| FaultError::UnknownKind("<non-text header>".to_owned()))?;
        return text.parse().map(Some);
    }
    param(&query_pairs(request.uri().query()), FAULT_QUERY)
        .map(str::parse)
        .transpose()
}

/// Middleware applying at most one fault to an `/api` request.
pub(crate) async fn inject_faults(
    State(state): State<Arc<MockState>>,
    request: Request,
    next: Next,
) -> Response {
    let path = full_path(&request);
    let fault = match per_request_fault(&request) {
        Ok(Some(kind)) => Some(kind),
        Ok(None) => state.faults.take(&path),
        Err(error) => {
            return ApiError::invalid_input(format!("{FAULT_HEADER}/{FAULT_QUERY}: {error}"))
                .into_response()
        }
    };
    let Some(kind) = fault else {
        return next.run(request).await;
    };
    let mut response = apply(kind, &path, request, next).await;
    response
        .headers_mut()
        .insert(APPLIED_HEADER, HeaderValue::from_static(kind.name()));
    response
}

/// The path as the client sent it; inside the nested `/api` router `uri()` lacks the prefix.
fn full_path(request: &Request) -> String {
    request
        .extensions()
        .get::<OriginalUri>()
        .map_or(request.uri(), |original| &original.0)
        .path()
        .to_owned()
}

async fn apply(kind: FaultKind, path: &str, request: Request, next: Next) -> Response {
    match kind {
        FaultKind::Unauthorized => {
            ApiError::unauthorized("The access token is expired or invalid.").into_response()
        }
        FaultKind::Forbidden => ApiError::forbidden_missing_role().into_response(),
        FaultKind::NotFound => not_found_for(path).into_response(),
        FaultKind::Throttle { retry_after_secs } => {
            ApiError::too_many_requests(retry_after_secs).into_response()
        }
        FaultKind::ServerError => ApiError::internal().into_response(),
        FaultKind::BadRequest => {
            ApiError::odata("Invalid filter clause: The query specified in the URI is not valid.")
                .into_response()
        }
        FaultKind::BadGatewayHtml => html(StatusCode::BAD_GATEWAY, BAD_GATEWAY_PAGE),
        FaultKind::Redirect => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, REDIRECT_TARGET)],
        )
            .into_response(),
        FaultKind::ServiceUnavailableHtml => {
            html(StatusCode::SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE_PAGE)
        }
        FaultKind::EmptyBody => raw_json(StatusCode::OK, Vec::new()),
        FaultKind::MalformedJson => raw_json(StatusCode::OK, br#"{"value": [ {"id": "#.to_vec()),
        FaultKind::Slow { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        FaultKind::SetCookie => {
            let mut response = next.run(request).await;
            response.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_static(SET_COOKIE_VALUE),
            );
            response
        }
        FaultKind::TruncatedJson
        | FaultKind::ExtraFields
        | FaultKind::Nulls
        | FaultKind::ValueNull
        | FaultKind::WrongShape => rewrite(kind, next.run(request).await).await,
    }
}

/// A 404 worded like the real one for the path that was asked for.
fn not_found_for(path: &str) -> ApiError {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "machines", "SoftwareVulnerabilitiesByMachine"]
        | ["api", "vulnerabilities", ..] => ApiError::not_found("No data found"),
        ["api", "machines", id, ..] => ApiError::machine_not_found(id),
        ["api", "Software", id, ..] => ApiError::software_not_found(id),
        ["api", "Software"] => ApiError::not_found("No data found"),
        _ => ApiError::no_recent_machines(),
    }
}

fn html(status: StatusCode, page: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

fn raw_json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, ODATA_CONTENT_TYPE)], body).into_response()
}

/// Limit when buffering a normal answer to rewrite it; the biggest real page is far below.
const REWRITE_LIMIT: usize = 256 * 1024 * 1024;

/// Rewrite a normal answer's body.
async fn rewrite(kind: FaultKind, response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, REWRITE_LIMIT).await else {
        return ApiError::internal().into_response();
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let new_body = match kind {
        FaultKind::TruncatedJson => bytes[..bytes.len() / 2].to_vec(),
        _ => match serde_json::from_slice::<Value>(&bytes) {
            Ok(mut json) => {
                let success = parts.status.is_success();
                match kind {
                    FaultKind::ExtraFields => add_extra_fields(&mut json),
                    FaultKind::Nulls if success => null_entities(&mut json),
                    FaultKind::ValueNull if success => json = envelope(&json, Value::Null),
                    FaultKind::WrongShape if success => {
                        json = envelope(&json, json!({ "oops": 1 }))
                    }
                    _ => {}
                }
                json.to_string().into_bytes()
            }
            Err(_) => bytes.to_vec(),
        },
    };
    Response::from_parts(parts, Body::from(new_body))
}

/// Unknown fields a lenient client must ignore, including an object-valued one.
fn add_extra_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for child in map.values_mut() {
                add_extra_fields(child);
            }
            map.insert("mockExtraText".to_owned(), json!("an unknown field"));
            map.insert(
                "mockExtraObject".to_owned(),
                json!({ "nested": [1, "two", null], "flag": true }),
            );
            map.insert("@odata.mockAnnotation".to_owned(), json!(12.5));
        }
        Value::Array(items) => items.iter_mut().for_each(add_extra_fields),
        _ => {}
    }
}

/// Null every field of every entity: the objects in `value`, or a single entity body.
fn null_entities(value: &mut Value) {
    fn null_fields(object: &mut serde_json::Map<String, Value>) {
        for (key, field) in object.iter_mut() {
            if !key.starts_with("@odata.") {
                *field = Value::Null;
            }
        }
    }
    match value.get_mut("value") {
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::Object(object) = item {
                    null_fields(object);
                }
            }
        }
        _ => {
            if let Value::Object(object) = value {
                null_fields(object);
            }
        }
    }
}

/// `{"@odata.context": <same>, "value": <value>}`.
fn envelope(original: &Value, value: Value) -> Value {
    json!({
        "@odata.context": original.get("@odata.context").cloned().unwrap_or(Value::Null),
        "value": value,
    })
}

const BAD_GATEWAY_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Microsoft-Azure-Application-Gateway/v2</center>\r\n\
</body>\r\n</html>\r\n";

const SERVICE_UNAVAILABLE_PAGE: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n\
<HTML><HEAD><TITLE>Service Unavailable</TITLE>\r\n<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n\
<BODY><h2>Service Unavailable</h2>\r\n<hr><p>HTTP Error 503. The service is unavailable.</p>\r\n</BODY></HTML>\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_leniently() {
        assert_eq!(
            "Throttle;retry_after=3".parse(),
            Ok(FaultKind::Throttle {
                retry_after_secs: 3
            })
        );
        assert_eq!("bad-gateway-html".parse(), Ok(FaultKind::BadGatewayHtml));
        assert_eq!("redirect".parse(), Ok(FaultKind::Redirect));
        assert_eq!("Set-Cookie".parse(), Ok(FaultKind::SetCookie));
        assert_eq!("500".parse(), Ok(FaultKind::ServerError));
        assert_eq!("slow;ms=20".parse(), Ok(FaultKind::Slow { ms: 20 }));
        assert_eq!(
            "slow".parse(),
            Ok(FaultKind::Slow {
                ms: DEFAULT_SLOW_MS
            })
        );
        assert!("nope".parse::<FaultKind>().is_err());
        assert!("slow;ms=abc".parse::<FaultKind>().is_err());
        assert!("slow;speed=3".parse::<FaultKind>().is_err());
    }

    #[test]
    fn cli_rules_parse() {
        assert_eq!(
            "throttle;retry_after=3:getmissingkbs:2".parse(),
            Ok(FaultRule {
                kind: FaultKind::Throttle {
                    retry_after_secs: 3
                },
                path_contains: Some("getmissingkbs".into()),
                remaining: Some(2),
            })
        );
        assert_eq!(
            "server_error::1".parse(),
            Ok(FaultRule {
                remaining: Some(1),
                ..FaultRule::always(FaultKind::ServerError)
            })
        );
        assert_eq!("nulls".parse(), Ok(FaultRule::always(FaultKind::Nulls)));
        assert!("nulls:x:0".parse::<FaultRule>().is_err());
        assert!("nulls:x:many".parse::<FaultRule>().is_err());
    }

    #[test]
    fn store_counts_down_and_matches_paths() {
        let store = FaultStore::new(vec![
            "not_found:getmissingkbs:2".parse().expect("rule"),
            "server_error".parse().expect("rule"),
        ]);
        assert_eq!(
            store.take("/api/machines/abc/getmissingkbs"),
            Some(FaultKind::NotFound)
        );
        assert_eq!(store.take("/api/machines"), Some(FaultKind::ServerError));
        assert_eq!(
            store.take("/api/machines/abc/getmissingkbs"),
            Some(FaultKind::NotFound)
        );
        assert_eq!(
            store.take("/api/machines/abc/getmissingkbs"),
            Some(FaultKind::ServerError)
        );
        assert_eq!(store.clear(), 1);
        assert_eq!(store.take("/api/machines"), None);
    }
}
