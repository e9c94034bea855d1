//! Polling with an explicit deadline: the only way tests wait for the app.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::{BoxError, TestResult};

/// How long a test waits for the app before failing. Generous: the first load compiles the
/// wasm module, and CI machines are slow.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Calls `probe` until it returns `Ok(Ok(value))` or `timeout` passes.
///
/// `probe` returns `Ok(Err(observed))` while the condition does not hold yet; the last
/// `observed` text is part of the timeout error so a failure says what the page showed instead.
/// An `Err` from `probe` itself (e.g. the browser went away) fails immediately.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Result<T, String>, BoxError>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let observed = match probe().await? {
            Ok(value) => return Ok(value),
            Err(observed) => observed,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "timed out after {:.1} s waiting for {what}; last observed: {observed}",
                timeout.as_secs_f64()
            )
            .into());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Checks `probe` every poll interval for the whole of `duration` and fails at the first
/// `Ok(Err(observed))`: for things that must *not* happen within a window (a redirect loop, a
/// second request). The window is an observation period, not a way to wait for the app.
pub async fn hold_for<F, Fut>(what: &str, duration: Duration, mut probe: F) -> TestResult
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Result<(), String>, BoxError>>,
{
    let start = Instant::now();
    loop {
        if let Err(observed) = probe().await? {
            return Err(format!(
                "{what} stopped holding after {:.1} s: {observed}",
                start.elapsed().as_secs_f64()
            )
            .into());
        }
        if start.elapsed() >= duration {
            return Ok(());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_value_once_the_condition_holds() {
        let mut calls = 0;
        let got = wait_for("third call", Duration::from_secs(5), || {
            calls += 1;
            let n = calls;
            async move {
                Ok(if n >= 3 {
                    Ok(n)
                } else {
                    Err(format!("call {n}"))
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(got, 3);
    }

    #[tokio::test]
    async fn hold_for_fails_at_the_first_violation() {
        let mut calls = 0;
        let err = hold_for("calls below 3", Duration::from_secs(5), || {
            calls += 1;
            let n = calls;
            async move {
                Ok(if n < 3 {
                    Ok(())
                } else {
                    Err(format!("call {n}"))
                })
            }
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("calls below 3") && err.contains("call 3"),
            "{err}"
        );
        assert!(hold_for("always", Duration::from_millis(250), || async {
            Ok(Ok(()))
        })
        .await
        .is_ok());
    }

    #[tokio::test]
    async fn timeout_error_names_the_condition_and_last_observation() {
        let err = wait_for::<(), _, _>("never", Duration::from_millis(250), || async {
            Ok(Err("still nothing".to_string()))
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("waiting for never"), "{err}");
        assert!(err.contains("still nothing"), "{err}");
    }
}
