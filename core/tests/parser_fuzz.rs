//! Fuzzing of every parser that reads outside input (issue 6): API bodies (`ODataPage` of
//! updates, devices, software and vulnerability rows, error bodies), `config.json`, the URL
//! query, device and software references that become path segments, values quoted into an
//! OData `$filter`, pasted tokens, and `@odata.nextLink`. Arbitrary bytes and strings, and JSON that is
//! well-formed but hostile (wrong types, nulls, markup, huge numbers, 20,000-character strings,
//! deep nesting), must give errors or safe values — never a panic.
//!
//! Beyond "no panic", each test checks the invariant the app relies on, e.g. a parsed device ID
//! is 40 lowercase hex digits, a catalog link is https on the catalog host, a config's API base
//! can never point a same-origin path at another host, a rebased nextLink stays on the API base.
//!
//! `PROPTEST_CASES=10000 cargo test -p kbwatch-core --test tests parser_fuzz` for a longer run.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kbwatch_core::api_error::ApiError;
use kbwatch_core::config::{ApiBase, AuthMode};
use kbwatch_core::endpoints::odata_string;
use kbwatch_core::fallback::kbs_from_vulnerabilities;
use kbwatch_core::fleet::bulk::MachineVulnerability;
use kbwatch_core::odata::{next_page, NextPage};
use kbwatch_core::overview::ProductOverview;
use kbwatch_core::token_info::TokenInfo;
use kbwatch_core::{
    AppConfig, Device, DeviceRef, Endpoints, ErrorDetail, KbId, MachineQuery, MissingKb, ODataPage,
    PageRequest, Software, SoftwareId, ViewState,
};
use proptest::prelude::*;
use serde_json::{Map, Value};
use url::Url;

// --- strategies ------------------------------------------------------------------------------

/// Strings an attacker or a broken gateway would send.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\PC{0,24}",
        2 => any::<String>(),
        1 => "[0-9a-fA-F]{38,42}",
        1 => "(KB)?[0-9]{0,12}",
        1 => "[ -~]{0,40}",
        1 => prop::sample::select(vec![
            "", " ", "null", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
            "javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
            "\u{202e}gnp.exe", "zero\u{200b}width", "\u{feff}", "\0", "../../etc/passwd",
            "..%2F..%2F", "%00", "//evil.example/x", "https://evil@catalog.update.microsoft.com/",
            "https://catalog.update.microsoft.com.evil.example/x",
            "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB5044285",
            "http://catalog.update.microsoft.com/x", "https://catalog.update.microsoft.com:444/x",
            "2024-10-20T10:15:00Z", "2024-13-45T99:99:99Z", "+275760-09-13T00:00:00Z",
            "-1", "4294967296", "1e400", "NaN",
        ])
        .prop_map(str::to_owned),
        1 => (0usize..20_000, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN/inf become null
        prop::sample::select(vec![
            0i64,
            -1,
            1,
            i64::from(u32::MAX),
            i64::from(u32::MAX) + 1
        ])
        .prop_map(Value::from),
    ]
}

/// Keys of the documented shapes mixed with random ones, so records hit the real fields.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "id", "name", "productsNames", "url", "machineMissedOn", "cveAddressed",
            "computerDnsName", "firstSeen", "lastSeen", "osPlatform", "version", "osBuild",
            "osArchitecture", "healthStatus", "riskScore", "exposureLevel", "deviceValue",
            "onboardingStatus", "rbacGroupName", "machineTags", "lastIpAddress", "value",
            "@odata.nextLink", "@odata.context", "error", "code", "message", "target",
            "__proto__", "constructor", "vendor", "weaknesses", "publicExploit", "activeAlert",
            "exposedMachines", "impactScore", "cveId", "machineId", "fixingKbId", "productName",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,10}",
    ]
}

/// Any JSON value, hostile leaves, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object with some of `keys` (hostile values) plus random extra keys.
fn object_with(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec((prop::sample::select(keys), json()), 0..keys.len() + 1),
        prop::collection::vec((key(), json()), 0..3),
    )
        .prop_map(|(known, extra)| {
            let mut map = Map::new();
            for (k, v) in extra {
                map.insert(k, v);
            }
            for (k, v) in known {
                map.insert(k.to_owned(), v);
            }
            Value::Object(map)
        })
}

