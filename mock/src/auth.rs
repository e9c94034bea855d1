//! Bearer-token check for `/api`.
//!
//! One function behind one middleware. Without the IdP any non-empty token passes; with it
//! ([`crate::MockOptions::idp`]) the token must be a JWT that IdP signed, for this API, unexpired,
//! carrying the delegated permission (a user's token, `scp`) or the application role (an
//! app-only token, `roles`) the endpoint needs. [`AccessPolicy::missing_kbs_app_only`] makes the
//! per-device `getmissingkbs` application-only, as documented. The token string is what rate
//! limiting keys on.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::endpoint::Endpoint;
use crate::errors::ApiError;
use crate::idp::{Grants, Idp, TokenRejection};
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

/// The permission an endpoint needs: a delegated one (in a user's token's `scp`) or an
/// application role (in an app-only token's `roles`), as its page's Permissions table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// The delegated permission in the 403 text, e.g. `Software.Read`.
    pub name: &'static str,
    /// Any of these in `scp` grants it.
    pub satisfied_by: &'static [&'static str],
    /// The application role in the 403 text, e.g. `Software.Read.All`.
    pub role: &'static str,
    /// Any of these in `roles` grants it.
    pub roles: &'static [&'static str],
}

/// `Machine.Read` or `Machine.ReadWrite` (application: `Machine.Read.All`,
/// `Machine.ReadWrite.All`): `/api/machines`, `/api/machines/{id}`.
pub const MACHINE_READ: Permission = Permission {
    name: "Machine.Read",
    satisfied_by: &["Machine.Read", "Machine.ReadWrite"],
    role: "Machine.Read.All",
    roles: &["Machine.Read.All", "Machine.ReadWrite.All"],
};
/// `Software.Read` (application: `Software.Read.All`): `/api/Software`, `/api/Software/{id}`,
/// `/api/Software/{id}/getmissingkbs`, and by default `/api/machines/{id}/getmissingkbs`,
/// whose page lists only the application role (see [`AccessPolicy::missing_kbs_app_only`]).
pub const SOFTWARE_READ: Permission = Permission {
    name: "Software.Read",
    satisfied_by: &["Software.Read"],
    role: "Software.Read.All",
    roles: &["Software.Read.All"],
};

/// `Vulnerability.Read` (application: `Vulnerability.Read.All`):
/// `/api/vulnerabilities/machinesVulnerabilities` and
/// `/api/machines/SoftwareVulnerabilitiesByMachine`.
pub const VULNERABILITY_READ: Permission = Permission {
    name: "Vulnerability.Read",
    satisfied_by: &["Vulnerability.Read"],
    role: "Vulnerability.Read.All",
    roles: &["Vulnerability.Read.All"],
};

/// The permission an `/api` path needs (with or without the `/api` prefix); `None` for paths
/// that only answer 404.
pub fn required_permission(path: &str) -> Option<Permission> {
    match Endpoint::of_path(path) {
        Endpoint::SoftwareVulnerabilitiesByMachine | Endpoint::MachinesVulnerabilities => {
            Some(VULNERABILITY_READ)
        }
        Endpoint::Machines | Endpoint::Machine => Some(MACHINE_READ),
        Endpoint::MachineMissingKbs
        | Endpoint::Software
        | Endpoint::SoftwareById
        | Endpoint::SoftwareMissingKbs => Some(SOFTWARE_READ),
        Endpoint::Other => None,
    }
}

/// `GET /api/machines/{id}/getmissingkbs`, the one path [`AccessPolicy::missing_kbs_app_only`]
/// changes.
pub fn is_device_missing_kbs(path: &str) -> bool {
    Endpoint::of_path(path) == Endpoint::MachineMissingKbs
}

/// Switches of the permission check that tests and the e2e harness flip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// `GET /api/machines/{id}/getmissingkbs` accepts application tokens only, as its page
    /// documents (its Permissions table lists only the application role `Software.Read.All`):
    /// a user's token gets 403 "Missing application roles. API required roles:
    /// Software.Read.All. Application roles: .". Off (the default): the delegated
    /// `Software.Read` suffices too, as for the other software endpoints.
    ///
    /// Without an IdP the mock cannot verify who holds a token: with the switch on it reads the
    /// claims of a JWT-shaped token unverified (an app token has `idtyp` `app`, or `roles` and
    /// no `scp`) and counts any other token (opaque, or with `scp`) as a user's.
    pub missing_kbs_app_only: bool,
}

/// 403 for a token without the application role: `"Missing application roles. API required
/// roles: {role}. Application roles: {held, comma-separated}."`.
fn missing_roles(permission: Permission, grants: &Grants) -> ApiError {
    ApiError::missing_application_roles(permission.role, &grants.roles)
}

