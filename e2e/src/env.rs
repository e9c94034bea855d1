//! Everything one end-to-end test needs, started together and stopped on drop.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::FutureExt;
use kbwatch_mock::{Idp, IdpOptions, MockOptions, RunningMock};
use serde_json::{json, Value};

use crate::{
    dist_dir, reference_csp, ApiUpstream, AppServer, BrowserOptions, Chromedriver, HeaderRule,
    Nginx, Page, TcpRelay, TestResult,
};

/// How the app signs in: the `auth` section of the `config.json` it gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AppAuth {
    /// `{"mode": "demo"}`: any token; the mock must run without its IdP.
    #[default]
    Demo,
    /// `{"mode": "token"}`: the user pastes a bearer token.
    Token,
    /// `{"mode": "msal"}` against the mock Entra ID (started with default options when the
    /// mock options have none).
    Msal(MsalSetup),
}

/// The MSAL settings of a test's `config.json`; everything else comes from the running IdP
/// (authority, `knownAuthorities`, `authorityMetadata`, tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsalSetup {
    /// `auth.clientId`; `None` = the client the IdP has registered.
    pub client_id: Option<String>,
    /// `auth.tokenRenewalOffsetSeconds`: keep it well below the IdP's token lifetime.
    pub token_renewal_offset_secs: u32,
}

impl Default for MsalSetup {
    fn default() -> Self {
        Self {
            client_id: None,
            token_renewal_offset_secs: 5,
        }
    }
}

/// Where the browser loads the app from, and so how it reaches the API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Serving {
    /// The test's own static server ([`AppServer`]); the app calls the mock directly, cross
    /// origin, so the mock sends CORS headers.
    #[default]
    Direct,
    /// Debian nginx running `deploy/nginx/kbwatch.conf` ([`Nginx`]) over HTTPS, with a
    /// certificate made for the test; `apiBase` is `/mde`, nginx reaches the mock's HTTPS
    /// listener and verifies it, and the mock sends no CORS headers, like the real API to a
    /// browser. The tests' own calls to nginx go through [`Nginx::client`].
    Nginx,
}

/// Where the app's `apiBase` points with [`Serving::Direct`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ApiRoute {
    /// The mock itself.
    #[default]
    Mock,
    /// A [`TcpRelay`] in front of the mock, which the test can close ([`TestEnv::close_relay`])
    /// to make the API refuse connections, and reopen.
    Relay,
    /// Any other base URL: a test's own server ([`crate::CustomApi`]) or a closed port.
    Url(String),
}

/// What [`TestEnv::start_with`] starts.
#[derive(Debug, Clone, Default)]
pub struct EnvSetup {
    /// The mock's options (`cors` and `app_dir` are set from [`Self::serving`]).
    pub mock: MockOptions,
    pub auth: AppAuth,
    pub serving: Serving,
    /// Record the browser console ([`Page::console_log`]).
    pub capture_console: bool,
    /// With [`Serving::Direct`]: send the reference Content-Security-Policy of
    /// `deploy/nginx/kbwatch.conf` (its `connect-src` extended by the API origins the app calls)
    /// with every answer of the app server. (nginx always sends it.)
    pub csp: bool,
    /// With [`Serving::Direct`]: where `apiBase` points.
    pub api: ApiRoute,
    /// Merged into the generated `config.json` (objects key by key), e.g.
    /// `{"refresh": {"requestTimeoutSeconds": 2}}`.
    pub config: Option<Value>,
    /// The build to serve instead of [`dist_dir`] (e.g. a copy with one file tampered with).
    pub dist: Option<PathBuf>,
}

impl EnvSetup {
    /// Every test runs under the reference Content-Security-Policy unless it opts out.
    pub fn new(mock: MockOptions) -> Self {
        Self {
            mock,
            csp: true,
            ..Self::default()
        }
    }

    pub fn auth(mut self, auth: AppAuth) -> Self {
        self.auth = auth;
        self
    }

