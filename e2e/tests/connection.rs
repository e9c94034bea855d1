//! The connection check against the mock: a pasted token without Software.Read and
//! Vulnerability.Read is told, per endpoint, which delegated permission to grant; with the
//! per-device `getmissingkbs` application-only (as its page documents), a token with every
//! scope is told just that, and what kbwatch reads instead, never to grant anything. The
//! probes are charged to the budget the fleet scan uses and never touch a file export; the
//! report holds no token. And an error's link opens the check.

use kbwatch_e2e::selectors::{ERROR_BANNER, TOKEN_INPUT, TOKEN_SUBMIT};
use kbwatch_e2e::{
    assert_no_token_exposed, jwt_like, mock_options, wait_for, AppAuth, EnvSetup, Page, TestEnv,
    TestResult, DEFAULT_TIMEOUT,
};
use kbwatch_mock::{IdpOptions, MockOptions};
use serde_json::{json, Value};

const CHECK: &str = "[data-testid=connection-check]";
const CHECK_RUN: &str = "[data-testid=check-run]";
const CHECK_LINK: &str = "[data-testid=check-link]";
/// What the budget history's key starts with (the rest names the tenant application).
const BUDGET_KEY: &str = "kbwatch.budget.v1";

fn cell(probe: &str, cell: &str) -> String {
    format!("tr[data-probe='{probe}'] [data-testid={cell}]")
}

/// Token mode against the mock with its Entra ID, console recorded.
fn token_setup() -> EnvSetup {
    EnvSetup::new(MockOptions {
        idp: Some(IdpOptions::default()),
        ..mock_options()
    })
    .auth(AppAuth::Token)
    .capture_console()
}

