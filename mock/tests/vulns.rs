//! The fleet-wide endpoints (`machinesVulnerabilities`, `SoftwareVulnerabilitiesByMachine`), their
//! consistency with `getmissingkbs`, their paging and rate limits, and time scaling — in-process
//! with `tower::ServiceExt::oneshot`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::Router;
use kbwatch_mock::{router, router_with_idp, Idp, IdpOptions, MockOptions};
use serde_json::Value;

use crate::common::{admin, encode, get, get_as, get_with, keys, local, refused_after, text, HOST};

const MV: &str = "/api/vulnerabilities/machinesVulnerabilities";
const SV: &str = "/api/machines/SoftwareVulnerabilitiesByMachine";

/// A small fleet without rate limits (the forced shapes need ≥ 3 devices).
fn small(devices: usize) -> MockOptions {
    MockOptions {
        devices,
        rate_per_minute: 0,
        rate_per_hour: 0,
        export_rate_per_minute: 0,
        export_rate_per_hour: 0,
        ..MockOptions::default()
    }
}

/// Every row, following nextLinks from `first`.
async fn walk(app: &Router, first: &str) -> (Vec<Value>, usize) {
    let mut rows = Vec::new();
    let mut uri = Some(first.to_owned());
    let mut pages = 0;
    while let Some(current) = uri {
        let answer = get(app, &current).await;
        rows.extend(answer.rows());
        uri = answer.next_link().map(|l| local(&l));
        pages += 1;
        assert!(pages < 10_000, "nextLink loop");
    }
    (rows, pages)
}

async fn fleet(app: &Router) -> Vec<Value> {
    admin(app, Method::GET, "/_mock/fleet").await.into_json()["devices"]
        .as_array()
        .expect("devices")
        .clone()
}

#[tokio::test]
async fn machines_vulnerabilities_have_the_documented_shape() {
    let app = router(&small(16));
    let answer = get(&app, &format!("{MV}?$top=10000")).await;
    assert!(answer.json()["@odata.context"]
        .as_str()
        .is_some_and(|c| c.ends_with("PublicAssetVulnerabilityDto)")));
    let rows = answer.rows();
    assert!(!rows.is_empty());
    let expected: BTreeSet<&str> = [
        "id",
        "cveId",
        "machineId",
        "fixingKbId",
        "productName",
        "productVendor",
        "productVersion",
        "severity",
    ]
    .into();
    let mut null_fixes = 0;
    for row in &rows {
        assert_eq!(keys(row), expected);
        let cve = text(row, "cveId");
        assert!(cve.starts_with("CVE-20") && cve.len() >= 13, "{cve}");
        assert_eq!(text(row, "machineId").len(), 40);
        assert!(["Critical", "High", "Medium", "Low"].contains(&text(row, "severity")));
        let kb = row["fixingKbId"].as_str();
        match kb {
            Some(kb) => {
                assert!(kb.chars().all(|c| c.is_ascii_digit()), "{kb}");
                assert_eq!(text(row, "productVendor"), "microsoft");
            }
            None => null_fixes += 1,
        }
        // machine-_-cve-_-vendor-_-product-_-version-_-kb
        let id = format!(
            "{}-_-{cve}-_-{}-_-{}-_-{}-_-{}",
            text(row, "machineId"),
            text(row, "productVendor"),
            text(row, "productName"),
            text(row, "productVersion"),
            kb.unwrap_or_default()
        );
        assert_eq!(text(row, "id"), id);
    }
    assert!(null_fixes > 0, "some vulnerabilities have no KB fix");
    assert!(null_fixes < rows.len());
}