/// URLs a sign-in setting could hold: the clouds' sign-in hosts, look-alikes, other ports,
/// credentials, the e2e mock's host, and anything else.
fn sign_in_url() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "https://login.microsoftonline.com/contoso.onmicrosoft.com",
            "https://login.microsoftonline.us/t", "https://LOGIN.microsoftonline.com/t",
            "https://login.microsoftonline.com:443/t", "https://login.microsoftonline.com:8443/t",
            "https://login.microsoftonline.com.evil.example/t", "https://evil.example/t",
            "https://:pw@login.microsoftonline.com/t", "https://user@login.microsoftonline.com/t",
            "https://u:pw@login.microsoftonline.us/t", "http://login.microsoftonline.com/t",
            "https://127.0.0.1:8443/t", "https://login.microsoftonline.com/t?x=1",
            "https://login.microsoftonline.com\\@evil.example/t", "/redirect.html",
            "https://kb.example/redirect.html", "https://:pw@kb.example/redirect.html",
        ])
        .prop_map(str::to_owned),
        1 => hostile_string(),
    ]
}

/// An `auth` section in msal mode whose IDs are valid, so the sign-in settings decide.
fn msal_section() -> impl Strategy<Value = Value> {
    let host = prop_oneof![
        3 => prop::sample::select(vec![
            "login.microsoftonline.com", "login.microsoftonline.us", "LOGIN.MICROSOFTONLINE.COM",
            "127.0.0.1:8443", "evil.example", "login.microsoftonline.com.evil.example", "",
        ])
        .prop_map(str::to_owned),
        1 => hostile_string(),
    ];
    let endpoints = prop::collection::vec(
        (
            prop::sample::select(vec![
                "issuer",
                "authorization_endpoint",
                "token_endpoint",
                "end_session_endpoint",
                "jwks_uri",
                "userinfo_endpoint",
            ]),
            prop_oneof![3 => sign_in_url().prop_map(Value::String), 1 => json()],
        ),
        0..6,
    )
    .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    let metadata = prop_oneof![
        3 => endpoints.clone(),
        1 => endpoints.prop_map(|m| Value::String(m.to_string())),
        1 => json(),
    ];
    (
        prop::option::of(sign_in_url()),
        prop::option::of(sign_in_url()),
        prop::option::of(prop_oneof![
            3 => prop::collection::vec(host.prop_map(Value::String), 0..3).prop_map(Value::Array),
            1 => json(),
        ]),
        prop::option::of(metadata),
        prop::option::of(prop_oneof![3 => any::<bool>().prop_map(Value::Bool), 1 => json()]),
    )
        .prop_map(|(authority, redirect_uri, known, metadata, allow_any)| {
            let mut auth = serde_json::json!({
                "mode": "msal",
                "tenantId": "contoso.onmicrosoft.com",
                "clientId": "11111111-2222-3333-4444-555555555555",
            });
            for (key, value) in [
                ("authority", authority.map(Value::String)),
                ("redirectUri", redirect_uri.map(Value::String)),
                ("knownAuthorities", known),
                ("authorityMetadata", metadata),
                ("testOnlyAllowAnyAuthority", allow_any),
            ] {
                if let Some(value) = value {
                    auth[key] = value;
                }
            }
            auth
        })
}

const KB_FIELDS: &[&str] = &[
    "id",
    "name",
    "productsNames",
    "url",
    "machineMissedOn",
    "cveAddressed",
];
const DEVICE_FIELDS: &[&str] = &[
    "id",
    "computerDnsName",
    "firstSeen",
    "lastSeen",
    "osPlatform",
    "version",
    "osBuild",
    "osArchitecture",
    "healthStatus",
    "riskScore",
    "exposureLevel",
    "deviceValue",
    "onboardingStatus",
    "rbacGroupName",
    "machineTags",
    "lastIpAddress",
];

const SOFTWARE_FIELDS: &[&str] = &[
    "id",
    "name",
    "vendor",
    "weaknesses",
    "publicExploit",
    "activeAlert",
    "exposedMachines",
    "impactScore",
];
const VULNERABILITY_FIELDS: &[&str] = &[
    "id",
    "cveId",
    "machineId",
    "fixingKbId",
    "productName",
    "productVendor",
    "productVersion",
    "severity",
];

