//! The Entra ID v2.0 endpoints: OIDC metadata, JWKS, instance discovery, `/authorize`, `/token`,
//! `/logout`, and the `/_mock/idp` controls.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::grants::{self, AuthCode, RefreshGrant};
use super::tokens::{AccessClaims, IdClaims};
use super::{Idp, IdpError, OIDC_SCOPES};
use crate::errors::JSON_CONTENT_TYPE;
use crate::query::{self, pairs, query_pairs};

/// A parameter's first value; Entra treats `key=` like a missing key.
fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query::param(pairs, key).filter(|v| !v.is_empty())
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Entra accepts the tenant id, and the multi-tenant aliases, in the path.
fn known_tenant(idp: &Idp, tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case(&idp.options.tenant_id)
        || matches!(
            tenant.to_ascii_lowercase().as_str(),
            "common" | "organizations"
        )
}

fn unknown_tenant(tenant: &str) -> AadError {
    AadError::new(
        "invalid_tenant",
        90002,
        format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
    )
}

/// An Entra error: `error`, the AADSTS number and its text.
#[derive(Debug, Clone)]
struct AadError {
    error: &'static str,
    code: u32,
    description: String,
}

impl AadError {
    fn new(error: &'static str, code: u32, description: impl Into<String>) -> Self {
        Self {
            error,
            code,
            description: description.into(),
        }
    }

    fn missing(parameter: &str) -> Self {
        Self::new(
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    fn unknown_client(idp: &Idp, client_id: &str) -> Self {
        Self::new(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                idp.options.tenant_id
            ),
        )
    }

    /// `AADSTS{code}: {text}` plus the trace lines Entra appends.
    fn full_description(&self, trace_id: &str, correlation_id: &str, timestamp: &str) -> String {
        format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            self.code, self.description
        )
    }

    /// The `/token` JSON error.
    fn into_json(self, idp: &Idp, endpoint: &str, correlation_id: &str) -> Response {
        idp.count_failure(endpoint, self.error);
        let trace_id = uuid::Uuid::new_v4().to_string();
        let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        // Entra answers 401 only for failed client authentication, which a SPA never does.
        let status = if self.error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = json!({
            "error": self.error,
            "error_description": self.full_description(&trace_id, correlation_id, &timestamp),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{}/error?code={}", idp.origin, self.code),
        });
        let mut response = (status, json_body(&body)).into_response();
        no_store(response.headers_mut());
        response
    }

    /// The redirect back to the client with `error`, `error_description`, `state`.
    fn into_redirect(
        self,
        idp: &Idp,
        redirect_uri: &str,
        mode: ResponseMode,
        state: Option<&str>,
    ) -> Response {
        idp.count_failure("authorize", self.error);
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let trace_id = uuid::Uuid::new_v4().to_string();
        let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        let mut params = vec![
            ("error", self.error.to_owned()),
            (
                "error_description",
                self.full_description(&trace_id, &correlation_id, &timestamp),
            ),
            (
                "error_uri",
                format!("{}/error?code={}", idp.origin, self.code),
            ),
        ];
        if let Some(state) = state {
            params.push(("state", state.to_owned()));
        }
        redirect_to(redirect_uri, mode, &params)
    }

    /// Entra's own error page, when there is nowhere safe to redirect to.
    fn into_page(self, idp: &Idp) -> Response {
        idp.count_failure("authorize", self.error);
        html_page(
            StatusCode::BAD_REQUEST,
            "Sign in — error",
            &format!("AADSTS{}: {}", self.code, self.description),
        )
    }
}

fn json_body(value: &Value) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        )],
        value.to_string(),
    )
        .into_response()
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn html_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p id=\"message\">{message}</p>\
         <p><small>kbwatch-mock Entra ID stand-in</small></p></body></html>",
        title = escape_html(title),
        message = escape_html(message)
    );
    (status, Html(body)).into_response()
}

