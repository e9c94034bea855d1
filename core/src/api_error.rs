//! The Defender API's failures as a model the UI can act on. Classification happens here;
//! the words shown to the user live in the app's messages module.

use serde_json::Value;

use crate::lenient::value_as_text;

/// The documented error body: `{"error": {"code", "message", "target"}}`; `target` is the
/// correlation id support asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorDetail {
    pub code: Option<String>,
    pub message: Option<String>,
    pub correlation_id: Option<String>,
}

impl ErrorDetail {
    /// Reads the documented error envelope; `None` for HTML pages, empty or other bodies.
    pub fn from_body(body: &str) -> Option<Self> {
        // Walked as a `Value`, the way collection records are read: no second JSON reader for
        // this one shape in the wasm.
        let root: Value = serde_json::from_str(body).ok()?;
        let Value::Object(error) = root.get("error")? else {
            return None;
        };
        let field = |key: &str| error.get(key).cloned().and_then(value_as_text);
        let detail = Self {
            code: field("code"),
            message: field("message"),
            correlation_id: field("target"),
        };
        (detail != Self::default()).then_some(detail)
    }
}

/// Why a body that came with a success status could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MalformedBody {
    Empty,
    Truncated,
    NotJson(String),
    /// Valid JSON, but not the documented shape (e.g. `"value": null`).
    WrongShape(String),
}

impl MalformedBody {
    /// Classifies why `body` (from a success answer) did not deserialize.
    pub fn from_json_error(body: &str, error: &serde_json::Error) -> Self {
        if body.trim().is_empty() {
            Self::Empty
        } else if error.is_eof() {
            Self::Truncated
        } else if error.is_syntax() {
            Self::NotJson(error.to_string())
        } else {
            Self::WrongShape(error.to_string())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401: token expired or invalid — sign in again.
    #[error("unauthorized")]
    Unauthorized(ErrorDetail),
    /// 403: the user or app lacks a role or permission.
    #[error("forbidden")]
    Forbidden {
        detail: ErrorDetail,
        /// Roles named by "Missing application roles. API required roles: …".
        required_roles: Vec<String>,
    },
    /// 404 on a single resource.
    #[error("not found")]
    NotFound(ErrorDetail),
    /// 400: the request was refused (bad filter, bad input).
    #[error("bad request")]
    BadRequest(ErrorDetail),
    /// 429: wait `retry_after_secs` (from the header) and retry.
    #[error("throttled")]
    Throttled {
        detail: ErrorDetail,
        retry_after_secs: Option<u32>,
    },
    /// 5xx or any other unexpected status; `html` when a gateway answered with a page.
    #[error("server error {status}")]
    Server {
        status: u16,
        detail: ErrorDetail,
        html: bool,
    },
    /// The request never got an HTTP answer (DNS, refused connection, CORS, offline).
    #[error("network error: {0}")]
    Network(String),
    /// The API, or something in front of it, answered with a redirect. kbwatch does not
    /// follow one: the request would go elsewhere with the bearer token.
    #[error("redirected")]
    Redirected,
    /// No answer within the configured time.
    #[error("timed out after {0} s")]
    Timeout(u32),
    #[error("malformed response")]
    Malformed(MalformedBody),
    /// No token could be obtained without the user (sign-in expired, consent needed, …).
    #[error("sign-in required")]
    SignInRequired {
        /// The sign-in library's error code (e.g. MSAL's `interaction_required`).
        code: Option<String>,
        message: String,
    },
}

impl ApiError {
    /// Classifies a non-2xx answer from its status, `Retry-After` header and body.
    pub fn from_response(status: u16, retry_after: Option<&str>, body: &str) -> Self {
        let detail = ErrorDetail::from_body(body).unwrap_or_default();
        match status {
            400 => Self::BadRequest(detail),
            401 => Self::Unauthorized(detail),
            403 => Self::Forbidden {
                required_roles: detail
                    .message
                    .as_deref()
                    .map(required_roles)
                    .unwrap_or_default(),
                detail,
            },
            404 => Self::NotFound(detail),
            429 => Self::Throttled {
                detail,
                retry_after_secs: retry_after.and_then(parse_retry_after),
            },
            _ => Self::Server {
                status,
                html: looks_like_html(body),
                detail,
            },
        }
    }

    pub fn detail(&self) -> Option<&ErrorDetail> {
        match self {
            Self::Unauthorized(d) | Self::NotFound(d) | Self::BadRequest(d) => Some(d),
            Self::Forbidden { detail, .. }
            | Self::Throttled { detail, .. }
            | Self::Server { detail, .. } => Some(detail),
            Self::Network(_)
            | Self::Redirected
            | Self::Timeout(_)
            | Self::Malformed(_)
            | Self::SignInRequired { .. } => None,
        }
    }

    /// Errors that may go away by themselves, so a "retry" button makes sense.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. } | Self::Server { .. } | Self::Network(_) | Self::Timeout(_)
        )
    }

