//! `config.json`, read at run time so a static host can change it without a rebuild.
//!
//! Every problem is collected (not just the first), each naming the key, what was found and
//! what is allowed. What was found is the file's own text, so it is quoted
//! ([`crate::quote::quoted`]: escaped, cut to a readable length) and a password in a URL is
//! masked.
//!
//! The sign-in settings (`auth.authority`, `auth.knownAuthorities`, `auth.authorityMetadata`)
//! must stay on the cloud's sign-in host ([`Cloud::authority_host`]): config.json is the one
//! file of a static host that changes without a rebuild, and a sign-in page elsewhere collects
//! passwords. Only `"auth": {"testOnlyAllowAnyAuthority": true}` lifts that, for a test's
//! stand-in Entra ID (the e2e suite's mock at `https://127.0.0.1:<port>`); never in production.

use serde_json::{Map, Value};
use url::Url;

use crate::cloud::Cloud;
use crate::fleet::cache::DEFAULT_MAX_AGE_MINUTES;
use crate::fleet::rate::{API_PER_HOUR, API_PER_MINUTE, DEFAULT_PER_HOUR, DEFAULT_PER_MINUTE};
use crate::fleet::scan::DEFAULT_CONCURRENCY;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// Any bearer token: only the local mock accepts it.
    Demo,
    /// The user pastes an access token (e.g. from `az account get-access-token`); memory only.
    Token,
    /// Sign-in with MSAL.js against Microsoft Entra ID.
    Msal(Box<MsalConfig>),
}

impl AuthMode {
    pub const NAMES: &'static [&'static str] = &["msal", "token", "demo"];

    pub fn name(&self) -> &'static str {
        match self {
            Self::Demo => "demo",
            Self::Token => "token",
            Self::Msal(_) => "msal",
        }
    }
}

/// Where MSAL keeps its token cache. sessionStorage unless the config says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheLocation {
    #[default]
    SessionStorage,
    LocalStorage,
}

impl CacheLocation {
    pub fn name(self) -> &'static str {
        match self {
            Self::SessionStorage => "sessionStorage",
            Self::LocalStorage => "localStorage",
        }
    }
}

/// Everything the MSAL bridge needs, derived from the cloud unless overridden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsalConfig {
    pub client_id: String,
    pub tenant_id: String,
    /// `https://login.microsoftonline.com/{tenant}` (or the cloud's host, or the override).
    pub authority: Url,
    pub scopes: Vec<String>,
    /// Absolute, or relative to the page; default: `redirect.html` beside `index.html`.
    pub redirect_uri: Option<String>,
    pub cache_location: CacheLocation,
    /// Authority hosts MSAL should trust without discovery: the cloud's sign-in host, or with
    /// the test-only setting a stand-in's `host:port`.
    pub known_authorities: Vec<String>,
    /// OIDC metadata as JSON text, so MSAL skips its discovery request; the endpoints MSAL
    /// reads are on the sign-in host (as above).
    pub authority_metadata: Option<String>,
    /// Renew a token this long before it expires (MSAL's default: 300 s).
    pub token_renewal_offset_secs: u32,
    /// The authority's `host[:port]` when it is not the cloud's sign-in host (only possible
    /// with the test-only setting): the sign-in page says where sign-in goes.
    pub foreign_sign_in_host: Option<String>,
}

/// Where API calls go: an absolute URL (direct, needs CORS) or a same-origin path prefix
/// served by a reverse proxy (e.g. `/mde`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiBase {
    Absolute(Url),
    SameOrigin(String),
}