#[tokio::test]
async fn software_vulnerabilities_have_the_documented_shape() {
    let app = router(&small(16));
    let answer = get(&app, &format!("{SV}?pageSize=200000")).await;
    assert!(answer.json()["@odata.context"]
        .as_str()
        .is_some_and(|c| c.ends_with("AssetVulnerability)")));
    assert!(answer.next_link().is_none(), "one page holds the fleet");
    let rows = answer.rows();
    let expected: BTreeSet<&str> = [
        "id",
        "deviceId",
        "rbacGroupName",
        "deviceName",
        "osPlatform",
        "osVersion",
        "osArchitecture",
        "softwareVendor",
        "softwareName",
        "softwareVersion",
        "cveId",
        "cvssScore",
        "vulnerabilitySeverityLevel",
        "recommendedSecurityUpdate",
        "recommendedSecurityUpdateId",
        "recommendedSecurityUpdateUrl",
        "diskPaths",
        "registryPaths",
        "lastSeenTimestamp",
        "firstSeenTimestamp",
        "exploitabilityLevel",
        "recommendationReference",
        "securityUpdateAvailable",
    ]
    .into();
    let (mut kb_fixes, mut null_ids, mut empty_ids, mut advisories, mut no_cve) = (0, 0, 0, 0, 0);
    for row in &rows {
        assert_eq!(keys(row), expected);
        assert_eq!(text(row, "deviceId").len(), 40);
        let seen = text(row, "lastSeenTimestamp");
        assert_eq!(seen.len(), "2020-12-30 14:17:26".len(), "{seen}");
        assert_eq!(&seen[10..11], " ");
        match row["cveId"].as_str() {
            Some(_) => {
                let score = row["cvssScore"].as_f64().expect("cvssScore");
                let band = match text(row, "vulnerabilitySeverityLevel") {
                    "Critical" => 9.0..=10.0,
                    "High" => 7.0..=8.9,
                    "Medium" => 4.0..=6.9,
                    "Low" => 0.1..=3.9,
                    other => panic!("severity {other}"),
                };
                assert!(band.contains(&score), "{score}");
            }
            None => {
                no_cve += 1;
                assert!(row["cvssScore"].is_null() && row["vulnerabilitySeverityLevel"].is_null());
            }
        }
        match row["recommendedSecurityUpdateId"].as_str() {
            Some("") => empty_ids += 1,
            Some(id) if id.chars().all(|c| c.is_ascii_digit()) => {
                kb_fixes += 1;
                assert!(
                    text(row, "recommendedSecurityUpdate").ends_with(" Updates")
                        || text(row, "recommendedSecurityUpdate").contains("Rollup")
                        || text(row, "recommendedSecurityUpdate").contains("Servicing")
                );
                assert_eq!(row["securityUpdateAvailable"], true);
            }
            Some(id) => {
                advisories += 1;
                assert_eq!(id, "ADV200002");
            }
            None => null_ids += 1,
        }
        assert_eq!(
            text(row, "id"),
            format!(
                "{}_{}_{}_{}_",
                text(row, "deviceId"),
                text(row, "softwareName"),
                text(row, "softwareVersion"),
                text(row, "cveId")
            )
        );
    }
    assert!(kb_fixes > 0 && null_ids > 0 && empty_ids > 0 && advisories > 0 && no_cve > 0);
}

/// KB id → CVE count of a device's getmissingkbs answer.
async fn missing_kbs(app: &Router, id: &str) -> BTreeMap<String, u64> {
    get(app, &format!("/api/machines/{id}/getmissingkbs"))
        .await
        .rows()
        .iter()
        .map(|kb| {
            (
                text(kb, "id").to_owned(),
                kb["cveAddressed"].as_u64().expect("cveAddressed"),
            )
        })
        .collect()
}

