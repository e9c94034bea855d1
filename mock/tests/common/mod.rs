//! What the mock's test modules share: requests through the router (authorized API calls, admin
//! calls), their answers read whole, and what an answer is asked about (error envelope, rows,
//! nextLink, Retry-After, Location).

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, Response, StatusCode};
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

    /// The message of the Defender error envelope (checked as [`Self::error_code`] does).
    pub fn error_message(&self) -> String {
        self.error_code();
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Assert a Defender error: `status` and the envelope with `code`; `context` names the case.
    pub fn assert_error(&self, status: StatusCode, code: &str, context: &str) {
        assert_eq!(self.status, status, "{context}: {}", self.text());
        assert_eq!(self.error_code(), code, "{context}");
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

/// The `Host` of in-process requests, so absolute nextLinks are predictable.
pub const HOST: &str = "mock.test:8787";

/// A request to `uri` with `Host:` [`HOST`] and `headers`.
pub fn request(method: Method, uri: &str, headers: &[(&str, &str)], body: Body) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, HOST);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).expect("valid request")
}

/// `GET uri` with `Authorization: Bearer test-token` and `extra` headers.
pub async fn get_with(app: &Router, uri: &str, extra: &[(&str, &str)]) -> Answer {
    let mut headers = vec![("authorization", "Bearer test-token")];
    headers.extend_from_slice(extra);
    send(app, request(Method::GET, uri, &headers, Body::empty())).await
}

/// `GET uri` with `Authorization: Bearer test-token` (any bearer passes without the IdP).
pub async fn get(app: &Router, uri: &str) -> Answer {
    get_with(app, uri, &[]).await
}

/// `GET uri` as the holder of `token`.
pub async fn get_as(app: &Router, uri: &str, token: &str) -> Answer {
    let bearer = format!("Bearer {token}");
    let headers = [("authorization", bearer.as_str())];
    send(app, request(Method::GET, uri, &headers, Body::empty())).await
}

/// `calls` answered `GET uri`s (any bearer), then the one the rate limit refuses, returned.
pub async fn refused_after(app: &Router, uri: &str, calls: usize) -> Answer {
    for call in 1..=calls {
        assert_eq!(get(app, uri).await.status, StatusCode::OK, "call {call}");
    }
    let refused = get(app, uri).await;
    refused.assert_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        &format!("call {}", calls + 1),
    );
    refused
}

/// An admin call (`/_mock/...`, no token) without a body.
pub async fn admin(app: &Router, method: Method, uri: &str) -> Answer {
    send(app, request(method, uri, &[], Body::empty())).await
}

/// An admin `POST` of a JSON body.
pub async fn admin_post(app: &Router, uri: &str, json: &str) -> Answer {
    let headers = [("content-type", "application/json")];
    let body = Body::from(json.to_owned());
    send(app, request(Method::POST, uri, &headers, body)).await
}

/// A value percent-encoded for a query string.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Path and query of an absolute nextLink (the in-process router needs no scheme and host).
pub fn local(link: &str) -> String {
    link.strip_prefix(&format!("http://{HOST}"))
        .unwrap_or_else(|| panic!("nextLink points elsewhere: {link}"))
        .to_owned()
}

/// A text property of a JSON row; "" when absent or not text.
pub fn text<'a>(row: &'a Value, field: &str) -> &'a str {
    row[field].as_str().unwrap_or_default()
}

/// The property names of a JSON object.
pub fn keys(object: &Value) -> BTreeSet<&str> {
    object
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}
