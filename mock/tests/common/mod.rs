//! What the mock's test modules share: a request through the router and its answer, read whole,
//! and what an answer is asked about (error code, rows, nextLink, Retry-After, Location).

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, Response, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// An answer: status, headers, body, and the body as JSON, parsed once on first use (fleet
/// pages are large and debug-build JSON parsing is slow).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    parsed: OnceLock<Value>,
}

impl Answer {
    /// A response, its body read whole (in process or over a socket).
    pub async fn read<B>(response: Response<B>) -> Result<Self, B::Error>
    where
        B: axum::body::HttpBody,
    {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes().to_vec();
        Ok(Self::new(status, headers, body))
    }

    pub fn new(status: StatusCode, headers: HeaderMap, body: Vec<u8>) -> Self {
        Self {
            status,
            headers,
            body,
            parsed: OnceLock::new(),
        }
    }

    /// The body as JSON; panics, showing the body, when it is not.
    pub fn json(&self) -> &Value {
        self.parsed.get_or_init(|| {
            serde_json::from_slice(&self.body).unwrap_or_else(|e| {
                panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body))
            })
        })
    }

    /// [`Self::json`], owned.
    pub fn into_json(self) -> Value {
        self.json();
        self.parsed.into_inner().unwrap_or_default()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert the Defender error envelope (GUID-like `target`, a message) and return its code.
    pub fn error_code(&self) -> String {
        let body = self.json();
        let error = &body["error"];
        let target = error["target"].as_str().expect("target");
        assert_eq!(target.len(), 36, "GUID-like target: {target}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        error["code"].as_str().expect("code").to_owned()
    }

    /// The `Retry-After` seconds; panics when there are none.
    pub fn retry_after(&self) -> u64 {
        self.headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After")
    }

    /// The `value` rows of a 200 collection page.
    pub fn rows(&self) -> Vec<Value> {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()["value"].as_array().expect("value").clone()
    }

    pub fn next_link(&self) -> Option<String> {
        self.json()["@odata.nextLink"].as_str().map(str::to_owned)
    }

    /// The `key=value` pairs after `#` (or `?`) of the Location header.
    pub fn location_params(&self, separator: char) -> HashMap<String, String> {
        let location = self.header("location").expect("Location header");
        let (_, params) = location
            .split_once(separator)
            .unwrap_or_else(|| panic!("no '{separator}' in {location}"));
        form_urlencoded::parse(params.as_bytes())
            .into_owned()
            .collect()
    }
}

/// `request` through `app`, in process.
pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("infallible");
    Answer::read(response).await.expect("body")
}
