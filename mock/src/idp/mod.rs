//! A local stand-in for Microsoft Entra ID (the v2.0 OAuth2/OIDC endpoints), good enough for the
//! real MSAL.js in a headless browser: authorization code flow with PKCE, refresh tokens, OIDC
//! metadata, a JWKS, logout — and the tokens it issues are what the mock API validates.
//!
//! There is no sign-in form: `/authorize` always signs in the configured [`DemoUser`]. The signing
//! key (P-256, ES256) and the TLS certificate are generated at start, so tokens from one run are
//! worthless in the next.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use kbwatch_mock::{spawn, IdpOptions, MockOptions};
//! let opts = MockOptions { cors: true, idp: Some(IdpOptions { port: 0, ..Default::default() }), ..Default::default() };
//! let mock = spawn(opts, 0).await?;
//! println!("authority {}", mock.authority().unwrap_or_default());
//! # Ok(()) }
//! ```

mod endpoints;
mod grants;
mod tokens;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{header, HeaderName, Method};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::Value;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

pub use grants::pkce_s256;
pub use tokens::{AccessClaims, Grants, TokenRejection, LEEWAY_SECS};

/// Tenant id used when none is configured.
pub const DEFAULT_TENANT_ID: &str = "5f3c2a1e-0b6d-4e8f-9a7c-6b6277617463";
/// The one registered SPA client id when none is configured.
pub const DEFAULT_CLIENT_ID: &str = "0c7b9d2e-4a1f-4c3e-8b5d-6b6277617463";
/// Object id of the default demo user.
pub const DEFAULT_USER_OID: &str = "9e1d4c7a-2b3f-4a6e-b8c9-6b6277617463";
/// The `aud` of Defender API tokens (the legacy host's resource URI).
pub const DEFAULT_AUDIENCE: &str = "https://api.securitycenter.microsoft.com";
/// The newer resource URI the real API also accepts.
pub const ALTERNATE_AUDIENCE: &str = "https://api.security.microsoft.com";
/// Delegated permissions granted by default, as they appear in `scp`.
pub const DEFAULT_GRANTED_SCOPES: [&str; 3] =
    ["Machine.Read", "Software.Read", "Vulnerability.Read"];
/// Application roles of app-only tokens minted without a list, as they appear in `roles`.
pub const DEFAULT_APPLICATION_ROLES: [&str; 3] = [
    "Machine.Read.All",
    "Software.Read.All",
    "Vulnerability.Read.All",
];

/// The signed-in user: every `/authorize` signs this user in, without a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    /// Display name (`name` claim).
    pub name: String,
    /// Sign-in name (`preferred_username`, `upn`).
    pub preferred_username: String,
    /// Object id (`oid`; also the `uid` of `client_info`, hence MSAL's home account id).
    pub oid: String,
}

impl Default for DemoUser {
    fn default() -> Self {
        Self {
            name: "Dana Demo".to_owned(),
            preferred_username: "dana.demo@contoso.onmicrosoft.com".to_owned(),
            oid: DEFAULT_USER_OID.to_owned(),
        }
    }
}

impl DemoUser {
    /// From a command-line value: `Name <upn>` or a bare `upn` (the name is its local part).
    /// The oid is derived from the UPN, so the same user gets the same account every run.
    pub fn from_spec(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let (name, upn) = match spec.split_once('<') {
            Some((name, rest)) => {
                let upn = rest
                    .strip_suffix('>')
                    .ok_or_else(|| format!("user '{spec}': expected 'Name <upn>'"))?;
                (name.trim().to_owned(), upn.trim().to_owned())
            }
            None => {
                let local = spec.split('@').next().unwrap_or_default();
                (local.to_owned(), spec.to_owned())
            }
        };
        if upn.is_empty() || upn.contains(char::is_whitespace) || name.is_empty() {
            return Err(format!(
                "user '{spec}': expected 'Name <upn>' or a bare upn like dana@contoso.com"
            ));
        }
        Ok(Self {
            oid: grants::guid_from(&upn.to_ascii_lowercase()),
            name,
            preferred_username: upn,
        })
    }
}

