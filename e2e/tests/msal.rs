//! Real sign-in: the release build with the real MSAL.js (`msal-browser` 5, shipped in `dist/`)
//! in headless Chromium against the mock Entra ID (HTTPS, self-signed) and the mock API, which
//! accepts only the tokens that IdP issued.

use std::sync::Arc;
use std::time::Duration;

use kbwatch_e2e::selectors::{
    device_link, DEVICE_HEADER, DEVICE_ROW, ERROR_BANNER, KB_ROW, REFRESH, SIGN_IN,
};
use kbwatch_e2e::{
    assert_no_token_exposed, assert_page_healthy, hold_for, mock_options,
    msal_cached_access_tokens, wait_for, AppAuth, EnvSetup, MsalSetup, Page, TestEnv, TestResult,
    DEFAULT_TIMEOUT, WHOLE_KB_TABLE_MAX,
};
use kbwatch_mock::idp::DEFAULT_CLIENT_ID;
use kbwatch_mock::{Idp, IdpOptions, MockOptions};
use serde_json::Value;

const SIGN_IN_PAGE: &str = "[data-testid=sign-in-page]";
const SIGN_IN_ERROR: &str = "[data-testid=sign-in-error]";
const SIGN_OUT: &str = "[data-testid=sign-out]";
const ACCOUNT: &str = "[data-testid=account]";

/// Who the mock IdP signs in (its default user).
const USER_NAME: &str = "dana.demo@contoso.onmicrosoft.com";

/// Access tokens live this long: long enough that MSAL's own renewal window (the last
/// `tokenRenewalOffsetSeconds` = 5 s) is never reached during the test, so the renewal the test
/// sees is the one its forced expiry caused.
const ACCESS_TOKEN_LIFETIME_SECS: u64 = 60;

/// The fixed fleet with the mock Entra ID on, its access tokens living
/// [`ACCESS_TOKEN_LIFETIME_SECS`].
fn with_idp(idp: IdpOptions) -> MockOptions {
    MockOptions {
        idp: Some(IdpOptions {
            access_token_lifetime_secs: ACCESS_TOKEN_LIFETIME_SECS,
            ..idp
        }),
        ..mock_options()
    }
}

fn msal_setup(client_id: Option<&str>) -> AppAuth {
    AppAuth::Msal(MsalSetup {
        client_id: client_id.map(str::to_owned),
        ..MsalSetup::default()
    })
}

