//! What the mock's in-process test files share: a request through the router and its answer,
//! read whole. (Each file uses part of it.)
#![allow(dead_code)]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode};
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
}

/// `request` through `app`, in process.
pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("infallible");
    Answer::read(response).await.expect("body")
}
