//! Checks of the harness itself, independent of the app's behaviour: when these fail, the
//! smoke tests' failures are about the environment, not about kbwatch.

use kbwatch_e2e::{Page, TestEnv};
use kbwatch_mock::MockOptions;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_gets_a_config_json_pointing_at_the_in_process_mock() {
    let env = TestEnv::start(MockOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let api = env.api_url();

    // Unknown paths get index.html, as client-side routes would on a static host.
    let index = reqwest::get(format!("{}/", env.app_url())).await.unwrap();
    let index = index.text().await.unwrap();
    let deep = reqwest::get(format!("{}/some/client/route", env.app_url()))
        .await
        .unwrap();
    assert!(deep.status().is_success());
    assert_eq!(deep.text().await.unwrap(), index);

    env.with_browser("harness", |page: Page| async move {
        page.open("/config.json").await?;
        let body = page.text("body").await?.unwrap_or_default();
        let config: Value = serde_json::from_str(&body)
            .map_err(|e| format!("config.json is not JSON ({e}): {body}"))?;
        assert_eq!(config["apiBase"], Value::String(api));
        assert_eq!(config["auth"]["mode"], "demo");
        Ok(())
    })
    .await;
}
