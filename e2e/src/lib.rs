//! End-to-end test harness for kbwatch: the release build in `dist/` runs in a real headless
//! Chromium, driven over WebDriver, against the mock Defender API started in-process.
//!
//! One [`TestEnv`] per test owns everything it starts, and stops it on drop:
//! - the mock API ([`kbwatch_mock::spawn`]) on an ephemeral port,
//! - a static server for `dist/` ([`AppServer`]) whose `/config.json` points at that mock,
//! - a `chromedriver` process ([`Chromedriver`]) with a fresh Chromium profile.
//!
//! [`TestEnv::start_with`] and an [`EnvSetup`] choose the rest: the sign-in mode of the app's
//! `config.json` ([`AppAuth`]: demo, pasted token, or MSAL against the mock Entra ID, whose
//! self-signed certificate Chromium is then told to accept), how the app is served
//! ([`Serving`]: directly with CORS, or through Debian nginx running
//! `deploy/nginx/kbwatch.conf` with the mock's CORS off, see [`Nginx`]), and whether the browser
//! console is recorded ([`Page::console_log`]) so [`assert_no_token_exposed`] can search it.
//!
//! ```no_run
//! # async fn demo() -> kbwatch_e2e::TestResult {
//! use kbwatch_e2e::{Page, TestEnv};
//! let env = TestEnv::start(kbwatch_mock::MockOptions::default()).await?;
//! env.with_browser("demo", |page: Page| async move {
//!     page.open("/").await?;
//!     page.wait_count(kbwatch_e2e::selectors::DEVICE_ROW, 300).await?;
//!     Ok(())
//! })
//! .await;
//! # Ok(())
//! # }
//! ```

mod app_server;
mod chromedriver;
mod csp;
mod custom_api;
mod env;
mod fixtures;
mod health;
mod leaks;
mod local_server;
mod nginx;
mod page;
mod process;
mod raw_client;
mod relay;
pub mod selectors;
mod wait;

/// The app renders every row of a KB table up to this many rows; tests that count or read
/// every row pick devices with at most this many missing updates.
pub use kbwatch_core::kb_list::WHOLE_TABLE_MAX_ROWS as WHOLE_KB_TABLE_MAX;

pub use app_server::{dist_dir, AppServer, HeaderRule};
pub use chromedriver::{BrowserOptions, Chromedriver};
pub use csp::{
    allow_config_in_site, config_origins, csp_from_nginx_conf, reference_csp, static_host_csp,
};
pub use custom_api::{Answer, CustomApi};
pub use env::{config_for, ApiRoute, AppAuth, EnvSetup, MintedToken, MsalSetup, Serving, TestEnv};
pub use fixtures::{forged_token, mock_options};
pub use health::{assert_page_healthy, csp_violations, panics_in_console};
pub use leaks::{assert_no_token_exposed, jwt_like, msal_cached_access_tokens};
pub use local_server::LocalServer;
pub(crate) use nginx::workspace_root;
pub use nginx::{render_site_conf, ApiUpstream, Nginx, SITE_CONF};
pub use page::Page;
pub use process::free_port;
pub use raw_client::{RawAnswer, RawClient};
pub use relay::TcpRelay;
pub use wait::{hold_for, wait_for, DEFAULT_TIMEOUT};

/// Error type of test bodies: anything printable, so `?` works on every library's error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result of a test body.
pub type TestResult<T = ()> = Result<T, BoxError>;
