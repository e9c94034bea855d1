//! Per-token sliding-window rate limits, nested: every `/api` call counts against the global
//! (per-application) budget, [`crate::MockOptions::rate_per_minute`] /
//! [`crate::MockOptions::rate_per_hour`] (default 100/minute, 1,500/hour), and against its
//! endpoint's own budget ([`Endpoint`]), and must fit both:
//!
//! - `SoftwareVulnerabilitiesByMachine`: 30/minute, 1,000/hour, as its page documents
//!   ([`crate::MockOptions::export_rate_per_minute`] / `_per_hour`);
//! - every other endpoint: [`crate::MockOptions::endpoint_rate_per_minute`] / `_per_hour`,
//!   by default the global limits (`get-machines.md` and `get-machine-by-id.md` document
//!   100/minute and 1,500/hour "for this API"; the other pages state none).
//!
//! The file export's 5/minute and 20/hour (`SoftwareVulnerabilitiesExport`) and the delta
//! export's 30/1,000 belong to endpoints the mock does not serve.
//!
//! Only accepted calls are recorded, so a client that retries exactly after `Retry-After`
//! gets through, while one that retries sooner is refused again — like the real service.
//!
//! [`crate::MockOptions::time_scale`] divides the windows (and so the `Retry-After` values): at
//! 60 a "minute" lasts one second and an "hour" one minute. `Retry-After` is the wait rounded
//! *up* to whole seconds, at least 1, so waiting exactly that long always suffices.
//!
//! Every budget also keeps, per token, what a test needs to prove a client stayed inside the
//! limits: the most calls seen (accepted or refused) in any window, and how many calls went over
//! the limit (each answered 429).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::auth::BearerToken;
use crate::endpoint::Endpoint;
use crate::errors::ApiError;
use crate::MockState;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// A usable time scale: finite and positive, else 1.
pub fn sanitize_time_scale(time_scale: f64) -> f64 {
    if time_scale.is_finite() && time_scale > 0.0 {
        time_scale
    } else {
        1.0
    }
}

/// What one token did against one budget.
#[derive(Debug, Default)]
struct TokenState {
    /// Accepted calls still inside the longest enforced window.
    accepted: VecDeque<Instant>,
    /// Every call seen (accepted or refused) in the last minute / hour.
    seen_minute: VecDeque<Instant>,
    seen_hour: VecDeque<Instant>,
    calls: u64,
    over_limit: u64,
    max_per_minute: u64,
    max_per_hour: u64,
}

impl TokenState {
    /// Note a call at `now` in the seen windows; how long until it fits `limiter`'s limits, if
    /// it does not fit now.
    fn assess(&mut self, limiter: &RateLimiter, now: Instant) -> Option<Duration> {
        for (seen, span, max) in [
            (
                &mut self.seen_minute,
                limiter.minute,
                &mut self.max_per_minute,
            ),
            (&mut self.seen_hour, limiter.hour, &mut self.max_per_hour),
        ] {
            seen.push_back(now);
            while seen.front().is_some_and(|t| now.duration_since(*t) >= span) {
                seen.pop_front();
            }
            *max = (*max).max(seen.len() as u64);
        }
        if limiter.per_minute == 0 && limiter.per_hour == 0 {
            return None;
        }
        let window = &mut self.accepted;
        let keep = if limiter.per_hour > 0 {
            limiter.hour
        } else {
            limiter.minute
        };
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= keep)
        {
            window.pop_front();
        }
        [
            (limiter.per_minute, limiter.minute),
            (limiter.per_hour, limiter.hour),
        ]
        .into_iter()
        .filter(|(limit, _)| *limit > 0)
        .filter_map(|(limit, span)| {
            let in_span: Vec<&Instant> = window
                .iter()
                .filter(|t| now.duration_since(**t) < span)
                .collect();
            let over = in_span.len().checked_sub(limit as usize)?;
            // The call that must leave the window before another one fits.
            let oldest = in_span[over];
            Some(span.saturating_sub(now.duration_since(*oldest)))
        })
        .max()
    }

    /// Record an accepted call.
    fn admit(&mut self, limiter: &RateLimiter, now: Instant) {
        if limiter.per_minute > 0 || limiter.per_hour > 0 {
            self.accepted.push_back(now);
        }
        self.calls += 1;
    }
}