/// An OData envelope whose `value` is usually a list of records shaped like `fields`.
fn envelope(fields: &'static [&'static str]) -> impl Strategy<Value = String> {
    let value = prop_oneof![
        6 => prop::collection::vec(
            prop_oneof![4 => object_with(fields), 1 => json()],
            0..12,
        )
        .prop_map(Value::Array),
        1 => json(),
    ];
    (
        proptest::option::of(value),
        proptest::option::of(json()),
        prop::collection::vec((key(), json()), 0..3),
    )
        .prop_map(|(value, next_link, extra)| {
            let mut map: Map<String, Value> = extra.into_iter().collect();
            map.insert("@odata.context".into(), Value::String("x".into()));
            if let Some(v) = value {
                map.insert("value".into(), v);
            }
            if let Some(l) = next_link {
                map.insert("@odata.nextLink".into(), l);
            }
            Value::Object(map).to_string()
        })
}

/// Arbitrary text: any string, or lossily decoded arbitrary bytes.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..256)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[\\[\\]{}\",:0-9a-z\\\\ ]{0,64}",
    ]
}

/// `%XX` escapes decoded (the inverse of a path segment's encoding, for ASCII).
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A prefix of `s` cut at a char boundary (truncated bodies).
fn cut(s: &str, at: usize) -> &str {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    &s[..at]
}

// --- invariants ------------------------------------------------------------------------------

fn check_kb(kb: &MissingKb) {
    assert!(!kb.id.is_empty() && kb.id.trim() == kb.id, "{kb:?}");
    let _ = (kb.label(), kb.cves(), kb.product_labels());
    if let Some(url) = kb.catalog_url() {
        let parsed = Url::parse(&url).expect("a catalog link is a URL");
        assert_eq!(parsed.scheme(), "https", "{url}");
        assert_eq!(
            parsed.host_str(),
            Some("catalog.update.microsoft.com"),
            "{url}"
        );
        assert!(
            parsed.username().is_empty() && parsed.password().is_none() && parsed.port().is_none(),
            "{url}"
        );
    }
    if let Some(url) = kb.support_url() {
        let number = url
            .strip_prefix("https://support.microsoft.com/help/")
            .expect("support links go to support.microsoft.com");
        assert!(
            !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()),
            "{url}"
        );
    }
}

fn check_device(device: &Device) {
    let id = device.id.as_str();
    assert!(
        id.len() == 40 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{id:?}"
    );
    let _ = (
        device.display_name(),
        device.os_summary(),
        device.is_windows(),
    );
}

fn check_page<T>(page: &ODataPage<T>, check: impl Fn(&T)) {
    assert_eq!(page.items.len() + page.skipped.len(), page.received);
    page.items.iter().for_each(check);
    if let Some(link) = &page.next_link {
        assert!(!link.trim().is_empty());
    }
}

/// Whatever a nextLink says, the next request goes to the API base's scheme, host and port and
/// to the same collection: the bearer token is never sent anywhere else.
fn check_next<T>(page: &ODataPage<T>) {
    for endpoint in [
        "https://api.security.microsoft.com/api/machines",
        "https://kbwatch.example/mde/api/machines",
    ] {
        let endpoint = Url::parse(endpoint).expect("endpoint");
        if let Ok(NextPage::Link(next)) = next_page(&endpoint, PageRequest::first(100), page) {
            assert_eq!(next.scheme(), endpoint.scheme(), "{next}");
            assert_eq!(next.host_str(), endpoint.host_str(), "{next}");
            assert_eq!(next.port(), endpoint.port(), "{next}");
            assert_eq!(next.path(), endpoint.path(), "{next}");
            assert!(
                next.username().is_empty() && next.password().is_none(),
                "{next}"
            );
        }
    }
}

fn check_software(software: &Software) {
    let id = software.id.as_str();
    assert!(!id.is_empty() && id.len() <= SoftwareId::MAX_LEN, "{id:?}");
    assert!(
        id.bytes()
            .all(|b| (b == b' ' || b.is_ascii_graphic()) && !b"/\\%?#".contains(&b)),
        "{id:?}"
    );
    assert!(software.impact_score.is_none_or(f64::is_finite));
    let _ = (software.is_microsoft(), software.product_name());
}

