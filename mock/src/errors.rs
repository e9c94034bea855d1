//! The Defender error envelope, `{"error":{"code","message","target"}}`.
//!
//! Every error the mock sends — real or injected — goes through [`ApiError`], so the body shape,
//! content type and the fresh correlation id (`target`) are the same everywhere, as they are on
//! the real service.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Content type of JSON error bodies.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Content type of successful OData bodies, as the real service labels them.
pub(crate) const ODATA_CONTENT_TYPE: &str =
    "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8";

/// One error answer: HTTP status, Defender error code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for the `Retry-After` header (429 only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    /// The wording the real API uses when the app registration lacks a role.
    pub fn forbidden_missing_role() -> Self {
        Self::missing_application_roles("Software.Read.All", &[])
    }

    /// 403 `Forbidden` "Missing application roles. API required roles: {required}. Application
    /// roles: {held, comma-separated}.".
    pub fn missing_application_roles(required: &str, held: &[String]) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "Missing application roles. API required roles: {required}. Application roles: {}.",
                held.join(",")
            ),
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    pub fn machine_not_found(id: &str) -> Self {
        Self::not_found(format!("Machine {id} was not found"))
    }

    /// An unknown software id: the code and wording of the `common-errors.md` example
    /// (`ResourceNotFound`, "Machine 123123123 was not found"), for software.
    pub fn software_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("Software {id} was not found"),
        )
    }

    /// What `/api/machines` answers when the (filtered) page is empty.
    pub fn no_recent_machines() -> Self {
        Self::not_found("No recent machines found")
    }

    pub fn odata(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ODataError", message)
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }

    pub fn invalid_request_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequestBody", message)
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                format!("Rate limit is exceeded. Try again in {retry_after_secs} seconds."),
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "An error has occurred.",
        )
    }
}

/// A fresh GUID for the `target` field; the real API puts a correlation id there.
pub(crate) fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "target": correlation_id(),
            }
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