impl ApiBase {
    /// The absolute base for a page loaded from `page_origin`.
    pub fn resolve(&self, page_origin: &Url) -> Url {
        match self {
            Self::Absolute(url) => url.clone(),
            Self::SameOrigin(path) => {
                let mut url = page_origin.clone();
                url.set_path(path);
                url.set_query(None);
                url.set_fragment(None);
                url
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    pub api_base: ApiBase,
    pub cloud: Cloud,
    pub auth: AuthMode,
    /// Abort a request that has not answered after this many seconds.
    pub request_timeout_secs: u32,
    /// Reload the device list and the open device every N minutes; 0 = never.
    pub auto_refresh_minutes: u32,
    /// `$top` per device-list page (the API allows up to 10,000).
    pub device_page_size: u32,
    pub fleet: FleetSettings,
}

/// The fleet scan's budget and cache freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetSettings {
    /// Calls per minute the scan allows itself (the API allows about 100).
    pub per_minute: u32,
    /// Calls per hour (the API allows about 1,500).
    pub per_hour: u32,
    pub concurrency: u32,
    /// A device's result is reused for this long (the API refreshes about every 6 hours).
    pub max_age_minutes: u32,
}

impl Default for FleetSettings {
    fn default() -> Self {
        Self {
            per_minute: DEFAULT_PER_MINUTE,
            per_hour: DEFAULT_PER_HOUR,
            concurrency: DEFAULT_CONCURRENCY,
            max_age_minutes: DEFAULT_MAX_AGE_MINUTES,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("config.json is not valid JSON: {0}")]
    NotJson(String),
    #[error("config.json must be a JSON object")]
    NotAnObject,
    /// `key` as the file spells it, quoted ([`crate::quote::quoted`]).
    #[error("unknown key {key}")]
    UnknownKey {
        key: String,
        suggestion: Option<&'static str>,
    },
    #[error("{key} is required")]
    Missing { key: String },
    #[error("{key} must be {expected}")]
    WrongType { key: String, expected: &'static str },
    /// `value` quoted ([`crate::quote::quoted`]), a URL's password masked.
    #[error("{key} = {value} is not allowed; allowed: {allowed}")]
    InvalidValue {
        key: String,
        value: String,
        allowed: String,
    },
}

const TOP_KEYS: &[&str] = &[
    "apiBase",
    "cloud",
    "region",
    "auth",
    "refresh",
    "devicePageSize",
    "fleet",
];
const FLEET_KEYS: &[&str] = &["perMinute", "perHour", "concurrency", "maxAgeMinutes"];
const AUTH_KEYS: &[&str] = &[
    "mode",
    "tenantId",
    "clientId",
    "authority",
    "scope",
    "redirectUri",
    "cacheLocation",
    "knownAuthorities",
    "authorityMetadata",
    "tokenRenewalOffsetSeconds",
    TEST_ONLY_ANY_AUTHORITY,
];
/// `auth.testOnlyAllowAnyAuthority`: `true` lets the sign-in settings name another host than
/// the cloud's sign-in host. For tests against a stand-in Entra ID only (see the module doc).
pub const TEST_ONLY_ANY_AUTHORITY: &str = "testOnlyAllowAnyAuthority";
/// The fields of OIDC metadata MSAL.js reads (`OpenIdConfigResponse`): every one a URL on the
/// sign-in host. Others (`userinfo_endpoint` on Graph, …) are never used by it.
const METADATA_ENDPOINTS: [&str; 5] = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "end_session_endpoint",
    "jwks_uri",
];
const REFRESH_KEYS: &[&str] = &["requestTimeoutSeconds", "autoRefreshMinutes"];

impl AppConfig {
    pub fn parse(text: &str) -> Result<Self, Vec<ConfigError>> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| vec![ConfigError::NotJson(e.to_string())])?;
        let Value::Object(root) = value else {
            return Err(vec![ConfigError::NotAnObject]);
        };
        let mut errors = Vec::new();
        check_keys(&root, "", TOP_KEYS, &mut errors);

        let cloud = match root.get("cloud") {
            None | Some(Value::Null) => Cloud::default(),
            Some(Value::String(s)) => s.parse().unwrap_or_else(|()| {
                errors.push(invalid(
                    "cloud",
                    s,
                    &Cloud::ALL.map(Cloud::config_name).join(", "),
                ));
                Cloud::default()
            }),
            Some(_) => {
                errors.push(wrong_type("cloud", "a string"));
                Cloud::default()
            }
        };

        let region = match root.get("region") {
            None | Some(Value::Null) => None,
            Some(Value::String(r)) => match cloud.regional_api_base(r) {
                Some(base) => Some(base),
                None => {
                    let allowed = if cloud == Cloud::Commercial {
                        Cloud::REGIONS.join(", ")
                    } else {
                        "no region (only the commercial cloud has regional hosts)".to_owned()
                    };
                    errors.push(invalid("region", r, &allowed));
                    None
                }
            },
            Some(_) => {
                errors.push(wrong_type("region", "a string"));
                None
            }
        };

        let default_base = region.unwrap_or_else(|| cloud.default_api_base().to_owned());
        let api_base = match root.get("apiBase") {
            None | Some(Value::Null) => ApiBase::Absolute(
                Url::parse(&default_base).expect("built-in API hosts are valid URLs"),
            ),
            Some(Value::String(s)) => parse_api_base(s).unwrap_or_else(|e| {
                errors.push(e);
                ApiBase::SameOrigin("/".into())
            }),
            Some(_) => {
                errors.push(wrong_type("apiBase", "a string"));
                ApiBase::SameOrigin("/".into())
            }
        };

        let auth_section = section(&root, "auth", AUTH_KEYS, &mut errors);
        let auth = match auth_section.and_then(|s| s.get("mode")) {
            None | Some(Value::Null) => {
                errors.push(invalid("auth.mode", "", &AuthMode::NAMES.join(", ")));
                AuthMode::Demo
            }
            Some(Value::String(s)) if s == "demo" => AuthMode::Demo,
            Some(Value::String(s)) if s == "token" => AuthMode::Token,
            Some(Value::String(s)) if s == "msal" => match auth_section {
                Some(section) => parse_msal(section, cloud, &mut errors),
                None => AuthMode::Demo,
            },
            Some(Value::String(s)) => {
                errors.push(invalid("auth.mode", s, &AuthMode::NAMES.join(", ")));
                AuthMode::Demo
            }
            Some(_) => {
                errors.push(wrong_type("auth.mode", "a string"));
                AuthMode::Demo
            }
        };

        let refresh = section(&root, "refresh", REFRESH_KEYS, &mut errors);
        let request_timeout_secs = number_in(
            refresh.and_then(|r| r.get("requestTimeoutSeconds")),
            "refresh.requestTimeoutSeconds",
            1..=600,
            30,
            &mut errors,
        );
        let auto_refresh_minutes = number_in(
            refresh.and_then(|r| r.get("autoRefreshMinutes")),
            "refresh.autoRefreshMinutes",
            0..=1440,
            0,
            &mut errors,
        );
        let device_page_size = number_in(
            root.get("devicePageSize"),
            "devicePageSize",
            1..=crate::odata::MAX_TOP,
            crate::odata::MAX_TOP,
            &mut errors,
        );

        let fleet_section = section(&root, "fleet", FLEET_KEYS, &mut errors);
        let fleet_value = |key: &str| fleet_section.and_then(|f| f.get(key));
        let defaults = FleetSettings::default();
        let fleet = FleetSettings {
            per_minute: number_in(
                fleet_value("perMinute"),
                "fleet.perMinute",
                1..=API_PER_MINUTE,
                defaults.per_minute,
                &mut errors,
            ),
            per_hour: number_in(
                fleet_value("perHour"),
                "fleet.perHour",
                1..=API_PER_HOUR,
                defaults.per_hour,
                &mut errors,
            ),
            concurrency: number_in(
                fleet_value("concurrency"),
                "fleet.concurrency",
                1..=16,
                defaults.concurrency,
                &mut errors,
            ),
            max_age_minutes: number_in(
                fleet_value("maxAgeMinutes"),
                "fleet.maxAgeMinutes",
                0..=10_080,
                defaults.max_age_minutes,
                &mut errors,
            ),
        };

        if errors.is_empty() {
            Ok(Self {
                fleet,
                api_base,
                cloud,
                auth,
                request_timeout_secs,
                auto_refresh_minutes,
                device_page_size,
            })
        } else {
            Err(errors)
        }
    }
}

fn parse_msal(
    section: &Map<String, Value>,
    cloud: Cloud,
    errors: &mut Vec<ConfigError>,
) -> AuthMode {
    let mut text = |key: &str, required: bool| -> Option<String> {
        match section.get(key) {
            None | Some(Value::Null) => {
                if required {
                    errors.push(ConfigError::Missing {
                        key: format!("auth.{key}"),
                    });
                }
                None
            }
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(_) => {
                errors.push(wrong_type(&format!("auth.{key}"), "a non-empty string"));
                None
            }
        }
    };
    let client_id = text("clientId", true);
    let tenant_id = text("tenantId", true);
    let authority_override = text("authority", false);
    let redirect_uri = text("redirectUri", false);
    let cache = text("cacheLocation", false);
    let scope = section.get("scope");
    let sign_in = SignInHost {
        cloud,
        any: match section.get(TEST_ONLY_ANY_AUTHORITY) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(on)) => *on,
            Some(_) => {
                errors.push(wrong_type(
                    &format!("auth.{TEST_ONLY_ANY_AUTHORITY}"),
                    "true or false",
                ));
                false
            }
        },
    };

    if let Some(id) = &client_id {
        if !is_guid(id) {
            errors.push(invalid(
                "auth.clientId",
                id,
                "the application (client) ID, a GUID like 00000000-0000-0000-0000-000000000000",
            ));
        }
    }
    if let Some(tenant) = &tenant_id {
        let domain = tenant.contains('.')
            && tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !is_guid(tenant) && !domain {
            errors.push(invalid(
                "auth.tenantId",
                tenant,
                "the directory (tenant) ID GUID or a domain such as contoso.onmicrosoft.com",
            ));
        }
    }
    let authority = match &authority_override {
        Some(raw) => match Url::parse(raw) {
            Ok(url) if has_credentials(&url) => {
                errors.push(credentials_refused("auth.authority", &url));
                None
            }
            Ok(url)
                if url.scheme() == "https" && url.host_str().is_some() && url.query().is_none() =>
            {
                sign_in.check_url("auth.authority", &url, errors);
                Some(url)
            }
            _ => {
                errors.push(invalid(
                    "auth.authority",
                    raw,
                    "an https:// URL such as https://login.microsoftonline.com/<tenant>",
                ));
                None
            }
        },
        None => tenant_id
            .as_ref()
            .and_then(|t| Url::parse(&format!("https://{}/{t}", cloud.authority_host())).ok()),
    };
    let scopes = match scope {
        None | Some(Value::Null) => vec![cloud.default_scope().to_owned()],
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(_) => {
            errors.push(wrong_type("auth.scope", "a string or a list of strings"));
            Vec::new()
        }
    };
    if scopes.is_empty() && !matches!(scope, Some(v) if !v.is_string() && !v.is_array()) {
        errors.push(invalid(
            "auth.scope",
            "",
            "at least one scope, e.g. https://api.securitycenter.microsoft.com/.default",
        ));
    }
    let cache_location = match cache.as_deref() {
        None | Some("sessionStorage") => CacheLocation::SessionStorage,
        Some("localStorage") => CacheLocation::LocalStorage,
        Some(other) => {
            errors.push(invalid(
                "auth.cacheLocation",
                other,
                "sessionStorage, localStorage",
            ));
            CacheLocation::SessionStorage
        }
    };
    if let Some(uri) = &redirect_uri {
        let absolute = Url::parse(uri);
        let ok = if uri.starts_with('/') {
            !uri.starts_with("//")
        } else {
            absolute.as_ref().is_ok_and(|u| {
                u.scheme() == "https"
                    || (u.scheme() == "http"
                        && matches!(u.host_str(), Some("localhost" | "127.0.0.1")))
            })
        };
        if let Some(url) = absolute.ok().filter(has_credentials) {
            errors.push(credentials_refused("auth.redirectUri", &url));
        } else if !ok {
            errors.push(invalid(
                "auth.redirectUri",
                uri,
                "an https:// URL (http:// only on localhost) or a path starting with /",
            ));
        }
    }
    let known_authorities = match section.get("knownAuthorities") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(_) => {
            errors.push(wrong_type("auth.knownAuthorities", "a list of host names"));
            Vec::new()
        }
    };
    for host in &known_authorities {
        sign_in.check_host("auth.knownAuthorities", host, errors);
    }
    let metadata = match section.get("authorityMetadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(object)) => Some(object.clone()),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(object)) => Some(object),
            _ => {
                errors.push(wrong_type(
                    "auth.authorityMetadata",
                    "an object (OIDC metadata)",
                ));
                None
            }
        },
        Some(_) => {
            errors.push(wrong_type(
                "auth.authorityMetadata",
                "an object (OIDC metadata)",
            ));
            None
        }
    };
    if let Some(metadata) = &metadata {
        check_metadata(metadata, &sign_in, errors);
    }
    let authority_metadata = metadata.map(|m| Value::Object(m).to_string());
    let token_renewal_offset_secs = number_in(
        section.get("tokenRenewalOffsetSeconds"),
        "auth.tokenRenewalOffsetSeconds",
        0..=3600,
        300,
        errors,
    );
    match (client_id, tenant_id, authority) {
        (Some(client_id), Some(tenant_id), Some(authority)) => {
            let foreign_sign_in_host = sign_in.foreign_host(&authority);
            AuthMode::Msal(Box::new(MsalConfig {
                client_id,
                tenant_id,
                authority,
                scopes,
                redirect_uri,
                cache_location,
                known_authorities,
                authority_metadata,
                token_renewal_offset_secs,
                foreign_sign_in_host,
            }))
        }
        _ => AuthMode::Demo,
    }
}

