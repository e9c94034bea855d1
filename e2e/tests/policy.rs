//! What the build itself ships against injected and swapped code (issue 15, items 6 and 9):
//! its own Content-Security-Policy as a meta tag (for static hosts that send no header), Trusted
//! Types (no HTML or script URL from a string reaches the DOM), and Subresource Integrity for
//! the code it loads on demand (the MSAL bundle, the wasm chunks).
//!
//! The tampering tests serve a copy of `dist/` with one file changed so that it still works (a
//! valid wasm module, valid JavaScript): without integrity checks the changed code would run.

use std::path::{Path, PathBuf};
use std::process::Command;

use kbwatch_e2e::selectors::DEVICE_ROW;
use kbwatch_e2e::{
    csp_violations, dist_dir, mock_options, static_host_csp, wait_for, AppAuth, EnvSetup,
    MsalSetup, Page, TestEnv, TestResult, DEFAULT_TIMEOUT,
};
use kbwatch_mock::app_csp::meta_csp;
use kbwatch_mock::{IdpOptions, MockOptions};
use serde_json::json;

const FLEET_PAGE: &str = "[data-testid=fleet-page]";
const VIEW_UNAVAILABLE: &str = "[data-testid=view-unavailable]";
const SIGN_IN_ERROR: &str = "[data-testid=sign-in-error]";
/// How Chromium reports a resource refused by Subresource Integrity ("Failed to find a valid
/// digest in the 'integrity' attribute for resource '…' with computed SHA-384 integrity '…'. The
/// resource has been blocked.").
const REFUSED_BY_INTEGRITY: &str = "Failed to find a valid digest in the 'integrity' attribute";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Waits until the console has a line containing `needle`.
async fn console_line(page: &Page, needle: &str) -> TestResult<String> {
    wait_for(
        &format!("a console line with {needle:?}"),
        DEFAULT_TIMEOUT,
        || async {
            let console = page.console_log().await?;
            Ok(match console.iter().find(|l| l.contains(needle)) {
                Some(line) => Ok(line.clone()),
                None => Err(format!("{console:#?}")),
            })
        },
    )
    .await
}

/// What page scripts meet: the outcome of an HTML write, a script URL from a string, and a
/// Trusted Types policy of another name (each "allowed" or the error's message).
async fn sink_attempts(page: &Page) -> TestResult<Vec<String>> {
    page.eval(
        r#"
        const attempt = (f) => { try { f(); return "allowed"; } catch (e) { return String(e); } };
        return [
            attempt(() => { document.createElement("div").innerHTML = "<img src=x>"; }),
            attempt(() => { document.createElement("script").src = "./injected.js"; }),
            attempt(() => { trustedTypes.createPolicy("injected", { createHTML: (s) => s }); }),
        ];
        "#,
        vec![],
    )
    .await
}

fn assert_refused(attempts: &[String]) {
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(attempts[0].contains("TrustedHTML"), "{attempts:?}");
    assert!(attempts[1].contains("TrustedScriptURL"), "{attempts:?}");
    assert!(attempts[2].contains("injected"), "{attempts:?}");
    assert!(attempts.iter().all(|a| a != "allowed"), "{attempts:?}");
}

/// `index.html` and `redirect.html` of the build carry the static-host policy (the reference
/// nginx policy with every Microsoft API and sign-in host, `frame-ancestors` left to headers)
/// in a meta tag right after `<meta charset>`, before any script, style or preload it governs;
/// `staticwebapp.config.json` is shipped next to them.
#[test]
fn the_build_carries_the_static_host_policy_in_its_pages() {
    let dist = dist_dir();
    let expected = static_host_csp().expect("the static-host policy");
    for page in ["index.html", "redirect.html"] {
        let html = read(&dist.join(page));
        assert_eq!(meta_csp(&html), Some(expected.as_str()), "{page}");
        let meta = html
            .find("<meta http-equiv=\"Content-Security-Policy\"")
            .expect("the tag");
        let charset = html.find("<meta charset=").expect("a charset");
        assert!(charset < meta, "{page}: the charset first");
        for governed in ["<script", "<link", "<style"] {
            if let Some(at) = html.find(governed) {
                assert!(meta < at, "{page}: the policy before the first {governed}");
            }
        }
    }
    let shipped = workspace_root().join("staticwebapp.config.json");
    assert_eq!(
        read(&dist.join("staticwebapp.config.json")),
        read(&shipped),
        "dist/ has the Static Web Apps configuration"
    );
}

fn workspace_root() -> PathBuf {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR"));
    e2e.parent().unwrap_or(e2e).to_path_buf()
}

