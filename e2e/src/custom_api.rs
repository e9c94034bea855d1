//! A stand-in API whose answers the test writes itself, for data the mock never generates:
//! hostile names and URLs, thousands of updates for one device. It answers with CORS (any
//! origin, `Authorization` allowed) like the mock with `--cors`, and counts requests per path.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{LocalServer, TestResult};
use axum::body::Body;
use axum::http::{header, Method, Request, Response, StatusCode};
use axum::Router;

/// What the test's handler gets: the request path and the raw query (without `?`).
pub type Answer = (u16, String);
type Handler = Arc<dyn Fn(&str, &str) -> Answer + Send + Sync>;

/// A local HTTP server answering every `GET` with `handler(path, query)` as JSON.
pub struct CustomApi {
    server: LocalServer,
    hits: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CustomApi {
    pub async fn start(
        handler: impl Fn(&str, &str) -> Answer + Send + Sync + 'static,
    ) -> TestResult<Self> {
        let handler: Handler = Arc::new(handler);
        let hits: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
        let counted = hits.clone();
        let router = Router::new().fallback(move |request: Request<Body>| {
            let handler = handler.clone();
            let hits = counted.clone();
            async move {
                let cors = |builder: axum::http::response::Builder| {
                    builder
                        .header("Access-Control-Allow-Origin", "*")
                        .header(
                            "Access-Control-Allow-Headers",
                            "Authorization, Content-Type",
                        )
                        .header("Access-Control-Allow-Methods", "GET, OPTIONS")
                        .header("Access-Control-Expose-Headers", "Retry-After")
                };
                if request.method() == Method::OPTIONS {
                    return cors(Response::builder().status(StatusCode::NO_CONTENT))
                        .body(Body::empty())
                        .unwrap_or_default();
                }
                let path = request.uri().path().to_owned();
                let query = request.uri().query().unwrap_or_default().to_owned();
                *hits
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(path.clone())
                    .or_default() += 1;
                let (status, body) = handler(&path, &query);
                cors(Response::builder().status(status))
                    .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                    .body(Body::from(body))
                    .unwrap_or_default()
            }
        });
        Ok(CustomApi {
            server: LocalServer::start(router, "e2e custom API").await?,
            hits,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Requests so far, per path.
    pub fn hits(&self) -> BTreeMap<String, u64> {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
