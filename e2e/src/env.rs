//! Everything one end-to-end test needs, started together and stopped on drop.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use futures_util::FutureExt;
use kbwatch_mock::{MockOptions, RunningMock};
use serde_json::{json, Value};

use crate::{dist_dir, AppServer, Chromedriver, Page, TestResult};

/// The mock API, the app server pointing at it, and chromedriver.
///
/// Fields drop in order: the browser driver first, then the servers it was talking to.
pub struct TestEnv {
    chromedriver: Chromedriver,
    app: AppServer,
    mock: RunningMock,
    http: reqwest::Client,
}

/// The built `config.json` (if any) with `apiBase` pointing at the mock and demo sign-in;
/// other settings stay as built, so the tests exercise the shipped defaults.
fn config_for(dist: &Path, api_base: &str) -> TestResult<Value> {
    let built = dist.join("config.json");
    let mut config = match std::fs::read_to_string(&built) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{} is not valid JSON: {e}", built.display()))?,
        Err(_) => json!({}),
    };
    let object = config
        .as_object_mut()
        .ok_or_else(|| format!("{} is not a JSON object", built.display()))?;
    object.insert("apiBase".into(), json!(api_base));
    object.insert("auth".into(), json!({ "mode": "demo" }));
    Ok(config)
}

/// Token the tests use for their own calls to the mock (it accepts any bearer token).
const TEST_TOKEN: &str = "kbwatch-e2e";

impl TestEnv {
    /// Starts the mock with `opts` (CORS forced on: the app is served from another origin),
    /// serves `dist/` with a `config.json` pointing at it, and starts chromedriver.
    pub async fn start(opts: MockOptions) -> TestResult<Self> {
        let dist = dist_dir();
        let mock = kbwatch_mock::spawn(
            MockOptions {
                cors: true,
                app_dir: None,
                ..opts
            },
            0,
        )
        .await
        .map_err(|e| format!("cannot start the mock API: {e}"))?;
        let config = config_for(&dist, &format!("http://{}", mock.api_addr))?;
        let app = AppServer::start(&dist, config).await?;
        let chromedriver = Chromedriver::start().await?;
        Ok(TestEnv {
            chromedriver,
            app,
            mock,
            http: reqwest::Client::new(),
        })
    }

    /// Base URL of the mock API, e.g. `http://127.0.0.1:40001`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.mock.api_addr)
    }

    /// Base URL of the app.
    pub fn app_url(&self) -> String {
        self.app.url()
    }

    /// GETs `path_and_query` from the mock API as an authorised client and returns the JSON.
    pub async fn api_get(&self, path_and_query: &str) -> TestResult<Value> {
        let url = format!("{}{}", self.api_url(), path_and_query);
        self.get_json(&url).await
    }

    async fn get_json(&self, url: &str) -> TestResult<Value> {
        let resp = self.http.get(url).bearer_auth(TEST_TOKEN).send().await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            return Err(format!("GET {url}: {status} {body}").into());
        }
        Ok(body)
    }

    /// Every machine `/api/machines` lists, following `@odata.nextLink`.
    pub async fn machines(&self) -> TestResult<Vec<Value>> {
        let mut out = Vec::new();
        let mut next = Some(format!("{}/api/machines", self.api_url()));
        while let Some(url) = next.take() {
            let page = self.get_json(&url).await?;
            out.extend(page["value"].as_array().cloned().unwrap_or_default());
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
        }
        Ok(out)
    }

    /// The machines whose `onboardingStatus` is `Onboarded`: the ones the app lists.
    pub async fn onboarded_machines(&self) -> TestResult<Vec<Value>> {
        Ok(self
            .machines()
            .await?
            .into_iter()
            .filter(|m| m["onboardingStatus"] == "Onboarded")
            .collect())
    }

    /// `/api/machines/{id}/getmissingkbs` for one device.
    pub async fn missing_kbs(&self, device_id: &str) -> TestResult<Vec<Value>> {
        let page = self
            .api_get(&format!("/api/machines/{device_id}/getmissingkbs"))
            .await?;
        Ok(page["value"].as_array().cloned().unwrap_or_default())
    }

    /// Adds a fault rule through the admin API, e.g.
    /// `{"kind":"server_error","path_contains":"getmissingkbs","count":1}`.
    pub async fn inject_fault(&self, rule: Value) -> TestResult {
        let url = format!("{}/_mock/faults", self.api_url());
        let resp = self.http.post(&url).json(&rule).send().await?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            return Err(format!("POST {url} {rule}: {status} {body}").into());
        }
        Ok(())
    }

    /// Removes every injected fault (`DELETE /_mock/faults`).
    pub async fn clear_faults(&self) -> TestResult {
        let url = format!("{}/_mock/faults", self.api_url());
        let resp = self.http.delete(&url).send().await?;
        if !resp.status().is_success() {
            return Err(format!("POST {url}: {}", resp.status()).into());
        }
        Ok(())
    }

    /// Where tests save screenshots (`e2e/screenshots/`, gitignored).
    pub fn screenshots_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("screenshots")
    }

    /// Opens a fresh Chromium (new profile) on the app and runs `body` with it.
    ///
    /// The browser is always closed afterwards. If `body` fails or panics, a screenshot is saved
    /// as `e2e/screenshots/failed-<name>.png` first, and the test panics with the error.
    pub async fn with_browser<F, Fut>(&self, name: &str, body: F)
    where
        F: FnOnce(Page) -> Fut,
        Fut: Future<Output = TestResult>,
    {
        let profile = tempfile::Builder::new()
            .prefix("kbwatch-e2e-chromium-")
            .tempdir()
            .expect("cannot create a temporary Chromium profile directory");
        let driver = match self.chromedriver.new_session(profile.path()).await {
            Ok(driver) => driver,
            Err(e) => panic!("{e}"),
        };
        let page = Page::new(driver.clone(), self.app_url());

        let outcome = AssertUnwindSafe(body(page.clone())).catch_unwind().await;

        if !matches!(outcome, Ok(Ok(()))) {
            let shot = Self::screenshots_dir().join(format!("failed-{name}.png"));
            match page.screenshot(&shot).await {
                Ok(()) => eprintln!("[{name}] screenshot of the failure: {}", shot.display()),
                Err(e) => eprintln!("[{name}] no failure screenshot: {e}"),
            }
            if let Ok(url) = page.url().await {
                eprintln!("[{name}] page URL at failure: {url}");
            }
        }
        if let Err(e) = driver.quit().await {
            eprintln!("[{name}] closing the browser failed: {e}");
        }
        drop(profile);

        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("[{name}] {e}"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}