    pub fn serving(mut self, serving: Serving) -> Self {
        self.serving = serving;
        self
    }

    pub fn capture_console(mut self) -> Self {
        self.capture_console = true;
        self
    }

    /// Serve the app with the reference Content-Security-Policy (see [`Self::csp`]).
    pub fn with_csp(mut self) -> Self {
        self.csp = true;
        self
    }

    pub fn api(mut self, api: ApiRoute) -> Self {
        self.api = api;
        self
    }

    /// Settings merged into `config.json` (see [`Self::config`]).
    pub fn config(mut self, overrides: Value) -> Self {
        self.config = Some(overrides);
        self
    }

    /// Serve this build (see [`Self::dist`]).
    pub fn dist(mut self, dist: PathBuf) -> Self {
        self.dist = Some(dist);
        self
    }
}

/// Merges `overrides` into `base`: objects key by key, anything else replaced.
fn merge_json(base: &mut Value, overrides: &Value) {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            for (key, value) in overrides {
                merge_json(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, overrides) => *base = overrides.clone(),
    }
}

/// `scheme://host:port` of an absolute URL.
fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(parsed.origin().ascii_serialization())
}

/// The app's host: the test's static server or nginx.
enum AppHost {
    Direct(AppServer),
    Nginx(Nginx),
}

/// What [`TestEnv::mint_token`] got from the mock Entra ID.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// The JWT, as a user would paste it.
    pub access_token: String,
    /// Its lifetime in seconds, as the token endpoint said.
    pub expires_in: Option<u64>,
}

/// The mock API, the app server pointing at it, and chromedriver.
///
/// Fields drop in order: the browser driver first, then the servers it was talking to.
pub struct TestEnv {
    chromedriver: Chromedriver,
    app: AppHost,
    relay: tokio::sync::Mutex<Option<TcpRelay>>,
    mock: RunningMock,
    http: reqwest::Client,
    browser: BrowserOptions,
}

/// The built `config.json` (if any) with `apiBase` and `auth` replaced; other settings stay as
/// built, so the tests exercise the shipped defaults.
pub fn config_for(dist: &Path, api_base: &str, auth: Value) -> TestResult<Value> {
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
    object.insert("auth".into(), auth);
    Ok(config)
}

/// The `auth` section for `auth`, with the IdP's coordinates for MSAL.
fn auth_section(auth: &AppAuth, idp: Option<&Arc<Idp>>) -> TestResult<Value> {
    Ok(match auth {
        AppAuth::Demo => json!({ "mode": "demo" }),
        AppAuth::Token => json!({ "mode": "token" }),
        AppAuth::Msal(setup) => {
            let idp = idp.ok_or("MSAL mode needs the mock's IdP")?;
            let options = idp.options();
            json!({
                "mode": "msal",
                "tenantId": options.tenant_id,
                "clientId": setup.client_id.as_deref().unwrap_or(&options.client_id),
                "authority": idp.authority(),
                "knownAuthorities": [idp.host()],
                "authorityMetadata": idp.openid_configuration(),
                "scope": format!("{}/.default", options.audience),
                "tokenRenewalOffsetSeconds": setup.token_renewal_offset_secs,
                // The mock Entra ID is not the cloud's sign-in host (core::config).
                "testOnlyAllowAnyAuthority": true,
            })
        }
    })
}

/// Token the tests use for their own calls to a mock without IdP (it accepts any bearer token).
const TEST_TOKEN: &str = "kbwatch-e2e";

/// Permissions of the tokens the tests mint for their own calls when the IdP is on.
const TEST_PERMISSIONS: [&str; 3] = ["Machine.Read", "Software.Read", "Vulnerability.Read"];

impl TestEnv {
    /// Starts the mock with `opts` (CORS forced on: the app is served from another origin),
    /// serves `dist/` with a demo-mode `config.json` pointing at it, and starts chromedriver.
    pub async fn start(opts: MockOptions) -> TestResult<Self> {
        Self::start_with(EnvSetup::new(opts)).await
    }