/// Where `/authorize` puts its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseMode {
    Fragment,
    Query,
    FormPost,
}

impl ResponseMode {
    /// Fragment unless asked otherwise: the SPA default, and what MSAL.js sends.
    fn parse(value: Option<&str>) -> Self {
        match value {
            Some("query") => Self::Query,
            Some("form_post") => Self::FormPost,
            _ => Self::Fragment,
        }
    }
}

/// 302 to `redirect_uri` with `params` in the fragment or query, or an auto-posting form.
fn redirect_to(redirect_uri: &str, mode: ResponseMode, params: &[(&str, String)]) -> Response {
    let encoded = {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            s.append_pair(k, v);
        }
        s.finish()
    };
    let (base, fragment) = match redirect_uri.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (redirect_uri, None),
    };
    let location = match mode {
        ResponseMode::Fragment => format!("{base}#{encoded}"),
        ResponseMode::Query => {
            let sep = if base.contains('?') { '&' } else { '?' };
            let tail = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            format!("{base}{sep}{encoded}{tail}")
        }
        ResponseMode::FormPost => {
            let inputs: String = params
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                        escape_html(k),
                        escape_html(v)
                    )
                })
                .collect();
            let body = format!(
                "<!doctype html><html><head><title>Working...</title></head>\
                 <body onload=\"document.forms[0].submit()\">\
                 <form method=\"POST\" action=\"{}\">{inputs}</form></body></html>",
                escape_html(redirect_uri)
            );
            let mut response = Html(body).into_response();
            no_store(response.headers_mut());
            return response;
        }
    };
    match HeaderValue::try_from(location) {
        Ok(location) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            no_store(response.headers_mut());
            response
        }
        Err(_) => html_page(
            StatusCode::BAD_REQUEST,
            "Sign in — error",
            "The redirect URI cannot be used in a Location header.",
        ),
    }
}

