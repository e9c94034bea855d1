//! What the app leaves in the browser's storage, and whose it is: the fleet results in
//! sessionStorage belong to one account of one tenant and go when that account signs out or
//! its token is replaced; the call-budget history in localStorage belongs to the tenant's
//! application registration (Defender's rate limit counts per tenant application). The next
//! person at a shared SOC workstation never sees the previous user's vulnerability inventory.

use std::time::Duration;

use kbwatch_e2e::selectors::{SIGN_IN, TOKEN_INPUT, TOKEN_SUBMIT};
use kbwatch_e2e::{
    mock_options, wait_for, AppAuth, EnvSetup, MsalSetup, Page, TestEnv, TestResult,
};
use kbwatch_mock::idp::{DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID};
use kbwatch_mock::{IdpOptions, MockOptions};
use serde_json::{json, Value};

const FLEET_PAGE: &str = "[data-testid=fleet-page]";
const SIGN_IN_PAGE: &str = "[data-testid=sign-in-page]";
const SIGN_OUT: &str = "[data-testid=sign-out]";
const TOKEN_REPLACE: &str = "[data-testid=token-replace]";
const FLEET_PREFIX: &str = "kbwatch.fleet.v1";
const BUDGET_PREFIX: &str = "kbwatch.budget.v1";
const GETMISSINGKBS: &str = "/api/machines/{id}/getmissingkbs";
/// The mock Entra ID's user, as the key part it becomes (lower case, `@` percent-encoded).
const USER_KEY_PART: &str = "dana.demo%40contoso.onmicrosoft.com";
/// A whole scan of the small fleet, at the mock's scaled limits.
const SCAN_TIMEOUT: Duration = Duration::from_secs(60);

/// A small fleet, so a scan (and with it the stored cache) completes in seconds.
fn small_fleet(idp: Option<IdpOptions>) -> MockOptions {
    MockOptions {
        devices: 12,
        idp,
        ..mock_options()
    }
}

/// The keys of `which` storage that start with `prefix`, with their values.
async fn entries(page: &Page, which: &str, prefix: &str) -> TestResult<Vec<(String, String)>> {
    Ok(page
        .storage(which)
        .await?
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .collect())
}

/// Waits until the fleet scan has stored results, and returns the fleet cache entries.
async fn wait_for_stored_results(page: &Page) -> TestResult<Vec<(String, String)>> {
    wait_for(
        "the fleet results in sessionStorage",
        SCAN_TIMEOUT,
        || async move {
            let stored = entries(page, "sessionStorage", FLEET_PREFIX).await?;
            Ok(if stored.iter().any(|(_, v)| v.contains("fetchedAtMs")) {
                Ok(stored)
            } else {
                Err(format!("{stored:?}"))
            })
        },
    )
    .await
}

/// Waits for the scan's stored results and checks they are under the mock Entra ID user's
/// key (tenant and account); returns the tenant as the key names it.
async fn wait_for_the_users_results(page: &Page) -> TestResult<String> {
    let stored = wait_for_stored_results(page).await?;
    let tenant = DEFAULT_TENANT_ID.to_lowercase();
    let key = format!("{FLEET_PREFIX}:{tenant}:{USER_KEY_PART}");
    if keys(&stored) != [key.as_str()] {
        return Err(format!("fleet results not under {key:?}: {stored:?}").into());
    }
    Ok(tenant)
}

fn keys(entries: &[(String, String)]) -> Vec<&str> {
    entries.iter().map(|(k, _)| k.as_str()).collect()
}