#[tokio::test]
async fn both_endpoints_agree_with_getmissingkbs() {
    let app = router(&small(16));
    let devices = fleet(&app).await;
    let export = get(&app, &format!("{SV}?pageSize=200000")).await.rows();
    // Device #0 (10–40 KBs), the most and the least neglected onboarded Windows devices, a
    // non-Windows one and a not-onboarded one.
    let windows: Vec<&Value> = devices
        .iter()
        .filter(|d| text(d, "onboardingStatus") == "Onboarded")
        .filter(|d| text(d, "osPlatform").starts_with("Windows"))
        .collect();
    let most = windows
        .iter()
        .max_by_key(|d| d["missingKbs"].as_u64())
        .expect("windows");
    let least = windows
        .iter()
        .min_by_key(|d| d["missingKbs"].as_u64())
        .expect("windows");
    assert_eq!(least["missingKbs"], 0);
    let mut picks = vec![&devices[0], *most, *least];
    picks.extend(
        devices
            .iter()
            .find(|d| !text(d, "osPlatform").starts_with("Windows")),
    );
    picks.extend(
        devices
            .iter()
            .find(|d| text(d, "onboardingStatus") != "Onboarded"),
    );
    assert!(picks.len() >= 4);
    for device in picks {
        let id = text(device, "id");
        let kbs = missing_kbs(&app, id).await;
        let filter = encode(&format!("machineId eq '{id}'"));
        let (rows, _) = walk(&app, &format!("{MV}?$filter={filter}&$top=5000")).await;
        assert!(rows.iter().all(|r| text(r, "machineId") == id));
        assert_eq!(
            rows.len() as u64,
            device["vulnerabilities"].as_u64().expect("n")
        );
        // Per KB: as many CVE rows as cveAddressed (KBs addressing 0 CVEs have no rows).
        let mut per_kb: BTreeMap<String, u64> = BTreeMap::new();
        for row in rows.iter().filter(|r| !r["fixingKbId"].is_null()) {
            *per_kb
                .entry(text(row, "fixingKbId").to_owned())
                .or_default() += 1;
        }
        let expected: BTreeMap<String, u64> = kbs
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        assert_eq!(per_kb, expected, "device {id}");
        // Products of a KB's rows come from the KB's productsNames.
        let products: BTreeMap<String, Vec<String>> =
            get(&app, &format!("/api/machines/{id}/getmissingkbs"))
                .await
                .rows()
                .iter()
                .map(|kb| {
                    (
                        text(kb, "id").to_owned(),
                        kb["productsNames"]
                            .as_array()
                            .expect("products")
                            .iter()
                            .map(|p| p.as_str().expect("name").to_owned())
                            .collect(),
                    )
                })
                .collect();
        for row in rows.iter().filter(|r| !r["fixingKbId"].is_null()) {
            assert!(
                products[text(row, "fixingKbId")].contains(&text(row, "productName").to_owned())
            );
        }
        // The export has the same (CVE, software, KB) set, plus inventory rows without a CVE.
        let mv: BTreeSet<(String, String, Option<String>)> = rows
            .iter()
            .map(|r| {
                (
                    text(r, "cveId").to_owned(),
                    text(r, "productName").to_owned(),
                    r["fixingKbId"].as_str().map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(mv.len(), rows.len(), "no duplicate rows");
        let sv: BTreeSet<(String, String, Option<String>)> = export
            .iter()
            .filter(|r| text(r, "deviceId") == id && !r["cveId"].is_null())
            .map(|r| {
                let fix = r["recommendedSecurityUpdateId"]
                    .as_str()
                    .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()));
                (
                    text(r, "cveId").to_owned(),
                    text(r, "softwareName").to_owned(),
                    fix.map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(sv, mv, "device {id}");
        if text(device, "onboardingStatus") != "Onboarded" {
            assert!(rows.is_empty() && kbs.is_empty());
        }
    }
}

#[tokio::test]
async fn machines_vulnerabilities_page_by_top_skip_and_next_link() {
    let app = router(&small(6));
    let (all, pages) = walk(&app, MV).await;
    let total = admin(&app, Method::GET, "/_mock/fleet").await.into_json()
        ["machinesVulnerabilities"]
        .as_u64()
        .expect("total") as usize;
    assert_eq!(all.len(), total);
    assert_eq!(pages, total.div_ceil(10_000));
    let (paged, pages) = walk(&app, &format!("{MV}?$top=2500")).await;
    assert_eq!(pages, total.div_ceil(2500));
    assert_eq!(paged, all);
    let page = get(&app, &format!("{MV}?$top=700&$skip=700")).await;
    let link = page.next_link().expect("nextLink");
    assert!(link.starts_with(&format!("http://{HOST}{MV}?")), "{link}");
    assert!(
        link.contains("$top=700") && link.contains("$skip=1400"),
        "{link}"
    );
    assert_eq!(page.rows(), all[700..1400]);
    // Past the end: an empty page, no link.
    let past = get(&app, &format!("{MV}?$skip={}", total + 5)).await;
    assert!(past.rows().is_empty() && past.next_link().is_none());
    for (bad, code) in [
        ("$top=0", "InvalidInput"),
        ("$top=10001", "InvalidInput"),
        ("$top=x", "ODataError"),
        ("$skip=-1", "ODataError"),
    ] {
        get(&app, &format!("{MV}?{bad}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST, code, bad);
    }

    // The server page size caps pages; without nextLinks the client pages by $skip.
    let capped = router(&MockOptions {
        page_size: 3000,
        next_link: false,
        ..small(6)
    });
    let first = get(&capped, MV).await;
    assert!(first.next_link().is_none());
    let mut rows = first.rows();
    assert_eq!(rows.len(), 3000);
    loop {
        let next = get(&capped, &format!("{MV}?$skip={}", rows.len()))
            .await
            .rows();
        if next.is_empty() {
            break;
        }
        rows.extend(next);
    }
    assert_eq!(rows, all);
}

#[tokio::test]
async fn machines_vulnerabilities_filter_on_machine_and_kb() {
    let app = router(&small(12));
    let (all, _) = walk(&app, MV).await;
    let first = &all[0];
    let (machine, kb) = (text(first, "machineId"), text(first, "fixingKbId"));
    let filtered = |f: &str| format!("{MV}?$filter={}", encode(f));

    let (rows, _) = walk(
        &app,
        &filtered(&format!(
            "machineId eq '{}' and fixingKbId eq '{kb}'",
            machine.to_uppercase()
        )),
    )
    .await;
    let expected: Vec<&Value> = all
        .iter()
        .filter(|r| text(r, "machineId") == machine && text(r, "fixingKbId") == kb)
        .collect();
    assert_eq!(rows.iter().collect::<Vec<_>>(), expected);
    assert!(!rows.is_empty());

    let (by_kb, _) = walk(&app, &filtered(&format!("fixingKbId eq '{kb}'"))).await;
    assert_eq!(
        by_kb.len(),
        all.iter().filter(|r| text(r, "fixingKbId") == kb).count()
    );

    let (no_fix, _) = walk(&app, &filtered("fixingKbId eq null")).await;
    assert_eq!(
        no_fix.len(),
        all.iter().filter(|r| r["fixingKbId"].is_null()).count()
    );
    assert!(!no_fix.is_empty());
    let (with_fix, _) = walk(&app, &filtered("fixingKbId ne null")).await;
    assert_eq!(no_fix.len() + with_fix.len(), all.len());

    // Filtered paging: $top/$skip apply to the matches, nextLink keeps the filter.
    let page = get(
        &app,
        &format!("{}&$top=3", filtered(&format!("fixingKbId eq '{kb}'"))),
    )
    .await;
    let link = page.next_link().expect("more matches than 3");
    assert!(link.contains("$filter=fixingKbId%20eq%20'"), "{link}");
    let (walked, _) = walk(&app, &local(&link)).await;
    assert_eq!(walked.len() + 3, by_kb.len());
    assert_eq!(
        walked.as_slice(),
        &all.iter()
            .filter(|r| text(r, "fixingKbId") == kb)
            .skip(3)
            .cloned()
            .collect::<Vec<_>>()[..]
    );

    // Two pins of one property, or a pin and another clause: still exactly the matching rows.
    let other = all
        .iter()
        .map(|r| text(r, "machineId"))
        .find(|m| *m != machine)
        .expect("a second device");
    let (none, _) = walk(
        &app,
        &filtered(&format!(
            "machineId eq '{machine}' and machineId eq '{other}'"
        )),
    )
    .await;
    assert!(none.is_empty());
    let (mixed, _) = walk(
        &app,
        &filtered(&format!("fixingKbId eq '{kb}' and severity eq 'Critical'")),
    )
    .await;
    assert_eq!(
        mixed.len(),
        by_kb.iter().filter(|r| r["severity"] == "Critical").count()
    );
    let (unknown, _) = walk(&app, &filtered("fixingKbId eq '1'")).await;
    assert!(unknown.is_empty());

    for bad in [
        "osPlatform eq 'Windows10'",
        "machineId gt 'a'",
        "machineId eq",
        "fixingKbId eq 5044285",
    ] {
        get(&app, &filtered(bad))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "ODataError", bad);
    }
}

#[tokio::test]
async fn software_vulnerabilities_page_by_skip_token() {
    let app = router(&small(6));
    // Default page size 50,000: this fleet fits in one page.
    let whole = get(&app, SV).await;
    assert!(whole.next_link().is_none());
    let whole = whole.rows();
    let total = admin(&app, Method::GET, "/_mock/fleet").await.into_json()
        ["softwareVulnerabilitiesByMachine"]
        .as_u64()
        .expect("total") as usize;
    assert_eq!(whole.len(), total);
    let (paged, pages) = walk(&app, &format!("{SV}?pageSize=2500")).await;
    assert_eq!(pages, total.div_ceil(2500));
    assert_eq!(paged, whole);

    let first = get(&app, &format!("{SV}?pagesize=5")).await;
    assert_eq!(
        first.rows().len(),
        5,
        "pageSize is matched case-insensitively"
    );
    let link = first.next_link().expect("nextLink");
    assert!(
        link.starts_with(&format!("http://{HOST}{SV}?pageSize=5&$skiptoken=")),
        "{link}"
    );
    let token = link.rsplit("$skiptoken=").next().expect("token");
    assert!(
        !token.chars().all(|c| c.is_ascii_digit()),
        "opaque, not an offset: {token}"
    );
    assert_eq!(get(&app, &local(&link)).await.rows(), whole[5..10]);

    // $top: that many rows, no nextLink.
    let top = get(&app, &format!("{SV}?$top=7")).await;
    assert_eq!(top.rows(), whole[..7]);
    assert!(top.next_link().is_none());

    for (bad, code) in [
        ("pageSize=0", "InvalidInput"),
        ("pageSize=200001", "InvalidInput"),
        ("pageSize=lots", "ODataError"),
        ("$skiptoken=not-a-token", "InvalidInput"),
        ("$skiptoken=eyJMaW5lU3RvcHBlZEF0Ijo1fQ", "InvalidInput"),
    ] {
        get(&app, &format!("{SV}?{bad}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST, code, bad);
    }
    // A token from another fleet is refused.
    let other = router(&MockOptions {
        seed: 7,
        ..small(6)
    });
    assert_eq!(
        get(&other, &local(&link)).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn software_vulnerabilities_have_their_own_rate_limits() {
    let app = router(&MockOptions {
        devices: 6,
        ..MockOptions::default()
    });
    let cheap = format!("{SV}?$top=1");
    let refused = refused_after(&app, &cheap, 30).await;
    assert!((1..=60).contains(&refused.retry_after()));
    // A separate budget: the same token still reaches the other endpoints …
    assert_eq!(
        get(&app, &format!("{MV}?$top=1")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&app, "/api/machines?$top=1").await.status,
        StatusCode::OK
    );
    // … and another token the export.
    assert_eq!(get_as(&app, &cheap, "other").await.status, StatusCode::OK);

    let stats = admin(&app, Method::GET, "/_mock/stats").await.into_json();
    let export = &stats["rate_limits"]["budgets"]["export"];
    assert_eq!(export["per_minute"], 30);
    assert_eq!(export["per_hour"], 1000);
    assert_eq!(export["calls"], 31);
    assert_eq!(export["over_limit"], 1);
    assert_eq!(
        export["max_per_minute"], 31,
        "the refused call was seen too"
    );
    // The export's budget nests in the global one: its 31 accepted calls count there too.
    assert_eq!(stats["rate_limits"]["budgets"]["default"]["calls"], 33);
    assert_eq!(stats["rate_limits"]["budgets"]["default"]["over_limit"], 0);
    let endpoints = &stats["rate_limits"]["endpoints"];
    assert_eq!(endpoints[SV], *export);
    assert_eq!(endpoints[MV]["calls"], 1);
    assert_eq!(endpoints["/api/machines"]["per_minute"], 100);
    assert_eq!(stats["endpoints"][SV]["calls"], 32);
    assert_eq!(stats["endpoints"][SV]["throttled"], 1);
    assert_eq!(stats["endpoints"][SV]["statuses"]["429"], 1);
    assert_eq!(stats["endpoints"][MV]["statuses"]["200"], 1);
    assert_eq!(stats["rate_limits"]["over_limit"], 1);
    assert_eq!(stats["throttled"], 1);
    assert_eq!(stats["routes"][SV], 32);
    let tokens = export["tokens"].as_object().expect("tokens");
    assert_eq!(tokens.len(), 2);
    assert!(tokens
        .keys()
        .all(|k| k.starts_with("token-") && !k.contains("test-token")));

    admin(&app, Method::POST, "/_mock/reset").await;
    assert_eq!(
        get(&app, &cheap).await.status,
        StatusCode::OK,
        "reset clears windows"
    );
    let stats = admin(&app, Method::GET, "/_mock/stats").await.into_json();
    assert_eq!(stats["rate_limits"]["budgets"]["export"]["calls"], 1);

    // The hourly export limit.
    let hourly = router(&MockOptions {
        devices: 6,
        export_rate_per_minute: 0,
        export_rate_per_hour: 3,
        ..MockOptions::default()
    });
    let refused = refused_after(&hourly, &cheap, 3).await;
    assert!((61..=3600).contains(&refused.retry_after()));
}

#[tokio::test(start_paused = true)]
async fn time_scale_shrinks_windows_and_retry_after() {
    let app = router(&MockOptions {
        devices: 6,
        rate_per_minute: 3,
        rate_per_hour: 5,
        export_rate_per_minute: 1,
        export_rate_per_hour: 0,
        time_scale: 60.0,
        ..MockOptions::default()
    });
    let machines = "/api/machines?$top=1";
    // A minute lasts one second: Retry-After 1 (rounded up from under a second).
    assert_eq!(refused_after(&app, machines, 3).await.retry_after(), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(get(&app, machines).await.status, StatusCode::OK);
    assert_eq!(get(&app, machines).await.status, StatusCode::OK);
    // Five calls in the 60 s "hour": wait for the first to leave it.
    let refused = get(&app, machines).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.retry_after(), 59);
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(get(&app, machines).await.status, StatusCode::OK);

    // The export budget scales too.
    assert_eq!(
        get(&app, &format!("{SV}?$top=1")).await.status,
        StatusCode::OK
    );
    let refused = get(&app, &format!("{SV}?$top=1")).await;
    assert_eq!(refused.retry_after(), 1);

    let stats = admin(&app, Method::GET, "/_mock/stats").await.into_json();
    let limits = &stats["rate_limits"];
    assert_eq!(limits["time_scale"], 60.0);
    let default = &limits["budgets"]["default"];
    assert_eq!(default["minute_secs"], 1.0);
    assert_eq!(default["hour_secs"], 60.0);
    assert_eq!(
        default["calls"], 7,
        "six machine calls and the accepted export call"
    );
    assert_eq!(default["over_limit"], 2);
    assert_eq!(default["max_per_minute"], 4);
    assert_eq!(limits["budgets"]["export"]["over_limit"], 1);
    assert_eq!(limits["over_limit"], 3);
    assert_eq!(stats["throttled"], 3);

    // Without scaling the same limits mean a real minute.
    let unscaled = router(&MockOptions {
        devices: 6,
        rate_per_minute: 1,
        ..MockOptions::default()
    });
    get(&unscaled, machines).await;
    assert_eq!(get(&unscaled, machines).await.retry_after(), 60);
    let stats = admin(&unscaled, Method::GET, "/_mock/stats")
        .await
        .into_json();
    assert_eq!(
        stats["rate_limits"]["budgets"]["default"]["minute_secs"],
        60.0
    );
}

#[tokio::test]
async fn vulnerability_endpoints_need_vulnerability_read() {
    let idp = Idp::new(IdpOptions::default(), "https://127.0.0.1:8443").expect("idp");
    let app = router_with_idp(
        &MockOptions {
            devices: 6,
            ..MockOptions::default()
        },
        idp.clone(),
    );
    let scopes = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let without = idp
        .mint_access_token(Some(&scopes(&["Machine.Read", "Software.Read"])))
        .expect("token");
    let with = idp
        .mint_access_token(Some(&scopes(&["Vulnerability.Read"])))
        .expect("token");
    for path in [MV, SV] {
        let uri = format!("{path}?$top=1");
        let refused = get_as(&app, &uri, &without).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(refused.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("API required permissions: Vulnerability.Read.")));
        assert_eq!(
            get_as(&app, &uri, &with).await.status,
            StatusCode::OK,
            "{path}"
        );
        assert_eq!(
            get_as(&app, &uri, "not-a-jwt").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        get_as(&app, "/api/machines?$top=1", &with).await.status,
        StatusCode::FORBIDDEN,
        "Vulnerability.Read is not Machine.Read"
    );
}

#[tokio::test]
async fn faults_apply_to_the_new_endpoints() {
    let app = router(&small(6));
    let fault = |name| [("x-mock-fault", name)];
    let answer = get_with(&app, SV, &fault("throttle;retry_after=4")).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.retry_after(), 4, "faults are not time-scaled");
    let json = get_with(&app, &format!("{MV}?$top=3"), &fault("nulls"))
        .await
        .into_json();
    assert!(json["value"][0]["cveId"].is_null() && json["value"][0]["machineId"].is_null());
    assert_eq!(
        get_with(&app, SV, &fault("not_found")).await.status,
        StatusCode::NOT_FOUND
    );
}