    /// Seconds to wait before retrying automatically (429 only). Without a usable
    /// `Retry-After`, a conservative default.
    pub fn auto_retry_after(&self) -> Option<u32> {
        match self {
            Self::Throttled {
                retry_after_secs, ..
            } => Some(retry_after_secs.unwrap_or(DEFAULT_RETRY_AFTER_SECS)),
            _ => None,
        }
    }
}

/// Used when a 429 comes without a readable `Retry-After`.
pub const DEFAULT_RETRY_AFTER_SECS: u32 = 30;

/// How many 429s in a row one load (a table, or a page of the bulk path's walk) waits out,
/// each for exactly its `Retry-After`, before it gives up and shows the error.
pub const MAX_THROTTLE_WAITS: u32 = 5;

/// `Retry-After` in delta-seconds (the API's form). HTTP dates are not used by the API and
/// fall back to the default.
fn parse_retry_after(value: &str) -> Option<u32> {
    value.trim().parse::<u32>().ok().map(|s| s.min(3600))
}

fn looks_like_html(body: &str) -> bool {
    let start = body
        .trim_start()
        .get(..15)
        .unwrap_or(body)
        .to_ascii_lowercase();
    start.starts_with("<!doctype") || start.starts_with("<html")
}

/// Extracts "A, B" from "Missing application roles. API required roles: A, B. Application
/// roles: …" (app tokens) or "… API required permissions: A. User permissions: …" (user tokens).
fn required_roles(message: &str) -> Vec<String> {
    let Some((_, rest)) = message
        .split_once("required roles:")
        .or_else(|| message.split_once("required permissions:"))
    else {
        return Vec::new();
    };
    let list = rest.split(". ").next().unwrap_or(rest);
    // What follows, "application roles: …", are the roles the token has, not the ones needed.
    let list = match list.to_ascii_lowercase().find("application roles") {
        Some(at) => &list[..at],
        None => list,
    };
    list.split([',', ' '])
        .map(|r| r.trim().trim_end_matches('.').trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form a real answer takes (quoted on Microsoft Q&A) and the mock's, each followed by
    /// the roles the token has: only the required ones are named.
    #[test]
    fn required_roles_stop_before_the_tokens_own_roles() {
        assert_eq!(
            required_roles(
                "Missing application roles. API required roles: Ti.ReadWrite.All,Ti.ReadWrite, application roles: ."
            ),
            ["Ti.ReadWrite.All", "Ti.ReadWrite"]
        );
        assert_eq!(
            required_roles(
                "Missing application roles. API required roles: Software.Read.All. Application roles: Machine.Read.All."
            ),
            ["Software.Read.All"]
        );
    }

    #[test]
    fn documented_error_body_is_read() {
        let body = r#"{"error":{"code":"NotFound","message":"Machine 123 was not found","target":"43f4cb08-8fac-4b65-9db1-745c2ae65f3a"}}"#;
        let err = ApiError::from_response(404, None, body);
        let detail = err.detail().unwrap();
        assert!(matches!(err, ApiError::NotFound(_)));
        assert_eq!(detail.code.as_deref(), Some("NotFound"));
        assert_eq!(
            detail.correlation_id.as_deref(),
            Some("43f4cb08-8fac-4b65-9db1-745c2ae65f3a")
        );
    }

    #[test]
    fn forbidden_names_the_missing_roles() {
        let body = r#"{"error":{"code":"Forbidden","message":"Missing application roles. API required roles: Software.Read.All, Machine.Read.All. Application roles: .","target":"x"}}"#;
        match ApiError::from_response(403, None, body) {
            ApiError::Forbidden { required_roles, .. } => {
                assert_eq!(
                    required_roles,
                    vec!["Software.Read.All", "Machine.Read.All"]
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forbidden_for_a_user_names_the_missing_permission() {
        let body = r#"{"error":{"code":"Forbidden","message":"Missing user permissions. API required permissions: Software.Read. User permissions: Machine.Read Vulnerability.Read.","target":"x"}}"#;
        match ApiError::from_response(403, None, body) {
            ApiError::Forbidden { required_roles, .. } => {
                assert_eq!(required_roles, vec!["Software.Read"])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn throttling_reads_retry_after() {
        let err = ApiError::from_response(429, Some("7"), "");
        assert_eq!(err.auto_retry_after(), Some(7));
        let err = ApiError::from_response(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), "");
        assert_eq!(err.auto_retry_after(), Some(DEFAULT_RETRY_AFTER_SECS));
        assert!(err.is_transient());
    }

    #[test]
    fn gateway_html_is_recognised_and_has_no_detail() {
        let err = ApiError::from_response(
            502,
            None,
            "<!DOCTYPE html><html><body>Bad Gateway</body></html>",
        );
        assert_eq!(
            err,
            ApiError::Server {
                status: 502,
                detail: ErrorDetail::default(),
                html: true
            }
        );
        assert!(!ApiError::from_response(401, None, "").is_transient());
    }
}