/// Where MSAL may send the user to sign in: the cloud's sign-in host, or (`any`, the test-only
/// setting) any host.
struct SignInHost {
    cloud: Cloud,
    any: bool,
}

impl SignInHost {
    /// `host` as a `knownAuthorities` entry names it (`host` or `host:port`).
    fn check_host(&self, key: &str, host: &str, errors: &mut Vec<ConfigError>) {
        let allowed = self.cloud.authority_host();
        if !self.any && !host.eq_ignore_ascii_case(allowed) {
            errors.push(invalid(
                key,
                host,
                &format!("{allowed}, the sign-in host of the {} cloud", self.cloud),
            ));
        }
    }

    fn check_url(&self, key: &str, url: &Url, errors: &mut Vec<ConfigError>) {
        self.check_host(key, &host_and_port(url), errors);
    }

    /// `authority`'s `host[:port]` unless it is the cloud's sign-in host.
    fn foreign_host(&self, authority: &Url) -> Option<String> {
        let host = host_and_port(authority);
        (!host.eq_ignore_ascii_case(self.cloud.authority_host())).then_some(host)
    }
}

/// `host` or `host:port` of `url`, as a `knownAuthorities` entry names it.
fn host_and_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The endpoints of `metadata` MSAL uses: https URLs without credentials on the sign-in host.
fn check_metadata(
    metadata: &Map<String, Value>,
    sign_in: &SignInHost,
    errors: &mut Vec<ConfigError>,
) {
    for field in METADATA_ENDPOINTS {
        let key = format!("auth.authorityMetadata.{field}");
        match metadata.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(raw)) => match Url::parse(raw) {
                Ok(url) if has_credentials(&url) => errors.push(credentials_refused(&key, &url)),
                Ok(url) if url.scheme() == "https" && url.host_str().is_some() => {
                    sign_in.check_url(&key, &url, errors);
                }
                _ => errors.push(invalid(&key, raw, "an https:// URL")),
            },
            Some(_) => errors.push(wrong_type(&key, "an https:// URL (a string)")),
        }
    }
}