/// A call by `key` at `now` against several budgets at once (an endpoint's and the global one):
/// accepted only if it fits all, and then recorded in all; refused otherwise with the longest
/// wait (seconds, rounded up, ≥ 1), counted over the limit in each budget it did not fit. Every
/// budget sees the call either way. The budgets are locked together, in the order given, so
/// concurrent calls cannot both take the last slot.
pub fn check_nested(limiters: &[&RateLimiter], key: &str, now: Instant) -> Result<(), u64> {
    let mut guards: Vec<_> = limiters.iter().map(|l| l.lock()).collect();
    let mut waits = Vec::with_capacity(limiters.len());
    for (limiter, calls) in limiters.iter().zip(guards.iter_mut()) {
        let state = calls.entry(key.to_owned()).or_default();
        waits.push(state.assess(limiter, now));
    }
    let wait = waits.iter().flatten().max().copied();
    for ((limiter, calls), refused) in limiters.iter().zip(guards.iter_mut()).zip(&waits) {
        let state = calls.entry(key.to_owned()).or_default();
        match (wait, refused) {
            (None, _) => state.admit(limiter, now),
            (Some(_), Some(_)) => state.over_limit += 1,
            (Some(_), None) => {}
        }
    }
    match wait {
        None => Ok(()),
        Some(wait) => Err(wait.as_secs_f64().ceil().max(1.0) as u64),
    }
}

/// The global budget and one per endpoint, as [`crate::MockOptions`] sets them.
#[derive(Debug)]
pub struct Limits {
    global: RateLimiter,
    endpoints: BTreeMap<Endpoint, RateLimiter>,
    time_scale: f64,
    /// Calls answered 429 for being over a limit.
    refused: AtomicU64,
}

impl Limits {
    pub fn new(opts: &crate::MockOptions) -> Self {
        let scale = opts.time_scale;
        let endpoints = Endpoint::ALL
            .into_iter()
            .map(|endpoint| {
                let (per_minute, per_hour) = match endpoint {
                    Endpoint::SoftwareVulnerabilitiesByMachine => {
                        (opts.export_rate_per_minute, opts.export_rate_per_hour)
                    }
                    _ => (
                        opts.endpoint_rate_per_minute
                            .unwrap_or(opts.rate_per_minute),
                        opts.endpoint_rate_per_hour.unwrap_or(opts.rate_per_hour),
                    ),
                };
                (endpoint, RateLimiter::scaled(per_minute, per_hour, scale))
            })
            .collect();
        Self {
            global: RateLimiter::scaled(opts.rate_per_minute, opts.rate_per_hour, scale),
            endpoints,
            time_scale: sanitize_time_scale(scale),
            refused: AtomicU64::new(0),
        }
    }

    /// The global (per-application) budget.
    pub fn global(&self) -> &RateLimiter {
        &self.global
    }

    /// The budget of `endpoint`.
    pub fn endpoint(&self, endpoint: Endpoint) -> &RateLimiter {
        // Every endpoint has one (built from `Endpoint::ALL`); `Other`'s would do otherwise.
        self.endpoints
            .get(&endpoint)
            .or_else(|| self.endpoints.get(&Endpoint::Other))
            .unwrap_or(&self.global)
    }

    /// A call to `endpoint` by `key` at `now`: inside its endpoint's budget and the global one
    /// (see [`check_nested`]).
    pub fn check(&self, endpoint: Endpoint, key: &str, now: Instant) -> Result<(), u64> {
        let checked = check_nested(&[self.endpoint(endpoint), &self.global], key, now);
        if checked.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        checked
    }

    /// Forget all calls and counters.
    pub fn reset(&self) {
        self.global.reset();
        self.endpoints.values().for_each(RateLimiter::reset);
        self.refused.store(0, Ordering::Relaxed);
    }

    /// `rate_limits` of `GET /_mock/stats`: `time_scale`, `over_limit` (calls answered 429 for
    /// being over a limit), `budgets.default` (the global budget), `budgets.export`
    /// (`SoftwareVulnerabilitiesByMachine`'s) and `endpoints` (every endpoint's budget by route
    /// template, the export's included).
    pub fn stats(&self) -> LimitsStats {
        let endpoints = self
            .endpoints
            .iter()
            .map(|(endpoint, limiter)| (endpoint.template().to_owned(), limiter.stats()))
            .collect();
        let mut budgets = BTreeMap::new();
        budgets.insert("default".to_owned(), self.global.stats());
        budgets.insert(
            "export".to_owned(),
            self.endpoint(Endpoint::SoftwareVulnerabilitiesByMachine)
                .stats(),
        );
        LimitsStats {
            time_scale: self.time_scale,
            over_limit: self.refused.load(Ordering::Relaxed),
            budgets,
            endpoints,
        }
    }
}

/// `rate_limits` in `GET /_mock/stats` (see [`Limits::stats`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitsStats {
    pub time_scale: f64,
    pub over_limit: u64,
    pub budgets: BTreeMap<String, BudgetStats>,
    pub endpoints: BTreeMap<String, BudgetStats>,
}