    /// Starts the mock, the app's host and chromedriver as `setup` says.
    pub async fn start_with(setup: EnvSetup) -> TestResult<Self> {
        let dist = setup.dist.clone().unwrap_or_else(dist_dir);
        let mut mock_opts = MockOptions {
            cors: setup.serving == Serving::Direct,
            app_dir: None,
            // nginx reaches the API over HTTPS, as it reaches Microsoft's.
            api_tls: setup.serving == Serving::Nginx,
            ..setup.mock
        };
        if matches!(setup.auth, AppAuth::Msal(_)) && mock_opts.idp.is_none() {
            mock_opts.idp = Some(IdpOptions::default());
        }
        let mock = kbwatch_mock::spawn(mock_opts, 0)
            .await
            .map_err(|e| format!("cannot start the mock API: {e}"))?;
        let auth = auth_section(&setup.auth, mock.idp())?;
        let mock_url = format!("http://{}", mock.api_addr);
        let mut relay = None;
        let app = match setup.serving {
            Serving::Direct => {
                let api_base = match &setup.api {
                    ApiRoute::Mock => mock_url.clone(),
                    ApiRoute::Relay => {
                        let started = TcpRelay::start(mock.api_addr).await?;
                        let url = started.url();
                        relay = Some(started);
                        url
                    }
                    ApiRoute::Url(url) => url.clone(),
                };
                let mut config = config_for(&dist, &api_base, auth)?;
                if let Some(overrides) = &setup.config {
                    merge_json(&mut config, overrides);
                }
                let mut headers = Vec::new();
                if setup.csp {
                    let mut connect = vec![mock_url.clone()];
                    connect.extend(origin_of(&api_base).filter(|o| *o != mock_url));
                    // With MSAL, the mock Entra ID is the sign-in host.
                    let login = match (&setup.auth, mock.idp()) {
                        (AppAuth::Msal(_), Some(idp)) => Some(format!("https://{}", idp.host())),
                        _ => None,
                    };
                    let (page_csp, redirect_csp) = reference_csp(login.as_deref(), &connect)?;
                    headers.push(HeaderRule::everywhere("content-security-policy", page_csp));
                    headers.push(HeaderRule::at(
                        "/redirect.html",
                        "content-security-policy",
                        redirect_csp,
                    ));
                    headers.push(HeaderRule::everywhere(
                        "referrer-policy",
                        "no-referrer".into(),
                    ));
                    headers.push(HeaderRule::everywhere(
                        "x-content-type-options",
                        "nosniff".into(),
                    ));
                }
                AppHost::Direct(AppServer::start_with_headers(&dist, config, headers).await?)
            }
            Serving::Nginx => {
                let mut config = config_for(&dist, "/mde", auth)?;
                if let Some(overrides) = &setup.config {
                    merge_json(&mut config, overrides);
                }
                let upstream = ApiUpstream::mock(&mock)?;
                // With MSAL, the CSP must let the page reach the mock Entra ID.
                let login = match (&setup.auth, mock.idp()) {
                    (AppAuth::Msal(_), Some(idp)) => Some(format!("https://{}", idp.host())),
                    _ => None,
                };
                AppHost::Nginx(Nginx::start(&dist, &config, &upstream, login.as_deref()).await?)
            }
        };
        let chromedriver = Chromedriver::start().await?;
        Ok(TestEnv {
            chromedriver,
            app,
            relay: tokio::sync::Mutex::new(relay),
            browser: BrowserOptions {
                // The IdP's and nginx's certificates come from CAs made for the test.
                ignore_certificate_errors: mock.idp().is_some() || setup.serving == Serving::Nginx,
                capture_console: setup.capture_console,
            },
            mock,
            http: reqwest::Client::new(),
        })
    }

