//! A stand-in API whose answers the test writes itself, for data the mock never generates:
//! hostile names and URLs, thousands of updates for one device. It answers with CORS (any
//! origin, `Authorization` allowed) like the mock with `--cors`, and counts requests per path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::http::{header, Method, Request, Response, StatusCode};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::TestResult;

/// What the test's handler gets: the request path and the raw query (without `?`).
pub type Answer = (u16, String);
type Handler = Arc<dyn Fn(&str, &str) -> Answer + Send + Sync>;

/// A local HTTP server answering every `GET` with `handler(path, query)` as JSON.
pub struct CustomApi {
    addr: SocketAddr,
    hits: Arc<Mutex<BTreeMap<String, u64>>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
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
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = server.await {
                eprintln!("e2e custom API failed: {e}");
            }
        });
        Ok(CustomApi {
            addr,
            hits,
            shutdown: Some(tx),
            task,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests so far, per path.
    pub fn hits(&self) -> BTreeMap<String, u64> {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for CustomApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}