/// Vulnerability rows, whatever they hold, give KB lists and drill-downs that only name KB
/// numbers, link to the catalog, and account for every row.
fn check_rows(rows: &[MachineVulnerability]) {
    let found = kbs_from_vulnerabilities(rows);
    assert_eq!(found.rows, rows.len() as u64);
    assert!(found.rows_without_kb <= found.rows);
    for kb in &found.kbs {
        assert!(
            KbId::parse(&kb.id).is_some_and(|k| k.as_str() == kb.id),
            "{kb:?}"
        );
        check_kb(kb);
    }
    let mut overview = ProductOverview::new();
    let software: Software =
        serde_json::from_str(r#"{"id": "microsoft-_-windows_10"}"#).expect("software");
    overview.add_product(&software, &found.kbs);
    for kb in found.kbs.iter().filter_map(|kb| KbId::parse(&kb.id)) {
        let drill = overview.apply_drill_down(&kb, rows);
        assert_eq!(
            drill.rows,
            rows.len() as u64,
            "every row is read, used or counted as left out"
        );
        assert!(drill
            .devices
            .windows(2)
            .all(|w| w[0].machine_id < w[1].machine_id));
    }
    let _ = (overview.rows(), overview.tiles());
}

fn parse_both(body: &str) {
    match ODataPage::<MissingKb>::parse(body) {
        Ok(page) => {
            check_page(&page, check_kb);
            check_next(&page);
        }
        Err(e) => assert!(matches!(e, ApiError::Malformed(_)), "{e:?}"),
    }
    match ODataPage::<Device>::parse(body) {
        Ok(page) => {
            check_page(&page, check_device);
            check_next(&page);
        }
        Err(e) => assert!(matches!(e, ApiError::Malformed(_)), "{e:?}"),
    }
    match ODataPage::<Software>::parse(body) {
        Ok(page) => {
            check_page(&page, check_software);
            check_next(&page);
        }
        Err(e) => assert!(matches!(e, ApiError::Malformed(_)), "{e:?}"),
    }
    match ODataPage::<MachineVulnerability>::parse(body) {
        Ok(page) => {
            check_page(&page, |_| ());
            check_rows(&page.items);
        }
        Err(e) => assert!(matches!(e, ApiError::Malformed(_)), "{e:?}"),
    }
}

/// A page origin the app could be served from.
fn page_origin() -> Url {
    Url::parse("https://kbwatch.example/tools/kbwatch/").expect("origin")
}

/// Whether the config text turns the test-only setting on (read here from the input, not from
/// what the parser made of it).
fn allows_any_authority(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .is_ok_and(|v| v.pointer("/auth/testOnlyAllowAnyAuthority") == Some(&Value::Bool(true)))
}

/// No user name and no password.
fn no_credentials(url: &Url) {
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{url}"
    );
}

/// The sign-in coordinates: https without credentials, and on the cloud's sign-in host unless
/// the test setting is on.
fn check_msal(config: &AppConfig, any_authority: bool) {
    let AuthMode::Msal(msal) = &config.auth else {
        return;
    };
    let host = config.cloud.authority_host();
    let on_sign_in_host =
        |url: &Url| url.host_str() == Some(host) && url.port().is_none() && url.scheme() == "https";
    no_credentials(&msal.authority);
    assert_eq!(msal.authority.scheme(), "https", "{}", msal.authority);
    if let Some(uri) = msal
        .redirect_uri
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
    {
        no_credentials(&uri);
    }
    let metadata: Vec<Url> = msal
        .authority_metadata
        .as_deref()
        .map(|m| serde_json::from_str::<Value>(m).expect("accepted metadata is JSON"))
        .into_iter()
        .flat_map(|m| {
            [
                "issuer",
                "authorization_endpoint",
                "token_endpoint",
                "end_session_endpoint",
                "jwks_uri",
            ]
            .map(|k| {
                m.get(k)
                    .and_then(Value::as_str)
                    .map(|u| Url::parse(u).expect("an accepted endpoint is a URL"))
            })
        })
        .flatten()
        .collect();
    for url in &metadata {
        no_credentials(url);
        assert_eq!(url.scheme(), "https", "{url}");
    }
    if !any_authority {
        assert!(
            on_sign_in_host(&msal.authority),
            "{} in {:?}",
            msal.authority,
            config.cloud
        );
        for known in &msal.known_authorities {
            assert!(
                known.eq_ignore_ascii_case(host),
                "{known:?} in {:?}",
                config.cloud
            );
        }
        for url in &metadata {
            assert!(on_sign_in_host(url), "{url} in {:?}", config.cloud);
        }
    }
}

