//! Per-token sliding-window rate limits (default 100/minute and 1,500/hour, as documented).
//!
//! Only accepted calls are recorded, so a client that retries exactly after `Retry-After`
//! gets through, while one that retries sooner is refused again — like the real service.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::auth::BearerToken;
use crate::errors::ApiError;
use crate::MockState;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Call timestamps per bearer token.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    per_hour: u32,
    calls: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// `0` disables a limit.
    pub fn new(per_minute: u32, per_hour: u32) -> Self {
        Self {
            per_minute,
            per_hour,
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// Record a call by `key` at `now`, or refuse it with the seconds to wait.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.per_minute == 0 && self.per_hour == 0 {
            return Ok(());
        }
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        let window = calls.entry(key.to_owned()).or_default();
        let keep = if self.per_hour > 0 { HOUR } else { MINUTE };
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= keep)
        {
            window.pop_front();
        }
        let wait = [(self.per_minute, MINUTE), (self.per_hour, HOUR)]
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
            Some(wait) => Err(wait.as_secs_f64().ceil().max(1.0) as u64),
            None => {
                window.push_back(now);
                Ok(())
            }
        }
    }

    /// Forget all calls.
    pub fn reset(&self) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Middleware refusing calls over the limit with 429 and `Retry-After`.
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
    match state.limiter.check(&key, Instant::now()) {
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
    fn zero_means_unlimited() {
        let limiter = RateLimiter::new(0, 0);
        let now = Instant::now();
        assert!((0..1000).all(|_| limiter.check("a", now).is_ok()));
    }
}
