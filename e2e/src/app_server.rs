//! Serves the release build (`dist/`) the way a static host would, except that `/config.json`
//! is generated so the app talks to the mock this test started.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::http::{HeaderName, HeaderValue};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::services::{ServeDir, ServeFile};

use crate::TestResult;

/// Where the release build is: `$KBWATCH_DIST`, else `dist/` at the workspace root.
pub fn dist_dir() -> PathBuf {
    std::env::var_os("KBWATCH_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let e2e = Path::new(env!("CARGO_MANIFEST_DIR"));
            e2e.parent().unwrap_or(e2e).join("dist")
        })
}

/// A static file server on `127.0.0.1:<ephemeral>`, stopped on drop.
pub struct AppServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl AppServer {
    /// Serves `dist` with `config` as `/config.json`. Unknown paths get `index.html`, as the
    /// app's client-side routes would on a real static host.
    pub async fn start(dist: &Path, config: serde_json::Value) -> TestResult<Self> {
        Self::start_with_headers(dist, config, Vec::new()).await
    }

    /// [`Self::start`], adding `headers` to every answer (e.g. the reference
    /// Content-Security-Policy, see [`crate::reference_csp`]).
    pub async fn start_with_headers(
        dist: &Path,
        config: serde_json::Value,
        headers: Vec<(&'static str, String)>,
    ) -> TestResult<Self> {
        let mut parsed = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            parsed.push((
                HeaderName::from_static(name),
                HeaderValue::from_str(&value)
                    .map_err(|e| format!("header {name}: {e}: {value:?}"))?,
            ));
        }
        let index = dist.join("index.html");
        if !index.is_file() {
            return Err(format!(
                "{} is missing: the e2e tests run against the release build; \
                 run `trunk build --release` first (or use `make test`)",
                index.display()
            )
            .into());
        }
        let router = Router::new()
            .route("/config.json", get(move || async move { Json(config) }))
            .fallback_service(ServeDir::new(dist).fallback(ServeFile::new(index)))
            .layer(axum::middleware::map_response(
                move |mut response: axum::response::Response| {
                    let parsed = parsed.clone();
                    async move {
                        for (name, value) in parsed {
                            response.headers_mut().insert(name, value);
                        }
                        response
                    }
                },
            ));

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = server.await {
                eprintln!("e2e app server failed: {e}");
            }
        });
        Ok(AppServer {
            addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Keep-alive connections from the browser would delay a graceful stop.
        self.task.abort();
    }
}