fn check_config(config: &AppConfig, any_authority: bool) {
    check_msal(config, any_authority);
    assert!(
        (1..=600).contains(&config.request_timeout_secs),
        "{config:?}"
    );
    assert!(
        (1..=10_000).contains(&config.device_page_size),
        "{config:?}"
    );
    let base = config.api_base.resolve(&page_origin());
    match &config.api_base {
        ApiBase::Absolute(url) => {
            let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            assert!(
                url.scheme() == "https" || (url.scheme() == "http" && local),
                "{url}"
            );
            no_credentials(url);
            assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
        }
        ApiBase::SameOrigin(path) => {
            // A same-origin path can never lead to another origin.
            assert_eq!(base.origin(), page_origin().origin(), "{path:?} → {base}");
        }
    }
    // Every request URL stays on the resolved base's origin.
    let endpoints = Endpoints::new(base.clone());
    for url in [
        endpoints.machines(MachineQuery::default(), PageRequest::first(100)),
        endpoints.machines_collection(),
    ] {
        assert_eq!(url.origin(), base.origin(), "{url}");
    }
}

// --- the fuzz tests --------------------------------------------------------------------------

/// 512 cases each, or `PROPTEST_CASES` when set.
fn config() -> ProptestConfig {
    let config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        config
    } else {
        ProptestConfig {
            cases: 512,
            ..config
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn odata_pages_from_arbitrary_text_never_panic(body in any_text()) {
        parse_both(&body);
    }

    #[test]
    fn odata_pages_of_hostile_updates_parse_safely(body in envelope(KB_FIELDS), at in any::<usize>()) {
        parse_both(&body);
        parse_both(cut(&body, at));
    }

    #[test]
    fn odata_pages_of_hostile_devices_parse_safely(body in envelope(DEVICE_FIELDS), at in any::<usize>()) {
        parse_both(&body);
        parse_both(cut(&body, at));
    }

    #[test]
    fn odata_pages_of_hostile_software_parse_safely(body in envelope(SOFTWARE_FIELDS), at in any::<usize>()) {
        parse_both(&body);
        parse_both(cut(&body, at));
    }

    #[test]
    fn odata_pages_of_hostile_vulnerabilities_parse_safely(body in envelope(VULNERABILITY_FIELDS), at in any::<usize>()) {
        parse_both(&body);
        parse_both(cut(&body, at));
    }

    #[test]
    fn software_ids_are_safe_path_segments(input in prop_oneof![hostile_string(), any_text()]) {
        if let Ok(id) = SoftwareId::parse(&input) {
            // One path segment under /api/Software, on the API host, decoding to the ID.
            let base = Url::parse("https://api.security.microsoft.com/").expect("base");
            let url = Endpoints::new(base).software_missing_kbs(&id);
            assert_eq!(url.host_str(), Some("api.security.microsoft.com"));
            assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
            let segments: Vec<&str> = url.path_segments().map(Iterator::collect).unwrap_or_default();
            assert_eq!(segments.len(), 4, "{url}");
            assert_eq!((segments[0], segments[1], segments[3]), ("api", "Software", "getmissingkbs"));
            assert_eq!(percent_decoded(segments[2]), id.as_str(), "{url}");
        }
    }

    #[test]
    fn filter_values_cannot_leave_their_literal(vendor in prop_oneof![hostile_string(), any_text()]) {
        let base = Url::parse("https://api.security.microsoft.com/").expect("base");
        let url = Endpoints::new(base).software(Some(&vendor), PageRequest::first(10));
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs.len(), 2, "{url}");
        assert_eq!(pairs[0].0, "$filter");
        assert_eq!(pairs[1], ("$top".to_owned(), "10".to_owned()));
        let literal = pairs[0].1.strip_prefix("vendor eq ").expect("the filter's field");
        assert_eq!(literal, odata_string(&vendor));
        let inner = literal.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')).expect("quoted");
        // Every quote inside is doubled, so the literal ends only at its last character.
        assert!(inner.replace("''", "").find('\'').is_none(), "{literal}");
        assert_eq!(inner.replace("''", "'"), vendor);
    }

    #[test]
    fn error_bodies_never_panic(
        body in prop_oneof![
            any_text(),
            object_with(&["code", "message", "target"])
                .prop_map(|inner| serde_json::json!({ "error": inner }).to_string()),
            json().prop_map(|v| serde_json::json!({ "error": v }).to_string()),
        ],
        status in 100u16..600,
        retry_after in proptest::option::of(hostile_string()),
    ) {
        let _ = ErrorDetail::from_body(&body);
        let error = ApiError::from_response(status, retry_after.as_deref(), &body);
        let _ = (error.detail(), error.is_transient(), error.to_string());
        if let Some(wait) = error.auto_retry_after() {
            assert!(wait <= 3600, "{wait}");
        }
    }

    #[test]
    fn config_json_from_arbitrary_text_never_panics(text in any_text()) {
        if let Ok(config) = AppConfig::parse(&text) {
            check_config(&config, allows_any_authority(&text));
        }
    }

    #[test]
    fn hostile_config_json_is_validated(
        root in object_with(&["apiBase", "cloud", "region", "auth", "refresh", "devicePageSize", "fleet"]),
        // Half the roots hold only what is set below, so configs are accepted often enough
        // for the invariants to be checked.
        plain in any::<bool>(),
        auth in prop_oneof![
            (
                object_with(&[
                    "mode", "tenantId", "clientId", "authority", "scope", "redirectUri",
                    "cacheLocation", "knownAuthorities", "authorityMetadata",
                    "tokenRenewalOffsetSeconds", "testOnlyAllowAnyAuthority",
                ]),
                prop::sample::select(vec!["demo", "token", "msal", "MSAL", ""]),
            )
                .prop_map(|(mut auth, mode)| {
                    auth["mode"] = Value::String(mode.to_owned());
                    auth
                }),
            msal_section(),
        ],
        cloud in prop::option::of(prop::sample::select(vec!["commercial", "gcc", "gcc-high", "dod"])),
        refresh in object_with(&["requestTimeoutSeconds", "autoRefreshMinutes"]),
        fleet in object_with(&["perMinute", "perHour", "concurrency", "maxAgeMinutes"]),
        api_base in prop_oneof![
            hostile_string(),
            prop::sample::select(vec![
                "/mde", "/mde/", "/", "//evil.example", "/\t/evil.example", "/\\evil.example",
                "/%2e%2e/x", "/mde/../x", "/mde?x=1", "/mde#x", "https://api.security.microsoft.com",
                "https://user:pw@api.security.microsoft.com", "https://:pw@api.security.microsoft.com",
                "http://:pw@127.0.0.1:8787", "http://api.security.microsoft.com",
                "http://127.0.0.1:8787", "http://localhost.evil.example", "http://[::1]:80/",
                "http://127.0.0.1.evil.example", "javascript:alert(1)", "data:,x", "file:///etc",
                "https://api.security.microsoft.com/?q=1", " https://x.example ",
            ])
            .prop_map(str::to_owned),
        ],
    ) {
        let mut root = if plain { Value::Object(Map::new()) } else { root };
        root["auth"] = auth;
        if let Some(cloud) = cloud {
            root["cloud"] = Value::String(cloud.to_owned());
        }
        root["apiBase"] = Value::String(api_base);
        if !plain && (root.get("refresh").is_some_and(Value::is_object) || refresh.as_object().is_some_and(|r| !r.is_empty())) {
            root["refresh"] = refresh;
        }
        if !plain && fleet.as_object().is_some_and(|f| !f.is_empty()) {
            root["fleet"] = fleet;
        }
        let text = root.to_string();
        if let Ok(config) = AppConfig::parse(&text) {
            check_config(&config, allows_any_authority(&text));
        }
    }

    #[test]
    fn url_queries_never_panic_and_normalise(
        query in prop_oneof![
            any_text(),
            prop::collection::vec(
                (
                    prop_oneof![
                        3 => prop::sample::select(vec![
                            "device", "all", "q", "os", "health", "risk", "exposure", "tag",
                            "group", "sort", "kbq", "product", "mincve", "kbsort", "view", "ftab",
                            "fq", "fproduct", "fmindev", "fmincve", "fsort", "fdq", "fdsort", "fkb",
                        ])
                        .prop_map(str::to_owned),
                        1 => "\\PC{0,6}",
                    ],
                    hostile_string(),
                ),
                0..10,
            )
            .prop_map(|pairs| {
                let mut s = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in pairs {
                    s.append_pair(&k, &v);
                }
                s.finish()
            }),
        ],
    ) {
        let (state, _ignored) = ViewState::from_query(&query);
        // What the app writes back into the address bar reads back the same, with nothing
        // reported as unreadable.
        let normal = state.to_query();
        let (again, ignored) = ViewState::from_query(&normal);
        prop_assert_eq!(&again, &state, "{} → {}", query, normal);
        prop_assert!(ignored.is_empty(), "{:?} from {}", ignored, normal);
    }

    #[test]
    fn device_references_are_safe_path_segments(input in prop_oneof![hostile_string(), any_text()]) {
        if let Ok(device) = DeviceRef::parse(&input) {
            let s = device.as_str();
            match &device {
                DeviceRef::Id(id) => {
                    assert!(id.as_str().len() == 40 && id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
                }
                DeviceRef::ComputerName(name) => {
                    assert!(!name.is_empty() && name.chars().count() <= 255, "{name:?}");
                    assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')), "{name:?}");
                    assert!(name.split('.').all(|part| !part.is_empty()), "{name:?}");
                }
            }
            // One path segment under /api/machines, on the API host.
            let base = Url::parse("https://api.security.microsoft.com/").expect("base");
            let url = Endpoints::new(base).machine(&device);
            assert_eq!(url.host_str(), Some("api.security.microsoft.com"));
            let segments: Vec<&str> = url.path_segments().map(Iterator::collect).unwrap_or_default();
            assert_eq!(segments, vec!["api", "machines", s], "{url}");
        }
    }

    #[test]
    fn pasted_tokens_never_panic(
        token in prop_oneof![
            any_text(),
            (json(), object_with(&[
                "preferred_username", "upn", "unique_name", "name", "appid", "aud", "scp",
                "roles", "tid", "exp",
            ]), any_text())
                .prop_map(|(header, claims, sig)| format!(
                    "{}.{}.{}",
                    URL_SAFE_NO_PAD.encode(header.to_string()),
                    URL_SAFE_NO_PAD.encode(claims.to_string()),
                    URL_SAFE_NO_PAD.encode(sig),
                )),
            "[A-Za-z0-9_=-]{0,20}\\.[A-Za-z0-9_=%.-]{0,40}\\.[A-Za-z0-9_.-]{0,20}",
        ],
        now in 0i64..=4_102_444_800,
    ) {
        if let Ok(info) = TokenInfo::decode(&token) {
            let _ = info.freshness(now);
        }
    }
}

/// Bodies no random generator finds on its own.
#[test]
fn deeply_nested_and_oversized_bodies_are_errors_not_crashes() {
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_value = format!(
        "{{\"value\": [{{\"id\": \"1\", \"name\": {}0{}}}]}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let deep_object = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let huge_number = r#"{"value": [{"id": "1", "cveAddressed": 1e400}]}"#.to_owned();
    let big_values = format!(
        r#"{{"value": [{{"id": "{0}", "name": "{0}", "url": "https://catalog.update.microsoft.com/{0}"}}]}}"#,
        "9".repeat(1_000_000)
    );
    for body in [
        &deep_array,
        &deep_value,
        &deep_object,
        &huge_number,
        &big_values,
    ] {
        parse_both(body);
        let _ = ErrorDetail::from_body(body);
        let _ = ApiError::from_response(502, Some(body), body);
        let _ = AppConfig::parse(body);
        let _ = TokenInfo::decode(&format!("e.{}.s", URL_SAFE_NO_PAD.encode(body)));
    }
    let deep_query = format!("device={}", "%25".repeat(100_000));
    let _ = ViewState::from_query(&deep_query);
    let _ = DeviceRef::parse(&"a.".repeat(100_000));
}

/// A nextLink may not carry the token to another host, scheme, port or collection.
#[test]
fn hostile_next_links_stay_on_the_api_base() {
    for link in [
        "https://evil.example/api/machines?$skip=100",
        "http://api.security.microsoft.com/api/machines?$skip=100",
        "https://api.security.microsoft.com:8443/api/machines?$skip=100",
        "https://user:pw@api.security.microsoft.com/api/machines?$skip=100",
        "//evil.example/api/machines?$skip=100",
        "javascript:alert(1)//api/machines",
        "https://api.security.microsoft.com/api/machines/../../evil?$skip=1",
        "https://api.security.microsoft.com/api/other?$skip=1",
        "/api/machines?$skip=100",
        "api/machines?$skip=100",
    ] {
        let body = serde_json::json!({ "value": [], "@odata.nextLink": link }).to_string();
        let page = ODataPage::<Device>::parse(&body).expect("an empty page");
        check_next(&page);
    }
}
