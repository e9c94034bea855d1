//! Bearer-token check for `/api`.
//!
//! One function behind one middleware. Without the IdP any non-empty token passes; with it
//! ([`crate::MockOptions::idp`]) the token must be a JWT that IdP signed, for this API, unexpired,
//! carrying the delegated permission the endpoint needs. The token string is what rate limiting
//! keys on.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::errors::ApiError;
use crate::idp::{Idp, TokenRejection};
use crate::MockState;

/// 401 message for an expired (or force-expired) token, as the real API words it.
pub const EXPIRED_MESSAGE: &str = "Authorization token is expired";
/// 401 message prefix for any other invalid token; the reason follows in parentheses.
pub const INVALID_MESSAGE: &str = "Invalid token";

/// An accepted bearer token, stored in request extensions for later layers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BearerToken(pub String);

/// The `Bearer <token>` syntax alone: all the check there is without an IdP.
pub fn authorize(headers: &HeaderMap) -> Result<BearerToken, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("Authorization header is missing."))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("Authorization header is not valid text."))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("Authorization header must be 'Bearer <token>'."))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::unauthorized(
            "Authorization header must be 'Bearer <token>'.",
        ));
    }
    Ok(BearerToken(token.to_owned()))
}

/// A delegated permission an endpoint needs, with the permissions that also satisfy it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// The name in the 403 text, e.g. `Software.Read`.
    pub name: &'static str,
    /// Any of these in `scp` grants it.
    pub satisfied_by: &'static [&'static str],
}

/// `Machine.Read` (or `Machine.ReadWrite`): `/api/machines`, `/api/machines/{id}`.
pub const MACHINE_READ: Permission = Permission {
    name: "Machine.Read",
    satisfied_by: &["Machine.Read", "Machine.ReadWrite"],
};
/// `Software.Read`: `/api/machines/{id}/getmissingkbs` (the delegated sibling of the documented
/// application role `Software.Read.All`).
pub const SOFTWARE_READ: Permission = Permission {
    name: "Software.Read",
    satisfied_by: &["Software.Read"],
};

/// `Vulnerability.Read`: `/api/vulnerabilities/machinesVulnerabilities` and
/// `/api/machines/SoftwareVulnerabilitiesByMachine` (delegated sibling of
/// `Vulnerability.Read.All`).
pub const VULNERABILITY_READ: Permission = Permission {
    name: "Vulnerability.Read",
    satisfied_by: &["Vulnerability.Read"],
};

/// The permission an `/api` path needs (with or without the `/api` prefix); `None` for paths
/// that only answer 404.
pub fn required_permission(path: &str) -> Option<Permission> {
    let path = path.strip_prefix("/api").unwrap_or(path);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["machines", "SoftwareVulnerabilitiesByMachine"]
        | ["vulnerabilities", "machinesVulnerabilities"] => Some(VULNERABILITY_READ),
        ["machines"] | ["machines", _] => Some(MACHINE_READ),
        ["machines", _, "getmissingkbs"]
        | ["Software"]
        | ["Software", _]
        | ["Software", _, "getmissingkbs"] => Some(SOFTWARE_READ),
        _ => None,
    }
}

/// [`authorize`], then, with an IdP, the token itself and the permission `path` needs.
///
/// 401 `Unauthorized` "Authorization token is expired" or "Invalid token (reason)";
/// 403 `Forbidden` "Missing user permissions. API required permissions: Software.Read.
/// User permissions: Machine.Read Vulnerability.Read."
pub fn authorize_request(
    idp: Option<&Idp>,
    headers: &HeaderMap,
    path: &str,
) -> Result<BearerToken, ApiError> {
    let token = authorize(headers)?;
    let Some(idp) = idp else {
        return Ok(token);
    };
    let claims = idp
        .validate_access_token(&token.0)
        .map_err(|rejection| match rejection {
            TokenRejection::Expired => {
                idp.count_failure("api", "expired");
                ApiError::unauthorized(EXPIRED_MESSAGE)
            }
            TokenRejection::Invalid(reason) => {
                idp.count_failure("api", "invalid");
                ApiError::unauthorized(format!("{INVALID_MESSAGE} ({reason})"))
            }
        })?;
    if let Some(permission) = required_permission(path) {
        if !permission.satisfied_by.iter().any(|p| claims.has_scope(p)) {
            idp.count_failure("api", "forbidden");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!(
                    "Missing user permissions. API required permissions: {}. User permissions: {}.",
                    permission.name,
                    claims.scopes().collect::<Vec<_>>().join(" ")
                ),
            ));
        }
    }
    Ok(token)
}

/// Middleware form of [`authorize_request`].
pub(crate) async fn require_bearer(
    State(state): State<Arc<MockState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let checked = authorize_request(
        state.idp.as_deref(),
        request.headers(),
        request.uri().path(),
    );
    match checked {
        Ok(token) => {
            request.extensions_mut().insert(token);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_per_route() {
        assert_eq!(required_permission("/machines"), Some(MACHINE_READ));
        assert_eq!(required_permission("/api/machines/abc"), Some(MACHINE_READ));
        assert_eq!(
            required_permission("/api/machines/abc/getmissingkbs"),
            Some(SOFTWARE_READ)
        );
        assert_eq!(required_permission("/api/vulnerabilities"), None);
        assert_eq!(
            required_permission("/api/vulnerabilities/machinesVulnerabilities"),
            Some(VULNERABILITY_READ)
        );
        assert_eq!(
            required_permission("/api/machines/SoftwareVulnerabilitiesByMachine"),
            Some(VULNERABILITY_READ)
        );
    }
}