/// The OIDC discovery document for `tenant` (the path segment the client used).
pub(super) fn openid_configuration(idp: &Idp, tenant: &str) -> Value {
    let base = format!("{}/{tenant}", idp.origin);
    json!({
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": idp.issuer(),
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "name", "nonce", "oid",
            "preferred_username", "sid", "tid", "ver"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    })
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(super) async fn metadata(State(idp): State<Arc<Idp>>, Path(tenant): Path<String>) -> Response {
    if !known_tenant(&idp, &tenant) {
        return unknown_tenant(&tenant).into_json(&idp, "metadata", &new_id());
    }
    idp.with_stats(|s| s.metadata += 1);
    json_body(&openid_configuration(&idp, &tenant))
}

/// `GET /{tenant}/discovery/v2.0/keys`.
pub(super) async fn keys(State(idp): State<Arc<Idp>>, Path(tenant): Path<String>) -> Response {
    if !known_tenant(&idp, &tenant) {
        return unknown_tenant(&tenant).into_json(&idp, "keys", &new_id());
    }
    idp.with_stats(|s| s.metadata += 1);
    json_body(&json!({ "keys": [idp.signing.jwk()] }))
}

/// `GET /common/discovery/instance`: what MSAL asks when the authority is not in
/// `knownAuthorities` and no `cloudDiscoveryMetadata` was given.
pub(super) async fn instance_discovery(State(idp): State<Arc<Idp>>) -> Response {
    idp.with_stats(|s| s.metadata += 1);
    let host = idp.host().to_owned();
    json_body(&json!({
        "tenant_discovery_endpoint": format!("{}/v2.0/.well-known/openid-configuration", idp.authority()),
        "api-version": "1.1",
        "metadata": [{ "preferred_network": host, "preferred_cache": host, "aliases": [host] }],
    }))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: signs the demo user in at once and redirects back.
pub(super) async fn authorize(
    State(idp): State<Arc<Idp>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query_pairs(query.as_deref());
    let get = |key| param(&query, key);
    if !known_tenant(&idp, &tenant) {
        return unknown_tenant(&tenant).into_page(&idp);
    }
    let client_id = get("client_id").unwrap_or_default();
    let Some(redirect_uri) = get("redirect_uri") else {
        return AadError::missing("redirect_uri").into_page(&idp);
    };
    let redirect_ok = idp.options.accepts_redirect_uri(redirect_uri);
    let mode = ResponseMode::parse(get("response_mode"));
    let state = get("state");
    if client_id != idp.options.client_id {
        let error = AadError::unknown_client(&idp, client_id);
        return if redirect_ok {
            error.into_redirect(&idp, redirect_uri, mode, state)
        } else {
            error.into_page(&idp)
        };
    }
    if !redirect_ok {
        return AadError::new(
            "invalid_request",
            50011,
            format!("The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal."),
        )
        .into_page(&idp);
    }
    if let Err(error) = check_authorize_request(&query) {
        return error.into_redirect(&idp, redirect_uri, mode, state);
    }
    if idp.session_ended() {
        if get("prompt") == Some("none") {
            return AadError::new(
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in.".to_owned(),
            )
            .into_redirect(&idp, redirect_uri, mode, state);
        }
        // The user signs in again on the sign-in page.
        idp.start_session();
    }
    let code = idp.grants.issue_code(AuthCode {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        code_challenge: get("code_challenge").unwrap_or_default().to_owned(),
        nonce: get("nonce").map(str::to_owned),
        scope: get("scope").unwrap_or_default().to_owned(),
        expires_at: now() + grants::CODE_LIFETIME_SECS,
        redeemed: false,
    });
    idp.with_stats(|s| s.authorize += 1);
    let mut params = vec![("code", code), ("client_info", client_info(&idp))];
    if let Some(state) = state {
        params.push(("state", state.to_owned()));
    }
    params.push(("session_state", session_state(&idp)));
    redirect_to(redirect_uri, mode, &params)
}

/// What a SPA request must carry besides client and redirect URI.
fn check_authorize_request(query: &[(String, String)]) -> Result<(), AadError> {
    let get = |key| param(query, key);
    match get("response_type") {
        None => return Err(AadError::missing("response_type")),
        Some("code") => {}
        Some(other) => {
            return Err(AadError::new(
                "unsupported_response_type",
                700054,
                format!("response_type '{other}' is not enabled for the application. This stand-in issues authorization codes only (response_type=code)."),
            ))
        }
    }
    if get("scope").is_none() {
        return Err(AadError::missing("scope"));
    }
    if get("code_challenge").is_none() {
        return Err(AadError::new(
            "invalid_request",
            9002325,
            "Proof Key for Code Exchange is required for cross-origin authorization code redemption.",
        ));
    }
    match get("code_challenge_method") {
        Some("S256") => Ok(()),
        other => Err(AadError::new(
            "invalid_request",
            501481,
            format!(
                "code_challenge_method '{}' is not supported; single-page applications must use S256.",
                other.unwrap_or("plain")
            ),
        )),
    }
}

/// base64url of `{"uid": oid, "utid": tenant}`: MSAL builds the home account id from it.
fn client_info(idp: &Idp) -> String {
    let info = json!({ "uid": idp.options.user.oid, "utid": idp.options.tenant_id });
    URL_SAFE_NO_PAD.encode(info.to_string())
}

/// One sign-in session per user and tenant (no real sessions: the user is always signed in).
fn session_state(idp: &Idp) -> String {
    grants::guid_from(&format!(
        "session:{}:{}",
        idp.options.user.oid, idp.options.tenant_id
    ))
}

/// `POST /{tenant}/oauth2/v2.0/token` (form): `authorization_code` and `refresh_token` grants.
pub(super) async fn token(
    State(idp): State<Arc<Idp>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = pairs(&body);
    let get = |key| param(&form, key);
    let correlation_id = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .or_else(|| get("client-request-id"))
        .map_or_else(new_id, str::to_owned);
    let answer = redeem(&idp, &tenant, &form);
    let mut response = match answer {
        Ok(body) => {
            let mut response = json_body(&body);
            no_store(response.headers_mut());
            response
        }
        Err(error) => error.into_json(&idp, "token", &correlation_id),
    };
    for name in ["client-request-id", "x-ms-request-id"] {
        if let Ok(value) = HeaderValue::try_from(correlation_id.as_str()) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn redeem(idp: &Idp, tenant: &str, form: &[(String, String)]) -> Result<Value, AadError> {
    let get = |key| param(form, key);
    if !known_tenant(idp, tenant) {
        return Err(unknown_tenant(tenant));
    }
    let grant_type = get("grant_type").ok_or_else(|| AadError::missing("grant_type"))?;
    let client_id = get("client_id").ok_or_else(|| AadError::missing("client_id"))?;
    if client_id != idp.options.client_id {
        return Err(AadError::unknown_client(idp, client_id));
    }
    let refused = |e: grants::GrantError| {
        let (error, code, text) = e.parts();
        AadError::new(error, code, text)
    };
    let (scope, nonce) = match grant_type {
        "authorization_code" => {
            let code = get("code").ok_or_else(|| AadError::missing("code"))?;
            let redirect_uri =
                get("redirect_uri").ok_or_else(|| AadError::missing("redirect_uri"))?;
            let verifier =
                get("code_verifier").ok_or_else(|| AadError::missing("code_verifier"))?;
            let grant = idp
                .grants
                .redeem_code(code, client_id, redirect_uri, verifier, now())
                .map_err(refused)?;
            (get("scope").map_or(grant.scope, str::to_owned), grant.nonce)
        }
        "refresh_token" => {
            let token =
                get("refresh_token").ok_or_else(|| AadError::missing("refresh_token"))?;
            let grant = idp
                .grants
                .redeem_refresh(token, client_id, now())
                .map_err(refused)?;
            (get("scope").map_or(grant.scope, str::to_owned), None)
        }
        other => {
            return Err(AadError::new(
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'. This stand-in supports authorization_code and refresh_token."),
            ))
        }
    };
    let body = issue_tokens(idp, client_id, &scope, nonce).map_err(|e| {
        AadError::new(
            "server_error",
            50000,
            format!("There was an error issuing a token: {e}"),
        )
    })?;
    idp.with_stats(|s| *s.token.entry(grant_type.to_owned()).or_default() += 1);
    Ok(body)
}

/// The resource of a scope: `https://host/Perm` → `https://host`; `None` for bare names.
fn resource_of(scope: &str) -> Option<&str> {
    scope
        .rsplit_once('/')
        .map(|(resource, _)| resource)
        .filter(|r| !r.is_empty())
}

/// `(audience, response scope)` for a requested `scope`: OIDC scopes dropped, `.default` expanded
/// to the granted permissions (and kept, as Entra does, so MSAL's cache lookup for `.default`
/// finds the token), other scopes echoed.
pub(super) fn resolve_scope(idp: &Idp, requested: &str) -> (String, String) {
    let resource_scopes: Vec<&str> = requested
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(s)))
        .collect();
    let audience = resource_scopes
        .first()
        .and_then(|s| resource_of(s))
        .unwrap_or(&idp.options.audience)
        .to_owned();
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    if resource_scopes.is_empty() {
        for granted in &idp.options.granted_scopes {
            push(format!("{audience}/{granted}"));
        }
    }
    for scope in resource_scopes {
        if let Some(resource) = scope.strip_suffix("/.default") {
            for granted in &idp.options.granted_scopes {
                push(format!("{resource}/{granted}"));
            }
        }
        push(scope.to_owned());
    }
    (audience, out.join(" "))
}

fn issue_tokens(
    idp: &Idp,
    client_id: &str,
    requested_scope: &str,
    nonce: Option<String>,
) -> Result<Value, IdpError> {
    let (audience, scope) = resolve_scope(idp, requested_scope);
    let opts = &idp.options;
    let user = &opts.user;
    let issued = now();
    let lifetime = opts.access_token_lifetime_secs;
    let access_token = idp.issue_access_token(&audience, &opts.granted_scopes)?;
    let id_token = idp.signing.sign(&IdClaims {
        aud: client_id.to_owned(),
        iss: idp.issuer(),
        iat: issued,
        nbf: issued,
        exp: issued + lifetime,
        name: user.name.clone(),
        nonce,
        oid: user.oid.clone(),
        preferred_username: user.preferred_username.clone(),
        sid: session_state(idp),
        sub: pairwise_subject(idp, client_id),
        tid: opts.tenant_id.clone(),
        uti: grants::random_token(16),
        ver: "2.0",
    })?;
    let refresh_token = idp.grants.issue_refresh(RefreshGrant {
        client_id: client_id.to_owned(),
        scope: requested_scope.to_owned(),
        expires_at: issued + opts.refresh_token_lifetime_secs,
        revoked: false,
    });
    Ok(json!({
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "refresh_token_expires_in": opts.refresh_token_lifetime_secs,
        "access_token": access_token,
        "refresh_token": refresh_token,
        "id_token": id_token,
        "client_info": client_info(idp),
    }))
}

/// Entra's `sub` is per user and app.
fn pairwise_subject(idp: &Idp, client_id: &str) -> String {
    let digest = grants::guid_from(&format!("sub:{}:{client_id}", idp.options.user.oid));
    URL_SAFE_NO_PAD.encode(digest.as_bytes())
}

impl Idp {
    /// A signed access token for `audience` carrying `scopes` in `scp`.
    pub(super) fn issue_access_token(
        &self,
        audience: &str,
        scopes: &[String],
    ) -> Result<String, IdpError> {
        let uti = grants::random_token(16);
        let opts = &self.options;
        let user = &opts.user;
        let issued = now();
        let token = self.signing.sign(&AccessClaims {
            aud: audience.to_owned(),
            iss: self.access_token_issuer(),
            iat: issued,
            nbf: issued,
            exp: issued + opts.access_token_lifetime_secs,
            appid: opts.client_id.clone(),
            appidacr: "0".to_owned(),
            amr: vec!["pwd".to_owned()],
            name: user.name.clone(),
            oid: user.oid.clone(),
            scp: scopes.join(" "),
            sub: pairwise_subject(self, &opts.client_id),
            tid: opts.tenant_id.clone(),
            upn: user.preferred_username.clone(),
            unique_name: user.preferred_username.clone(),
            preferred_username: user.preferred_username.clone(),
            uti: uti.clone(),
            ver: "1.0".to_owned(),
            roles: Vec::new(),
            idtyp: None,
        })?;
        self.grants.track_access_token(&uti);
        Ok(token)
    }

    /// An app-only access token, as the client credentials grant gives a confidential client:
    /// application `roles`, `idtyp` `app`, no user and no `scp`. The client is the configured
    /// one; its service principal's object id is derived from it.
    pub(super) fn issue_app_token(
        &self,
        audience: &str,
        roles: &[String],
    ) -> Result<String, IdpError> {
        let uti = grants::random_token(16);
        let opts = &self.options;
        let issued = now();
        let principal = grants::guid_from(&format!("sp:{}", opts.client_id));
        let token = self.signing.sign(&AccessClaims {
            aud: audience.to_owned(),
            iss: self.access_token_issuer(),
            iat: issued,
            nbf: issued,
            exp: issued + opts.access_token_lifetime_secs,
            appid: opts.client_id.clone(),
            appidacr: "1".to_owned(),
            amr: Vec::new(),
            name: String::new(),
            oid: principal.clone(),
            scp: String::new(),
            sub: principal,
            tid: opts.tenant_id.clone(),
            upn: String::new(),
            unique_name: String::new(),
            preferred_username: String::new(),
            uti: uti.clone(),
            ver: "1.0".to_owned(),
            roles: roles.to_vec(),
            idtyp: Some("app".to_owned()),
        })?;
        self.grants.track_access_token(&uti);
        Ok(token)
    }
}

/// `GET /{tenant}/oauth2/v2.0/logout`: back to `post_logout_redirect_uri`, or a page.
pub(super) async fn logout(
    State(idp): State<Arc<Idp>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query_pairs(query.as_deref());
    if !known_tenant(&idp, &tenant) {
        return unknown_tenant(&tenant).into_page(&idp);
    }
    idp.with_stats(|s| s.logout += 1);
    match param(&query, "post_logout_redirect_uri") {
        Some(uri) if idp.options.accepts_redirect_uri(uri) => {
            let params: Vec<(&str, String)> = param(&query, "state")
                .map(|state| ("state", state.to_owned()))
                .into_iter()
                .collect();
            if params.is_empty() {
                let mut response = StatusCode::FOUND.into_response();
                if let Ok(location) = HeaderValue::try_from(uri) {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                response
            } else {
                redirect_to(uri, ResponseMode::Query, &params)
            }
        }
        _ => html_page(
            StatusCode::OK,
            "Signed out",
            "You signed out of your account. It's a good idea to close all browser windows.",
        ),
    }
}

/// `GET /_mock/idp/stats`.
pub(super) async fn admin_stats(State(idp): State<Arc<Idp>>) -> Json<Value> {
    Json(json!(idp.stats()))
}

/// `POST /_mock/idp/expire`: every access token issued so far now counts as expired.
pub(super) async fn admin_expire(State(idp): State<Arc<Idp>>) -> Json<Value> {
    Json(json!({ "expired": idp.expire_access_tokens() }))
}

/// `POST /_mock/idp/end-session`: see [`Idp::end_session`].
pub(super) async fn admin_end_session(State(idp): State<Arc<Idp>>) -> Json<Value> {
    idp.end_session();
    Json(json!({ "session_ended": true }))
}

/// `GET /_mock/idp/token[?scp=Machine.Read,Software.Read]`: an access token for the demo user
/// without any flow, for curl and for a test's own API calls.
pub(super) async fn admin_token(
    State(idp): State<Arc<Idp>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query_pairs(query.as_deref());
    let list = |v: &str| -> Vec<String> {
        v.split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let minted = match query::param(&query, "roles").map(list) {
        // An app-only token: `?roles=Software.Read.All,Machine.Read.All` (`?roles=` = none).
        Some(roles) => idp.mint_app_token(Some(&roles)).map(|token| {
            json!({
                "token_type": "Bearer",
                "access_token": token,
                "expires_in": idp.options.access_token_lifetime_secs,
                "roles": roles,
            })
        }),
        None => {
            let scopes: Option<Vec<String>> = query::param(&query, "scp").map(list);
            idp.mint_access_token(scopes.as_deref()).map(|token| {
                json!({
                    "token_type": "Bearer",
                    "access_token": token,
                    "expires_in": idp.options.access_token_lifetime_secs,
                    "scp": scopes.unwrap_or_else(|| idp.options.granted_scopes.clone()).join(" "),
                })
            })
        }
    };
    match minted {
        Ok(body) => json_body(&body),
        Err(error) => crate::errors::ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            error.to_string(),
        )
        .into_response(),
    }
}

/// `GET /_mock/idp/cert`: the CA certificate (PEM) that signed the IdP's HTTPS certificate.
pub(super) async fn admin_cert(State(idp): State<Arc<Idp>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        idp.ca_cert_pem().to_owned(),
    )
        .into_response()
}