/// A user name or a password in a URL: refused wherever config.json takes a URL. Whoever loads
/// the page can read config.json, and `https://login.microsoftonline.com@evil.example/` is
/// the classic look-alike.
fn has_credentials(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// The problem with `url`'s credentials, the password masked: the error page shows the value.
fn credentials_refused(key: &str, url: &Url) -> ConfigError {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only a URL without a host refuses a password, and this one has credentials.
        let _ = shown.set_password(Some("***"));
    }
    invalid(key, shown.as_str(), "a URL without a user name or password")
}

/// `raw` (text that is not a URL) with whatever stands before an `@` in its authority masked:
/// a password must not reach the error page even when the rest cannot be parsed.
fn without_user_info(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => raw.to_owned(),
    }
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn parse_api_base(raw: &str) -> Result<ApiBase, ConfigError> {
    let allowed = "an https:// URL (or http:// on localhost/127.0.0.1), or a same-origin path starting with /";
    let raw = raw.trim();
    if raw.starts_with('/') && !raw.starts_with("//") {
        let ok = !raw.contains(['?', '#', '\\']) && !raw.split('/').any(|s| s == "..");
        return if ok {
            Ok(ApiBase::SameOrigin(raw.trim_end_matches('/').to_owned()))
        } else {
            Err(invalid("apiBase", raw, allowed))
        };
    }
    let url = Url::parse(raw).map_err(|_| invalid("apiBase", &without_user_info(raw), allowed))?;
    if has_credentials(&url) {
        return Err(credentials_refused("apiBase", &url));
    }
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && local);
    if !scheme_ok || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("apiBase", raw, allowed));
    }
    Ok(ApiBase::Absolute(url))
}