async fn start(idp: IdpOptions, client_id: Option<&str>) -> TestEnv {
    TestEnv::start_with(
        EnvSetup::new(with_idp(idp))
            .auth(msal_setup(client_id))
            .capture_console(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The default IdP and app: the environment, its IdP and how many onboarded devices it lists.
async fn start_default() -> (TestEnv, Arc<Idp>, usize) {
    start_listing(IdpOptions::default()).await
}

/// [`start_default`] with this IdP.
async fn start_listing(idp: IdpOptions) -> (TestEnv, Arc<Idp>, usize) {
    let env = start(idp, None).await;
    let total = env.listed_device_count().await.expect("mock /api/machines");
    let idp = env.idp().expect("the IdP runs").clone();
    (env, idp, total)
}

fn grants(idp: &Idp, grant_type: &str) -> u64 {
    idp.stats().token.get(grant_type).copied().unwrap_or(0)
}

fn failures(idp: &Idp, what: &str) -> u64 {
    idp.stats().failures.get(what).copied().unwrap_or(0)
}

/// The first two listed devices with at least one missing update, with their update counts.
async fn devices_with_updates(env: &TestEnv, page: &Page) -> TestResult<Vec<(String, usize)>> {
    let mut found = Vec::new();
    for id in page.attrs(DEVICE_ROW, "data-device-id").await? {
        let kbs = env.missing_kbs(&id).await?.len();
        // Short enough for the whole list to be in the DOM (longer tables are windowed).
        if (1..=WHOLE_KB_TABLE_MAX).contains(&kbs) {
            found.push((id, kbs));
            if found.len() == 2 {
                return Ok(found);
            }
        }
    }
    Err(
        "fewer than two listed devices have a short list of missing updates; change the mock seed"
            .into(),
    )
}

async fn open_device(page: &Page, id: &str) -> TestResult {
    page.click(&device_link(id)).await
}

/// Opens the app and presses "Sign in" (to the IdP and back through redirect.html).
async fn sign_in(page: &Page) -> TestResult {
    page.open("/").await?;
    // The mock Entra ID is not Microsoft's sign-in host (the test setting allows it): the
    // page says so before anyone signs in.
    page.wait_text_contains(
        "[data-testid=sign-in-host-warning]",
        "which is not Microsoft's sign-in host",
    )
    .await?;
    page.click(SIGN_IN).await
}

/// Waits for `what` to hold of the IdP's counters.
async fn wait_idp(idp: &Idp, what: &str, check: impl Fn(&Idp) -> bool) -> TestResult {
    wait_for(what, DEFAULT_TIMEOUT, || {
        let ok = check(idp);
        let stats = idp.stats();
        async move {
            Ok(if ok {
                Ok(())
            } else {
                Err(format!("{stats:?}"))
            })
        }
    })
    .await
}

/// The console capture really sees what a page logs, objects included: log a marker object
/// and find it.
async fn console_capture_works(page: &Page) -> TestResult {
    page.eval::<Value>(
        "console.info({ e2eProbe: 'kbwatch-console-probe-1' }); return null;",
        vec![],
    )
    .await?;
    wait_for("the console probe in the log", DEFAULT_TIMEOUT, || async {
        let log = page.console_log().await?;
        Ok(
            if log.iter().any(|l| l.contains("kbwatch-console-probe-1")) {
                Ok(())
            } else {
                Err(format!("{} lines", log.len()))
            },
        )
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_sign_in_renewal_and_sign_out_leave_no_token_behind() {
    let (env, idp, total) = start_default().await;
    let env = &env;

    env.with_browser("msal-flow", |page: Page| async move {
        // A sign-in page with a button, never an automatic redirect.
        page.open("/").await?;
        page.wait_any(SIGN_IN).await?;
        page.wait_any(SIGN_IN_PAGE).await?;
        assert_eq!(page.count(DEVICE_ROW).await?, 0);
        assert_eq!(idp.stats().authorize, 0, "nothing went to the IdP yet");
        console_capture_works(&page).await?;

        // Sign in: to the IdP's /authorize, back through redirect.html, devices listed.
        page.click(SIGN_IN).await?;
        page.wait_count(DEVICE_ROW, total).await?;
        page.wait_text_contains(ACCOUNT, USER_NAME).await?;
        let stats = idp.stats();
        assert_eq!(stats.authorize, 1, "{stats:?}");
        assert_eq!(grants(&idp, "authorization_code"), 1, "{stats:?}");
        let url = page.url().await?;
        assert_eq!(
            url.origin().ascii_serialization(),
            env.app_url(),
            "back on the app"
        );
        assert!(
            url.fragment().is_none_or(|f| !f.contains("code=")),
            "the authorization response is gone from the URL: {url}"
        );
        let mut tokens = msal_cached_access_tokens(&page).await?;
        assert!(
            !tokens.is_empty(),
            "MSAL's sessionStorage cache holds the access token"
        );

        // A device's missing updates.
        let devices = devices_with_updates(env, &page).await?;
        let (first, first_kbs) = &devices[0];
        open_device(&page, first).await?;
        page.wait_any(DEVICE_HEADER).await?;
        page.wait_count(KB_ROW, *first_kbs).await?;

        // Every token issued so far stops working; the next calls get 401, the app renews
        // silently with the refresh token and retries: no user action, no error.
        let refreshed_before = grants(&idp, "refresh_token");
        let expired_before = failures(&idp, "api:expired");
        let forced = idp.expire_access_tokens();
        assert!(forced >= 1, "tokens were outstanding");
        page.click(REFRESH).await?;
        wait_idp(&idp, "a refresh_token grant after a 401", |idp| {
            grants(idp, "refresh_token") > refreshed_before
                && failures(idp, "api:expired") > expired_before
        })
        .await?;
        page.wait_count(DEVICE_ROW, total).await?;
        page.wait_count(KB_ROW, *first_kbs).await?;
        // The renewed token is the one in use: another device loads with it.
        let (second, second_kbs) = &devices[1];
        open_device(&page, second).await?;
        page.wait_count(KB_ROW, *second_kbs).await?;
        page.wait_count(ERROR_BANNER, 0).await?;
        assert_eq!(page.count(SIGN_IN_PAGE).await?, 0, "never sent to sign in");
        let stats = idp.stats();
        assert_eq!(
            stats.authorize, 1,
            "renewal needed no new authorization: {stats:?}"
        );
        page.wait_text_contains(ACCOUNT, USER_NAME).await?;
        let renewed = msal_cached_access_tokens(&page).await?;
        assert!(
            renewed.iter().any(|t| !tokens.contains(t)),
            "MSAL's cache holds a new access token after the renewal"
        );
        tokens.extend(renewed);
        assert_no_token_exposed(&page, &tokens).await?;

        // Sign out: through the IdP's logout, back to the sign-in page, MSAL's cache emptied.
        page.click(SIGN_OUT).await?;
        page.wait_any(SIGN_IN_PAGE).await?;
        page.wait_any(SIGN_IN).await?;
        wait_idp(&idp, "the IdP's logout", |idp| idp.stats().logout == 1).await?;
        assert_eq!(page.count(DEVICE_ROW).await?, 0);
        assert_eq!(page.count(ACCOUNT).await?, 0);
        assert!(
            msal_cached_access_tokens(&page).await?.is_empty(),
            "sign-out removes the access tokens from MSAL's cache"
        );
        assert_no_token_exposed(&page, &tokens).await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_client_id_shows_the_error_and_does_not_loop() {
    const UNKNOWN_CLIENT: &str = "11111111-2222-4333-8444-555555555555";
    assert_ne!(UNKNOWN_CLIENT, DEFAULT_CLIENT_ID);
    let env = start(IdpOptions::default(), Some(UNKNOWN_CLIENT)).await;
    let idp = env.idp().expect("the IdP runs").clone();
    let env = &env;

    env.with_browser("msal-wrong-client", |page: Page| async move {
        sign_in(&page).await?;
        let shown = wait_for(
            "the sign-in error naming unauthorized_client",
            DEFAULT_TIMEOUT,
            || async {
                Ok(match page.text(SIGN_IN_ERROR).await? {
                    Some(t) if t.contains("unauthorized_client") || t.contains("AADSTS700016") => {
                        Ok(t)
                    }
                    Some(t) => Err(format!("error {t:?}")),
                    None => Err(format!("no error; URL {}", page.url().await?)),
                })
            },
        )
        .await?;
        assert!(
            shown.contains("clientId"),
            "the message points at auth.clientId: {shown:?}"
        );
        let stats = idp.stats();
        assert_eq!(
            stats.failures.get("authorize:unauthorized_client"),
            Some(&1),
            "{stats:?}"
        );
        assert_eq!(stats.authorize, 0, "no code was issued: {stats:?}");

        // No loop: for a while, the page stays on the sign-in error and nothing more goes to
        // the IdP.
        let url = page.url().await?;
        hold_for(
            "the sign-in error page, without new sign-in attempts",
            Duration::from_secs(3),
            || async {
                let stats = idp.stats();
                let now = page.url().await?;
                let attempts = stats.failures.get("authorize:unauthorized_client");
                Ok(if attempts != Some(&1) || stats.authorize != 0 {
                    Err(format!("another sign-in attempt: {stats:?}"))
                } else if now != url {
                    Err(format!("navigated from {url} to {now}"))
                } else if page.count(SIGN_IN_ERROR).await? != 1 || page.count(SIGN_IN).await? != 1 {
                    Err("the sign-in error or button went away".into())
                } else {
                    Ok(())
                })
            },
        )
        .await?;
        eprintln!("sign-in error at {url}: {shown}");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_software_read_sees_which_permission_is_missing() {
    let (env, idp, total) = start_listing(IdpOptions {
        granted_scopes: vec!["Machine.Read".into()],
        ..IdpOptions::default()
    })
    .await;
    let env = &env;

    env.with_browser("msal-forbidden", |page: Page| async move {
        sign_in(&page).await?;
        // Machine.Read is enough for the device list.
        page.wait_count(DEVICE_ROW, total).await?;
        page.wait_count(ERROR_BANNER, 0).await?;

        let device = page
            .attr(DEVICE_ROW, "data-device-id")
            .await?
            .ok_or("no device rows")?;
        open_device(&page, &device).await?;
        let banner = page
            .wait_text_contains(ERROR_BANNER, "Software.Read")
            .await?;
        assert!(
            banner.contains("403"),
            "the banner says it is a 403: {banner:?}"
        );
        assert_eq!(page.count(KB_ROW).await?, 0);
        assert_eq!(page.count(DEVICE_ROW).await?, total, "device list stays");
        assert_eq!(
            page.count(SIGN_IN_PAGE).await?,
            0,
            "a 403 is not a sign-in problem"
        );
        let stats = idp.stats();
        assert!(
            stats.failures.get("api:forbidden").copied().unwrap_or(0) >= 1,
            "{stats:?}"
        );
        Ok(())
    })
    .await;
}

/// A wall display whose sign-in session ends (a password reset, a revoked session, a sign-in
/// frequency policy) cannot renew silently: it says so on screen and stays on the wall, rather
/// than navigating to the sign-in page where nobody is there to answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wall_whose_session_ended_says_sign_in_is_needed_and_stays_on_the_wall() {
    const WALL_DATA: &str = "[data-testid=tile-devices]";
    const WALL_SIGN_IN_NEEDED: &str = "[data-testid=wall-sign-in-needed]";
    let (env, idp, _) = start_default().await;
    let env = &env;

    env.with_browser("msal-wall", |page: Page| async move {
        sign_in(&page).await?;
        page.wait_text_contains(ACCOUNT, USER_NAME).await?;
        // One refresh a minute at 30× speed: every 2 s.
        page.open("/?view=wall&panels=tiles&rotate=0&refresh=1&speed=30")
            .await?;
        page.wait_any(WALL_DATA).await?;
        assert_eq!(page.count(WALL_SIGN_IN_NEEDED).await?, 0);
        let authorized = idp.stats().authorize;

        idp.end_session();
        page.wait_any(WALL_SIGN_IN_NEEDED).await?;
        let stats = idp.stats();
        assert!(
            failures(&idp, "token:invalid_grant") >= 1
                && failures(&idp, "authorize:login_required") >= 1,
            "MSAL tried its refresh token, then a silent sign-in: {stats:?}"
        );
        // Stays on the wall, without an interactive sign-in, through further refreshes.
        hold_for(
            "the wall with its sign-in-needed panel",
            Duration::from_secs(6),
            || async {
                let url = page.url().await?;
                let on_wall = url.origin().ascii_serialization() == env.app_url()
                    && url.query().is_some_and(|q| q.contains("view=wall"));
                let panel = page.count(WALL_SIGN_IN_NEEDED).await?;
                Ok(if on_wall && panel == 1 {
                    Ok(())
                } else {
                    Err(format!("{url}, {panel} sign-in-needed panel(s)"))
                })
            },
        )
        .await?;
        assert_eq!(
            idp.stats().authorize,
            authorized,
            "no sign-in was started from the wall"
        );
        assert_page_healthy(&page).await?;
        Ok(())
    })
    .await;
}

/// SPA refresh tokens end after 24 hours; while the Entra session lasts, MSAL renews in a
/// hidden iframe that ends on `redirect.html`. That page is the only one the app may frame
/// (Content-Security-Policy `frame-ancestors 'self'` there, `'none'` everywhere else): the
/// renewal works under the reference policy, without the user and without a violation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_refresh_token_is_renewed_in_a_hidden_iframe() {
    let (env, idp, total) = start_default().await;
    let env = &env;

    env.with_browser("msal-iframe", |page: Page| async move {
        sign_in(&page).await?;
        page.wait_count(DEVICE_ROW, total).await?;
        assert_eq!(idp.stats().authorize, 1);

        assert!(idp.expire_refresh_tokens() >= 1);
        idp.expire_access_tokens();
        page.click(REFRESH).await?;
        // A second, silent authorization (no navigation of the app) and its code redeemed.
        wait_idp(&idp, "a silent authorization in an iframe", |idp| {
            idp.stats().authorize == 2 && grants(idp, "authorization_code") == 2
        })
        .await?;
        page.wait_count(DEVICE_ROW, total).await?;
        page.wait_count(ERROR_BANNER, 0).await?;
        page.wait_text_contains(ACCOUNT, USER_NAME).await?;
        let stats = idp.stats();
        assert!(
            failures(&idp, "token:invalid_grant") >= 1,
            "the expired refresh token was tried first: {stats:?}"
        );
        assert_eq!(page.count(SIGN_IN_PAGE).await?, 0, "never sent to sign in");
        assert_page_healthy(&page).await?;
        Ok(())
    })
    .await;
}
