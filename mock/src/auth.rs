//! Bearer-token check for `/api`.
//!
//! Kept as one function behind one middleware so real JWT validation (signature, audience,
//! roles) can replace it later without touching the routes. Today any non-empty token passes;
//! the token string is what rate limiting keys on.

use axum::extract::Request;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::errors::ApiError;

/// An accepted bearer token, stored in request extensions for later layers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BearerToken(pub String);

/// Decide whether a request may reach the API. Replace this to validate real tokens.
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

/// Middleware form of [`authorize`].
pub(crate) async fn require_bearer(mut request: Request, next: Next) -> Response {
    match authorize(request.headers()) {
        Ok(token) => {
            request.extensions_mut().insert(token);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}