/// Opens the check with a pasted `token` and runs it to its last probe's diagnosis.
async fn run_check(page: &Page, token: &str) -> TestResult {
    page.open("/?view=connection").await?;
    page.type_into(TOKEN_INPUT, token).await?;
    page.click(TOKEN_SUBMIT).await?;
    page.wait_any("[data-testid=check-scopes]").await?;
    page.click(CHECK_RUN).await?;
    let last = cell("software-vulnerabilities-by-machine", "check-diagnosis");
    wait_for("the last probe's diagnosis", DEFAULT_TIMEOUT, || async {
        let shown = page.text(&last).await?.unwrap_or_default();
        Ok(if shown.is_empty() { Err(shown) } else { Ok(()) })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_scopes_is_told_which_to_grant() {
    TestEnv::run_in_browser(
        token_setup(),
        "connection-scope-missing",
        async |env, page| {
            let idp = env.idp().ok_or("the mock runs without its IdP")?;
            let token = idp.mint_access_token(Some(&["Machine.Read".to_owned()]))?;
            run_check(&page, &token).await?;
            let last = cell("software-vulnerabilities-by-machine", "check-diagnosis");
            let svbm = page.text(&last).await?.unwrap_or_default();
            assert!(
                svbm.contains("The token lacks Vulnerability.Read"),
                "{svbm}"
            );

            assert_eq!(
                page.text(&cell("machines", "check-result"))
                    .await?
                    .as_deref(),
                Some("OK")
            );
            let bulk = page
                .text(&cell("machines-vulnerabilities", "check-diagnosis"))
                .await?
                .unwrap_or_default();
            assert!(
                bulk.contains("The token lacks Vulnerability.Read")
                    && bulk.contains("admin consent"),
                "{bulk}"
            );
            // The mock names the delegated permission it wants for the per-device call.
            let per_device = page
                .text(&cell("device-missing-kbs", "check-diagnosis"))
                .await?
                .unwrap_or_default();
            assert!(
                per_device.contains("The token lacks Software.Read"),
                "{per_device}"
            );
            let software = page.text(&cell("software", "check-diagnosis")).await?;
            assert!(
                software
                    .as_deref()
                    .unwrap_or_default()
                    .contains("The token lacks Software.Read"),
                "{software:?}"
            );

            // Every probe call is in the shared budget; no file export was asked for.
            let called = page
                .texts("[data-testid=check-result]")
                .await?
                .into_iter()
                .filter(|r| r != "skipped")
                .count();
            let budget = page
                .storage("localStorage")
                .await?
                .into_iter()
                .find(|(k, _)| k.starts_with(BUDGET_KEY))
                .map(|(_, v)| v)
                .ok_or("no budget in localStorage")?;
            let budget: Value = serde_json::from_str(&budget)?;
            let starts = budget["starts"].as_array().map_or(0, Vec::len);
            assert!(called >= 5, "{called} probes called");
            assert_eq!(starts, called, "each probe charged once: {budget}");
            let stats = env.mock_stats().await?;
            let paths = stats["paths"].as_object().cloned().unwrap_or_default();
            assert!(
                paths
                    .keys()
                    .all(|p| !p.to_ascii_lowercase().contains("export")),
                "{stats}"
            );
            assert_eq!(
                paths.get("/api/vulnerabilities/machinesVulnerabilities"),
                Some(&json!(1))
            );

            // The report carries the claims, never the token.
            let report: String = page
                .eval(
                    "return document.querySelector('[data-testid=check-report]').value;",
                    vec![],
                )
                .await?;
            assert!(report.contains("Scopes: Machine.Read"), "{report}");
            assert!(
                report.contains("device-missing-kbs: GET /api/machines/"),
                "{report}"
            );
            assert!(
                !report.contains(&token) && jwt_like(&report).is_empty(),
                "{report}"
            );
            assert_no_token_exposed(&page, std::slice::from_ref(&token)).await
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_only_endpoint_is_named_as_one_and_nothing_is_to_be_granted() {
    TestEnv::run_in_browser(token_setup(), "connection-app-only", async |env, page| {
        env.set_missing_kbs_app_only(true).await?;
        let token = env.mint_token().await?.access_token;
        run_check(&page, &token).await?;
        let per_device = page
            .text(&cell("device-missing-kbs", "check-diagnosis"))
            .await?
            .unwrap_or_default();
        assert!(
            per_device.contains("accepts application permissions only (Software.Read.All)")
                && per_device
                    .contains("kbwatch reads /api/vulnerabilities/machinesVulnerabilities instead"),
            "{per_device}"
        );
        assert!(!per_device.contains("grant"), "{per_device}");
        assert_eq!(
            page.text(&cell("device-missing-kbs", "check-grant"))
                .await?
                .as_deref(),
            Some("user token"),
            "documented for application permissions only"
        );
        assert_eq!(
            page.text(&cell("device-missing-kbs", "check-result"))
                .await?
                .as_deref(),
            Some("HTTP 403")
        );
        // Every other endpoint answers this token, the per-software one with the ID found first.
        for probe in [
            "machines",
            "machines-vulnerabilities",
            "software",
            "software-missing-kbs",
            "software-vulnerabilities-by-machine",
        ] {
            assert_eq!(
                page.text(&cell(probe, "check-diagnosis")).await?.as_deref(),
                Some("Works."),
                "{probe}"
            );
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_device_list_links_to_the_check() {
    TestEnv::run_in_browser(
        EnvSetup::new(mock_options()),
        "connection-from-error",
        async |env, page| {
            env.inject_fault(
                json!({"kind": "forbidden", "path_contains": "/api/machines", "count": 1}),
            )
            .await?;
            page.open("/").await?;
            page.wait_text_contains(ERROR_BANNER, "403").await?;
            page.click(CHECK_LINK).await?;
            page.wait_query_param("view", Some("connection")).await?;
            page.wait_text_contains("[data-testid=check-token-problem]", "Demo mode")
                .await?;
            assert_eq!(page.count(CHECK).await?, 1);
            assert_eq!(
                page.attr("[data-testid=nav-connection]", "aria-current")
                    .await?
                    .as_deref(),
                Some("page")
            );
            page.click(CHECK_RUN).await?;
            page.wait_text_contains(&cell("machines", "check-diagnosis"), "Works.")
                .await?;
            Ok(())
        },
    )
    .await;
}
