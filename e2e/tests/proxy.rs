//! The path around missing CORS: Debian nginx runs the shipped `deploy/nginx/kbwatch.conf`
//! (only its marked values replaced: listen address, root, API upstream and, for MSAL, the
//! sign-in host its Content-Security-Policy allows), serves `dist/` and proxies `/mde/` to the
//! mock, which sends no CORS headers — as the real API does to browsers. `apiBase` is `/mde`,
//! so every API call is same-origin.
//!
//! (The direct path, mock with CORS, is covered by `msal.rs` and `smoke.rs`.)

use kbwatch_e2e::selectors::{
    device_link, DEVICE_HEADER, DEVICE_ROW, ERROR_BANNER, KB_ROW, SIGN_IN,
};
use kbwatch_e2e::{
    config_for, csp_violations, dist_dir, mock_options, ApiUpstream, AppAuth, EnvSetup, MsalSetup,
    Nginx, Page, RawAnswer, Serving, TestEnv, TestResult, WHOLE_KB_TABLE_MAX,
};
use kbwatch_mock::{IdpOptions, MockOptions, RunningMock};
use reqwest::Method;
use serde_json::{json, Value};

fn count(stats: &Value, group: &str, key: &str) -> u64 {
    stats[group][key].as_u64().unwrap_or(0)
}

