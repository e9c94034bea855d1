//! The browser as the tests see it: the app at a base URL, read through snapshots of the DOM.
//!
//! Reads go through small scripts (`querySelectorAll` in the page) rather than element handles:
//! Leptos re-renders rows, and a handle kept across a re-render goes stale; a script sees one
//! consistent DOM.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use thirtyfour::prelude::*;
use url::Url;

use crate::{wait_for, TestResult, DEFAULT_TIMEOUT};

/// Installed before any page script runs (CDP `Page.addScriptToEvaluateOnNewDocument`, so in
/// every document of the tab, across navigations): every `console.*` call is passed on as one
/// string with objects JSON-serialised. chromedriver's browser log would otherwise record an
/// object argument as just `Object`, and a token inside it would go unseen.
const CONSOLE_FLATTENER: &str = r#"(() => {
  if (globalThis.__kbwatchE2eConsole) return;
  globalThis.__kbwatchE2eConsole = true;
  const show = (v) => {
    if (typeof v === "string") return v;
    if (v instanceof Error) return `${v.name}: ${v.message} ${JSON.stringify(v)} ${v.stack || ""}`;
    try {
      const json = JSON.stringify(v);
      if (json !== undefined) return json;
    } catch (_) {}
    try { return String(v); } catch (_) { return Object.prototype.toString.call(v); }
  };
  for (const level of ["log", "info", "warn", "error", "debug", "trace", "dir", "table"]) {
    const original = console[level];
    if (typeof original !== "function") continue;
    console[level] = function (...args) {
      return original.call(console, args.map(show).join(" "));
    };
  }
})();"#;

/// A browser session showing the app served at `base`.
#[derive(Clone)]
pub struct Page {
    driver: WebDriver,
    base: String,
    console: Arc<Mutex<Vec<String>>>,
}

impl Page {
    pub(crate) fn new(driver: WebDriver, base: String) -> Self {
        Page {
            driver,
            base,
            console: Arc::default(),
        }
    }

    /// Flattens `console.*` arguments to strings in every document this tab loads from now on
    /// (call it before the first navigation). Needs a session with
    /// [`crate::BrowserOptions::capture_console`].
    pub(crate) async fn install_console_capture(&self) -> TestResult {
        self.driver
            .cdp()
            .send_raw(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": CONSOLE_FLATTENER }),
            )
            .await
            .map_err(|e| format!("cannot install the console capture script via CDP: {e}"))?;
        Ok(())
    }

    /// Every browser log entry so far (console calls, uncaught errors, failed loads), as
    /// `LEVEL message` lines, oldest first. chromedriver hands each entry out once; this keeps
    /// them all. Empty unless the session was started with
    /// [`crate::BrowserOptions::capture_console`].
    pub async fn console_log(&self) -> TestResult<Vec<String>> {
        let fresh = self.driver.browser_log().await?;
        let mut all = self.console.lock().unwrap_or_else(PoisonError::into_inner);
        all.extend(
            fresh
                .into_iter()
                .map(|entry| format!("{} {}", entry.level, entry.message)),
        );
        Ok(all.clone())
    }

    /// The key/value pairs of `localStorage` or `sessionStorage` (`which`) of the current page.
    pub async fn storage(&self, which: &str) -> TestResult<Vec<(String, String)>> {
        self.eval(
            "const s = window[arguments[0]];
             return Array.from({ length: s.length }, (_, i) => { const k = s.key(i); return [k, s.getItem(k)]; });",
            vec![json!(which)],
        )
        .await
    }

    /// The URL of every entry in this tab's session history (CDP `Page.getNavigationHistory`),
    /// including the ones `history.replaceState` rewrote, as they are now.
    pub async fn navigation_history(&self) -> TestResult<Vec<String>> {
        let history = self
            .driver
            .cdp()
            .send_raw("Page.getNavigationHistory", json!({}))
            .await?;
        let entries = history["entries"]
            .as_array()
            .ok_or_else(|| format!("Page.getNavigationHistory answered {history}"))?;
        Ok(entries
            .iter()
            .filter_map(|e| e["url"].as_str().map(str::to_owned))
            .collect())
    }

    /// The underlying WebDriver session, for anything the helpers do not cover.
    pub fn driver(&self) -> &WebDriver {
        &self.driver
    }

    /// Navigates to `path_and_query` (e.g. `/` or `/?device=…`) on the app server.
    pub async fn open(&self, path_and_query: &str) -> TestResult {
        self.driver
            .goto(format!("{}{}", self.base, path_and_query))
            .await?;
        Ok(())
    }

    /// Runs `script` (which must `return` a JSON-able value) with `args` and decodes the result.
    pub async fn eval<T: DeserializeOwned>(&self, script: &str, args: Vec<Value>) -> TestResult<T> {
        Ok(self.driver.execute(script, args).await?.convert()?)
    }

    /// Number of elements matching `css`.
    pub async fn count(&self, css: &str) -> TestResult<usize> {
        self.eval(
            "return document.querySelectorAll(arguments[0]).length;",
            vec![json!(css)],
        )
        .await
    }

