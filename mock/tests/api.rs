//! The mock's HTTP contract, exercised in-process with `tower::ServiceExt::oneshot`.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use kbwatch_mock::{router, FaultKind, FaultRule, MockOptions};
use serde_json::{json, Value};

use crate::common::{
    admin, admin_post, encode, get, get_as, get_with, keys, local, refused_after, request, send,
    text, HOST,
};

fn unlimited() -> MockOptions {
    MockOptions {
        rate_per_minute: 0,
        rate_per_hour: 0,
        ..MockOptions::default()
    }
}

fn app() -> Router {
    router(&unlimited())
}

/// `$filter` value, percent-encoded for a URI.
fn filter_uri(filter: &str) -> String {
    format!("/api/machines?$filter={}", encode(filter))
}

async fn all_machines(app: &Router) -> Vec<Value> {
    get(app, "/api/machines").await.rows()
}

/// The id of the fleet's first device.
async fn first_id(app: &Router) -> String {
    text(&all_machines(app).await[0], "id").to_owned()
}

fn names(machines: &[Value]) -> BTreeSet<String> {
    machines
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn filtered(app: &Router, filter: &str) -> BTreeSet<String> {
    let answer = get(app, &filter_uri(filter)).await;
    match answer.status {
        StatusCode::OK => names(answer.json()["value"].as_array().expect("value")),
        StatusCode::NOT_FOUND => BTreeSet::new(),
        other => panic!(
            "{filter}: {other} {}",
            String::from_utf8_lossy(&answer.body)
        ),
    }
}

fn expect(machines: &[Value], pred: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    let subset: Vec<Value> = machines.iter().filter(|m| pred(m)).cloned().collect();
    names(&subset)
}

const MACHINE_FIELDS: &[&str] = &[
    "id",
    "computerDnsName",
    "firstSeen",
    "lastSeen",
    "osPlatform",
    "version",
    "osProcessor",
    "osBuild",
    "osArchitecture",
    "healthStatus",
    "riskScore",
    "exposureLevel",
    "deviceValue",
    "onboardingStatus",
    "rbacGroupName",
    "rbacGroupId",
    "aadDeviceId",
    "machineTags",
    "lastIpAddress",
    "lastExternalIpAddress",
    "ipAddresses",
    "isAadJoined",
    "defenderAvStatus",
];

#[tokio::test]
async fn machines_have_the_documented_shape() {
    let app = app();
    let answer = get(&app, "/api/machines").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let body = answer.json();
    assert_eq!(
        body["@odata.context"],
        "https://api.securitycenter.microsoft.com/api/$metadata#Machines"
    );
    assert!(
        body.get("@odata.nextLink").is_none(),
        "300 < 10,000: one page"
    );
    let machines = body["value"].as_array().expect("value");
    assert_eq!(machines.len(), 300);
    let expected: BTreeSet<&str> = MACHINE_FIELDS.iter().copied().collect();
    for m in machines {
        assert_eq!(keys(m), expected);
        let id = text(m, "id");
        assert!(
            id.len() == 40
                && id
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        for field in ["firstSeen", "lastSeen"] {
            let t = text(m, field);
            assert!(
                t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok(),
                "{t}"
            );
        }
        assert!(m["machineTags"].is_array() && m["ipAddresses"].is_array());
        for ip in m["ipAddresses"].as_array().expect("array") {
            assert_eq!(
                keys(ip),
                BTreeSet::from(["ipAddress", "macAddress", "type", "operationalStatus"])
            );
        }
    }
    let statuses: BTreeSet<&str> = machines
        .iter()
        .map(|m| text(m, "onboardingStatus"))
        .collect();
    assert!(
        statuses.contains("Onboarded") && statuses.len() > 1,
        "{statuses:?}"
    );
    assert!(machines.iter().any(|m| m["aadDeviceId"].is_null()));
    assert!(machines
        .iter()
        .any(|m| text(m, "healthStatus") == "Inactive"));
}

#[tokio::test]
async fn missing_kbs_have_the_documented_shape() {
    let app = app();
    let machines = all_machines(&app).await;
    let first = &machines[0];
    assert!(text(first, "osPlatform").starts_with("Windows"));
    assert_eq!(text(first, "onboardingStatus"), "Onboarded");
    let answer = get(
        &app,
        &format!("/api/machines/{}/getmissingkbs", text(first, "id")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(
        body["@odata.context"],
        "https://api.securitycenter.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.PublicProductFixDto)"
    );
    let kbs = body["value"].as_array().expect("value");
    assert!(
        (10..=40).contains(&kbs.len()),
        "device #0 has {} KBs",
        kbs.len()
    );
    let fields = BTreeSet::from([
        "id",
        "name",
        "productsNames",
        "url",
        "machineMissedOn",
        "cveAddressed",
    ]);
    for kb in kbs {
        assert_eq!(keys(kb), fields);
        let id = text(kb, "id");
        assert!(
            (6..=7).contains(&id.len()) && id.chars().all(|c| c.is_ascii_digit()),
            "{id}"
        );
        assert_eq!(
            text(kb, "url"),
            format!("https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB{id}")
        );
        assert_eq!(kb["machineMissedOn"], 1);
        assert!(kb["cveAddressed"].as_u64().is_some_and(|n| n <= 150));
        assert!(!kb["productsNames"].as_array().expect("products").is_empty());
        assert!(text(kb, "name").contains("20"), "{}", text(kb, "name"));
    }
}

#[tokio::test]
async fn fleet_has_patched_and_neglected_devices_and_no_kbs_for_macs() {
    let app = app();
    let machines = all_machines(&app).await;
    let mut counts = Vec::new();
    for m in machines
        .iter()
        .filter(|m| text(m, "onboardingStatus") == "Onboarded")
    {
        let answer = get(
            &app,
            &format!("/api/machines/{}/getmissingkbs", text(m, "id")),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        let n = answer.json()["value"].as_array().expect("value").len();
        if !text(m, "osPlatform").starts_with("Windows") {
            assert_eq!(n, 0, "{} has KBs", text(m, "osPlatform"));
        }
        counts.push(n);
    }
    assert!(counts.contains(&0));
    assert!(
        counts.iter().any(|&n| n >= 150),
        "max {:?}",
        counts.iter().max()
    );
    let typical = counts.iter().filter(|&&n| (1..=10).contains(&n)).count();
    assert!(typical > counts.len() / 4, "most have a handful");
}

#[tokio::test]
async fn same_seed_same_fleet_other_seed_other_fleet() {
    let a = get(&app(), "/api/machines").await.body;
    let b = get(&app(), "/api/machines").await.body;
    assert_eq!(a, b);
    let other = router(&MockOptions {
        seed: 7,
        ..unlimited()
    });
    assert_ne!(a, get(&other, "/api/machines").await.body);
    let small = router(&MockOptions {
        devices: 12,
        ..unlimited()
    });
    assert_eq!(all_machines(&small).await.len(), 12);
}

/// Which devices a `$filter` case must select.
type Selects<'a> = Box<dyn Fn(&Value) -> bool + 'a>;

#[tokio::test]
async fn filters_select_the_right_devices() {
    let app = app();
    let all = all_machines(&app).await;
    let name = text(&all[0], "computerDnsName").to_owned();
    let is = |field: &'static str, value: &'static str| move |m: &Value| text(m, field) == value;
    let (mac, high_risk, high_value) = (
        is("osPlatform", "macOS"),
        is("riskScore", "High"),
        is("deviceValue", "High"),
    );
    let tagged = |tag: &'static str| {
        move |m: &Value| {
            m["machineTags"]
                .as_array()
                .is_some_and(|t| t.contains(&json!(tag)))
        }
    };
    let cutoff = chrono::Utc::now() - chrono::Duration::days(7);
    let seen_since = |m: &Value| {
        chrono::DateTime::parse_from_rfc3339(text(m, "lastSeen")).is_ok_and(|t| t > cutoff)
    };
    // Each `$filter` and the devices it must select, judged from the unfiltered list.
    let cases: Vec<(String, Selects)> = vec![
        (
            format!("computerDnsName eq '{}'", name.to_uppercase()),
            Box::new(|m| text(m, "computerDnsName") == name),
        ),
        (
            "onboardingStatus eq 'Onboarded'".into(),
            Box::new(is("onboardingStatus", "Onboarded")),
        ),
        (
            "healthStatus ne 'Active'".into(),
            Box::new(|m| !is("healthStatus", "Active")(m)),
        ),
        (
            "osPlatform eq 'Windows10' and healthStatus eq 'Inactive'".into(),
            Box::new(|m| is("osPlatform", "Windows10")(m) && is("healthStatus", "Inactive")(m)),
        ),
        // `and` binds tighter than `or`; parentheses change that.
        (
            "osPlatform eq 'macOS' or riskScore eq 'High' and deviceValue eq 'High'".into(),
            Box::new(|m| mac(m) || (high_risk(m) && high_value(m))),
        ),
        (
            "(osPlatform eq 'macOS' or riskScore eq 'High') and deviceValue eq 'High'".into(),
            Box::new(|m| (mac(m) || high_risk(m)) && high_value(m)),
        ),
        (
            "startswith(computerDnsName,'srv-')".into(),
            Box::new(|m| text(m, "computerDnsName").starts_with("srv-")),
        ),
        (
            "machineTags/any(t: t eq 'Finance')".into(),
            Box::new(tagged("Finance")),
        ),
        (
            "aadDeviceId eq null".into(),
            Box::new(|m| m["aadDeviceId"].is_null()),
        ),
        (
            "rbacGroupId eq 101".into(),
            Box::new(|m| m["rbacGroupId"] == 101),
        ),
        (
            "not (exposureLevel eq 'Low')".into(),
            Box::new(|m| !is("exposureLevel", "Low")(m)),
        ),
        (
            format!("lastSeen gt {}", cutoff.format("%Y-%m-%dT%H:%M:%SZ")),
            Box::new(seen_since),
        ),
    ];
    for (filter, selects) in &cases {
        assert_eq!(
            filtered(&app, filter).await,
            expect(&all, selects),
            "{filter}"
        );
    }
    assert!(!filtered(&app, "machineTags/any(t: t eq 'Finance')")
        .await
        .is_empty());
}

#[tokio::test]
async fn bad_filters_are_400_odata_errors() {
    let app = app();
    for bad in [
        "computerDnsName eq",
        "computerDnsNames eq 'x'",
        "osBuild eq 19045",
        "(healthStatus eq 'Active'",
        "healthStatus eq 'Active' or",
        "computerDnsName eq 'unterminated",
        "contains(computerDnsName,'x')",
        "machineTags eq 'VIP'",
        "lastSeen gt 'not a date'",
    ] {
        let answer = get(&app, &filter_uri(bad)).await;
        answer.assert_error(StatusCode::BAD_REQUEST, "ODataError", bad);
        let message = answer.error_message();
        assert!(message.starts_with("Invalid filter clause: "), "{message}");
    }
}

/// The request line of an `exposed-apis-odata-samples.md` example as a client sends it: the
/// documented host dropped (the router is in process), the query kept byte for byte except
/// that a space, which cannot travel in a request line, goes as `%20` (what a browser and
/// curl do). `+` stays `+` (a space in a query) and `'` stays `'`.
fn documented(url: &str) -> String {
    let path = url
        .strip_prefix("https://api.securitycenter.microsoft.com")
        .unwrap_or_else(|| panic!("not a documented URL: {url}"));
    path.trim_end().replace(' ', "%20")
}

/// Examples 3, 4, 5 and 8 of `exposed-apis-odata-samples.md`, the machine queries, sent as the
/// page writes them: each answers the page's `Machines` collection, and only with devices the
/// filter selects.
#[tokio::test]
async fn documented_odata_machine_examples_answer_as_documented() {
    let app = app();
    let fleet = all_machines(&app).await;
    let context = "https://api.securitycenter.microsoft.com/api/$metadata#Machines";

    // Example 3: "Get all the devices with 'High' 'RiskScore'".
    let answer = get(
        &app,
        &documented(
            "https://api.securitycenter.microsoft.com/api/machines?$filter=riskScore+eq+'High'",
        ),
    )
    .await;
    assert_eq!(answer.json()["@odata.context"], context);
    let rows = answer.rows();
    assert_eq!(names(&rows), expect(&fleet, |m| m["riskScore"] == "High"));
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|m| keys(m) == MACHINE_FIELDS.iter().copied().collect()));

    // Example 4: "Get top 100 devices with 'HealthStatus' not equals to 'Active'" (the page
    // ends the line with a space after `$top=100`; it is not part of the URL).
    let answer = get(
        &app,
        &documented("https://api.securitycenter.microsoft.com/api/machines?$filter=healthStatus+ne+'Active'&$top=100 "),
    )
    .await;
    assert_eq!(answer.json()["@odata.context"], context);
    let rows = answer.rows();
    let not_active = expect(&fleet, |m| m["healthStatus"] != "Active");
    assert_eq!(rows.len(), not_active.len().min(100));
    assert!(names(&rows).is_subset(&not_active));

    // Example 5: "Get all the devices that last seen after 2018-10-20" — the request says
    // 2018-08-01, with a bare `Z` after the date. Every generated device was seen since.
    let answer = get(
        &app,
        &documented(
            "https://api.securitycenter.microsoft.com/api/machines?$filter=lastSeen gt 2018-08-01Z",
        ),
    )
    .await;
    assert_eq!(answer.json()["@odata.context"], context);
    assert_eq!(names(&answer.rows()), names(&fleet));
    // The same instant written out in full selects the same devices; a later day fewer.
    assert_eq!(
        filtered(&app, "lastSeen gt 2018-08-01T00:00:00Z").await,
        names(&fleet)
    );
    let recent = fleet
        .iter()
        .filter_map(|m| m["lastSeen"].as_str())
        .max()
        .expect("a device")[..10]
        .to_owned();
    assert!(
        filtered(&app, &format!("lastSeen gt {recent}Z"))
            .await
            .len()
            < fleet.len()
    );

    // Example 8: "Get all the devices with 'computerDnsName' starting with 'mymachine'". No
    // generated device is called that: the documented empty answer, 404 "No recent machines
    // found" — not a 400, the clause itself is fine. A prefix the fleet has answers 200.
    let answer = get(
        &app,
        &documented("https://api.securitycenter.microsoft.com/api/machines?$filter=startswith(computerDnsName,'mymachine')"),
    )
    .await;
    answer.assert_error(StatusCode::NOT_FOUND, "NotFound", "Example 8");
    assert_eq!(answer.error_message(), "No recent machines found");
    let answer = get(
        &app,
        "/api/machines?$filter=startswith(computerDnsName,'fin-ws')",
    )
    .await;
    assert_eq!(answer.json()["@odata.context"], context);
    let expected = expect(&fleet, |m| text(m, "computerDnsName").starts_with("fin-ws"));
    assert!(!expected.is_empty());
    assert_eq!(names(&answer.rows()), expected);

    // The page's list of filterable properties writes `RiskScore` and `HealthStatus`: the
    // same filters in that casing select the same devices.
    assert_eq!(
        filtered(&app, "RiskScore eq 'High'").await,
        expect(&fleet, |m| m["riskScore"] == "High")
    );
    assert_eq!(filtered(&app, "HealthStatus ne 'Active'").await, not_active);
}

#[tokio::test]
async fn top_and_skip_page_with_next_link() {
    let app = app();
    let all = all_machines(&app).await;
    let mut uri = "/api/machines?$top=120".to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let answer = get(&app, &uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        let body = answer.json();
        seen.extend(body["value"].as_array().expect("value").iter().cloned());
        pages += 1;
        match body["@odata.nextLink"].as_str() {
            Some(link) => {
                let prefix = format!("http://{HOST}/api/machines?");
                assert!(link.starts_with(&prefix), "absolute link: {link}");
                assert!(link.contains(&format!("$skip={}", seen.len())), "{link}");
                assert!(link.contains("$top=120"), "{link}");
                uri = local(link);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, all, "pages concatenate to the whole list in order");

    let page = get(&app, "/api/machines?$top=10&$skip=295")
        .await
        .into_json();
    assert_eq!(page["value"].as_array().map(Vec::len), Some(5));
    assert!(page.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn next_link_keeps_the_filter_and_server_page_size_caps_rows() {
    let app = router(&MockOptions {
        page_size: 40,
        ..unlimited()
    });
    let filter = "onboardingStatus eq 'Onboarded'";
    let answer = get(&app, &filter_uri(filter)).await;
    let body = answer.json();
    assert_eq!(body["value"].as_array().map(Vec::len), Some(40));
    let link = body["@odata.nextLink"].as_str().expect("nextLink");
    assert!(
        link.contains("$filter=onboardingStatus%20eq%20'Onboarded'"),
        "{link}"
    );
    assert!(link.ends_with("$skip=40"), "{link}");
    let next = get(&app, &local(link)).await.into_json();
    let ids: Vec<&str> = next["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|m| text(m, "onboardingStatus"))
        .collect();
    assert!(ids.iter().all(|s| *s == "Onboarded"));
}

#[tokio::test]
async fn without_next_link_the_client_pages_by_skip_until_404() {
    let app = router(&MockOptions {
        next_link: false,
        page_size: 100,
        ..unlimited()
    });
    let mut total = 0;
    let mut skip = 0;
    loop {
        let answer = get(&app, &format!("/api/machines?$top=100&$skip={skip}")).await;
        if answer.status == StatusCode::NOT_FOUND {
            answer.assert_error(StatusCode::NOT_FOUND, "NotFound", "past the end");
            break;
        }
        let body = answer.json();
        assert!(body.get("@odata.nextLink").is_none());
        let n = body["value"].as_array().map_or(0, Vec::len);
        total += n;
        skip += n;
    }
    assert_eq!(total, 300);
    assert_eq!(
        skip, 300,
        "300 is a multiple of 100: the ugly 404 ends the loop"
    );
}

#[tokio::test]
async fn top_out_of_range_is_400() {
    let app = app();
    for (uri, code) in [
        ("/api/machines?$top=0", "InvalidInput"),
        ("/api/machines?$top=10001", "InvalidInput"),
        ("/api/machines?$top=abc", "ODataError"),
        ("/api/machines?$skip=-3", "ODataError"),
    ] {
        get(&app, uri)
            .await
            .assert_error(StatusCode::BAD_REQUEST, code, uri);
    }
    assert_eq!(
        get(&app, "/api/machines?$top=10000").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn empty_result_is_the_documented_404() {
    let answer = get(&app(), &filter_uri("computerDnsName eq 'no-such-host'")).await;
    answer.assert_error(StatusCode::NOT_FOUND, "NotFound", "no match");
    assert_eq!(answer.error_message(), "No recent machines found");
}

#[tokio::test]
async fn single_machine_by_id_or_name_and_unknown_404() {
    let app = app();
    let all = all_machines(&app).await;
    let first = &all[0];
    let by_id = get(&app, &format!("/api/machines/{}", text(first, "id"))).await;
    assert_eq!(by_id.status, StatusCode::OK);
    let body = by_id.json();
    assert_eq!(body["id"], first["id"]);
    assert_eq!(
        body["@odata.context"],
        "https://api.securitycenter.microsoft.com/api/$metadata#Machines/$entity"
    );
    let name = text(first, "computerDnsName").to_uppercase();
    assert_eq!(
        get(&app, &format!("/api/machines/{name}")).await.json()["id"],
        first["id"]
    );

    let unknown = get(&app, "/api/machines/nope").await;
    unknown.assert_error(StatusCode::NOT_FOUND, "NotFound", "unknown id");
    assert_eq!(unknown.error_message(), "Machine nope was not found");

    let missing_by_name = get(&app, &format!("/api/machines/{name}/getmissingkbs")).await;
    assert_eq!(
        missing_by_name.status,
        StatusCode::NOT_FOUND,
        "getmissingkbs takes ids only"
    );
    let unknown_id = "0".repeat(40);
    let missing = get(&app, &format!("/api/machines/{unknown_id}/getmissingkbs")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.error_message(),
        format!("Machine {unknown_id} was not found")
    );
}

#[tokio::test]
async fn requests_without_a_bearer_token_are_401() {
    let app = app();
    for headers in [
        vec![],
        vec![("authorization", "Bearer ")],
        vec![("authorization", "Basic dXNlcjpwYXNz")],
        vec![("authorization", "token-without-scheme")],
    ] {
        let answer = send(
            &app,
            request(Method::GET, "/api/machines", &headers, Body::empty()),
        )
        .await;
        answer.assert_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            &format!("{headers:?}"),
        );
    }
    // Admin endpoints need none.
    let stats = admin(&app, Method::GET, "/_mock/stats").await;
    assert_eq!(stats.status, StatusCode::OK);
}

/// Expected status and (for JSON errors) code of each fault answering on its own.
fn status_faults() -> Vec<(&'static str, StatusCode, &'static str)> {
    vec![
        ("unauthorized", StatusCode::UNAUTHORIZED, "Unauthorized"),
        ("forbidden", StatusCode::FORBIDDEN, "Forbidden"),
        ("not_found", StatusCode::NOT_FOUND, "NotFound"),
        (
            "throttle;retry_after=3",
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
        ),
        (
            "server_error",
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
        ),
        ("bad_request", StatusCode::BAD_REQUEST, "ODataError"),
    ]
}

#[tokio::test]
async fn error_faults_answer_with_status_and_error_body() {
    let app = app();
    for (fault, status, code) in status_faults() {
        get_with(&app, "/api/machines", &[("x-mock-fault", fault)])
            .await
            .assert_error(status, code, fault);
    }
    let forbidden = get_with(&app, "/api/machines", &[("x-mock-fault", "forbidden")]).await;
    assert_eq!(
        forbidden.error_message(),
        "Missing application roles. API required roles: Software.Read.All. Application roles: ."
    );
    let throttled = get_with(
        &app,
        "/api/machines",
        &[("x-mock-fault", "throttle;retry_after=3")],
    )
    .await;
    assert_eq!(throttled.header("retry-after"), Some("3"));
    let id = "a".repeat(40);
    let not_found = get_with(
        &app,
        &format!("/api/machines/{id}/getmissingkbs"),
        &[("x-mock-fault", "404")],
    )
    .await;
    assert_eq!(
        not_found.error_message(),
        format!("Machine {id} was not found")
    );
}

#[tokio::test]
async fn body_faults_break_the_body_as_described() {
    let app = app();
    let first = first_id(&app).await;
    let kbs_uri = format!("/api/machines/{first}/getmissingkbs");

    for (fault, status) in [("bad_gateway_html", 502), ("service_unavailable_html", 503)] {
        let answer = get_with(&app, &kbs_uri, &[("x-mock-fault", fault)]).await;
        assert_eq!(answer.status.as_u16(), status);
        assert!(answer
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/html")));
        assert!(
            String::from_utf8_lossy(&answer.body).contains("<html")
                || String::from_utf8_lossy(&answer.body).contains("<HTML")
        );
    }

    let empty = get_with(&app, &kbs_uri, &[("x-mock-fault", "empty_body")]).await;
    assert_eq!((empty.status, empty.body.len()), (StatusCode::OK, 0));

    let malformed = get_with(&app, &kbs_uri, &[("x-mock-fault", "malformed_json")]).await;
    assert_eq!(malformed.status, StatusCode::OK);
    assert!(serde_json::from_slice::<Value>(&malformed.body).is_err());
    assert!(malformed.body.starts_with(br#"{"value": ["#));

    let normal = get(&app, &kbs_uri).await;
    let truncated = get_with(&app, &kbs_uri, &[("x-mock-fault", "truncated_json")]).await;
    assert_eq!(truncated.status, StatusCode::OK);
    assert_eq!(truncated.body, normal.body[..normal.body.len() / 2]);
    assert!(serde_json::from_slice::<Value>(&truncated.body).is_err());

    let extra = get_with(&app, &kbs_uri, &[("x-mock-fault", "extra_fields")])
        .await
        .into_json();
    assert!(extra.get("mockExtraText").is_some(), "envelope gets extras");
    let kbs = extra["value"].as_array().expect("value");
    assert!(!kbs.is_empty());
    for kb in kbs {
        assert!(kb.get("mockExtraObject").is_some());
        assert!(kb["id"].is_string(), "known fields stay");
    }

    let nulls = get_with(&app, &kbs_uri, &[("x-mock-fault", "nulls")])
        .await
        .into_json();
    for kb in nulls["value"].as_array().expect("value") {
        assert!(
            kb.as_object().expect("object").values().all(Value::is_null),
            "{kb}"
        );
    }
    let machine_nulls = get_with(&app, "/api/machines", &[("x-mock-fault", "nulls")])
        .await
        .into_json();
    let machines = machine_nulls["value"].as_array().expect("value");
    assert_eq!(machines.len(), 300);
    assert!(machines
        .iter()
        .all(|m| m["id"].is_null() && m["computerDnsName"].is_null()));

    let value_null = get_with(&app, &kbs_uri, &[("x-mock-fault", "value_null")])
        .await
        .into_json();
    assert!(value_null["value"].is_null() && value_null.get("value").is_some());

    let wrong = get_with(&app, &kbs_uri, &[("x-mock-fault", "wrong_shape")])
        .await
        .into_json();
    assert_eq!(wrong["value"], json!({ "oops": 1 }));
}

#[tokio::test(start_paused = true)]
async fn slow_fault_delays_then_answers_normally() {
    let app = app();
    let start = tokio::time::Instant::now();
    let answer = get_with(
        &app,
        "/api/machines?$top=1",
        &[("x-mock-fault", "slow;ms=1500")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["value"].as_array().map(Vec::len), Some(1));
    assert!(start.elapsed() >= std::time::Duration::from_millis(1500));
}

#[tokio::test]
async fn query_parameter_fault_and_unknown_fault_names() {
    let app = app();
    let answer = get(&app, "/api/machines?mock_fault=server_error").await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.header("x-mock-fault-applied"), Some("server_error"));
    get_with(&app, "/api/machines", &[("x-mock-fault", "explode")])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "InvalidInput", "unknown fault");
    assert_eq!(
        get(&app, "/api/machines?$top=1").await.status,
        StatusCode::OK,
        "one request only"
    );
}

#[tokio::test]
async fn admin_fault_rules_match_paths_and_run_out() {
    let app = app();
    let rule =
        r#"{"kind":"throttle","retry_after_secs":3,"path_contains":"getmissingkbs","count":2}"#;
    let post = admin_post(&app, "/_mock/faults", rule).await;
    assert_eq!(post.status, StatusCode::CREATED);
    let listed = admin(&app, Method::GET, "/_mock/faults").await.into_json();
    assert_eq!(
        listed["faults"],
        json!([{"kind":"throttle","retry_after_secs":3,"path_contains":"getmissingkbs","count":2}])
    );

    let first = first_id(&app).await;
    let kbs_uri = format!("/api/machines/{first}/getmissingkbs");
    assert_eq!(
        get(&app, "/api/machines?$top=1").await.status,
        StatusCode::OK,
        "other path untouched"
    );
    for _ in 0..2 {
        let answer = get(&app, &kbs_uri).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.header("retry-after"), Some("3"));
    }
    assert_eq!(
        get(&app, &kbs_uri).await.status,
        StatusCode::OK,
        "count used up"
    );

    admin_post(&app, "/_mock/faults", r#"{"kind":"nope"}"#)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "InvalidRequestBody", "kind nope");

    admin_post(&app, "/_mock/faults", r#"{"kind":"forbidden"}"#).await;
    assert_eq!(get(&app, &kbs_uri).await.status, StatusCode::FORBIDDEN);
    let cleared = admin(&app, Method::DELETE, "/_mock/faults")
        .await
        .into_json();
    assert_eq!(cleared["cleared"], 1);
    assert_eq!(get(&app, &kbs_uri).await.status, StatusCode::OK);
}

#[tokio::test]
async fn startup_faults_from_options() {
    let opts = MockOptions {
        faults: vec![
            FaultRule {
                kind: FaultKind::ServerError,
                path_contains: None,
                remaining: Some(1),
            },
            "wrong_shape:getmissingkbs".parse().expect("rule"),
            // Rules see the full path, `/api` prefix included.
            "not_found:/api/machines/fin-:1".parse().expect("rule"),
        ],
        ..unlimited()
    };
    let app = router(&opts);
    assert_eq!(
        get(&app, "/api/machines").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let first = first_id(&app).await;
    let answer = get(&app, &format!("/api/machines/{first}/getmissingkbs"))
        .await
        .into_json();
    assert_eq!(answer["value"], json!({"oops": 1}));
    let by_name = get(&app, "/api/machines/fin-ws-0001.contoso.local").await;
    assert_eq!(by_name.status, StatusCode::NOT_FOUND);
    assert_eq!(by_name.header("x-mock-fault-applied"), Some("not_found"));
}

#[tokio::test]
async fn rate_limit_per_token_with_retry_after() {
    let app = router(&MockOptions {
        rate_per_minute: 3,
        ..MockOptions::default()
    });
    let retry = refused_after(&app, "/api/machines?$top=1", 3)
        .await
        .retry_after();
    assert!((1..=60).contains(&retry), "{retry}");

    let other = get_as(&app, "/api/machines?$top=1", "someone-else").await;
    assert_eq!(other.status, StatusCode::OK, "limits are per token");

    admin(&app, Method::POST, "/_mock/reset").await;
    assert_eq!(
        get(&app, "/api/machines?$top=1").await.status,
        StatusCode::OK,
        "reset clears windows"
    );
}

/// Each endpoint's budget nests in the global one: a call must fit both.
#[tokio::test]
async fn endpoint_budgets_nest_inside_the_global_budget() {
    let app = router(&MockOptions {
        rate_per_minute: 3,
        endpoint_rate_per_minute: Some(2),
        ..MockOptions::default()
    });
    let refused = refused_after(&app, "/api/Software", 2).await;
    assert!((1..=60).contains(&refused.retry_after()));
    // The endpoint's budget is spent, the global one has room for one more call elsewhere.
    assert_eq!(
        get(&app, "/api/machines?$top=1").await.status,
        StatusCode::OK
    );
    let over = get(&app, "/api/machines?$top=1").await;
    over.assert_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "global");
    let stats = admin(&app, Method::GET, "/_mock/stats").await.into_json();
    let limits = &stats["rate_limits"];
    assert_eq!(limits["over_limit"], 2);
    assert_eq!(limits["budgets"]["default"]["calls"], 3);
    assert_eq!(limits["budgets"]["default"]["over_limit"], 1);
    assert_eq!(limits["budgets"]["default"]["max_per_minute"], 5);
    let software = &limits["endpoints"]["/api/Software"];
    assert_eq!(
        (software["calls"].as_u64(), software["over_limit"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(software["per_minute"], 2);
    let machines = &limits["endpoints"]["/api/machines"];
    assert_eq!(
        (machines["calls"].as_u64(), machines["over_limit"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(stats["endpoints"]["/api/Software"]["throttled"], 1);
    assert_eq!(stats["endpoints"]["/api/machines"]["statuses"]["429"], 1);
}

#[tokio::test]
async fn hourly_limit_applies_too() {
    let app = router(&MockOptions {
        rate_per_minute: 0,
        rate_per_hour: 2,
        ..MockOptions::default()
    });
    let retry = refused_after(&app, "/api/machines?$top=1", 2)
        .await
        .retry_after();
    assert!(retry > 60 && retry <= 3600, "{retry}");
}

fn preflight(uri: &str) -> Request<Body> {
    request(
        Method::OPTIONS,
        uri,
        &[
            ("origin", "http://localhost:8080"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "authorization"),
        ],
        Body::empty(),
    )
}

#[tokio::test]
async fn cors_on_answers_preflights_and_exposes_retry_after() {
    let app = router(&MockOptions {
        cors: true,
        ..unlimited()
    });
    let answer = send(&app, preflight("/api/machines")).await;
    assert!(answer.status.is_success());
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    let allowed = answer
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    let throttled = get_with(
        &app,
        "/api/machines",
        &[("origin", "http://localhost:8080"), ("x-mock-fault", "429")],
    )
    .await;
    assert_eq!(throttled.header("access-control-allow-origin"), Some("*"));
    let exposed = throttled
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");

    let stats = send(
        &app,
        request(
            Method::GET,
            "/_mock/stats",
            &[("origin", "http://localhost:8080")],
            Body::empty(),
        ),
    )
    .await;
    assert_eq!(stats.header("access-control-allow-origin"), Some("*"));
    assert_eq!(stats.json()["preflights"], 1);
}

#[tokio::test]
async fn cors_off_sends_no_cors_headers() {
    let app = app();
    let answer = send(&app, preflight("/api/machines")).await;
    assert!(answer.header("access-control-allow-origin").is_none());
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "a preflight carries no token"
    );
    let normal = get_with(
        &app,
        "/api/machines?$top=1",
        &[("origin", "http://localhost:8080")],
    )
    .await;
    assert!(normal.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn stats_count_calls_per_path_and_reset() {
    let app = app();
    let first = first_id(&app).await;
    for _ in 0..3 {
        get(&app, &format!("/api/machines/{first}/getmissingkbs")).await;
    }
    // Without a token: a 401 the stats count too.
    send(
        &app,
        request(Method::GET, "/api/machines", &[], Body::empty()),
    )
    .await;
    let stats = admin(&app, Method::GET, "/_mock/stats").await.into_json();
    assert_eq!(stats["total"], 5);
    assert_eq!(
        stats["paths"][format!("/api/machines/{first}/getmissingkbs")],
        3
    );
    assert_eq!(stats["routes"]["/api/machines/{id}/getmissingkbs"], 3);
    assert_eq!(stats["routes"]["/api/machines"], 2);
    assert_eq!(stats["statuses"]["200"], 4);
    assert_eq!(stats["statuses"]["401"], 1);
    assert_eq!(
        stats["endpoints"]["/api/machines/{id}/getmissingkbs"],
        json!({"calls": 3, "statuses": {"200": 3}, "throttled": 0})
    );
    assert_eq!(
        stats["endpoints"]["/api/machines"],
        json!({"calls": 2, "statuses": {"200": 1, "401": 1}, "throttled": 0})
    );
    get(&app, "/api/Software/microsoft-_-edge/getmissingkbs").await;
    get(&app, "/api/nothing").await;
    let stats = admin(&app, Method::GET, "/_mock/stats").await.into_json();
    assert_eq!(stats["routes"]["/api/Software/{id}/getmissingkbs"], 1);
    assert_eq!(stats["endpoints"]["other"]["statuses"]["404"], 1);

    admin(&app, Method::POST, "/_mock/reset").await;
    let stats = admin(&app, Method::GET, "/_mock/stats").await.into_json();
    assert_eq!(stats["total"], 0);
}

#[tokio::test]
async fn unknown_api_path_is_a_json_404() {
    get(&app(), "/api/vulnerabilities").await.assert_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "no such route",
    );
}
