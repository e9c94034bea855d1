//! "Never panics, never violates the CSP": the checks every fault test ends with.

use crate::selectors::CRASH_REPORT;
use crate::{Page, TestResult};

/// Console lines reporting a Content-Security-Policy violation (Chromium logs each one as
/// "Refused to … because it violates the following Content Security Policy directive: …"),
/// Trusted Types' included ("This document requires 'TrustedHTML' assignment.").
pub fn csp_violations(console: &[String]) -> Vec<String> {
    console
        .iter()
        .filter(|l| {
            l.contains("Content Security Policy")
                || l.contains("Content-Security-Policy")
                || l.contains("requires 'Trusted")
        })
        .cloned()
        .collect()
}

/// Console lines of a Rust panic (`console_error_panic_hook` writes "panicked at …").
pub fn panics_in_console(console: &[String]) -> Vec<String> {
    console
        .iter()
        .filter(|l| l.contains("panicked") || l.contains("RuntimeError: unreachable"))
        .cloned()
        .collect()
}

/// Fails if the app showed its crash report, logged a panic, or the browser reported a CSP
/// violation. The console checks need a session with console capture
/// ([`crate::EnvSetup::capture_console`]).
pub async fn assert_page_healthy(page: &Page) -> TestResult {
    let crash = page.texts(CRASH_REPORT).await?;
    if !crash.is_empty() {
        return Err(format!("the app crashed: {crash:?}").into());
    }
    let console = page.console_log().await?;
    let panics = panics_in_console(&console);
    if !panics.is_empty() {
        return Err(format!("panic in the console: {panics:#?}").into());
    }
    let violations = csp_violations(&console);
    if !violations.is_empty() {
        return Err(format!("CSP violations: {violations:#?}").into());
    }
    Ok(())
}
