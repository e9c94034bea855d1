//! Smoke tests of the release build in headless Chromium against the in-process mock.
//!
//! Needs `dist/` (`trunk build --release`), Chromium and chromedriver: `make test` does it all.
//! Every expectation is computed from the mock's own API, not hard-coded, so the tests do not
//! depend on which fleet a seed happens to generate.

use std::collections::BTreeSet;

use kbwatch_e2e::selectors::{
    device_link, DEVICE_HEADER, DEVICE_LINK, DEVICE_ROW, ERROR_BANNER, KB_ROW, KB_TOTALS,
};
use kbwatch_e2e::{mock_options, Page, TestEnv, TestResult, WHOLE_KB_TABLE_MAX};
use serde_json::{json, Value};

const DEVICE_SEARCH: &str = "input[data-testid=device-search]";
const DEVICE_COUNT: &str = "[data-testid=device-count]";
const KB_LINK: &str = "tr[data-testid=kb-row] a[data-testid=kb-link]";
const KB_SEARCH: &str = "input[data-testid=kb-search]";

/// The first listed device (in the app's order) with at least two missing updates, so that a
/// KB filter has something to hide.
async fn pick_device(env: &TestEnv, page: &Page) -> TestResult<(String, String, Vec<Value>)> {
    let ids = page.attrs(DEVICE_ROW, "data-device-id").await?;
    let names = page.texts(DEVICE_LINK).await?;
    assert_eq!(
        ids.len(),
        names.len(),
        "every device row has one device link"
    );
    for (id, name) in ids.into_iter().zip(names) {
        assert!(
            id.len() == 40 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "data-device-id {id:?} is not a 40-hex machine id"
        );
        let kbs = env.missing_kbs(&id).await?;
        // Short enough for the whole list to be in the DOM (longer tables are windowed).
        if (2..=WHOLE_KB_TABLE_MAX).contains(&kbs.len()) {
            return Ok((id, name, kbs));
        }
    }
    Err("no listed device has a short list of missing updates; change the mock seed".into())
}

fn kb_id(kb: &Value) -> String {
    kb["id"].as_str().unwrap_or_default().to_owned()
}

/// What a text filter `q` should leave: updates whose number or name contains it.
fn kb_ids_matching(kbs: &[Value], q: &str) -> BTreeSet<String> {
    let q = q.to_lowercase();
    kbs.iter()
        .filter(|kb| {
            kb_id(kb).contains(&q)
                || kb["name"]
                    .as_str()
                    .is_some_and(|n| n.to_lowercase().contains(&q))
        })
        .map(kb_id)
        .collect()
}

async fn shown_kb_ids(page: &Page) -> TestResult<BTreeSet<String>> {
    Ok(page
        .attrs(KB_ROW, "data-kb-id")
        .await?
        .into_iter()
        .collect())
}