    /// Trimmed text content of every element matching `css`, in document order.
    pub async fn texts(&self, css: &str) -> TestResult<Vec<String>> {
        self.eval(
            "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent.trim());",
            vec![json!(css)],
        )
        .await
    }

    /// Trimmed text of the first element matching `css`, if any.
    pub async fn text(&self, css: &str) -> TestResult<Option<String>> {
        self.eval(
            "const e = document.querySelector(arguments[0]); return e && e.textContent.trim();",
            vec![json!(css)],
        )
        .await
    }

    /// Attribute `name` of every element matching `css` (missing attributes are skipped).
    pub async fn attrs(&self, css: &str, name: &str) -> TestResult<Vec<String>> {
        self.eval(
            "return Array.from(document.querySelectorAll(arguments[0]), e => e.getAttribute(arguments[1]))
                 .filter(v => v !== null);",
            vec![json!(css), json!(name)],
        )
        .await
    }

    /// Attribute `name` of the first element matching `css` that has it.
    pub async fn attr(&self, css: &str, name: &str) -> TestResult<Option<String>> {
        Ok(self.attrs(css, name).await?.into_iter().next())
    }

    /// Waits until exactly `n` elements match `css`.
    pub async fn wait_count(&self, css: &str, n: usize) -> TestResult {
        self.wait_count_within(css, n, DEFAULT_TIMEOUT).await
    }

    /// [`Self::wait_count`] with a deadline of its own, for tables that take longer than a
    /// step (thousands of rows).
    pub async fn wait_count_within(&self, css: &str, n: usize, timeout: Duration) -> TestResult {
        wait_for(&format!("{n} × `{css}`"), timeout, || async move {
            let got = self.count(css).await?;
            Ok(if got == n {
                Ok(())
            } else {
                Err(format!("{got} matching"))
            })
        })
        .await
    }

    /// Waits until at least one element matches `css`, returning how many do.
    pub async fn wait_any(&self, css: &str) -> TestResult<usize> {
        wait_for(&format!("any `{css}`"), DEFAULT_TIMEOUT, || async move {
            let got = self.count(css).await?;
            Ok(if got > 0 { Ok(got) } else { Err("none".into()) })
        })
        .await
    }

    /// Waits until the first element matching `css` contains `needle`, returning its text.
    pub async fn wait_text_contains(&self, css: &str, needle: &str) -> TestResult<String> {
        wait_for(
            &format!("`{css}` to contain {needle:?}"),
            DEFAULT_TIMEOUT,
            || async move {
                Ok(match self.text(css).await? {
                    Some(t) if t.contains(needle) => Ok(t),
                    Some(t) => Err(format!("text {t:?}")),
                    None => Err("no such element".into()),
                })
            },
        )
        .await
    }

    /// Waits for a displayed element matching `css` and returns a handle to it (for clicks and
    /// typing; use it right away, before the app re-renders).
    pub async fn element(&self, css: &str) -> TestResult<WebElement> {
        Ok(self
            .driver
            .query(By::Css(css))
            .wait(DEFAULT_TIMEOUT, Duration::from_millis(100))
            .and_displayed()
            .desc(css)
            .first()
            .await?)
    }

    /// Clicks the first displayed element matching `css`.
    pub async fn click(&self, css: &str) -> TestResult {
        self.element(css).await?.click().await?;
        Ok(())
    }

    /// Replaces the value of the input matching `css` with `text`, as typed by a user.
    pub async fn type_into(&self, css: &str, text: &str) -> TestResult {
        let input = self.element(css).await?;
        input.clear().await?;
        input.send_keys(text).await?;
        Ok(())
    }

    /// The current URL.
    pub async fn url(&self) -> TestResult<Url> {
        Ok(self.driver.current_url().await?)
    }

    /// Value of query parameter `key` in the current URL.
    pub async fn query_param(&self, key: &str) -> TestResult<Option<String>> {
        Ok(self
            .url()
            .await?
            .query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned()))
    }

    /// Waits until query parameter `key` of the current URL equals `value` (`None`: absent).
    pub async fn wait_query_param(&self, key: &str, value: Option<&str>) -> TestResult {
        wait_for(
            &format!("URL parameter {key}={value:?}"),
            DEFAULT_TIMEOUT,
            || async move {
                let url = self.url().await?;
                let got = url
                    .query_pairs()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.into_owned());
                Ok(if got.as_deref() == value {
                    Ok(())
                } else {
                    Err(format!("URL {url}"))
                })
            },
        )
        .await
    }

    /// Reloads the page.
    pub async fn reload(&self) -> TestResult {
        self.driver.refresh().await?;
        Ok(())
    }

    /// Goes one entry back in history.
    pub async fn back(&self) -> TestResult {
        self.driver.back().await?;
        Ok(())
    }

    /// Saves a PNG of the viewport to `path`, creating its directory.
    pub async fn screenshot(&self, path: &Path) -> TestResult {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        self.driver.screenshot(path).await?;
        Ok(())
    }
}