fn section<'a>(
    root: &'a Map<String, Value>,
    key: &str,
    known: &[&'static str],
    errors: &mut Vec<ConfigError>,
) -> Option<&'a Map<String, Value>> {
    match root.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => {
            check_keys(map, &format!("{key}."), known, errors);
            Some(map)
        }
        Some(_) => {
            errors.push(wrong_type(key, "an object"));
            None
        }
    }
}

fn check_keys(
    map: &Map<String, Value>,
    prefix: &str,
    known: &[&'static str],
    errors: &mut Vec<ConfigError>,
) {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            let suggestion = known
                .iter()
                .copied()
                .filter(|k| strsim::levenshtein(&k.to_lowercase(), &key.to_lowercase()) <= 2)
                .min_by_key(|k| strsim::levenshtein(k, key));
            errors.push(ConfigError::UnknownKey {
                key: crate::quote::quoted(&format!("{prefix}{key}")),
                suggestion,
            });
        }
    }
}

fn number_in(
    value: Option<&Value>,
    key: &str,
    range: std::ops::RangeInclusive<u32>,
    default: u32,
    errors: &mut Vec<ConfigError>,
) -> u32 {
    match value {
        None | Some(Value::Null) => default,
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if range.contains(&n) => n,
            _ => {
                errors.push(invalid(
                    key,
                    &n.to_string(),
                    &format!("a whole number from {} to {}", range.start(), range.end()),
                ));
                default
            }
        },
        Some(_) => {
            errors.push(wrong_type(key, "a number"));
            default
        }
    }
}

fn invalid(key: &str, value: &str, allowed: &str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        value: crate::quote::quoted(value),
        allowed: allowed.to_owned(),
    }
}

fn wrong_type(key: &str, expected: &'static str) -> ConfigError {
    ConfigError::WrongType {
        key: key.to_owned(),
        expected,
    }
}