    /// With [`ApiRoute::Relay`]: closes the relay, so the app's API calls are refused.
    pub async fn close_relay(&self) -> TestResult {
        match self.relay.lock().await.as_mut() {
            Some(relay) => {
                relay.close().await;
                Ok(())
            }
            None => Err("no relay: start the env with ApiRoute::Relay".into()),
        }
    }

    /// With [`ApiRoute::Relay`]: listens again on the relay's port.
    pub async fn reopen_relay(&self) -> TestResult {
        match self.relay.lock().await.as_mut() {
            Some(relay) => relay.reopen().await,
            None => Err("no relay: start the env with ApiRoute::Relay".into()),
        }
    }

    /// The running mock (addresses, IdP handle).
    pub fn mock(&self) -> &RunningMock {
        &self.mock
    }

    /// The mock Entra ID, when it runs.
    pub fn idp(&self) -> Option<&Arc<Idp>> {
        self.mock.idp()
    }

    /// The nginx in front of the app, with [`Serving::Nginx`].
    pub fn nginx(&self) -> Option<&Nginx> {
        match &self.app {
            AppHost::Nginx(nginx) => Some(nginx),
            AppHost::Direct(_) => None,
        }
    }

    /// `GET /_mock/stats`: request counts per path, route and status.
    pub async fn mock_stats(&self) -> TestResult<Value> {
        Ok(self
            .admin(reqwest::Method::GET, "/_mock/stats", None)
            .await?
            .json()
            .await?)
    }

    /// `POST /_mock/reset`: clears fault rules, request and IdP counters, rate-limit windows.
    pub async fn reset_mock(&self) -> TestResult {
        self.admin(reqwest::Method::POST, "/_mock/reset", None)
            .await
            .map(drop)
    }

    /// A call to the mock's admin API (`/_mock/…`, no token needed) with an optional JSON body;
    /// anything but a 2xx is an error naming the call, the status and the answer.
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> TestResult<reqwest::Response> {
        let url = format!("{}{path}", self.api_url());
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let resp = request.send().await?;
        let status = resp.status();
        if !status.is_success() {
            let answer = resp.text().await.unwrap_or_default();
            let sent = body.map(Value::to_string).unwrap_or_default();
            return Err(format!("{method} {url} {sent}: {status} {answer}").into());
        }
        Ok(resp)
    }

    /// `GET /_mock/idp/token`: an access token from the mock Entra ID for its default user, as
    /// `az account get-access-token` would give one to paste into token mode.
    pub async fn mint_token(&self) -> TestResult<MintedToken> {
        let answer: Value = self
            .admin(reqwest::Method::GET, "/_mock/idp/token", None)
            .await?
            .json()
            .await?;
        let access_token = answer["access_token"]
            .as_str()
            .ok_or_else(|| format!("GET /_mock/idp/token: no access_token in {answer}"))?
            .to_owned();
        Ok(MintedToken {
            access_token,
            expires_in: answer["expires_in"].as_u64(),
        })
    }

    /// A bearer token the mock accepts for the tests' own calls: a fresh one minted by the IdP
    /// when it runs (forced expiry would kill a kept one), else any string.
    fn test_token(&self) -> TestResult<String> {
        match self.mock.idp() {
            Some(idp) => {
                let permissions = TEST_PERMISSIONS.map(str::to_owned);
                Ok(idp.mint_access_token(Some(&permissions))?)
            }
            None => Ok(TEST_TOKEN.to_owned()),
        }
    }

    /// Base URL of the mock API, e.g. `http://127.0.0.1:40001` (plain HTTP: the tests' own
    /// calls; nginx uses its HTTPS listener).
    pub fn api_url(&self) -> String {
        self.mock.api_url()
    }

    /// Base URL of the app.
    pub fn app_url(&self) -> String {
        match &self.app {
            AppHost::Direct(app) => app.url(),
            AppHost::Nginx(nginx) => nginx.url(),
        }
    }