/// Counters of one token in [`BudgetStats::tokens`].
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct TokenStats {
    /// Calls accepted.
    pub calls: u64,
    /// Calls refused with 429 because the token was over a limit.
    pub over_limit: u64,
    /// Most calls (accepted or refused) seen in any window of one (scaled) minute.
    pub max_per_minute: u64,
    /// Most calls (accepted or refused) seen in any window of one (scaled) hour.
    pub max_per_hour: u64,
}

/// One budget in `GET /_mock/stats` → `rate_limits.budgets`.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct BudgetStats {
    /// The limits (0 = unlimited).
    pub per_minute: u32,
    pub per_hour: u32,
    /// Real length of the windows after time scaling, in seconds.
    pub minute_secs: f64,
    pub hour_secs: f64,
    /// Sums and maxima over all tokens.
    pub calls: u64,
    pub over_limit: u64,
    pub max_per_minute: u64,
    pub max_per_hour: u64,
    /// Per token, keyed `token-<first 12 hex of its SHA-256>` (never the token itself).
    pub tokens: BTreeMap<String, TokenStats>,
}

/// Call timestamps per bearer token, for one budget.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    per_hour: u32,
    minute: Duration,
    hour: Duration,
    calls: Mutex<HashMap<String, TokenState>>,
}

impl RateLimiter {
    /// `0` disables a limit.
    pub fn new(per_minute: u32, per_hour: u32) -> Self {
        Self::scaled(per_minute, per_hour, 1.0)
    }