async fn start(auth: AppAuth, idp: Option<IdpOptions>) -> TestEnv {
    TestEnv::start_with(
        EnvSetup::new(MockOptions {
            idp,
            ..mock_options()
        })
        .auth(auth)
        .serving(Serving::Nginx)
        .capture_console(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// What the proxy itself must (not) do, checked without a browser.
async fn check_proxy_basics(env: &TestEnv) {
    let nginx = env.nginx().expect("served by nginx");
    let client = nginx.client().expect("a client for nginx");
    // The proxy adds no credentials: without a token the API refuses, through nginx too.
    let anonymous = client
        .get("/mde/api/machines")
        .await
        .expect("nginx answers");
    assert_eq!(
        anonymous.status,
        401,
        "no Authorization added by the proxy: {}",
        anonymous.summary()
    );

    // config.json is never cached, so a static host can change it without a rebuild; the
    // pages carry the Content-Security-Policy.
    let config = client.get("/config.json").await.expect("nginx answers");
    assert_eq!(config.status, 200);
    assert_eq!(
        config.header("cache-control").expect("once").as_deref(),
        Some("no-cache")
    );
    assert!(config
        .header("content-security-policy")
        .expect("once")
        .is_some_and(|csp| csp.contains("connect-src")));
    let served: Value = serde_json::from_str(&config.body).expect("config.json is JSON");
    assert_eq!(served["apiBase"], "/mde");
    let http = reqwest::Client::new();

    // The mock, like the real API, gives a browser no CORS: a preflight from the app's origin
    // gets no Access-Control-Allow-Origin, so a direct call could not work.
    let preflight = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/machines", env.api_url()),
        )
        .header("Origin", env.app_url())
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .expect("the mock answers");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "the mock runs without CORS: {:?}",
        preflight.headers()
    );
}

/// Signs in if `sign_in`, lists the devices, opens one: everything through nginx.
async fn browse_through_the_proxy(env: &TestEnv, page: &Page, sign_in: bool) -> TestResult {
    let total = env.listed_device_count().await?;
    let nginx = env.nginx().ok_or("served by nginx")?;
    env.reset_mock().await?;
    let earlier_log = nginx.access_log().len();

    page.open("/").await?;
    if sign_in {
        page.click(SIGN_IN).await?;
    }
    page.wait_count(DEVICE_ROW, total).await?;
    // The first listed device whose whole KB list is in the DOM (longer tables are windowed).
    let mut picked = None;
    for id in page.attrs(DEVICE_ROW, "data-device-id").await? {
        let kbs = env.missing_kbs(&id).await?.len();
        if kbs <= WHOLE_KB_TABLE_MAX {
            picked = Some((id, kbs));
            break;
        }
    }
    let (device, kbs) = picked.ok_or("no listed device with a short list of missing updates")?;
    page.click(&device_link(&device)).await?;
    page.wait_any(DEVICE_HEADER).await?;
    page.wait_count(KB_ROW, kbs).await?;
    page.wait_count(ERROR_BANNER, 0).await?;

    // The mock answered the browser's calls, all of them with a token it accepted, and saw
    // no preflight: the browser stayed same-origin.
    let stats = env.mock_stats().await?;
    assert!(count(&stats, "routes", "/api/machines") >= 1, "{stats}");
    assert!(
        count(&stats, "routes", "/api/machines/{id}/getmissingkbs") >= 1,
        "{stats}"
    );
    assert_eq!(count(&stats, "statuses", "401"), 0, "{stats}");
    assert_eq!(stats["preflights"].as_u64(), Some(0), "{stats}");
    // And they went through nginx, with the browser's Authorization header.
    let log = nginx.access_log().split_off(earlier_log);
    let proxied: Vec<&str> = log.lines().filter(|l| l.contains(" /mde/api/")).collect();
    assert!(
        proxied
            .iter()
            .any(|l| l.contains("/getmissingkbs 200 auth=bearer")),
        "nginx proxied the updates call with the Authorization header:\n{log}"
    );
    assert!(
        proxied.iter().all(|l| l.contains("auth=bearer")),
        "every API call carried a token:\n{log}"
    );
    // The shipped Content-Security-Policy let the app do all of it.
    let console = page.console_log().await?;
    let violations = csp_violations(&console);
    assert!(violations.is_empty(), "CSP violations: {violations:#?}");

    // A direct call to the API from the page fails (the CSP allows only this origin and the
    // sign-in host, and the API sends no CORS anyway): hence the proxy.
    let direct: String = page
        .eval(
            "return fetch(arguments[0], { headers: { Authorization: 'Bearer x' } })
                 .then(r => 'answered ' + r.status, e => 'failed: ' + e);",
            vec![json!(format!("{}/api/machines", env.api_url()))],
        )
        .await?;
    assert!(direct.starts_with("failed: "), "{direct}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_through_the_reference_nginx_proxy_without_cors() {
    let env = start(
        AppAuth::Msal(MsalSetup::default()),
        Some(IdpOptions::default()),
    )
    .await;
    check_proxy_basics(&env).await;
    let env = &env;
    env.with_browser("proxy-msal", |page: Page| async move {
        browse_through_the_proxy(env, &page, true).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_through_the_reference_nginx_proxy_with_the_shipped_csp() {
    let env = start(AppAuth::Demo, None).await;
    check_proxy_basics(&env).await;
    let env = &env;
    env.with_browser("proxy-demo", |page: Page| async move {
        browse_through_the_proxy(env, &page, false).await
    })
    .await;
}

/// The mock with its HTTPS API listener and nginx in front of it, proxying as `api` (given the
/// mock) says; demo mode, no browser.
async fn mock_and_nginx(
    api: impl FnOnce(&RunningMock) -> TestResult<ApiUpstream>,
) -> TestResult<(RunningMock, Nginx)> {
    let mock = kbwatch_mock::spawn(
        MockOptions {
            api_tls: true,
            ..mock_options()
        },
        0,
    )
    .await?;
    let dist = dist_dir();
    let config = config_for(&dist, "/mde", json!({ "mode": "demo" }))?;
    let nginx = Nginx::start(&dist, &config, &api(&mock)?, None).await?;
    Ok((mock, nginx))
}

/// `/api` requests the mock has answered since start or reset, over either listener.
async fn mock_requests(mock: &RunningMock) -> TestResult<u64> {
    let stats: Value = reqwest::get(format!("{}/_mock/stats", mock.api_url()))
        .await?
        .json()
        .await?;
    stats["total"]
        .as_u64()
        .ok_or_else(|| format!("no total in {stats}").into())
}

/// A proxied call with a bearer token, as the app makes it.
async fn proxied(nginx: &Nginx, method: Method, target: &str) -> TestResult<RawAnswer> {
    nginx
        .client()?
        .send(method, target, &[("authorization", "Bearer kbwatch-e2e")])
        .await
}

/// A proxied `GET /mde/api/machines` through nginx proxying as `api` says, with the status and
/// the number of requests the mock saw: `(502, 0)` when nginx refuses the API's certificate.
async fn proxied_machines(
    api: impl FnOnce(&RunningMock) -> TestResult<ApiUpstream>,
) -> TestResult<(u16, u64, Nginx)> {
    let (mock, nginx) = mock_and_nginx(api).await?;
    let answer = proxied(&nginx, Method::GET, "/mde/api/machines").await?;
    eprintln!("GET /mde/api/machines: {}", answer.summary());
    Ok((answer.status, mock_requests(&mock).await?, nginx))
}

/// nginx trusting only the system's CAs (the shipped value) in front of an API whose
/// certificate a throwaway CA signed — as a man in the middle's would be: the call fails with
/// 502 and the API never sees the request, so the bearer token never left the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_cannot_verify_the_api_sends_it_nothing() {
    let (status, seen, nginx) = proxied_machines(|mock| {
        let addr = mock.api_tls_addr.ok_or("the mock's HTTPS listener")?;
        Ok(ApiUpstream::https(addr))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((status, seen), (502, 0), "{}", nginx.error_log());
    assert!(
        nginx.error_log().contains("certificate verify"),
        "nginx says why: {}",
        nginx.error_log()
    );
}

/// nginx trusting the mock's CA but expecting the certificate of another host (the real API's
/// name, as when a name resolves to a server that is not Microsoft's): 502, nothing sent. With
/// the right name the same configuration gets through, so the refusals are the verification's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_refuses_an_api_certificate_for_another_name() {
    let (status, seen, nginx) =
        proxied_machines(|mock| Ok(ApiUpstream::mock(mock)?.named("api.security.microsoft.com")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((status, seen), (502, 0), "{}", nginx.error_log());

    let (status, seen, nginx) = proxied_machines(ApiUpstream::mock)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((status, seen), (200, 1), "{}", nginx.error_log());
}

/// The proxy forwards GET only, and only on the paths kbwatch calls: any other method is 405,
/// any other path under `/mde/` 404, and the API sees none of them. Every URL
/// `core::Endpoints` builds reaches the API unchanged; the answers carry `no-store` and the
/// security headers, and never the API's cookies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_forwards_only_gets_of_the_paths_kbwatch_calls() {
    let (mock, nginx) = verified_mock_and_nginx()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let device = "0123456789abcdef0123456789abcdef01234567";
    for method in [
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::HEAD,
    ] {
        for target in [
            "/mde/api/machines".to_owned(),
            format!("/mde/api/machines/{device}/getmissingkbs"),
        ] {
            let answer = proxied(&nginx, method.clone(), &target)
                .await
                .expect("nginx");
            assert_eq!(
                answer.status,
                405,
                "{method} {target}: {}",
                answer.summary()
            );
        }
    }
    assert_eq!(
        mock_requests(&mock).await.expect("stats"),
        0,
        "no other method reached the API:\n{}",
        nginx.access_log()
    );
    for target in [
        "/mde/".to_owned(),
        "/mde/evil".to_owned(),
        "/mde/api/".to_owned(),
        "/mde/api/Users".to_owned(),
        "/mde/api/alerts".to_owned(),
        "/mde/api/machines/x/../../evil".to_owned(),
        "/mde/api/machines/a%2F..%2F..%2Fevil".to_owned(),
        "/mde/api/machines/findbyip(ip='10.0.0.1',timestamp=2024-04-01T00:00:00Z)".to_owned(),
        format!("/mde/api/machines/{device}/offboard"),
        format!("/mde/api/machines/{device}/vulnerabilities"),
        "/mde/api/Software/x/machineReferences".to_owned(),
        "/mde/api/vulnerabilities".to_owned(),
        "/mde/api/machines/SoftwareVulnerabilitiesExport/x".to_owned(),
        // A trailing newline: PCRE's `$` also matches before one.
        "/mde/api/machines%0A".to_owned(),
    ] {
        let answer = proxied(&nginx, Method::GET, &target).await.expect("nginx");
        assert_eq!(answer.status, 404, "GET {target}: {}", answer.summary());
    }
    let answer = proxied(
        &nginx,
        Method::POST,
        &format!("/mde/api/machines/{device}/offboard"),
    )
    .await
    .expect("nginx");
    assert!(matches!(answer.status, 404 | 405), "{}", answer.summary());
    assert_eq!(
        mock_requests(&mock).await.expect("stats"),
        0,
        "no unlisted path reached the API:\n{}",
        nginx.access_log()
    );

    // Every URL the app builds passes, its path unchanged (what the mock got is what was sent).
    let base = url::Url::parse("https://kbwatch.example/mde").expect("base");
    let endpoints = kbwatch_core::endpoints::Endpoints::new(base);
    let mut sent = Vec::new();
    for (builder, url) in endpoints.one_url_per_builder() {
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let answer = proxied(&nginx, Method::GET, &target).await.expect("nginx");
        assert_ne!(answer.status, 405, "{builder}: {target}");
        sent.push((builder, url.path().trim_start_matches("/mde").to_owned()));
    }
    let stats: Value = reqwest::get(format!("{}/_mock/stats", mock.api_url()))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats JSON");
    for (builder, path) in &sent {
        assert!(
            stats["paths"][path.as_str()].as_u64().unwrap_or(0) >= 1,
            "{builder}: the API got {path}: {}",
            stats["paths"]
        );
    }

    // The answer: no-store, the security headers, and not the cookie the API set.
    let direct = reqwest::Client::new()
        .get(format!(
            "{}/api/machines?mock_fault=set_cookie",
            mock.api_url()
        ))
        .bearer_auth("kbwatch-e2e")
        .send()
        .await
        .expect("the mock answers");
    assert!(
        direct.headers().get("set-cookie").is_some(),
        "the mock sets a cookie: {:?}",
        direct.headers()
    );
    let answer = proxied(
        &nginx,
        Method::GET,
        "/mde/api/machines?mock_fault=set_cookie",
    )
    .await
    .expect("nginx");
    assert_eq!(answer.status, 200, "{}", answer.summary());
    assert_eq!(
        answer
            .header("x-mock-fault-applied")
            .expect("once")
            .as_deref(),
        Some("set_cookie")
    );
    assert!(
        answer.header_values("set-cookie").is_empty(),
        "{}",
        answer.summary()
    );
    assert_eq!(
        answer.header("cache-control").expect("once").as_deref(),
        Some("no-store")
    );
    assert_security_headers(&answer, "/mde/api/machines");
}

/// nginx in front of the mock's HTTPS API, verifying it as it should.
async fn verified_mock_and_nginx() -> TestResult<(RunningMock, Nginx)> {
    mock_and_nginx(ApiUpstream::mock).await
}

/// The reference configuration's security headers, each sent once, on `answer` (to `what`).
fn assert_security_headers(answer: &RawAnswer, what: &str) {
    let one = |name: &str| {
        answer
            .header(name)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    };
    assert!(
        one("content-security-policy").is_some_and(|csp| csp.contains("default-src 'self'")),
        "{what}: {}",
        answer.summary()
    );
    assert_eq!(
        one("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        one("referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}"
    );
}

/// The value the reference configuration sends in `Strict-Transport-Security`.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The reference serves HTTPS only: plain HTTP answers every path with a 301 to the same path
/// and query on https (and nothing else), and every HTTPS answer — pages, `config.json`,
/// `redirect.html`, the proxy's answers and its refusals — carries HSTS and the security
/// headers, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_redirects_http_to_https_and_sends_hsts_everywhere() {
    let (_mock, nginx) = verified_mock_and_nginx()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let http = nginx.http_client();
    for target in [
        "/",
        "/?device=pc-1&tab=kbs",
        "/config.json",
        "/redirect.html",
        "/mde/api/machines?$top=1",
    ] {
        let answer = http.get(target).await.expect("nginx answers");
        assert_eq!(answer.status, 301, "http {target}: {}", answer.summary());
        assert_eq!(
            answer.header("location").expect("once"),
            Some(format!("https://127.0.0.1{target}")),
            "http {target}"
        );
        assert!(answer.header_values("set-cookie").is_empty());
    }

    let client = nginx.client().expect("https client");
    let token = [("authorization", "Bearer kbwatch-e2e")];
    for (method, target, status) in [
        (Method::GET, "/", 200),
        (Method::GET, "/index.html", 200),
        (Method::GET, "/devices/unknown/path", 200),
        (Method::GET, "/config.json", 200),
        (Method::GET, "/redirect.html", 200),
        (Method::GET, "/mde/api/machines", 200),
        (Method::GET, "/mde/evil", 404),
        (Method::POST, "/mde/api/machines", 405),
    ] {
        let answer = client
            .send(method.clone(), target, &token)
            .await
            .expect("nginx");
        let what = format!("https {method} {target}");
        assert_eq!(answer.status, status, "{what}: {}", answer.summary());
        assert_eq!(
            answer
                .header("strict-transport-security")
                .expect("once")
                .as_deref(),
            Some(HSTS),
            "{what}"
        );
        assert_security_headers(&answer, &what);
    }
}
