//! Request counters, so tests can assert how many calls a client made.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use crate::endpoint::Endpoint;
use crate::MockState;

/// Counts of `/api` requests since start or the last reset.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// All `/api` requests except CORS preflights.
    pub total: u64,
    /// Per exact path, e.g. `/api/machines/3a…/getmissingkbs`.
    pub paths: BTreeMap<String, u64>,
    /// Per route template: `/api/machines`, `/api/machines/{id}`, `/api/machines/{id}/getmissingkbs`,
    /// `/api/vulnerabilities/machinesVulnerabilities`, `/api/machines/SoftwareVulnerabilitiesByMachine`,
    /// `/api/Software`, `/api/Software/{id}`, `/api/Software/{id}/getmissingkbs`; `other` for the rest.
    pub routes: BTreeMap<String, u64>,
    /// Per response status.
    pub statuses: BTreeMap<u16, u64>,
    /// 429 answers sent, for any reason (over a rate limit, or an injected `throttle` fault).
    /// Those over a limit are in `rate_limits` of `GET /_mock/stats` as `over_limit`.
    pub throttled: u64,
    /// `OPTIONS` requests to `/api` (browser preflights).
    pub preflights: u64,
    /// Per route template (the keys of [`Self::routes`]): calls, answers by status, 429s.
    pub endpoints: BTreeMap<String, EndpointStats>,
}

/// The counters of one endpoint in [`Stats::endpoints`].
#[derive(Debug, Default, Clone, Serialize)]
pub struct EndpointStats {
    /// Requests (CORS preflights aside).
    pub calls: u64,
    /// Per response status.
    pub statuses: BTreeMap<u16, u64>,
    /// 429 answers (over a rate limit, or an injected `throttle` fault).
    pub throttled: u64,
}

/// Route template of an `/api` path.
fn route_of(path: &str) -> &'static str {
    Endpoint::of_path(path).template()
}

/// Shared, lock-protected counters.
#[derive(Debug, Default)]
pub struct StatsStore(Mutex<Stats>);

impl StatsStore {
    pub fn snapshot(&self) -> Stats {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn reset(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Stats::default();
    }

    fn with<R>(&self, f: impl FnOnce(&mut Stats) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Outermost middleware: counts `/api` requests, including ones CORS answers itself.
pub(crate) async fn record(
    State(state): State<Arc<MockState>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if !(path == "/api" || path.starts_with("/api/")) {
        return next.run(request).await;
    }
    if request.method() == Method::OPTIONS {
        state.stats.with(|s| s.preflights += 1);
        return next.run(request).await;
    }
    let route = route_of(&path);
    state.stats.with(|s| {
        s.total += 1;
        *s.paths.entry(path.clone()).or_default() += 1;
        *s.routes.entry(route.to_owned()).or_default() += 1;
        s.endpoints.entry(route.to_owned()).or_default().calls += 1;
    });
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.stats.with(|s| {
        *s.statuses.entry(status).or_default() += 1;
        let endpoint = s.endpoints.entry(route.to_owned()).or_default();
        *endpoint.statuses.entry(status).or_default() += 1;
        if status == 429 {
            s.throttled += 1;
            endpoint.throttled += 1;
        }
    });
    response
}