async fn input_value(page: &Page, css: &str) -> TestResult<String> {
    page.eval(
        "const e = document.querySelector(arguments[0]); return e ? e.value : null;",
        vec![json!(css)],
    )
    .await
    .map(|v: Option<String>| v.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_a_device_filter_its_updates_and_navigate() {
    let env = TestEnv::start(mock_options())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let onboarded = env.onboarded_machines().await.expect("mock /api/machines");
    assert!(
        !onboarded.is_empty(),
        "the mock fleet has onboarded devices"
    );
    let total = onboarded.len();
    let env = &env;

    env.with_browser("browse", |page: Page| async move {
        // Device list: one row per onboarded device.
        page.open("/").await?;
        page.wait_count(DEVICE_ROW, total).await?;
        page.wait_text_contains(DEVICE_COUNT, &format!("{total} devices"))
            .await?;

        // Open a device: header and one row per missing update.
        let (device_id, device_name, kbs) = pick_device(env, &page).await?;
        page.click(&device_link(&device_id)).await?;
        page.wait_text_contains(DEVICE_HEADER, &device_name).await?;
        page.wait_count(KB_ROW, kbs.len()).await?;
        page.wait_query_param("device", Some(&device_id)).await?;
        let all_ids: BTreeSet<String> = kbs.iter().map(kb_id).collect();
        assert_eq!(
            shown_kb_ids(&page).await?,
            all_ids,
            "KB rows are the device's missing KBs"
        );
        page.wait_text_contains(KB_TOTALS, &format!("{} updates", kbs.len()))
            .await?;
        let hrefs = page.attrs(KB_LINK, "href").await?;
        for kb in &kbs {
            let url = kb["url"].as_str().unwrap_or_default();
            assert!(hrefs.iter().any(|h| h == url), "a KB link points at {url}");
        }
        page.screenshot(&TestEnv::screenshots_dir().join("kb-view.png"))
            .await?;

        // Filter by one KB number: exactly the matching rows remain, and the URL records it.
        let q = kb_id(&kbs[0]);
        let expected = kb_ids_matching(&kbs, &q);
        assert!(expected.contains(&q) && expected.len() < kbs.len());
        page.type_into(KB_SEARCH, &q).await?;
        page.wait_count(KB_ROW, expected.len()).await?;
        assert_eq!(shown_kb_ids(&page).await?, expected);
        page.wait_query_param("kbq", Some(&q)).await?;
        page.wait_query_param("device", Some(&device_id)).await?;

        // Reload: the URL alone restores device and filter.
        page.reload().await?;
        page.wait_text_contains(DEVICE_HEADER, &device_name).await?;
        page.wait_count(KB_ROW, expected.len()).await?;
        assert_eq!(shown_kb_ids(&page).await?, expected);
        assert_eq!(
            input_value(&page, KB_SEARCH).await?,
            q,
            "kb-search restored"
        );

        // Back: whatever history entries the app made, each one shows what its URL says, and
        // going far enough back returns to the plain device list.
        let mut steps = 0;
        loop {
            let before = page.url().await?;
            page.back().await?;
            kbwatch_e2e::wait_for(
                "the URL to change on back",
                kbwatch_e2e::DEFAULT_TIMEOUT,
                || {
                    let page = &page;
                    let before = &before;
                    async move {
                        let now = page.url().await?;
                        Ok(if &now != before {
                            Ok(())
                        } else {
                            Err(now.to_string())
                        })
                    }
                },
            )
            .await?;
            steps += 1;
            match page.query_param("device").await? {
                Some(id) => {
                    assert_eq!(id, device_id, "back never shows another device");
                    let kbq = page.query_param("kbq").await?.unwrap_or_default();
                    page.wait_count(KB_ROW, kb_ids_matching(&kbs, &kbq).len())
                        .await?;
                }
                None => break,
            }
            assert!(
                steps < 20,
                "more than 20 history entries for one device and filter"
            );
        }
        page.wait_count(DEVICE_HEADER, 0).await?;
        page.wait_count(KB_ROW, 0).await?;
        page.wait_count(DEVICE_ROW, total).await?;

        // Device search narrows the list and says so.
        page.type_into(DEVICE_SEARCH, &device_name).await?;
        page.wait_query_param("q", Some(&device_name)).await?;
        kbwatch_e2e::wait_for(
            "the device list to narrow",
            kbwatch_e2e::DEFAULT_TIMEOUT,
            || {
                let page = &page;
                async move {
                    let rows = page.count(DEVICE_ROW).await?;
                    Ok(if rows >= 1 && rows < total {
                        Ok(())
                    } else {
                        Err(format!("{rows} rows"))
                    })
                }
            },
        )
        .await?;
        let rows = page.count(DEVICE_ROW).await?;
        page.wait_text_contains(DEVICE_COUNT, &format!("{rows} of {total} devices"))
            .await?;
        assert!(page.texts(DEVICE_LINK).await?.contains(&device_name));
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_shows_a_banner_with_retry_and_keeps_the_device_list() {
    let env = TestEnv::start(mock_options())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let total = env.listed_device_count().await.expect("mock /api/machines");
    let env = &env;

    env.with_browser("server-error", |page: Page| async move {
        page.open("/").await?;
        page.wait_count(DEVICE_ROW, total).await?;
        let (device_id, device_name, kbs) = pick_device(env, &page).await?;

        // Enough failures that the app's own retries cannot hide them.
        env.inject_fault(json!({
            "kind": "server_error",
            "path_contains": "getmissingkbs",
            "count": 50,
        }))
        .await?;
        page.click(&device_link(&device_id)).await?;
        page.wait_text_contains(ERROR_BANNER, "InternalServerError")
            .await?;
        page.wait_any(&format!("{ERROR_BANNER} button")).await?;
        assert_eq!(page.count(DEVICE_ROW).await?, total, "device list stays");
        assert_eq!(page.count(KB_ROW).await?, 0);

        // Once the API recovers, retry loads the updates.
        env.clear_faults().await?;
        page.click(&format!("{ERROR_BANNER} button")).await?;
        page.wait_text_contains(DEVICE_HEADER, &device_name).await?;
        page.wait_count(KB_ROW, kbs.len()).await?;
        page.wait_count(ERROR_BANNER, 0).await?;
        Ok(())
    })
    .await;
}
