//! A tenant as Microsoft documents it: the per-device `getmissingkbs` accepts application
//! permissions only (the mock's app-only switch), so a user signed in with MSAL gets 403 there.
//! The device view falls back to the device's `machinesVulnerabilities` rows and says so; the
//! fleet scan falls back the same way, and the per-product path (`/api/Software` →
//! `getmissingkbs` per product) answers the overview and drills one KB down to its devices.

use std::collections::BTreeSet;

use kbwatch_e2e::selectors::{device_link, DEVICE_ROW, ERROR_BANNER, KB_ROW, SIGN_IN};
use kbwatch_e2e::{
    mock_options, AppAuth, EnvSetup, MsalSetup, Page, TestEnv, TestResult, WHOLE_KB_TABLE_MAX,
};
use kbwatch_mock::{IdpOptions, MockOptions};
use serde_json::{json, Value};

const KB_SOURCE: &str = "[data-testid=kb-source]";
const OVERVIEW_ROW: &str = "tr[data-testid=overview-row]";
const OVERVIEW_SOURCE: &str = "[data-testid=overview-source]";
const DRILL_ROW: &str = "tr[data-testid=drill-row]";
const DRILL_LINK: &str = "a[data-testid=drill-device-link]";

fn setup() -> EnvSetup {
    EnvSetup::new(MockOptions {
        idp: Some(IdpOptions::default()),
        devices: 40,
        ..mock_options()
    })
    .auth(AppAuth::Msal(MsalSetup::default()))
}

/// The KB IDs of an answer's `value`.
fn kb_ids(kbs: &[Value]) -> BTreeSet<String> {
    kbs.iter()
        .filter_map(|kb| kb["id"].as_str().map(str::to_owned))
        .collect()
}

/// A listed device whose per-device answer is short enough to be whole in the DOM, and whose
/// every KB addresses a CVE (a KB that fixes no CVE has no machinesVulnerabilities row: the
/// documented fallback cannot know it), with those KB IDs. Read with the switch off.
async fn seeded_device(env: &TestEnv) -> TestResult<(String, BTreeSet<String>)> {
    for machine in env.onboarded_machines().await? {
        let Some(id) = machine["id"].as_str() else {
            continue;
        };
        let kbs = env.missing_kbs(id).await?;
        let all_fix_cves = kbs.iter().all(|kb| kb["cveAddressed"].as_u64() > Some(0));
        if (2..=WHOLE_KB_TABLE_MAX).contains(&kbs.len()) && all_fix_cves {
            return Ok((id.to_owned(), kb_ids(&kbs)));
        }
    }
    Err("no listed device with a short list of CVE-fixing updates; change the mock seed".into())
}

async fn sign_in(page: &Page) -> TestResult {
    page.open("/").await?;
    page.click(SIGN_IN).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_view_falls_back_to_machine_vulnerabilities_with_the_same_kbs() {
    let env = TestEnv::start_with(setup())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (device, expected) = seeded_device(&env).await.expect("a seeded device");
    env.set_missing_kbs_app_only(true)
        .await
        .expect("the app-only switch");
    let env = &env;
    let device = &device;
    let expected = &expected;
    env.with_browser("fallback-device", |page: Page| async move {
        sign_in(&page).await?;
        page.wait_any(DEVICE_ROW).await?;
        page.click(&device_link(device)).await?;
        let note = page
            .wait_text_contains(KB_SOURCE, "machinesVulnerabilities")
            .await?;
        assert!(note.contains("403"), "{note}");
        page.wait_count(KB_ROW, expected.len()).await?;
        let shown: BTreeSet<String> = page
            .attrs(KB_ROW, "data-kb-id")
            .await?
            .into_iter()
            .collect();
        assert_eq!(
            &shown, expected,
            "the fallback lists the per-device call's KBs"
        );
        assert_eq!(
            page.count(ERROR_BANNER).await?,
            0,
            "a fallback is not an error"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_overview_comes_from_the_per_product_path_and_drills_down() {
    let env = TestEnv::start_with(setup())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.set_missing_kbs_app_only(true)
        .await
        .expect("the app-only switch");
    let env = &env;
    env.with_browser("fallback-fleet", |page: Page| async move {
        sign_in(&page).await?;
        page.wait_any(DEVICE_ROW).await?;
        page.click("[data-testid=nav-fleet]").await?;
        // A small tenant: the per-device scan (falling back per device) fits the budget and
        // runs by itself; the planner then rates per device cheapest (all cached). The
        // per-product path is asked for explicitly once the scan is done.
        page.wait_text_contains("[data-testid=scan-scope]", "fresh results")
            .await?;
        let fallback = page
            .wait_text_contains("[data-testid=scan-fallback]", "403")
            .await?;
        assert!(fallback.contains("machinesVulnerabilities"), "{fallback}");
        let per_device_calls = env.mock_stats().await?["routes"]
            ["/api/machines/{id}/getmissingkbs"]
            .as_u64()
            .unwrap_or(0);
        // Someone else's calls have used up the tenant's budget: one product's answer is a
        // 429. The overview waits it out and asks that product again.
        env.inject_fault(json!({
            "kind": "throttle", "retry_after_secs": 1,
            "path_contains": "/getmissingkbs", "count": 1,
        }))
        .await?;
        page.click("tr[data-testid=planner-row][data-path=per-product] [data-testid=planner-run]")
            .await?;
        let source = page
            .wait_text_contains(OVERVIEW_SOURCE, "Tenant-wide")
            .await?;
        assert!(source.contains("/api/Software"), "{source}");
        page.wait_any(OVERVIEW_ROW).await?;
        assert_eq!(
            page.count("[data-testid=overview] [data-testid=error-banner]")
                .await?,
            0
        );
        let stats = env.mock_stats().await?;
        let route = |r: &str| stats["routes"][r].as_u64().unwrap_or(0);
        assert_eq!(
            route("/api/machines/{id}/getmissingkbs"),
            per_device_calls,
            "the overview asks no per-device call: {stats}"
        );
        assert!(
            route("/api/Software/{id}/getmissingkbs") >= 2,
            "one call per product, one of them twice: {stats}"
        );
        assert_eq!(stats["throttled"].as_u64(), Some(1), "{stats}");
        // The most-missed update's devices, each a link to its device view.
        page.click("tr[data-testid=overview-row] [data-testid=overview-devices]")
            .await?;
        page.wait_any(DRILL_ROW).await?;
        let href = page
            .attr(DRILL_LINK, "href")
            .await?
            .ok_or("no device link")?;
        assert!(href.starts_with('?') && href.contains("device="), "{href}");
        Ok(())
    })
    .await;
}