/// Why the app cannot start: `config.json` could not be fetched (the HTTP status, or the
/// browser's reason), or it is wrong in the listed ways.
#[derive(Debug, Clone, PartialEq)]
pub enum StartupProblem {
    Unreachable { status: Option<u16>, reason: String },
    Invalid(Vec<ConfigError>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Where `api_base` points from a page at `page`.
    fn resolved_at(api_base: &ApiBase, page: &str) -> String {
        let page = Url::parse(page).expect("a test page URL");
        api_base.resolve(&page).to_string()
    }

    #[test]
    fn fleet_defaults_are_the_scans_and_the_caches() {
        let settings = FleetSettings::default();
        let policy = crate::fleet::scan::ScanPolicy::default();
        assert_eq!(
            (
                settings.per_minute,
                settings.per_hour,
                settings.concurrency as usize
            ),
            (policy.per_minute, policy.per_hour, policy.concurrency)
        );
        assert_eq!(
            u64::from(settings.max_age_minutes) * crate::fleet::rate::MINUTE_MS,
            crate::fleet::cache::DEFAULT_MAX_AGE_MS
        );
    }

    #[test]
    fn demo_config_parses() {
        let config = AppConfig::parse(
            r#"{"apiBase": "http://127.0.0.1:8787", "auth": {"mode": "demo"}, "refresh": {"requestTimeoutSeconds": 20}}"#,
        )
        .unwrap();
        assert_eq!(config.request_timeout_secs, 20);
        assert_eq!(config.auto_refresh_minutes, 0);
        assert_eq!(
            resolved_at(&config.api_base, "http://127.0.0.1:8080/"),
            "http://127.0.0.1:8787/"
        );
    }

    #[test]
    fn empty_config_needs_an_auth_mode() {
        assert_eq!(
            AppConfig::parse("{}").unwrap_err(),
            vec![invalid("auth.mode", "", "msal, token, demo")]
        );
    }

    #[test]
    fn msal_config_derives_authority_and_scope_from_the_cloud() {
        let config = AppConfig::parse(
            r#"{"cloud": "gcc-high", "auth": {"mode": "msal", "tenantId": "contoso.onmicrosoft.com", "clientId": "11111111-2222-3333-4444-555555555555"}}"#,
        )
        .unwrap();
        let AuthMode::Msal(msal) = config.auth else {
            panic!("not msal")
        };
        assert_eq!(
            msal.authority.as_str(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com"
        );
        assert_eq!(
            msal.scopes,
            ["https://api-gov.securitycenter.microsoft.us/.default"]
        );
        assert_eq!(msal.cache_location, CacheLocation::SessionStorage);
        assert_eq!(
            resolved_at(&config.api_base, "https://kb.example/"),
            "https://api-gov.securitycenter.microsoft.us/"
        );
    }

    #[test]
    fn msal_config_problems_name_the_key() {
        let errors = AppConfig::parse(
            r#"{"region": "mars", "auth": {"mode": "msal", "clientId": "not-a-guid", "cacheLocation": "cookies", "authority": "http://login.example"}}"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            vec![
                invalid("region", "mars", "us, eu, uk, au, swa, ina, aea"),
                ConfigError::Missing {
                    key: "auth.tenantId".into()
                },
                invalid(
                    "auth.clientId",
                    "not-a-guid",
                    "the application (client) ID, a GUID like 00000000-0000-0000-0000-000000000000"
                ),
                invalid(
                    "auth.authority",
                    "http://login.example",
                    "an https:// URL such as https://login.microsoftonline.com/<tenant>"
                ),
                invalid(
                    "auth.cacheLocation",
                    "cookies",
                    "sessionStorage, localStorage"
                ),
            ]
        );
    }

    #[test]
    fn regional_hosts_follow_the_region() {
        let config = AppConfig::parse(r#"{"region": "eu", "auth": {"mode": "token"}}"#).unwrap();
        assert_eq!(
            resolved_at(&config.api_base, "https://kb.example/"),
            "https://eu.api.security.microsoft.com/"
        );
        assert_eq!(config.auth, AuthMode::Token);
    }

    #[test]
    fn token_mode_defaults_to_commercial_cloud() {
        let config = AppConfig::parse(r#"{"auth": {"mode": "token"}}"#).unwrap();
        assert_eq!(config.cloud, Cloud::Commercial);
        assert_eq!(
            config.api_base,
            ApiBase::Absolute(Url::parse("https://api.security.microsoft.com").unwrap())
        );
        let config = AppConfig::parse(r#"{"cloud": "dod", "auth": {"mode": "token"}}"#).unwrap();
        assert_eq!(
            resolved_at(&config.api_base, "https://kb.example/"),
            "https://api-gov.securitycenter.microsoft.us/"
        );
    }

    #[test]
    fn proxy_path_resolves_against_the_page() {
        let config = AppConfig::parse(r#"{"apiBase": "/mde/", "auth": {"mode": "demo"}}"#).unwrap();
        assert_eq!(
            resolved_at(&config.api_base, "https://kb.example/app/index.html?x=1"),
            "https://kb.example/mde"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let errors = AppConfig::parse(
            r#"{"apibase": "x", "cloud": "mars", "auth": {"mode": "magic"}, "refresh": {"requestTimeoutSeconds": 0}, "devicePageSize": "big"}"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            vec![
                ConfigError::UnknownKey {
                    key: crate::quote::quoted("apibase"),
                    suggestion: Some("apiBase")
                },
                invalid("cloud", "mars", "commercial, gcc, gcc-high, dod"),
                invalid("auth.mode", "magic", "msal, token, demo"),
                invalid(
                    "refresh.requestTimeoutSeconds",
                    "0",
                    "a whole number from 1 to 600"
                ),
                wrong_type("devicePageSize", "a number"),
            ]
        );
    }

    #[test]
    fn unsafe_api_bases_are_refused() {
        for bad in [
            "http://api.security.microsoft.com",
            "javascript:alert(1)",
            "//evil.example",
            "/mde/../x",
            "https://api.security.microsoft.com/?x=1",
            "ftp://x",
        ] {
            let text = format!(r#"{{"apiBase": {bad:?}, "auth": {{"mode": "demo"}}}}"#);
            assert!(AppConfig::parse(&text).is_err(), "{bad}");
        }
        assert!(matches!(AppConfig::parse("[1]"), Err(e) if e == vec![ConfigError::NotAnObject]));
        assert!(matches!(AppConfig::parse("{"), Err(e) if matches!(e[0], ConfigError::NotJson(_))));
    }

    /// An MSAL config for `cloud` with `extra` (more `auth` keys, leading comma included).
    fn msal_config(cloud: &str, extra: &str) -> Result<AppConfig, Vec<ConfigError>> {
        AppConfig::parse(&format!(
            r#"{{"cloud": "{cloud}", "auth": {{"mode": "msal", "tenantId": "contoso.onmicrosoft.com", "clientId": "11111111-2222-3333-4444-555555555555"{extra}}}}}"#
        ))
    }

    /// OIDC metadata whose endpoints are on `host`.
    fn metadata_on(host: &str) -> String {
        format!(
            r#"{{"issuer": "https://{host}/t/v2.0", "authorization_endpoint": "https://{host}/t/oauth2/v2.0/authorize", "token_endpoint": "https://{host}/t/oauth2/v2.0/token", "end_session_endpoint": "https://{host}/t/oauth2/v2.0/logout", "jwks_uri": "https://{host}/t/discovery/v2.0/keys", "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo"}}"#
        )
    }

    fn off_host(key: &str, host: &str, cloud: Cloud) -> ConfigError {
        invalid(
            key,
            host,
            &format!(
                "{}, the sign-in host of the {cloud} cloud",
                cloud.authority_host()
            ),
        )
    }

    #[test]
    fn authority_hosts_are_pinned_to_the_clouds_sign_in_host() {
        let on_microsoft = format!(
            r#", "authority": "https://login.microsoftonline.com/contoso.onmicrosoft.com", "knownAuthorities": ["login.microsoftonline.com"], "authorityMetadata": {}"#,
            metadata_on("login.microsoftonline.com")
        );
        assert!(msal_config("commercial", &on_microsoft).is_ok());
        let gov = on_microsoft.replace("microsoftonline.com", "microsoftonline.us");
        assert!(msal_config("gcc-high", &gov).is_ok());
        // The metadata may also come as JSON text.
        let as_text = format!(
            r#", "authorityMetadata": {:?}"#,
            metadata_on("login.microsoftonline.com")
        );
        assert!(msal_config("gcc", &as_text).is_ok());

        assert_eq!(
            msal_config("gcc-high", &on_microsoft).unwrap_err(),
            vec![
                off_host(
                    "auth.authority",
                    "login.microsoftonline.com",
                    Cloud::GccHigh
                ),
                off_host(
                    "auth.knownAuthorities",
                    "login.microsoftonline.com",
                    Cloud::GccHigh
                ),
                off_host(
                    "auth.authorityMetadata.issuer",
                    "login.microsoftonline.com",
                    Cloud::GccHigh
                ),
                off_host(
                    "auth.authorityMetadata.authorization_endpoint",
                    "login.microsoftonline.com",
                    Cloud::GccHigh
                ),
                off_host(
                    "auth.authorityMetadata.token_endpoint",
                    "login.microsoftonline.com",
                    Cloud::GccHigh
                ),
                off_host(
                    "auth.authorityMetadata.end_session_endpoint",
                    "login.microsoftonline.com",
                    Cloud::GccHigh
                ),
                off_host(
                    "auth.authorityMetadata.jwks_uri",
                    "login.microsoftonline.com",
                    Cloud::GccHigh
                ),
            ]
        );
        for (extra, key, host) in [
            (
                r#", "authority": "https://evil.example/contoso""#,
                "auth.authority",
                "evil.example",
            ),
            (
                r#", "authority": "https://login.microsoftonline.com.evil.example/t""#,
                "auth.authority",
                "login.microsoftonline.com.evil.example",
            ),
            (
                r#", "authority": "https://login.microsoftonline.com:8443/t""#,
                "auth.authority",
                "login.microsoftonline.com:8443",
            ),
            (
                r#", "knownAuthorities": ["login.microsoftonline.com", "127.0.0.1:8443"]"#,
                "auth.knownAuthorities",
                "127.0.0.1:8443",
            ),
            (
                r#", "authorityMetadata": {"token_endpoint": "https://evil.example/token"}"#,
                "auth.authorityMetadata.token_endpoint",
                "evil.example",
            ),
        ] {
            assert_eq!(
                msal_config("commercial", extra).unwrap_err(),
                vec![off_host(key, host, Cloud::Commercial)],
                "{extra}"
            );
        }
        assert_eq!(
            msal_config("commercial", r#", "authorityMetadata": "not json""#).unwrap_err(),
            vec![wrong_type(
                "auth.authorityMetadata",
                "an object (OIDC metadata)"
            )]
        );
    }

    #[test]
    fn only_the_test_setting_lets_a_config_sign_in_elsewhere() {
        let mock = format!(
            r#", "authority": "https://127.0.0.1:8443/t", "knownAuthorities": ["127.0.0.1:8443"], "authorityMetadata": {}"#,
            metadata_on("127.0.0.1:8443")
        );
        let allowed = format!(r#"{mock}, "testOnlyAllowAnyAuthority": true"#);
        let AuthMode::Msal(msal) = msal_config("commercial", &allowed).unwrap().auth else {
            panic!("not msal")
        };
        assert_eq!(msal.authority.as_str(), "https://127.0.0.1:8443/t");
        assert_eq!(msal.known_authorities, ["127.0.0.1:8443"]);
        assert_eq!(msal.foreign_sign_in_host.as_deref(), Some("127.0.0.1:8443"));
        let AuthMode::Msal(msal) = msal_config("commercial", "").unwrap().auth else {
            panic!("not msal")
        };
        assert_eq!(msal.foreign_sign_in_host, None, "the cloud's own host");

        let off = format!(r#"{mock}, "testOnlyAllowAnyAuthority": false"#);
        assert_eq!(msal_config("commercial", &off).unwrap_err().len(), 7);
        assert_eq!(
            msal_config("commercial", r#", "testOnlyAllowAnyAuthority": "yes""#).unwrap_err(),
            vec![wrong_type(
                "auth.testOnlyAllowAnyAuthority",
                "true or false"
            )]
        );
        // Still https, and still no credentials, with the setting on.
        let http = r#", "testOnlyAllowAnyAuthority": true, "authority": "http://127.0.0.1:8443/t""#;
        assert!(msal_config("commercial", http).is_err());
    }

    #[test]
    fn a_password_in_any_url_is_refused_like_a_user_name() {
        for api_base in [
            "https://:secret@api.security.microsoft.com",
            "https://user@api.security.microsoft.com",
            "https://user:secret@api.security.microsoft.com",
            "http://:secret@127.0.0.1:8787",
            // No host, or no valid one: not a URL at all, and still not echoed with the secret.
            "https://:secret@",
            "https://user:secret@/api",
            "https://user:secret@exa mple.com",
        ] {
            let text = format!(r#"{{"apiBase": "{api_base}", "auth": {{"mode": "demo"}}}}"#);
            let errors = AppConfig::parse(&text).unwrap_err();
            assert!(
                matches!(&errors[..], [ConfigError::InvalidValue { key, .. }] if key == "apiBase"),
                "{api_base}: {errors:?}"
            );
            assert!(!format!("{errors:?}").contains("secret"), "{errors:?}");
        }
        for extra in [
            r#", "authority": "https://:secret@login.microsoftonline.com/t""#,
            r#", "redirectUri": "https://:secret@kb.example/redirect.html""#,
            r#", "authorityMetadata": {"token_endpoint": "https://:secret@login.microsoftonline.com/t/token"}"#,
            r#", "testOnlyAllowAnyAuthority": true, "authorityMetadata": {"jwks_uri": "https://:secret@127.0.0.1/keys"}"#,
        ] {
            let errors = msal_config("commercial", extra).unwrap_err();
            assert_eq!(errors.len(), 1, "{extra}: {errors:?}");
            assert!(!format!("{errors:?}").contains("secret"), "{errors:?}");
        }
    }

    #[test]
    fn values_echoed_in_problems_are_quoted_cut_and_escaped() {
        let errors = AppConfig::parse(
            r#"{"\u202eyek": 1, "auth": {"mode": "demo\u2066"}, "apiBase": "https://evil.example/\u202e?aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
        )
        .unwrap_err();
        assert_eq!(
            errors[0],
            ConfigError::UnknownKey {
                key: "\"\\u{202e}yek\"".into(),
                suggestion: None
            }
        );
        for error in &errors {
            let text = format!("{error}");
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() || crate::quote::is_format(c)),
                "{text:?}"
            );
            assert!(text.chars().count() < 250, "{text:?}");
        }
        assert!(format!("{}", errors[1]).contains("\\u{202e}"), "{errors:?}");
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = AppConfig::parse(&text);
        }

        #[test]
        fn arbitrary_json_objects_never_panic(key in "[a-zA-Z.]{0,12}", value in "\\PC{0,20}", n in any::<i64>()) {
            let _ = AppConfig::parse(&format!(r#"{{{key:?}: {value:?}, "devicePageSize": {n}, "refresh": {{{key:?}: {n}}}}}"#));
        }
    }
}