/// On a host that sends no policy header, the page as built (not widened for the test: its
/// `apiBase` is a same-origin path) still refuses a call to an origin it does not list — here
/// the mock, which would answer — and page scripts meet Trusted Types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_meta_policy_alone_blocks_unlisted_origins_and_html_sinks() {
    let mut setup = EnvSetup::new(mock_options())
        .capture_console()
        .config(json!({ "apiBase": "/mde" }));
    setup.csp = false;
    TestEnv::run_in_browser(setup, "meta-policy-alone", async |env, page| {
        let response = reqwest::get(format!("{}/", env.app_url())).await?;
        assert!(
            response.headers().get("content-security-policy").is_none(),
            "no header policy: {:?}",
            response.headers()
        );
        assert_eq!(
            response.text().await?,
            read(&dist_dir().join("index.html")),
            "the page as built"
        );
        page.open("/").await?;
        let outcome: String = page
            .eval(
                "return fetch(arguments[0] + '/api/machines').then(r => 'answered ' + r.status, e => 'failed: ' + e);",
                vec![json!(env.api_url())],
            )
            .await?;
        assert!(outcome.starts_with("failed"), "{outcome}");
        let line = console_line(&page, "connect-src").await?;
        assert!(line.contains(&env.api_url()), "{line}");
        assert_refused(&sink_attempts(&page).await?);
        Ok(())
    })
    .await;
}

/// Under the reference header policy (which carries Trusted Types too) and the meta policy,
/// with the app running and healthy: writing HTML, setting a script URL from a string and
/// creating a policy of another name all fail, and the browser reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_types_refuse_html_and_script_urls_from_page_scripts() {
    let setup = EnvSetup::new(mock_options()).capture_console();
    TestEnv::run_in_browser(setup, "trusted-types", async |env, page| {
        let header = reqwest::get(format!("{}/", env.app_url()))
            .await?
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            header.contains("require-trusted-types-for 'script'; trusted-types kbwatch-msal"),
            "{header}"
        );
        page.open("/").await?;
        page.wait_any(DEVICE_ROW).await?;
        kbwatch_e2e::assert_page_healthy(&page).await?;
        assert_refused(&sink_attempts(&page).await?);
        console_line(&page, "requires 'TrustedHTML'").await?;
        assert!(!csp_violations(&page.console_log().await?).is_empty());
        Ok(())
    })
    .await;
}

/// A copy of the build with `change` applied, removed on drop.
fn tampered_dist(change: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("kbwatch-e2e-tampered-")
        .tempdir()
        .expect("a temporary directory");
    let copy = dir.path().join("dist");
    let status = Command::new("cp")
        .arg("-r")
        .arg(dist_dir())
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success(), "cp -r dist: {status}");
    change(&copy);
    dir
}

/// The demo app served from a copy of the build with `change` applied, the console recorded;
/// the copy lives as long as the returned directory.
fn tampered_setup(change: impl FnOnce(&Path)) -> (tempfile::TempDir, EnvSetup) {
    let dir = tampered_dist(change);
    let setup = EnvSetup::new(mock_options())
        .capture_console()
        .dist(dir.path().join("dist"));
    (dir, setup)
}

/// The one file of `dist` whose name starts with `prefix` and ends with `suffix`.
fn only_file(dist: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dist)
        .expect("dist")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .collect();
    assert_eq!(found.len(), 1, "one {prefix}…{suffix} in dist/: {found:?}");
    found[0].clone()
}

/// `chunk` (a wasm module) with a custom section appended: still a valid module, so only an
/// integrity check can tell it from the one the build shipped.
fn append_custom_section(chunk: &Path) {
    let mut bytes = std::fs::read(chunk).expect("the chunk");
    let name = b"tampered";
    let payload = b"not the build's code";
    bytes.push(0); // custom section
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    std::fs::write(chunk, bytes).expect("write the chunk");
}

/// A fleet chunk changed on the host is refused by the browser (its integrity does not match
/// what the chunk loader was built with): the fleet view says its code could not be downloaded,
/// the changed module never runs, and the device view keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_wasm_chunk_is_refused_and_the_view_says_so() {
    let (_dir, setup) = tampered_setup(|dist| {
        let file = only_file(dist, "split_fleet_view", ".wasm");
        append_custom_section(&file);
    });
    TestEnv::run_in_browser(setup, "tampered-chunk", async |_, page| {
        page.open("/").await?;
        page.wait_any(DEVICE_ROW).await?;
        page.click("[data-testid=nav-fleet]").await?;
        page.wait_text_contains(VIEW_UNAVAILABLE, "could not be downloaded")
            .await?;
        assert_eq!(
            page.count(FLEET_PAGE).await?,
            0,
            "the changed code did not run"
        );
        console_line(&page, REFUSED_BY_INTEGRITY).await?;
        page.click("[data-testid=nav-devices]").await?;
        page.wait_any(DEVICE_ROW).await?;
        Ok(())
    })
    .await;
}