    /// Windows of 60 s / `time_scale` and 3600 s / `time_scale` (see [`sanitize_time_scale`]).
    pub fn scaled(per_minute: u32, per_hour: u32, time_scale: f64) -> Self {
        let scale = sanitize_time_scale(time_scale);
        Self {
            per_minute,
            per_hour,
            minute: MINUTE.div_f64(scale),
            hour: HOUR.div_f64(scale),
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// Real length of the (scaled) minute and hour windows.
    pub fn windows(&self) -> (Duration, Duration) {
        (self.minute, self.hour)
    }

    /// Record a call by `key` at `now`, or refuse it with the seconds to wait (rounded up, ≥ 1).
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        check_nested(&[self], key, now)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, TokenState>> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Limits, windows and counters since start or the last reset.
    pub fn stats(&self) -> BudgetStats {
        let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stats = BudgetStats {
            per_minute: self.per_minute,
            per_hour: self.per_hour,
            minute_secs: self.minute.as_secs_f64(),
            hour_secs: self.hour.as_secs_f64(),
            ..BudgetStats::default()
        };
        for (token, state) in calls.iter() {
            stats.calls += state.calls;
            stats.over_limit += state.over_limit;
            stats.max_per_minute = stats.max_per_minute.max(state.max_per_minute);
            stats.max_per_hour = stats.max_per_hour.max(state.max_per_hour);
            stats.tokens.insert(
                token_label(token),
                TokenStats {
                    calls: state.calls,
                    over_limit: state.over_limit,
                    max_per_minute: state.max_per_minute,
                    max_per_hour: state.max_per_hour,
                },
            );
        }
        stats
    }

    /// Forget all calls and counters.
    pub fn reset(&self) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// `token-<first 12 hex of SHA-256>`: tells tokens apart in stats without showing them.
pub fn token_label(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("token-{hex}")
}

/// Middleware refusing calls over a limit (their endpoint's or the global one) with 429 and
/// `Retry-After`.
pub(crate) async fn enforce(
    State(state): State<Arc<MockState>>,
    request: Request,
    next: Next,
) -> Response {
    let key = request
        .extensions()
        .get::<BearerToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let endpoint = Endpoint::of_path(request.uri().path());
    match state.limits.check(endpoint, &key, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => ApiError::too_many_requests(retry_after).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_limit_refuses_then_recovers() {
        let limiter = RateLimiter::new(3, 0);
        let start = Instant::now();
        for i in 0..3 {
            assert_eq!(limiter.check("a", start + Duration::from_secs(i)), Ok(()));
        }
        // The first call (t=0) leaves the window at t=60.
        assert_eq!(limiter.check("a", start + Duration::from_secs(10)), Err(50));
        assert_eq!(
            limiter.check("b", start + Duration::from_secs(10)),
            Ok(()),
            "per token"
        );
        assert_eq!(limiter.check("a", start + Duration::from_secs(60)), Ok(()));
    }

    #[test]
    fn hour_limit_applies_across_minutes() {
        let limiter = RateLimiter::new(0, 2);
        let start = Instant::now();
        assert_eq!(limiter.check("a", start), Ok(()));
        assert_eq!(limiter.check("a", start + Duration::from_secs(120)), Ok(()));
        assert_eq!(
            limiter.check("a", start + Duration::from_secs(600)),
            Err(3000)
        );
        limiter.reset();
        assert_eq!(limiter.check("a", start + Duration::from_secs(600)), Ok(()));
    }

    #[test]
    fn time_scale_divides_windows_and_retry_after() {
        // 60: a minute lasts 1 s, an hour 60 s.
        let limiter = RateLimiter::scaled(2, 5, 60.0);
        assert_eq!(
            limiter.windows(),
            (Duration::from_secs(1), Duration::from_secs(60))
        );
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(limiter.check("a", at(0)), Ok(()));
        assert_eq!(limiter.check("a", at(100)), Ok(()));
        // 0.9 s until the first call leaves the 1 s window: rounded up to 1.
        assert_eq!(limiter.check("a", at(100)), Err(1));
        assert_eq!(limiter.check("a", at(1000)), Ok(()));
        assert_eq!(limiter.check("a", at(2000)), Ok(()));
        assert_eq!(limiter.check("a", at(3000)), Ok(()));
        // Five calls in the 60 s "hour": wait until t=60 s, i.e. 57 s.
        assert_eq!(limiter.check("a", at(3000)), Err(57));
        assert_eq!(limiter.check("a", at(60_000)), Ok(()));
        let stats = limiter.stats();
        assert_eq!((stats.calls, stats.over_limit), (6, 2));
        assert_eq!(
            stats.max_per_minute, 3,
            "two accepted and one refused in 1 s"
        );
        assert_eq!(stats.max_per_hour, 7);
        assert_eq!((stats.minute_secs, stats.hour_secs), (1.0, 60.0));
        assert_eq!(stats.tokens.len(), 1);
        assert!(stats
            .tokens
            .keys()
            .all(|k| k.starts_with("token-") && k.len() == 18));
    }

    #[test]
    fn bad_time_scales_mean_one() {
        for bad in [0.0, -2.0, f64::NAN, f64::INFINITY] {
            assert_eq!(sanitize_time_scale(bad), 1.0);
        }
    }

    #[test]
    fn endpoint_budgets_nest_inside_the_global_one() {
        let limits = Limits::new(&crate::MockOptions {
            rate_per_minute: 5,
            rate_per_hour: 0,
            export_rate_per_minute: 2,
            export_rate_per_hour: 0,
            endpoint_rate_per_minute: Some(3),
            ..crate::MockOptions::default()
        });
        let now = Instant::now();
        let export = Endpoint::SoftwareVulnerabilitiesByMachine;
        assert_eq!(limits.check(export, "a", now), Ok(()));
        assert_eq!(limits.check(export, "a", now), Ok(()));
        assert_eq!(
            limits.check(export, "a", now),
            Err(60),
            "the export's own 2"
        );
        for _ in 0..3 {
            assert_eq!(limits.check(Endpoint::Machines, "a", now), Ok(()));
        }
        // Five accepted in all: the global budget is full, though Software's is empty.
        assert_eq!(limits.check(Endpoint::Software, "a", now), Err(60));
        assert_eq!(
            limits.check(Endpoint::Software, "b", now),
            Ok(()),
            "per token"
        );
        let stats = limits.stats();
        assert_eq!(stats.over_limit, 2);
        let global = &stats.budgets["default"];
        assert_eq!(
            (global.calls, global.over_limit, global.max_per_minute),
            (6, 1, 7)
        );
        let exported = &stats.endpoints["/api/machines/SoftwareVulnerabilitiesByMachine"];
        assert_eq!(
            (exported.calls, exported.over_limit, exported.per_minute),
            (2, 1, 2)
        );
        assert_eq!(stats.budgets["export"], *exported);
        let software = &stats.endpoints["/api/Software"];
        assert_eq!(
            (software.calls, software.over_limit, software.per_minute),
            (1, 0, 3)
        );
        assert_eq!(stats.endpoints.len(), Endpoint::ALL.len());
        limits.reset();
        assert_eq!(limits.check(Endpoint::Software, "a", now), Ok(()));
        assert_eq!(limits.stats().over_limit, 0);
        // Without endpoint limits of their own, endpoints take the global ones.
        let inherited = Limits::new(&crate::MockOptions::default()).stats();
        assert_eq!(inherited.endpoints["/api/machines"].per_minute, 100);
        assert_eq!(inherited.endpoints["/api/Software/{id}"].per_hour, 1500);
        assert_eq!(inherited.budgets["export"].per_minute, 30);
    }

    #[test]
    fn unlimited_still_counts_windows() {
        let limiter = RateLimiter::new(0, 0);
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(limiter.check("a", now), Ok(()));
        }
        let stats = limiter.stats();
        assert_eq!(
            (stats.calls, stats.max_per_minute, stats.over_limit),
            (5, 5, 0)
        );
    }

    #[test]
    fn zero_means_unlimited() {
        let limiter = RateLimiter::new(0, 0);
        let now = Instant::now();
        assert!((0..1000).all(|_| limiter.check("a", now).is_ok()));
    }
}