/// How the Entra ID stand-in behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpOptions {
    /// HTTPS port on 127.0.0.1 (0, the default = any free; the CLI's `--idp-port` sets it).
    pub port: u16,
    /// Directory (tenant) id: the authority is `https://127.0.0.1:{port}/{tenant_id}`.
    pub tenant_id: String,
    /// The only registered client (a "Single-page application" registration).
    pub client_id: String,
    /// Registered redirect URIs, compared exactly; empty = any `http(s)` URI on 127.0.0.1,
    /// localhost or [::1].
    pub redirect_uris: Vec<String>,
    /// Who `/authorize` signs in.
    pub user: DemoUser,
    /// Lifetime of access and ID tokens (real tokens: about an hour).
    pub access_token_lifetime_secs: u64,
    /// Lifetime of refresh tokens (Entra gives SPAs 24 hours).
    pub refresh_token_lifetime_secs: u64,
    /// Delegated permissions put in the access token's `scp`.
    pub granted_scopes: Vec<String>,
    /// The `aud` of access tokens for `.default`/unprefixed requests.
    pub audience: String,
}

impl Default for IdpOptions {
    fn default() -> Self {
        Self {
            port: 0,
            tenant_id: DEFAULT_TENANT_ID.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            redirect_uris: Vec::new(),
            user: DemoUser::default(),
            access_token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: 24 * 3600,
            granted_scopes: DEFAULT_GRANTED_SCOPES.map(str::to_owned).to_vec(),
            audience: DEFAULT_AUDIENCE.to_owned(),
        }
    }
}

impl IdpOptions {
    /// Whether `uri` may receive codes: registered exactly, or (no registrations) a loopback URI.
    pub fn accepts_redirect_uri(&self, uri: &str) -> bool {
        if self.redirect_uris.is_empty() {
            is_loopback_http_uri(uri)
        } else {
            self.redirect_uris.iter().any(|r| r == uri)
        }
    }
}

/// `http(s)://{127.0.0.1|localhost|[::1]}[:port][/…]`, no user info.
fn is_loopback_http_uri(uri: &str) -> bool {
    let Some(rest) = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
        None => authority.split(':').next().map(str::to_owned),
    };
    matches!(
        host.as_deref().map(str::to_ascii_lowercase).as_deref(),
        Some("127.0.0.1" | "localhost" | "[::1]")
    )
}

/// Counters of what the IdP did, for tests (`GET /_mock/idp/stats`).
#[derive(Debug, Default, Clone, Serialize)]
pub struct IdpStats {
    /// `/authorize` requests that redirected with a code.
    pub authorize: u64,
    /// Successful `/token` answers per `grant_type`.
    pub token: BTreeMap<String, u64>,
    /// Refusals per `endpoint:error`, e.g. `token:invalid_grant`, `authorize:unauthorized_client`,
    /// `api:expired`, `api:invalid`, `api:forbidden`.
    pub failures: BTreeMap<String, u64>,
    /// OpenID metadata, JWKS and instance discovery fetches.
    pub metadata: u64,
    /// `/logout` requests.
    pub logout: u64,
    /// Access tokens forced to count as expired by `POST /_mock/idp/expire`.
    pub forced_expired: u64,
    /// Sign-in sessions ended by `POST /_mock/idp/end-session`.
    pub ended_sessions: u64,
}

/// One running IdP: options, keys, TLS material, outstanding codes and refresh tokens, counters.
///
/// Shared (`Arc`) between its own routes and the API's token check.
#[derive(Debug)]
pub struct Idp {
    options: IdpOptions,
    origin: String,
    signing: tokens::SigningKey,
    tls: crate::tls::TlsMaterial,
    grants: grants::GrantStore,
    stats: Mutex<IdpStats>,
    /// Set by [`Idp::end_session`]: nothing renews silently until the user signs in again.
    session_ended: std::sync::atomic::AtomicBool,
}

