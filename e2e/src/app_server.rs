//! Serves the release build (`dist/`) the way a static host would, except that `/config.json`
//! is generated so the app talks to the mock this test started, and the build's meta
//! Content-Security-Policy lets the page reach the origins that `config.json` names
//! ([`crate::config_origins`]), as a deployer's build would list a gateway of their own.

use std::path::{Path, PathBuf};

use axum::http::{HeaderName, HeaderValue};
use axum::routing::get;
use axum::{Json, Router};

use crate::{LocalServer, TestResult};

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
    server: LocalServer,
}

/// A header the app server adds: to every answer, or only at one path.
#[derive(Debug, Clone)]
pub struct HeaderRule {
    path: Option<&'static str>,
    name: &'static str,
    value: String,
}

impl HeaderRule {
    pub fn everywhere(name: &'static str, value: String) -> Self {
        Self {
            path: None,
            name,
            value,
        }
    }

    pub fn at(path: &'static str, name: &'static str, value: String) -> Self {
        Self {
            path: Some(path),
            name,
            value,
        }
    }
}

impl AppServer {
    /// Serves `dist` with `config` as `/config.json`. Unknown paths get `index.html`, as the
    /// app's client-side routes would on a real static host.
    pub async fn start(dist: &Path, config: serde_json::Value) -> TestResult<Self> {
        Self::start_with_headers(dist, config, Vec::new()).await
    }

    /// [`Self::start`], adding headers to the answers (e.g. the reference
    /// Content-Security-Policies, see [`crate::reference_csp`]). A rule for one path replaces
    /// an everywhere rule of the same header there.
    pub async fn start_with_headers(
        dist: &Path,
        config: serde_json::Value,
        headers: Vec<HeaderRule>,
    ) -> TestResult<Self> {
        let mut parsed = Vec::with_capacity(headers.len());
        for rule in headers {
            let value = HeaderValue::from_str(&rule.value)
                .map_err(|e| format!("header {}: {e}: {:?}", rule.name, rule.value))?;
            parsed.push((rule.path, HeaderName::from_static(rule.name), value));
        }
        // Everywhere rules first, so a path's own rule is inserted last and wins.
        parsed.sort_by_key(|(path, _, _)| path.is_some());
        let index = dist.join("index.html");
        if !index.is_file() {
            return Err(format!(
                "{} is missing: the e2e tests run against the release build; \
                 run `trunk build --release` first (or use `make test`)",
                index.display()
            )
            .into());
        }
        let (connect, frame) = crate::config_origins(&config);
        let app = kbwatch_mock::app_router(dist, &connect, &frame)?;
        let site = Router::new()
            .route("/config.json", get(move || async move { Json(config) }))
            .merge(app)
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    let parsed = parsed.clone();
                    async move {
                        let path = request.uri().path().to_owned();
                        let mut response = next.run(request).await;
                        for (only, name, value) in parsed {
                            if only.is_none_or(|p| p == path) {
                                response.headers_mut().insert(name, value);
                            }
                        }
                        response
                    }
                },
            ));
        // Repeated slashes count as one, as nginx's `merge_slashes` (its default) and the
        // mock's static listener treat them: `//config.json` is `/config.json`.
        let router = Router::new()
            .fallback_service(site)
            .layer(axum::middleware::map_request(merge_slashes));
        Ok(AppServer {
            server: LocalServer::start(router, "e2e app server").await?,
        })
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        self.server.url()
    }
}

/// `request` with every run of slashes in its path made one.
async fn merge_slashes(mut request: axum::extract::Request) -> axum::extract::Request {
    let uri = request.uri();
    if uri.path().contains("//") {
        let mut merged = String::with_capacity(uri.path().len());
        for c in uri.path().chars() {
            if !(c == '/' && merged.ends_with('/')) {
                merged.push(c);
            }
        }
        if let Some(query) = uri.query() {
            merged.push('?');
            merged.push_str(query);
        }
        if let Ok(path_and_query) = merged.parse() {
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(path_and_query);
            if let Ok(merged) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = merged;
            }
        }
    }
    request
}