/// Whether `grants` satisfy `permission` on `path` under `policy`; the 403 otherwise.
///
/// Application tokens need one of the endpoint's application roles; users' tokens one of its
/// delegated permissions, unless `policy` makes the endpoint application-only.
pub fn check_grants(
    grants: &Grants,
    permission: Permission,
    path: &str,
    policy: AccessPolicy,
) -> Result<(), ApiError> {
    if grants.is_application() {
        return if permission.roles.iter().any(|r| grants.has_role(r)) {
            Ok(())
        } else {
            Err(missing_roles(permission, grants))
        };
    }
    if policy.missing_kbs_app_only && is_device_missing_kbs(path) {
        return Err(missing_roles(permission, grants));
    }
    if permission.satisfied_by.iter().any(|p| grants.has_scope(p)) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!(
            "Missing user permissions. API required permissions: {}. User permissions: {}.",
            permission.name,
            grants.scp.split_whitespace().collect::<Vec<_>>().join(" ")
        ),
    ))
}

/// [`authorize_request_with`] under the default [`AccessPolicy`].
pub fn authorize_request(
    idp: Option<&Idp>,
    headers: &HeaderMap,
    path: &str,
) -> Result<BearerToken, ApiError> {
    authorize_request_with(idp, headers, path, AccessPolicy::default())
}

/// [`authorize`], then, with an IdP, the token itself and the permission `path` needs
/// ([`check_grants`]). Without an IdP any bearer token passes, except where `policy` asks for
/// an application token (see [`AccessPolicy::missing_kbs_app_only`]).
///
/// 401 `Unauthorized` "Authorization token is expired" or "Invalid token (reason)";
/// 403 `Forbidden` "Missing user permissions. API required permissions: Software.Read.
/// User permissions: Machine.Read Vulnerability.Read." (a user's token) or "Missing
/// application roles. API required roles: Software.Read.All. Application roles: ." (an
/// application's token, or a user's where only applications are let in).
pub fn authorize_request_with(
    idp: Option<&Idp>,
    headers: &HeaderMap,
    path: &str,
    policy: AccessPolicy,
) -> Result<BearerToken, ApiError> {
    let token = authorize(headers)?;
    let Some(idp) = idp else {
        if policy.missing_kbs_app_only && is_device_missing_kbs(path) {
            let grants = Grants::of_unverified(&token.0).unwrap_or_default();
            check_grants(&grants, SOFTWARE_READ, path, policy)?;
        }
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
        check_grants(&claims.grants(), permission, path, policy).inspect_err(|_| {
            idp.count_failure("api", "forbidden");
        })?;
    }
    Ok(token)
}

/// Middleware form of [`authorize_request`].
pub(crate) async fn require_bearer(
    State(state): State<Arc<MockState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let checked = authorize_request_with(
        state.idp.as_deref(),
        request.headers(),
        request.uri().path(),
        state.access_policy(),
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
        for path in [
            "/api/Software",
            "/api/Software/microsoft-_-edge",
            "/api/Software/microsoft-_-edge/getmissingkbs",
        ] {
            assert_eq!(required_permission(path), Some(SOFTWARE_READ), "{path}");
            assert!(!is_device_missing_kbs(path));
        }
        assert!(is_device_missing_kbs("/api/machines/abc/getmissingkbs"));
        assert!(is_device_missing_kbs("/machines/abc/getmissingkbs/"));
        assert!(!is_device_missing_kbs("/api/machines/abc"));
    }

    #[test]
    fn app_tokens_need_roles_and_app_only_refuses_users() {
        let user = Grants {
            scp: "Machine.Read Software.Read".into(),
            ..Grants::default()
        };
        let app = Grants {
            roles: vec!["Software.Read.All".into()],
            idtyp: Some("app".into()),
            ..Grants::default()
        };
        let device = "/api/machines/abc/getmissingkbs";
        let on = AccessPolicy {
            missing_kbs_app_only: true,
        };
        let off = AccessPolicy::default();
        assert!(check_grants(&user, SOFTWARE_READ, device, off).is_ok());
        let refused = check_grants(&user, SOFTWARE_READ, device, on).expect_err("app only");
        assert_eq!(
            (refused.status, refused.code),
            (StatusCode::FORBIDDEN, "Forbidden")
        );
        assert_eq!(
            refused.message,
            "Missing application roles. API required roles: Software.Read.All. Application roles: ."
        );
        assert!(check_grants(&user, SOFTWARE_READ, "/api/Software", on).is_ok());
        for policy in [on, off] {
            assert!(check_grants(&app, SOFTWARE_READ, device, policy).is_ok());
        }
        let refused = check_grants(&app, MACHINE_READ, "/api/machines", off).expect_err("role");
        assert_eq!(
            refused.message,
            "Missing application roles. API required roles: Machine.Read.All. Application roles: Software.Read.All."
        );
    }
}
