//! Per-token sliding-window rate limits (default 100/minute and 1,500/hour, as documented), in
//! separate budgets: `SoftwareVulnerabilitiesByMachine` has its own (30/minute, 1,000/hour).
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
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::auth::BearerToken;
use crate::errors::ApiError;
use crate::MockState;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Which budget a call counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Every `/api` path except the export below: [`crate::MockOptions::rate_per_minute`] /
    /// [`crate::MockOptions::rate_per_hour`].
    Default,
    /// `/api/machines/SoftwareVulnerabilitiesByMachine`:
    /// [`crate::MockOptions::export_rate_per_minute`] / [`crate::MockOptions::export_rate_per_hour`].
    Export,
}

impl Budget {
    /// The budget of an `/api` path (with or without the `/api` prefix).
    pub fn of_path(path: &str) -> Self {
        let path = path.strip_prefix("/api").unwrap_or(path);
        if path.trim_end_matches('/') == "/machines/SoftwareVulnerabilitiesByMachine" {
            Self::Export
        } else {
            Self::Default
        }
    }

    /// Key in `GET /_mock/stats` → `rate_limits.budgets`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Export => "export",
        }
    }
}

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
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        let state = calls.entry(key.to_owned()).or_default();
        for (seen, span, max) in [
            (
                &mut state.seen_minute,
                self.minute,
                &mut state.max_per_minute,
            ),
            (&mut state.seen_hour, self.hour, &mut state.max_per_hour),
        ] {
            seen.push_back(now);
            while seen.front().is_some_and(|t| now.duration_since(*t) >= span) {
                seen.pop_front();
            }
            *max = (*max).max(seen.len() as u64);
        }
        if self.per_minute == 0 && self.per_hour == 0 {
            state.calls += 1;
            return Ok(());
        }
        let window = &mut state.accepted;
        let keep = if self.per_hour > 0 {
            self.hour
        } else {
            self.minute
        };
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= keep)
        {
            window.pop_front();
        }
        let wait = [(self.per_minute, self.minute), (self.per_hour, self.hour)]
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
            .max();
        match wait {
            Some(wait) => {
                state.over_limit += 1;
                Err(wait.as_secs_f64().ceil().max(1.0) as u64)
            }
            None => {
                window.push_back(now);
                state.calls += 1;
                Ok(())
            }
        }
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

/// Middleware refusing calls over the limit of their [`Budget`] with 429 and `Retry-After`.
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
    let limiter = state.limiter(Budget::of_path(request.uri().path()));
    match limiter.check(&key, Instant::now()) {
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
    fn bad_time_scales_mean_one_and_budgets_follow_paths() {
        for bad in [0.0, -2.0, f64::NAN, f64::INFINITY] {
            assert_eq!(sanitize_time_scale(bad), 1.0);
        }
        assert_eq!(
            Budget::of_path("/api/machines/SoftwareVulnerabilitiesByMachine"),
            Budget::Export
        );
        assert_eq!(
            Budget::of_path("/machines/SoftwareVulnerabilitiesByMachine"),
            Budget::Export
        );
        assert_eq!(
            Budget::of_path("/api/vulnerabilities/machinesVulnerabilities"),
            Budget::Default
        );
        assert_eq!(Budget::of_path("/machines"), Budget::Default);
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