    /// GETs `path_and_query` from the mock API as an authorised client and returns the JSON.
    pub async fn api_get(&self, path_and_query: &str) -> TestResult<Value> {
        let url = format!("{}{}", self.api_url(), path_and_query);
        self.get_json(&url).await
    }

    async fn get_json(&self, url: &str) -> TestResult<Value> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(self.test_token()?)
            .send()
            .await?;
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

    /// How many rows the app's device list shows: the onboarded machines.
    pub async fn listed_device_count(&self) -> TestResult<usize> {
        Ok(self.onboarded_machines().await?.len())
    }

    /// `/api/machines/{id}/getmissingkbs` for one device.
    pub async fn missing_kbs(&self, device_id: &str) -> TestResult<Vec<Value>> {
        let page = self
            .api_get(&format!("/api/machines/{device_id}/getmissingkbs"))
            .await?;
        Ok(page["value"].as_array().cloned().unwrap_or_default())
    }

    /// Makes the per-device `getmissingkbs` application-only (as its page documents) or not,
    /// at run time (`POST /_mock/settings`).
    pub async fn set_missing_kbs_app_only(&self, on: bool) -> TestResult {
        let body = serde_json::json!({ "missing_kbs_app_only": on });
        self.admin(reqwest::Method::POST, "/_mock/settings", Some(&body))
            .await
            .map(drop)
    }

    /// Adds a fault rule through the admin API, e.g.
    /// `{"kind":"server_error","path_contains":"getmissingkbs","count":1}`.
    pub async fn inject_fault(&self, rule: Value) -> TestResult {
        self.admin(reqwest::Method::POST, "/_mock/faults", Some(&rule))
            .await
            .map(drop)
    }

    /// Removes every injected fault (`DELETE /_mock/faults`).
    pub async fn clear_faults(&self) -> TestResult {
        self.admin(reqwest::Method::DELETE, "/_mock/faults", None)
            .await
            .map(drop)
    }

    /// Where tests save screenshots (`e2e/screenshots/`, gitignored).
    pub fn screenshots_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("screenshots")
    }

    /// Starts what `setup` says (failing the test if it cannot) and runs `body` with it in a
    /// browser named `name` ([`Self::with_browser`]): the whole course of a test that needs
    /// nothing between the two.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use kbwatch_e2e::{mock_options, selectors::DEVICE_ROW, EnvSetup, TestEnv};
    /// TestEnv::run_in_browser(EnvSetup::new(mock_options()), "demo", async |env, page| {
    ///     page.open("/").await?;
    ///     page.wait_count(DEVICE_ROW, env.listed_device_count().await?).await
    /// })
    /// .await;
    /// # }
    /// ```
    pub async fn run_in_browser(
        setup: EnvSetup,
        name: &str,
        body: impl AsyncFnOnce(&TestEnv, Page) -> TestResult,
    ) {
        let env = Self::start_with(setup)
            .await
            .unwrap_or_else(|e| panic!("[{name}] {e}"));
        env.with_browser(name, |page| body(&env, page)).await;
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
        let driver = match self
            .chromedriver
            .new_session_with(profile.path(), self.browser)
            .await
        {
            Ok(driver) => driver,
            Err(e) => panic!("{e}"),
        };
        let page = Page::new(driver.clone(), self.app_url());
        if self.browser.capture_console {
            if let Err(e) = page.install_console_capture().await {
                let _ = driver.quit().await;
                panic!("[{name}] {e}");
            }
        }

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
            if self.browser.capture_console {
                if let Ok(lines) = page.console_log().await {
                    eprintln!("[{name}] browser console:");
                    for line in lines.iter().rev().take(40).rev() {
                        eprintln!("    {}", truncate(line, 400));
                    }
                }
            }
            if let Some(nginx) = self.nginx() {
                eprintln!("[{name}] nginx access log:\n{}", nginx.access_log());
                eprintln!("[{name}] nginx error log:\n{}", nginx.error_log());
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

/// At most `max` characters of `s`, marked when cut.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