/// The MSAL bundle changed on the host (here: a line appended that marks the page) is refused:
/// the script never runs, MSAL is not there, and the sign-in page says the library could not
/// be loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_msal_bundle_is_refused_and_sign_in_says_so() {
    let dir = tampered_dist(|dist| {
        let bundle = dist.join("msal-browser.min.js");
        let mut code = read(&bundle);
        code.push_str("\n;globalThis.kbwatchTampered = true;\n");
        std::fs::write(&bundle, code).expect("write the bundle");
    });
    let setup = EnvSetup::new(MockOptions {
        idp: Some(IdpOptions::default()),
        ..mock_options()
    })
    .auth(AppAuth::Msal(MsalSetup::default()))
    .capture_console()
    .dist(dir.path().join("dist"));
    TestEnv::run_in_browser(setup, "tampered-msal", async |_, page| {
        page.open("/").await?;
        let shown = page
            .wait_text_contains(SIGN_IN_ERROR, "MSAL library could not be loaded")
            .await?;
        assert!(shown.contains("msal-browser.min.js"), "{shown}");
        let ran: Vec<bool> = page
            .eval(
                "return [globalThis.kbwatchTampered === true, typeof globalThis.msal !== 'undefined'];",
                vec![],
            )
            .await?;
        assert_eq!(ran, vec![false, false], "neither the change nor MSAL ran");
        console_line(&page, REFUSED_BY_INTEGRITY).await?;
        Ok(())
    })
    .await;
}

/// Trunk's loader, moved out of index.html into `loader-<hash>.js` by the build, changed on the
/// host (a line appended that marks the page) is refused: nothing of it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_loader_is_refused() {
    let (_dir, setup) = tampered_setup(|dist| {
        let file = only_file(dist, "loader-", ".js");
        let mut code = read(&file);
        code.push_str("\n;globalThis.kbwatchTampered = true;\n");
        std::fs::write(&file, code).expect("write the loader");
    });
    TestEnv::run_in_browser(setup, "tampered-loader", async |_, page| {
        page.open("/").await?;
        console_line(&page, REFUSED_BY_INTEGRITY).await?;
        let ran: bool = page
            .eval("return globalThis.kbwatchTampered === true;", vec![])
            .await?;
        assert!(!ran, "the changed loader ran");
        assert_eq!(page.count(DEVICE_ROW).await?, 0);
        Ok(())
    })
    .await;
}

/// The app's main wasm module changed on the host (a valid custom section appended) is refused:
/// the app does not start, and the module is downloaded once (its preload is what the loader
/// uses, not a second copy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_main_module_is_refused() {
    let (_dir, setup) = tampered_setup(|dist| {
        let file = only_file(dist, "kbwatch-", "_bg.wasm");
        append_custom_section(&file);
    });
    TestEnv::run_in_browser(setup, "tampered-main-module", async |_, page| {
        page.open("/").await?;
        console_line(&page, REFUSED_BY_INTEGRITY).await?;
        assert_eq!(page.count(DEVICE_ROW).await?, 0);
        Ok(())
    })
    .await;
}

/// The untampered build downloads its main wasm module once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_module_is_downloaded_once() {
    let setup = EnvSetup::new(mock_options());
    TestEnv::run_in_browser(setup, "main-module-once", async |_, page| {
        page.open("/").await?;
        page.wait_any(DEVICE_ROW).await?;
        let fetched: Vec<String> = page
            .eval(
                "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.endsWith('_bg.wasm'));",
                vec![],
            )
            .await?;
        assert_eq!(fetched.len(), 1, "{fetched:#?}");
        Ok(())
    })
    .await;
}

/// Runs the meta-policy hook on a staging directory holding copies of the built pages with their
/// meta tags removed, with `KBWATCH_CSP_CONNECT` set to `extra`: the hook's outcome and, when it
/// succeeded, the policy it wrote into index.html.
fn meta_hook_with(extra: &str) -> (bool, Option<String>) {
    let staging = tempfile::tempdir().expect("a temporary directory");
    for page in ["index.html", "redirect.html"] {
        let html = read(&dist_dir().join(page));
        let policy = meta_csp(&html).expect("the built page has its policy");
        let tag =
            format!("\n    <meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\" />");
        std::fs::write(staging.path().join(page), html.replacen(&tag, "", 1)).expect("write");
    }
    let status = Command::new("node")
        .arg(workspace_root().join("scripts/meta-csp.mjs"))
        .env("TRUNK_STAGING_DIR", staging.path())
        .env("TRUNK_SOURCE_DIR", workspace_root())
        .env("KBWATCH_CSP_CONNECT", extra)
        .status()
        .expect("node");
    let html = read(&staging.path().join("index.html"));
    (status.success(), meta_csp(&html).map(str::to_owned))
}

/// A deployment whose `apiBase` is a gateway of its own adds that origin at build time: it
/// lands in `connect-src` and nowhere else; anything but an https origin stops the build.
#[test]
fn a_gateway_origin_is_added_to_the_meta_policy_at_build_time_and_only_https() {
    let expected = static_host_csp().expect("the static-host policy");
    let (ok, policy) = meta_hook_with("https://gw.example");
    assert!(ok);
    let with_gateway = expected.replacen("; frame-src", " https://gw.example; frame-src", 1);
    assert_eq!(policy.as_deref(), Some(with_gateway.as_str()));
    for refused in [
        "http://gw.example",
        "https://gw.example/api",
        "'unsafe-inline'",
        "*",
    ] {
        let (ok, _) = meta_hook_with(refused);
        assert!(!ok, "{refused} must stop the build");
    }
}