fn missing_kbs_calls(stats: &Value) -> u64 {
    stats["routes"][GETMISSINGKBS].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_cache_is_the_accounts_and_another_accounts_is_never_read() {
    let setup = EnvSetup::new(small_fleet(None)).capture_console();
    TestEnv::run_in_browser(setup, "fleet-cache-owner", async |env, page| {
        page.open("/?view=fleet").await?;
        page.wait_any(FLEET_PAGE).await?;
        let stored = wait_for_stored_results(&page).await?;
        // The demo mode's one user of its one tenant.
        assert_eq!(keys(&stored), ["kbwatch.fleet.v1:demo:demo"], "{stored:?}");
        let budgets = entries(&page, "localStorage", BUDGET_PREFIX).await?;
        assert_eq!(keys(&budgets), ["kbwatch.budget.v1:demo:demo"], "{budgets:?}");

        // What an earlier user of this tab left: their results under their own key, and an
        // unkeyed entry as an older version stored it. Neither is read; both are removed.
        let (own, results) = stored[0].clone();
        page.eval::<Value>(
            "sessionStorage.removeItem(arguments[0]);
             sessionStorage.setItem('kbwatch.fleet.v1:contoso:earlier.user%40contoso.com', arguments[1]);
             sessionStorage.setItem('kbwatch.fleet.v1', arguments[1]);
             return null;",
            vec![json!(own), json!(results)],
        )
        .await?;
        env.reset_mock().await?;
        page.reload().await?;
        page.wait_any(FLEET_PAGE).await?;
        // The scan reads every device again: nothing came from the others' entries.
        let stored = wait_for_stored_results(&page).await?;
        assert_eq!(keys(&stored), [own.as_str()], "{stored:?}");
        let calls = missing_kbs_calls(&env.mock_stats().await?);
        assert!(calls >= 12, "every device read again, {calls} calls");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_token_takes_its_accounts_fleet_results_along() {
    let setup = EnvSetup::new(small_fleet(Some(IdpOptions::default())))
        .auth(AppAuth::Token)
        .capture_console();
    let env = TestEnv::start_with(setup)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = env.mint_token().await.expect("a token").access_token;
    let env = &env;
    env.with_browser("replaced-token-storage", |page: Page| async move {
        page.open("/?view=fleet").await?;
        page.type_into(TOKEN_INPUT, &token).await?;
        page.click(TOKEN_SUBMIT).await?;
        page.wait_any(FLEET_PAGE).await?;
        let tenant = wait_for_the_users_results(&page).await?;
        let budgets = entries(&page, "localStorage", BUDGET_PREFIX).await?;
        assert!(
            budgets
                .iter()
                .all(|(k, _)| k.starts_with(&format!("{BUDGET_PREFIX}:{tenant}:"))),
            "the budget is the token's tenant's: {budgets:?}"
        );

        page.click(TOKEN_REPLACE).await?;
        page.wait_any(TOKEN_INPUT).await?;
        let left = entries(&page, "sessionStorage", FLEET_PREFIX).await?;
        assert!(left.is_empty(), "fleet results left behind: {left:?}");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_leaves_no_fleet_results_and_the_budget_is_the_tenant_applications() {
    let setup = EnvSetup::new(small_fleet(Some(IdpOptions::default())))
        .auth(AppAuth::Msal(MsalSetup::default()))
        .capture_console();
    TestEnv::run_in_browser(setup, "sign-out-storage", async |_env, page| {
        page.open("/?view=fleet").await?;
        page.click(SIGN_IN).await?;
        page.wait_any(FLEET_PAGE).await?;
        let tenant = wait_for_the_users_results(&page).await?;
        let budgets = entries(&page, "localStorage", BUDGET_PREFIX).await?;
        let client = DEFAULT_CLIENT_ID.to_lowercase();
        assert_eq!(
            keys(&budgets),
            [format!("{BUDGET_PREFIX}:{tenant}:{client}").as_str()],
            "keyed by the tenant and the application registration"
        );

        // MSAL's logout returns into this tab: nothing of the account's data is left in it.
        page.click(SIGN_OUT).await?;
        page.wait_any(SIGN_IN_PAGE).await?;
        let left = entries(&page, "sessionStorage", FLEET_PREFIX).await?;
        assert!(left.is_empty(), "fleet results left behind: {left:?}");
        Ok(())
    })
    .await;
}