/// Why an IdP could not be created.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    #[error("cannot generate the IdP's keys: {0}")]
    Crypto(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl Idp {
    /// Generate keys and a certificate for an IdP reachable at `origin`
    /// (`https://127.0.0.1:{port}`, no trailing slash), which its URLs and issuers are built from.
    pub fn new(options: IdpOptions, origin: &str) -> Result<Arc<Self>, IdpError> {
        Ok(Arc::new(Self {
            signing: tokens::SigningKey::generate()?,
            tls: crate::tls::TlsMaterial::generate("kbwatch-mock Entra ID stand-in")?,
            origin: origin.trim_end_matches('/').to_owned(),
            options,
            grants: grants::GrantStore::default(),
            stats: Mutex::default(),
            session_ended: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Options it was started with.
    pub fn options(&self) -> &IdpOptions {
        &self.options
    }

    /// `https://127.0.0.1:{port}/{tenant_id}`: MSAL's `auth.authority`.
    pub fn authority(&self) -> String {
        format!("{}/{}", self.origin, self.options.tenant_id)
    }

    /// `127.0.0.1:{port}`: MSAL's `auth.knownAuthorities` entry.
    pub fn host(&self) -> &str {
        self.origin
            .split_once("://")
            .map_or(self.origin.as_str(), |(_, host)| host)
    }

    /// Issuer of ID tokens and of the OIDC metadata: `{authority}/v2.0`.
    pub fn issuer(&self) -> String {
        format!("{}/v2.0", self.authority())
    }

    /// Issuer of access tokens, as in the real API's v1 tokens: `https://sts.windows.net/{tid}/`.
    pub fn access_token_issuer(&self) -> String {
        format!("https://sts.windows.net/{}/", self.options.tenant_id)
    }

    /// PEM of the CA that signed the HTTPS certificate (trust it, or run Chrome with
    /// `--ignore-certificate-errors`).
    pub fn ca_cert_pem(&self) -> &str {
        self.tls.ca_pem()
    }

    /// The rustls config of the HTTPS listener.
    pub(crate) fn tls_config(&self) -> Result<Arc<rustls::ServerConfig>, IdpError> {
        Ok(self.tls.server_config()?)
    }

    /// The OpenID configuration document, also usable verbatim as MSAL's `authorityMetadata`.
    pub fn openid_configuration(&self) -> Value {
        endpoints::openid_configuration(self, &self.options.tenant_id)
    }

    /// Validate a bearer token the way the mock API does: ES256 signature with this IdP's key,
    /// issuer, audience, `exp`/`nbf` (2 s leeway), not force-expired.
    pub fn validate_access_token(&self, token: &str) -> Result<AccessClaims, TokenRejection> {
        let claims = self.signing.validate_access(
            token,
            &self.access_token_issuer(),
            &self.accepted_audiences(),
        )?;
        if self.grants.is_force_expired(&claims.uti) {
            return Err(TokenRejection::Expired);
        }
        Ok(claims)
    }

    /// An access token for the demo user without any flow (for a test's own API calls or curl).
    /// `scopes` = `None` grants the configured permissions.
    pub fn mint_access_token(&self, scopes: Option<&[String]>) -> Result<String, IdpError> {
        let scopes = scopes.unwrap_or(&self.options.granted_scopes);
        self.issue_access_token(&self.options.audience, scopes)
    }

    /// An app-only access token (client credentials: `roles`, `idtyp` `app`, no `scp`, no
    /// user) for the configured client. `roles` = `None` grants [`DEFAULT_APPLICATION_ROLES`].
    pub fn mint_app_token(&self, roles: Option<&[String]>) -> Result<String, IdpError> {
        let default: Vec<String> = DEFAULT_APPLICATION_ROLES.map(str::to_owned).to_vec();
        self.issue_app_token(&self.options.audience, roles.unwrap_or(&default))
    }

    /// End the user's sign-in session, as a password reset, a revoked session or a Conditional
    /// Access sign-in frequency does: access tokens issued so far count as expired, refresh
    /// tokens issued so far are refused (`invalid_grant`, AADSTS50173) and a silent `/authorize`
    /// (`prompt=none`) answers `login_required` (AADSTS50058). An interactive sign-in starts a
    /// new session.
    pub fn end_session(&self) {
        self.session_ended
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.grants.revoke_refresh_tokens();
        self.expire_access_tokens();
        self.with_stats(|s| s.ended_sessions += 1);
    }

    /// Whether [`Idp::end_session`] was called and nobody signed in interactively since.
    pub fn session_ended(&self) -> bool {
        self.session_ended.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn start_session(&self) {
        self.session_ended
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Make every refresh token issued so far expired (the 24-hour limit of a SPA's refresh
    /// tokens, reached at once), while the user's sign-in session stays: MSAL then renews in a
    /// hidden iframe (`prompt=none`), which gets a new code. Returns how many.
    pub fn expire_refresh_tokens(&self) -> usize {
        self.grants.expire_refresh_tokens()
    }

    /// Make every access token issued so far count as expired; returns how many that were.
    pub fn expire_access_tokens(&self) -> usize {
        let n = self.grants.force_expire_all();
        self.with_stats(|s| s.forced_expired += n as u64);
        n
    }

    /// A copy of the counters.
    pub fn stats(&self) -> IdpStats {
        self.with_stats(|s| s.clone())
    }

    /// Zero the counters (codes and tokens stay valid).
    pub fn reset_stats(&self) {
        self.with_stats(|s| *s = IdpStats::default());
    }

    /// Count a refusal, e.g. `("api", "expired")`.
    pub(crate) fn count_failure(&self, endpoint: &str, error: &str) {
        self.with_stats(|s| *s.failures.entry(format!("{endpoint}:{error}")).or_default() += 1);
    }

    fn with_stats<R>(&self, f: impl FnOnce(&mut IdpStats) -> R) -> R {
        f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The configured audience, and the newer API host's resource URI, which the real API also
    /// accepts.
    fn accepted_audiences(&self) -> Vec<String> {
        let mut audiences = vec![self.options.audience.clone()];
        if self.options.audience != ALTERNATE_AUDIENCE {
            audiences.push(ALTERNATE_AUDIENCE.to_owned());
        }
        audiences
    }
}

/// The IdP's own routes (`/{tenant}/…`, `/common/discovery/instance`), with CORS that echoes the
/// caller's origin, as Entra ID does for SPA registrations.
pub fn router(idp: Arc<Idp>) -> Router {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(endpoints::metadata),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(endpoints::metadata),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(endpoints::keys))
        .route(
            "/common/discovery/instance",
            get(endpoints::instance_discovery),
        )
        .route("/{tenant}/oauth2/v2.0/authorize", get(endpoints::authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(endpoints::token))
        .route("/{tenant}/oauth2/v2.0/logout", get(endpoints::logout))
        .with_state(idp)
        .layer(idp_cors())
}

/// `/_mock/idp/*`: counters, forced expiry, minted tokens, the CA certificate. Served on both the
/// API and the IdP listener.
pub fn admin_router(idp: Arc<Idp>) -> Router {
    Router::new()
        .route("/_mock/idp/stats", get(endpoints::admin_stats))
        .route("/_mock/idp/expire", post(endpoints::admin_expire))
        .route("/_mock/idp/end-session", post(endpoints::admin_end_session))
        .route("/_mock/idp/token", get(endpoints::admin_token))
        .route("/_mock/idp/cert", get(endpoints::admin_cert))
        .with_state(idp)
}

/// MSAL calls metadata and `/token` with `fetch()` from the app's origin.
fn idp_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            HeaderName::from_static("x-ms-request-id"),
            HeaderName::from_static("client-request-id"),
            header::CONTENT_TYPE,
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Scopes MSAL adds to every request; they never reach the access token.
pub(crate) const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_only_when_none_registered() {
        let open = IdpOptions::default();
        for ok in [
            "http://127.0.0.1:8080/",
            "https://localhost/redirect.html",
            "http://[::1]:3000",
            "http://LOCALHOST:1/x?y#z",
        ] {
            assert!(open.accepts_redirect_uri(ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "http://127.0.0.1.evil.example/",
            "http://user@127.0.0.1/",
            "ftp://127.0.0.1/",
            "",
        ] {
            assert!(!open.accepts_redirect_uri(bad), "{bad}");
        }
        let fixed = IdpOptions {
            redirect_uris: vec!["http://127.0.0.1:8080/".to_owned()],
            ..IdpOptions::default()
        };
        assert!(fixed.accepts_redirect_uri("http://127.0.0.1:8080/"));
        assert!(!fixed.accepts_redirect_uri("http://127.0.0.1:8081/"));
    }

    #[test]
    fn demo_user_from_spec() {
        let ada = DemoUser::from_spec("Ada Admin <ada@contoso.com>").expect("spec");
        assert_eq!(ada.name, "Ada Admin");
        assert_eq!(ada.preferred_username, "ada@contoso.com");
        assert_eq!(ada.oid.len(), 36);
        let shouting = DemoUser::from_spec("Ada <ADA@contoso.com>").expect("spec");
        assert_eq!(shouting.oid, ada.oid, "oid ignores UPN case");
        let bare = DemoUser::from_spec("bob@contoso.com").expect("bare");
        assert_eq!(bare.name, "bob");
        assert_ne!(bare.oid, ada.oid);
        assert!(DemoUser::from_spec("Ada <").is_err());
        assert!(DemoUser::from_spec("").is_err());
    }
}
