//! Links that stay on kbwatch. A path that a browser reads as another host once a query is
//! put after it (`//evil.example?device=…` is protocol-relative) must not turn the app's links
//! into off-site ones: whatever path the app is opened on, under the tests' static server and
//! under the reference nginx, every link resolves to the app's own origin (or to one of
//! Microsoft's documented https hosts, for the update catalog), and a click stays there.

use kbwatch_e2e::selectors::{DEVICE_HEADER, DEVICE_LINK, DEVICE_ROW};
use kbwatch_e2e::{
    mock_options, wait_for, EnvSetup, Page, Serving, TestEnv, TestResult, DEFAULT_TIMEOUT,
};
use url::Url;

/// Paths that read as a host: protocol-relative, with a backslash (which browsers turn into
/// a slash), and percent-encoded forms of both; and whether the app starts there. On
/// `//evil.example/` the page's directory is `//evil.example/`, where the build's files are
/// not (the build's URLs are relative, so that it works from any sub-path of a host): the
/// server answers those with `index.html`, the app's code does not load, and nothing renders.
const HOSTILE_PATHS: [(&str, bool); 5] = [
    ("//evil.example", true),
    ("//evil.example/", false),
    ("/\\evil.example", true),
    ("/%2F%2Fevil.example", true),
    ("/%5Cevil.example", true),
];

/// External hosts the app links to (the KB catalog and support pages, the device portal).
const MICROSOFT_HOSTS: [&str; 3] = [
    "catalog.update.microsoft.com",
    "support.microsoft.com",
    "security.microsoft.com",
];

/// Every `a[href]` of the page as the browser resolves it.
async fn resolved_links(page: &Page) -> TestResult<Vec<String>> {
    page.eval(
        "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);",
        vec![],
    )
    .await
}

fn origin_of(url: &str) -> TestResult<String> {
    Ok(Url::parse(url)?.origin().ascii_serialization())
}

/// Fails if a link of the page leaves `origin` for anything but Microsoft's https hosts.
async fn assert_links_stay(page: &Page, origin: &str, opened: &str) -> TestResult {
    let links = resolved_links(page).await?;
    if links.is_empty() {
        return Err(format!("opened on {opened:?}: no links to check").into());
    }
    for link in &links {
        let url = Url::parse(link)?;
        let own = url.origin().ascii_serialization() == origin;
        let microsoft =
            url.scheme() == "https" && url.host_str().is_some_and(|h| MICROSOFT_HOSTS.contains(&h));
        if !own && !microsoft {
            return Err(format!("opened on {opened:?}: the link {link:?} leaves {origin}").into());
        }
    }
    Ok(())
}

/// Where the app's code cannot load: once the page has loaded (its module scripts have run or
/// failed), there is no link and no part of the app.
async fn assert_nothing_renders(page: &Page, opened: &str) -> TestResult {
    let state = "return document.readyState;";
    wait_for("the page to load", DEFAULT_TIMEOUT, || async move {
        let ready: String = page.eval(state, vec![]).await?;
        Ok(if ready == "complete" {
            Ok(())
        } else {
            Err(ready)
        })
    })
    .await?;
    let links = resolved_links(page).await?;
    let rendered = page.count("[data-testid]").await?;
    if !links.is_empty() || rendered > 0 {
        return Err(format!(
            "opened on {opened:?}: the app was not expected to start, yet {rendered} of its \
             elements and the links {links:?} are there"
        )
        .into());
    }
    Ok(())
}

/// Opens the app on each hostile path, checks every link, clicks a device link and checks
/// the page is still the app's, showing that device.
async fn links_stay_on_the_origin(serving: Serving, name: &str) {
    let setup = EnvSetup::new(mock_options()).serving(serving);
    TestEnv::run_in_browser(setup, name, async |env, page| {
        let origin = origin_of(&env.app_url())?;
        for (path, starts) in HOSTILE_PATHS {
            page.open(path).await?;
            if !starts {
                assert_nothing_renders(&page, path).await?;
                continue;
            }
            page.wait_any(DEVICE_ROW).await?;
            assert_links_stay(&page, &origin, path).await?;

            page.click(DEVICE_LINK).await?;
            page.wait_any(DEVICE_HEADER).await?;
            let now = page.url().await?;
            if now.origin().ascii_serialization() != origin {
                return Err(format!("opened on {path:?}, a click went to {now}").into());
            }
            assert_links_stay(&page, &origin, path).await?;
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_stay_on_the_origin_under_the_static_server() {
    links_stay_on_the_origin(Serving::default(), "links-static").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_stay_on_the_origin_under_the_reference_nginx() {
    links_stay_on_the_origin(Serving::Nginx, "links-nginx").await;
}
