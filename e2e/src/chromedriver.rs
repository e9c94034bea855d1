//! A `chromedriver` process owned by the test, plus the Chromium session settings.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use thirtyfour::{ChromiumLikeCapabilities, DesiredCapabilities, LoggingPrefsLogLevel, WebDriver};

use crate::process::{free_port, kill_group};
use crate::{wait_for, TestResult};

/// Flags for a quiet, deterministic headless Chromium in a container.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1400,1000",
];

/// Per-session Chromium settings beyond [`CHROMIUM_ARGS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrowserOptions {
    /// `--ignore-certificate-errors`: needed for the mock Entra ID's self-signed certificate.
    /// Off by default, so an accidental HTTPS call elsewhere still fails loudly.
    pub ignore_certificate_errors: bool,
    /// Ask chromedriver to keep every browser log entry (`goog:loggingPrefs` browser=ALL), so
    /// the console can be read back ([`crate::Page::console_log`]).
    pub capture_console: bool,
}

/// A running `chromedriver` on a free local port. Dropping it kills chromedriver and every
/// browser it started (they share its process group).
pub struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    /// Starts `$CHROMEDRIVER` (default: `chromedriver` on PATH) and waits until it is ready.
    pub async fn start() -> TestResult<Self> {
        let program = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("chromedriver"));
        let port = free_port()?;
        let child = Command::new(&program)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg("--log-level=WARNING")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Own process group, so Drop can stop the browsers chromedriver spawns too.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {} ({e}): install chromium-driver (scripts/bootstrap.sh) \
                     or set CHROMEDRIVER=/path/to/chromedriver",
                    program.display()
                )
            })?;
        let mut driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        driver.wait_ready().await?;
        Ok(driver)
    }

    /// The WebDriver endpoint, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn wait_ready(&mut self) -> TestResult {
        let status_url = format!("{}/status", self.url);
        let http = reqwest::Client::new();
        let pid = self.child.id();
        let child = &mut self.child;
        wait_for("chromedriver to be ready", Duration::from_secs(20), || {
            let exited = child.try_wait();
            let request = http.get(&status_url).send();
            async move {
                if let Some(status) = exited? {
                    return Err(format!("chromedriver (pid {pid}) exited early: {status}").into());
                }
                match request.await {
                    Ok(resp) => {
                        let body: serde_json::Value = resp.json().await?;
                        if body["value"]["ready"] == serde_json::Value::Bool(true) {
                            Ok(Ok(()))
                        } else {
                            Ok(Err(format!("status {body}")))
                        }
                    }
                    Err(e) => Ok(Err(e.to_string())),
                }
            }
        })
        .await
    }

    /// Opens a new headless Chromium session whose profile lives in `profile_dir`.
    pub async fn new_session(&self, profile_dir: &Path) -> TestResult<WebDriver> {
        self.new_session_with(profile_dir, BrowserOptions::default())
            .await
    }

    /// [`Self::new_session`] with extra settings.
    pub async fn new_session_with(
        &self,
        profile_dir: &Path,
        options: BrowserOptions,
    ) -> TestResult<WebDriver> {
        let binary = std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(&binary)?;
        for arg in CHROMIUM_ARGS {
            caps.add_arg(arg)?;
        }
        caps.add_arg(&format!("--user-data-dir={}", profile_dir.display()))?;
        if options.ignore_certificate_errors {
            caps.add_arg("--ignore-certificate-errors")?;
        }
        if options.capture_console {
            caps.set_browser_log_level(LoggingPrefsLogLevel::All)?;
        }
        WebDriver::new(self.url.as_str(), caps)
            .await
            .map_err(|e| format!("cannot start Chromium ({binary}) via chromedriver: {e}").into())
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}
