//! The connection check against the mock: a pasted token without Software.Read and
//! Vulnerability.Read is told, per endpoint, which delegated permission to grant; the probes
//! are charged to the budget the fleet scan uses and never touch a file export; the report
//! holds no token. And an error's link opens the check.
//!
//! TODO(connection-app-only): with the mock's application-only switch for the per-device
//! `getmissingkbs` (branch helper/mock), a token that carries Software.Read must get "accepts
//! application permissions only … kbwatch reads /api/vulnerabilities/machinesVulnerabilities
//! instead" on the `device-missing-kbs` row, and no advice to grant anything.

use kbwatch_e2e::selectors::{ERROR_BANNER, TOKEN_INPUT, TOKEN_SUBMIT};
use kbwatch_e2e::{assert_no_token_exposed, jwt_like, mock_options, AppAuth, EnvSetup, TestEnv};
use kbwatch_mock::{IdpOptions, MockOptions};
use serde_json::{json, Value};

const CHECK: &str = "[data-testid=connection-check]";
const CHECK_RUN: &str = "[data-testid=check-run]";
const CHECK_LINK: &str = "[data-testid=check-link]";
const BUDGET_KEY: &str = "kbwatch.budget.v1";

fn cell(probe: &str, cell: &str) -> String {
    format!("tr[data-probe='{probe}'] [data-testid={cell}]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_scopes_is_told_which_to_grant() {
    let setup = EnvSetup::new(MockOptions {
        idp: Some(IdpOptions::default()),
        ..mock_options()
    })
    .auth(AppAuth::Token)
    .capture_console();
    TestEnv::run_in_browser(setup, "connection-scope-missing", async |env, page| {
        let idp = env.idp().ok_or("the mock runs without its IdP")?;
        let token = idp.mint_access_token(Some(&["Machine.Read".to_owned()]))?;
        page.open("/?view=connection").await?;
        page.type_into(TOKEN_INPUT, &token).await?;
        page.click(TOKEN_SUBMIT).await?;
        page.wait_text_contains("[data-testid=check-scopes]", "Machine.Read")
            .await?;
        page.click(CHECK_RUN).await?;
        // The last probe answers last.
        let last = cell("software-vulnerabilities-by-machine", "check-diagnosis");
        let svbm = page.wait_text_contains(&last, "The token lacks").await?;
        assert!(svbm.contains("Vulnerability.Read"), "{svbm}");

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
            bulk.contains("The token lacks Vulnerability.Read") && bulk.contains("admin consent"),
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
            .find(|(k, _)| k == BUDGET_KEY)
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
