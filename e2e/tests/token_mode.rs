//! Token mode: the user pastes an access token (here one the mock's Entra ID minted, as
//! `az account get-access-token` would give); the app shows whose it is and when it expires,
//! keeps it in memory only, and lists the devices with it.

use kbwatch_e2e::selectors::{DEVICE_ROW, TOKEN_INPUT, TOKEN_SUBMIT};
use kbwatch_e2e::{
    assert_no_token_exposed, jwt_like, mock_options, AppAuth, EnvSetup, Page, TestEnv,
};
use kbwatch_mock::{IdpOptions, MockOptions};

const TOKEN_STATUS: &str = "[data-testid=token-status]";

const USER_NAME: &str = "dana.demo@contoso.onmicrosoft.com";
const LIFETIME_SECS: u64 = 1800;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_token_shows_its_owner_and_expiry_and_lists_devices() {
    let env = TestEnv::start_with(
        EnvSetup::new(MockOptions {
            idp: Some(IdpOptions {
                access_token_lifetime_secs: LIFETIME_SECS,
                ..IdpOptions::default()
            }),
            ..mock_options()
        })
        .auth(AppAuth::Token)
        .capture_console(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let total = env.listed_device_count().await.expect("mock /api/machines");
    let minted = env.mint_token().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(minted.expires_in, Some(LIFETIME_SECS), "{minted:?}");
    let token = minted.access_token;
    let env = &env;

    env.with_browser("token-mode", |page: Page| async move {
        page.open("/").await?;
        page.type_into(TOKEN_INPUT, &token).await?;
        page.click(TOKEN_SUBMIT).await?;

        let status = page.wait_text_contains(TOKEN_STATUS, USER_NAME).await?;
        // 30 min from now, read a moment later.
        assert!(
            status.contains("expires in 29 min") || status.contains("expires in 30 min"),
            "the status shows the expiry: {status:?}"
        );
        page.wait_count(DEVICE_ROW, total).await?;

        // In memory only: not in either storage, the URL or the console.
        let session = page.storage("sessionStorage").await?;
        assert!(
            session
                .iter()
                .all(|(k, v)| jwt_like(k).is_empty() && jwt_like(v).is_empty()),
            "sessionStorage holds a token: {session:?}"
        );
        assert_no_token_exposed(&page, std::slice::from_ref(&token)).await?;
        Ok(())
    })
    .await;
}
