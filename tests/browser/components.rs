//! Browser tests of the components (wasm-bindgen-test in headless Chromium): mount a
//! component with data in signals, act through the DOM, yield to Leptos, assert on the DOM.

use kbwatch::components::config_problem::ConfigProblem;
use kbwatch::components::device_panel::DevicePanel;
use kbwatch::components::kb_panel::KbPanel;
use kbwatch::components::session::{SignInPage, TokenEntry, TokenStatus};
use kbwatch_core::config::StartupProblem;
use kbwatch_core::fallback::KbSource;
use kbwatch_core::sort::Sort;
use kbwatch_core::token_info::{PastedToken, TokenInfo};
use kbwatch_core::{
    ApiError, AppConfig, Cloud, Collection, Device, DeviceFilter, DeviceId, DeviceKbs,
    DeviceSortKey, ErrorDetail, KbFilter, KbSortKey, Loadable, MissingKb,
};
use leptos::mount::mount_to;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement};

use crate::dom::{all, choose, click, container, one, settle, text, type_into};

fn kb_ids(root: &Element) -> Vec<String> {
    all(root, "tr[data-testid=kb-row]")
        .iter()
        .map(|r| r.get_attribute("data-kb-id").unwrap())
        .collect()
}

fn kb(id: &str, name: &str, products: &[&str], cves: u32, url: Option<&str>) -> MissingKb {
    MissingKb {
        id: id.into(),
        name: Some(name.into()),
        products: products.iter().map(|p| p.to_string()).collect(),
        url: url.map(Into::into),
        machine_missed_on: Some(1),
        cve_addressed: Some(cves),
    }
}

fn device(n: u32, name: &str, os: &str) -> Device {
    serde_json::from_value(serde_json::json!({
        "id": format!("{n:040x}"),
        "computerDnsName": name,
        "osPlatform": os,
        "version": "22H2",
        "osBuild": 19045,
        "healthStatus": "Active",
        "riskScore": "Medium",
        "exposureLevel": "High",
        "lastSeen": "2026-11-20T08:00:00.1234567Z",
        "machineTags": ["Finance"],
    }))
    .unwrap()
}

fn sample_kbs() -> Vec<MissingKb> {
    vec![
        kb(
            "4540673",
            "March 2020 Security Updates",
            &["windows_10", "edge"],
            97,
            Some("https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673"),
        ),
        kb(
            "5044285",
            "October 2024 Security Updates",
            &["windows_10"],
            12,
            Some("javascript:alert(1)"),
        ),
        kb(
            "4552931",
            "May 2020 .NET Framework Update",
            &[".net_framework"],
            3,
            None,
        ),
    ]
}

fn loaded(kbs: Vec<MissingKb>) -> Loadable<DeviceKbs> {
    let mut state = Loadable::default();
    state.succeed(DeviceKbs {
        device: device(1, "fin-ws-0001.contoso.local", "Windows10"),
        kbs: Collection {
            items: kbs,
            skipped: vec![],
            pages: 1,
        },
        source: KbSource::MissingKbs,
    });
    state
}

/// A KB panel wired to local signals the way the dashboard wires it to the URL.
struct KbHarness {
    root: HtmlElement,
    data: RwSignal<Loadable<DeviceKbs>>,
    filter: RwSignal<KbFilter>,
    retries: RwSignal<u32>,
    /// The KB IDs the export button handed over, last click.
    exported: RwSignal<Option<Vec<String>>>,
    _mounted: leptos::mount::UnmountHandle<leptos::tachys::view::any_view::AnyViewState>,
}

fn mount_kb_panel(initial: Loadable<DeviceKbs>) -> KbHarness {
    let root = container();
    let data = RwSignal::new(initial);
    let filter = RwSignal::new(KbFilter::default());
    let sort = RwSignal::new(Sort::<KbSortKey>::default());
    let retries = RwSignal::new(0);
    let exported = RwSignal::new(None::<Vec<String>>);
    let mounted = mount_to(root.clone(), move || {
        view! {
            <KbPanel
                data
                requested=Signal::derive(|| Some("fin-ws-0001.contoso.local".to_owned()))
                filter
                sort
                on_filter=Callback::new(move |f| filter.set(f))
                on_sort=Callback::new(move |k| sort.update(|s| *s = s.toggled(k)))
                on_retry=Callback::new(move |()| retries.update(|n| *n += 1))
                on_export=Callback::new(move |kbs: Vec<MissingKb>| exported.set(Some(kbs.into_iter().map(|kb| kb.id).collect())))
                cloud=Cloud::Commercial
            />
        }
        .into_any()
    });
    KbHarness {
        root,
        data,
        filter,
        retries,
        exported,
        _mounted: mounted,
    }
}

#[wasm_bindgen_test]
async fn kb_table_renders_rows_from_data_most_cves_first() {
    let h = mount_kb_panel(loaded(sample_kbs()));
    settle().await;
    assert_eq!(kb_ids(&h.root), ["4540673", "5044285", "4552931"]);
    assert_eq!(
        text(&h.root, "[data-testid=kb-totals]"),
        "3 updates · 112 CVEs"
    );
    assert_eq!(
        text(&h.root, "[data-testid=device-header]"),
        "fin-ws-0001.contoso.local"
    );
    let products = text(&h.root, "tr[data-kb-id='4540673'] td:nth-child(3)");
    assert!(
        products.contains("Windows 10") && products.contains("Microsoft Edge"),
        "{products}"
    );
    let portal = one(&h.root, "[data-testid=portal-link]")
        .get_attribute("href")
        .unwrap();
    assert_eq!(
        portal,
        format!(
            "https://security.microsoft.com/machines/v2/{:040x}/overview",
            1
        )
    );
}

#[wasm_bindgen_test]
async fn the_device_export_hands_over_the_kbs_as_shown() {
    let h = mount_kb_panel(loaded(sample_kbs()));
    settle().await;
    click(&h.root, "[data-testid=export-device-kbs]");
    settle().await;
    assert_eq!(
        h.exported.get_untracked().as_deref(),
        Some(
            &[
                "4540673".to_owned(),
                "5044285".to_owned(),
                "4552931".to_owned()
            ][..]
        )
    );
    type_into(&one(&h.root, "input[data-testid=kb-search]"), "kb5044");
    settle().await;
    click(&h.root, "[data-testid=export-device-kbs]");
    settle().await;
    assert_eq!(
        h.exported.get_untracked().as_deref(),
        Some(&["5044285".to_owned()][..])
    );
    type_into(
        &one(&h.root, "input[data-testid=kb-search]"),
        "no such update",
    );
    settle().await;
    assert!(
        one(&h.root, "[data-testid=export-device-kbs]").has_attribute("disabled"),
        "nothing to export when nothing is shown"
    );
}

#[wasm_bindgen_test]
async fn text_filter_narrows_rows_and_totals() {
    let h = mount_kb_panel(loaded(sample_kbs()));
    settle().await;
    type_into(&one(&h.root, "input[data-testid=kb-search]"), "kb5044");
    settle().await;
    assert_eq!(h.filter.get_untracked().text, "kb5044");
    assert_eq!(kb_ids(&h.root), ["5044285"]);
    assert_eq!(
        text(&h.root, "[data-testid=kb-totals]"),
        "1 update · 12 CVEs (of 3 updates, 112 CVEs)"
    );

    type_into(
        &one(&h.root, "input[data-testid=kb-search]"),
        "no such update",
    );
    settle().await;
    assert!(kb_ids(&h.root).is_empty());
    assert!(one(&h.root, "[data-testid=kb-no-match]").is_connected());
}

#[wasm_bindgen_test]
async fn product_and_minimum_cve_filters_combine() {
    let h = mount_kb_panel(loaded(sample_kbs()));
    settle().await;
    choose(
        &one(&h.root, "select[data-testid=kb-product]"),
        "windows_10",
    );
    settle().await;
    assert_eq!(kb_ids(&h.root), ["4540673", "5044285"]);
    type_into(&one(&h.root, "input[data-testid=kb-min-cve]"), "50");
    settle().await;
    assert_eq!(kb_ids(&h.root), ["4540673"]);
    assert_eq!(h.filter.get_untracked().min_cves, Some(50));
}

#[wasm_bindgen_test]
async fn clicking_headers_sorts_and_flips() {
    let h = mount_kb_panel(loaded(sample_kbs()));
    settle().await;
    let kb_header = || one(&h.root, "th[data-sort-key=kb] button").unchecked_into::<HtmlElement>();
    kb_header().click();
    settle().await;
    assert_eq!(kb_ids(&h.root), ["5044285", "4552931", "4540673"]);
    assert_eq!(
        one(&h.root, "th[data-sort-key=kb]")
            .get_attribute("aria-sort")
            .as_deref(),
        Some("descending")
    );
    kb_header().click();
    settle().await;
    assert_eq!(kb_ids(&h.root), ["4540673", "4552931", "5044285"]);
    one(&h.root, "th[data-sort-key=name] button")
        .unchecked_into::<HtmlElement>()
        .click();
    settle().await;
    assert_eq!(kb_ids(&h.root), ["4540673", "4552931", "5044285"]);
    assert_eq!(
        one(&h.root, "th[data-sort-key=kb]")
            .get_attribute("aria-sort")
            .as_deref(),
        Some("none")
    );
}

#[wasm_bindgen_test]
async fn catalog_links_use_safe_api_urls_only() {
    let h = mount_kb_panel(loaded(sample_kbs()));
    settle().await;
    let href = |id: &str| {
        one(
            &h.root,
            &format!("tr[data-kb-id='{id}'] a[data-testid=kb-link]"),
        )
        .get_attribute("href")
        .unwrap()
    };
    assert_eq!(
        href("4540673"),
        "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673"
    );
    assert_eq!(
        href("5044285"),
        "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB5044285"
    );
    assert_eq!(
        href("4552931"),
        "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4552931"
    );
    for link in all(&h.root, "a[target=_blank]") {
        assert_eq!(
            link.get_attribute("rel").as_deref(),
            Some("noopener noreferrer")
        );
    }
}

#[wasm_bindgen_test]
async fn markup_in_api_data_renders_as_text() {
    let hostile = "<script>window.__kbwatch_pwned = 1</script><img src=x onerror=alert(1)>";
    let h = mount_kb_panel(loaded(vec![kb(
        "<b>1</b>",
        hostile,
        &["<i>x</i>"],
        1,
        Some("data:text/html,hi"),
    )]));
    settle().await;
    assert_eq!(text(&h.root, "td.update-name"), hostile);
    let table = one(&h.root, "[data-testid=kb-table]");
    assert!(all(&table, "script, img, b, i").is_empty());
    assert!(
        all(&table, "a[data-testid=kb-link]").is_empty(),
        "no link without a KB number"
    );
    assert_eq!(text(&h.root, "[data-testid=kb-label]"), "<b>1</b>");
    let pwned = js_sys::Reflect::get(&js_sys::global(), &"__kbwatch_pwned".into()).unwrap();
    assert!(pwned.is_undefined());
}

#[wasm_bindgen_test]
async fn api_error_shows_its_details_while_earlier_rows_remain() {
    let h = mount_kb_panel(loaded(sample_kbs()));
    settle().await;
    assert_eq!(kb_ids(&h.root).len(), 3);
    h.data.update(|d| d.start());
    settle().await;
    assert_eq!(kb_ids(&h.root).len(), 3, "rows stay while reloading");
    h.data.update(|d| {
        d.fail(ApiError::Server {
            status: 500,
            html: false,
            detail: ErrorDetail {
                code: Some("InternalServerError".into()),
                message: Some("Something went wrong".into()),
                correlation_id: Some("9f1c1d0e-3c1e-4c07-a3c5-0d5e0b0c9d11".into()),
            },
        })
    });
    settle().await;
    assert_eq!(kb_ids(&h.root).len(), 3, "rows stay after a failure");
    let banner = text(&h.root, "[data-testid=error-banner]");
    assert!(banner.contains("HTTP 500"), "{banner}");
    assert!(banner.contains("Something went wrong"), "{banner}");
    assert_eq!(
        text(&h.root, "[data-testid=error-code]"),
        "InternalServerError"
    );
    assert_eq!(
        text(&h.root, "[data-testid=correlation-id]"),
        "9f1c1d0e-3c1e-4c07-a3c5-0d5e0b0c9d11"
    );
    one(&h.root, "[data-testid=retry]")
        .unchecked_into::<HtmlElement>()
        .click();
    settle().await;
    assert_eq!(h.retries.get_untracked(), 1);
}

#[wasm_bindgen_test]
async fn throttling_shows_a_countdown_and_no_retry_button() {
    let h = mount_kb_panel(loaded(sample_kbs()));
    h.data.update(|d| {
        d.wait(
            7,
            ApiError::from_response(
                429,
                Some("7"),
                r#"{"error":{"code":"TooManyRequests","message":"Rate limit","target":"abc"}}"#,
            ),
        )
    });
    settle().await;
    assert_eq!(
        text(&h.root, "[data-testid=retry-countdown]"),
        "Retrying automatically in 7 s…"
    );
    assert!(h
        .root
        .query_selector("[data-testid=retry]")
        .unwrap()
        .is_none());
    assert_eq!(kb_ids(&h.root).len(), 3);
}

#[wasm_bindgen_test]
async fn forbidden_names_the_missing_permission() {
    let mut state = Loadable::<DeviceKbs>::default();
    state.fail(ApiError::from_response(
        403,
        None,
        r#"{"error":{"code":"Forbidden","message":"Missing application roles. API required roles: Software.Read.All. Application roles: .","target":"c0ffee"}}"#,
    ));
    let h = mount_kb_panel(state);
    settle().await;
    let banner = text(&h.root, "[data-testid=error-banner]");
    assert!(
        banner.contains("Missing permission: Software.Read.All"),
        "{banner}"
    );
    assert!(
        h.root
            .query_selector("[data-testid=retry]")
            .unwrap()
            .is_none(),
        "403 is not transient"
    );
}

#[wasm_bindgen_test]
async fn fully_patched_device_shows_the_empty_state() {
    let h = mount_kb_panel(loaded(vec![]));
    settle().await;
    assert_eq!(
        text(&h.root, "[data-testid=kb-empty]"),
        "No missing security updates: this device is up to date."
    );
    assert!(h
        .root
        .query_selector("[data-testid=kb-table]")
        .unwrap()
        .is_none());
}

fn loaded_devices(devices: Vec<Device>, skipped: Vec<String>) -> Loadable<Collection<Device>> {
    let mut data = Loadable::default();
    data.succeed(Collection {
        items: devices,
        skipped,
        pages: 1,
    });
    data
}

/// Mounts the device panel on `data`; its filter and selection are the given signals, and each
/// device links to `/?device={id}&os={the filter's OS}`.
fn mount_device_panel(
    data: RwSignal<Loadable<Collection<Device>>>,
    filter: RwSignal<DeviceFilter>,
    selected: RwSignal<Option<DeviceId>>,
) -> (
    HtmlElement,
    leptos::mount::UnmountHandle<leptos::tachys::view::any_view::AnyViewState>,
) {
    let root = container();
    let mounted = mount_to(root.clone(), move || {
        view! {
            <DevicePanel
                data
                filter
                sort=Signal::derive(Sort::<DeviceSortKey>::default)
                include_unmanaged=Signal::derive(|| false)
                selected
                on_filter=Callback::new(move |f| filter.set(f))
                on_sort=Callback::new(|_| {})
                on_include_unmanaged=Callback::new(|_| {})
                on_retry=Callback::new(|()| {})
                link_for=Callback::new(move |id: DeviceId| {
                    match filter.get_untracked().os_platform {
                        Some(os) => format!("/?device={id}&os={os}"),
                        None => format!("/?device={id}"),
                    }
                })
            />
        }
        .into_any()
    });
    (root, mounted)
}

#[wasm_bindgen_test]
async fn device_panel_filters_by_os_and_counts() {
    let data = RwSignal::new(loaded_devices(
        vec![
            device(1, "alpha.contoso.local", "Windows11"),
            device(2, "beta.contoso.local", "Windows10"),
            device(3, "gamma.contoso.local", "Windows11"),
        ],
        vec!["record 4: missing field `id`".into()],
    ));
    let filter = RwSignal::new(DeviceFilter::default());
    let (root, _mounted) = mount_device_panel(data, filter, RwSignal::new(None));
    settle().await;
    assert_eq!(text(&root, "[data-testid=device-count]"), "3 devices");
    assert!(text(&root, "[data-testid=skipped-devices]").starts_with("1 record"));
    choose(&one(&root, "select[data-testid=device-os]"), "Windows11");
    settle().await;
    assert_eq!(text(&root, "[data-testid=device-count]"), "2 of 3 devices");
    let names: Vec<String> = all(&root, "a[data-testid=device-link]")
        .iter()
        .map(|a| a.text_content().unwrap())
        .collect();
    assert_eq!(names, ["alpha.contoso.local", "gamma.contoso.local"]);
    assert_eq!(
        one(&root, "a[data-testid=device-link]")
            .get_attribute("href")
            .unwrap(),
        format!("/?device={:040x}&os=Windows11", 1)
    );
}

/// Device rows are keyed: selecting and filtering restyle and move the rows that stay (the
/// same DOM elements), their links follow the page state, and a new load replaces them.
/// Above the limit the table renders only the rows in view.
#[wasm_bindgen_test]
async fn device_rows_are_kept_across_selection_and_filters_and_long_lists_are_windowed() {
    let data = RwSignal::new(loaded_devices(
        vec![
            device(1, "alpha.contoso.local", "Windows11"),
            device(2, "beta.contoso.local", "Windows10"),
            device(3, "gamma.contoso.local", "Windows11"),
        ],
        vec![],
    ));
    let filter = RwSignal::new(DeviceFilter::default());
    let selected = RwSignal::new(None::<DeviceId>);
    let (root, _mounted) = mount_device_panel(data, filter, selected);
    settle().await;
    let gamma = format!("tr[data-device-id='{:040x}']", 3);
    let mark = |row: &Element| js_sys::Reflect::set(row, &"kept".into(), &true.into()).unwrap();
    let kept = |row: &Element| {
        js_sys::Reflect::get(row, &"kept".into())
            .unwrap()
            .is_truthy()
    };
    mark(&one(&root, &gamma));

    selected.set(Some(DeviceId::parse(&format!("{:040x}", 3)).unwrap()));
    settle().await;
    let row = one(&root, &gamma);
    assert!(kept(&row), "selecting restyles the row, it is not rebuilt");
    assert_eq!(row.get_attribute("aria-current").as_deref(), Some("true"));
    assert!(row.class_list().contains("selected"));

    choose(&one(&root, "select[data-testid=device-os]"), "Windows11");
    settle().await;
    let row = one(&root, &gamma);
    assert!(kept(&row), "a filter that keeps the row keeps its element");
    assert_eq!(row.get_attribute("aria-rowindex").as_deref(), Some("3"));
    assert_eq!(
        one(&row, "a[data-testid=device-link]")
            .get_attribute("href")
            .unwrap(),
        format!("/?device={:040x}&os=Windows11", 3),
        "links carry the new state"
    );

    data.set(loaded_devices(
        vec![device(3, "gamma.contoso.local", "Windows11")],
        vec![],
    ));
    settle().await;
    assert!(!kept(&one(&root, &gamma)), "a new load builds new rows");

    let many: Vec<Device> = (1..=1_500)
        .map(|n| device(n, &format!("ws-{n:05}.contoso.local"), "Windows11"))
        .collect();
    data.set(loaded_devices(many, vec![]));
    settle().await;
    assert_eq!(
        one(&root, "[data-testid=device-table]")
            .get_attribute("aria-rowcount")
            .as_deref(),
        Some("1501")
    );
    let rendered = all(&root, "tr[data-testid=device-row]").len();
    assert!(
        rendered > 10 && rendered < 120,
        "{rendered} of 1500 device rows rendered"
    );
}

/// The items of the configuration error page for `config_json`.
async fn config_error_items(config_json: &str) -> Vec<String> {
    let root = container();
    let errors = AppConfig::parse(config_json).unwrap_err();
    let _mounted = mount_to(
        root.clone(),
        move || view! { <ConfigProblem problem=StartupProblem::Invalid(errors.clone())/> },
    );
    settle().await;
    all(&root, "[data-testid=config-error-item]")
        .iter()
        .map(|e| e.text_content().unwrap())
        .collect()
}

#[wasm_bindgen_test]
async fn config_problems_are_listed_by_key() {
    let items = config_error_items(r#"{"apibase": "x", "auth": {"mode": "magic"}}"#).await;
    assert_eq!(
        items,
        [
            "Unknown key \"apibase\". Did you mean \"apiBase\"?",
            "\"auth.mode\" is \"magic\", which is not allowed. Allowed: msal, token, demo.",
        ]
    );
}

#[wasm_bindgen_test]
async fn msal_config_problems_name_the_wrong_key() {
    let items = config_error_items(r#"{"auth": {"mode": "msal", "clientId": "abc", "tenantId": "contoso.onmicrosoft.com", "cacheLocation": "cookie"}}"#).await;
    assert_eq!(
        items,
        [
            "\"auth.clientId\" is \"abc\", which is not allowed. Allowed: the application (client) ID, a GUID like 00000000-0000-0000-0000-000000000000.",
            "\"auth.cacheLocation\" is \"cookie\", which is not allowed. Allowed: sessionStorage, localStorage.",
        ]
    );
}

#[wasm_bindgen_test]
async fn a_sign_in_host_other_than_the_clouds_is_listed_by_key() {
    let items = config_error_items(r#"{"cloud": "gcc-high", "auth": {"mode": "msal", "clientId": "11111111-2222-3333-4444-555555555555", "tenantId": "contoso.onmicrosoft.com", "authority": "https://evil.example/t", "knownAuthorities": ["login.microsoftonline.com"]}, "\u202eyek": 1}"#).await;
    assert_eq!(
        items,
        [
            "Unknown key \"\\u{202e}yek\".",
            "\"auth.authority\" is \"evil.example\", which is not allowed. Allowed: login.microsoftonline.us, the sign-in host of the gcc-high cloud.",
            "\"auth.knownAuthorities\" is \"login.microsoftonline.com\", which is not allowed. Allowed: login.microsoftonline.us, the sign-in host of the gcc-high cloud.",
        ]
    );
}

/// A test configuration's sign-in host is named before the button; the cloud's own is not.
#[wasm_bindgen_test]
async fn the_sign_in_page_says_when_sign_in_goes_elsewhere_than_microsoft() {
    for (foreign_host, warned) in [(Some("127.0.0.1:8443".to_owned()), true), (None, false)] {
        let root = container();
        let _mounted = mount_to(root.clone(), move || {
            let on_sign_in = Callback::new(|()| {});
            let error: Option<kbwatch_core::SignInError> = None;
            view! { <SignInPage error busy=false on_sign_in foreign_host/> }
        });
        settle().await;
        let warning = root
            .query_selector("[data-testid=sign-in-host-warning]")
            .unwrap();
        assert_eq!(warning.is_some(), warned);
        if let Some(warning) = warning {
            let shown = warning.text_content().unwrap_or_default();
            assert!(
                shown.starts_with("Sign-in goes to \"127.0.0.1:8443\", which is not Microsoft's")
                    && shown.contains("testOnlyAllowAnyAuthority"),
                "{shown}"
            );
        }
    }
}

fn unsigned_jwt(claims: serde_json::Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// A pasted token as token mode holds it (expired ones too, which `accept` would refuse).
fn pasted(jwt: String) -> PastedToken {
    PastedToken {
        info: TokenInfo::decode(&jwt).unwrap(),
        token: jwt,
    }
}

fn mount_token_status(
    token: RwSignal<Option<PastedToken>>,
) -> (
    HtmlElement,
    leptos::mount::UnmountHandle<leptos::tachys::view::any_view::AnyViewState>,
) {
    let root = container();
    let mounted = mount_to(root.clone(), move || {
        let now = Signal::derive(kbwatch::clock::now_ms);
        view! { <TokenStatus token now on_replace=Callback::new(move |()| token.set(None))/> }
            .into_any()
    });
    (root, mounted)
}

#[wasm_bindgen_test]
async fn token_status_shows_owner_expiry_and_warns_before_expiry() {
    let now = kbwatch::clock::now_unix();
    let token = RwSignal::new(Some(pasted(unsigned_jwt(serde_json::json!({
        "upn": "ana@contoso.com", "exp": now + 2 * 3600 + 600, "aud": "https://api.securitycenter.microsoft.com"
    })))));
    let (root, _mounted) = mount_token_status(token);
    settle().await;
    let status = one(&root, "[data-testid=token-status]");
    assert_eq!(
        status.text_content().unwrap(),
        "Token for ana@contoso.com, expires in 2 h 10 min"
    );
    assert_eq!(status.get_attribute("class").as_deref(), Some("badge"));

    token.set(Some(pasted(unsigned_jwt(
        serde_json::json!({"upn": "ana@contoso.com", "exp": now + 150}),
    ))));
    settle().await;
    let status = one(&root, "[data-testid=token-status]");
    let shown = status.text_content().unwrap();
    assert!(
        shown.starts_with("Token for ana@contoso.com, expires in 2 min")
            && shown.contains("paste a new token soon"),
        "{shown}"
    );
    assert_eq!(
        status.get_attribute("class").as_deref(),
        Some("badge badge-warning")
    );

    token.set(Some(pasted(unsigned_jwt(
        serde_json::json!({"upn": "ana@contoso.com", "exp": now - 5}),
    ))));
    settle().await;
    assert_eq!(
        text(&root, "[data-testid=token-status]"),
        "Token for ana@contoso.com, expired — paste a new token"
    );
}

#[wasm_bindgen_test]
async fn token_entry_refuses_garbage_and_expired_tokens() {
    let root = container();
    let token = RwSignal::new(None::<String>);
    let on_token = Callback::new(move |t: PastedToken| token.set(Some(t.token)));
    let _mounted = mount_to(root.clone(), move || view! { <TokenEntry on_token/> });
    settle().await;
    let submit = |value: &str| {
        let input: web_sys::HtmlTextAreaElement =
            one(&root, "[data-testid=token-input]").unchecked_into();
        input.set_value(value);
        input
            .dispatch_event(
                &web_sys::Event::new_with_event_init_dict("input", &{
                    let init = web_sys::EventInit::new();
                    init.set_bubbles(true);
                    init
                })
                .unwrap(),
            )
            .unwrap();
        one(&root, "[data-testid=token-submit]")
            .unchecked_into::<HtmlElement>()
            .click();
    };
    submit("not a token");
    settle().await;
    assert!(text(&root, "[data-testid=token-problem]").starts_with("This is not an access token"));
    let now = kbwatch::clock::now_unix();
    submit(&unsigned_jwt(
        serde_json::json!({"upn": "a@b.c", "exp": now - 60}),
    ));
    settle().await;
    assert_eq!(
        text(&root, "[data-testid=token-problem]"),
        "This token has already expired. Get a new one."
    );
    assert_eq!(token.get_untracked(), None);
    let good = unsigned_jwt(serde_json::json!({"upn": "a@b.c", "exp": now + 3600}));
    submit(&format!("Bearer {good}"));
    settle().await;
    assert_eq!(token.get_untracked(), Some(good));
}

#[wasm_bindgen_test]
async fn large_tables_render_only_the_rows_in_view() {
    let many: Vec<MissingKb> = (0..1_000)
        .map(|i| {
            kb(
                &(5_000_000 + i).to_string(),
                &format!("Update {i}"),
                &["windows_11"],
                i % 97,
                None,
            )
        })
        .collect();
    let h = mount_kb_panel(loaded(many));
    settle().await;
    let rendered = kb_ids(&h.root).len();
    assert!(
        rendered > 10 && rendered < 120,
        "{rendered} rows rendered of 1000"
    );
    let table = one(&h.root, "[data-testid=kb-table]");
    assert_eq!(
        table.get_attribute("aria-rowcount").as_deref(),
        Some("1001")
    );
    assert_eq!(
        text(&h.root, "[data-testid=kb-totals]"),
        format!(
            "1000 updates · {} CVEs",
            (0..1_000u64).map(|i| i % 97).sum::<u64>()
        )
    );

    // Scrolling the box renders the rows now in view, with their place in the whole table.
    let scroller: HtmlElement = one(&h.root, ".kb-table-box").unchecked_into();
    // The stylesheet is not loaded in this test page: give the box its app height.
    let style = scroller.style();
    style.set_property("max-height", "600px").unwrap();
    style.set_property("overflow", "auto").unwrap();
    scroller.set_scroll_top(44 * 600);
    scroller
        .dispatch_event(&web_sys::Event::new("scroll").unwrap())
        .unwrap();
    settle().await;
    let indexes: Vec<usize> = all(&h.root, "tr[data-testid=kb-row]")
        .iter()
        .map(|r| r.get_attribute("aria-rowindex").unwrap().parse().unwrap())
        .collect();
    assert!(
        indexes.iter().any(|i| (595..=610).contains(i)),
        "rows around 600 rendered: {indexes:?}"
    );
    assert!(indexes.len() < 120);

    // A filter that leaves fewer rows than the scroll position shows the end of its rows at
    // once, without waiting for the box to report its clamped scroll position.
    type_into(&one(&h.root, "input[data-testid=kb-search]"), "Update 1");
    settle().await;
    assert_eq!(
        table.get_attribute("aria-rowcount").as_deref(),
        Some("112"),
        "Update 1, 1x, 1xx"
    );
    let rendered = kb_ids(&h.root).len();
    assert!(
        rendered > 10 && rendered < 60,
        "{rendered} rows rendered of 111"
    );

    // A filter that leaves fewer rows than the threshold renders all of them.
    type_into(&one(&h.root, "input[data-testid=kb-search]"), "Update 99");
    settle().await;
    assert_eq!(kb_ids(&h.root).len(), 11, "Update 99, 99x");
    // Rows kept from the scrolled window moved: each carries its new place.
    let indexes: Vec<usize> = all(&h.root, "tr[data-testid=kb-row]")
        .iter()
        .map(|r| r.get_attribute("aria-rowindex").unwrap().parse().unwrap())
        .collect();
    assert_eq!(indexes, (2..13).collect::<Vec<_>>());
}

#[wasm_bindgen_test]
fn timestamps_are_utc_with_their_age() {
    let at = time::OffsetDateTime::from_unix_timestamp(1_729_415_130).unwrap();
    let now = at + time::Duration::days(3);
    assert_eq!(
        kbwatch::messages::timestamp(Some(at), now),
        "2024-10-20 09:05 UTC (3 d ago)"
    );
    let paris = at.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
    assert_eq!(
        kbwatch::messages::timestamp(Some(paris), now),
        "2024-10-20 09:05 UTC (3 d ago)"
    );
    assert_eq!(
        kbwatch::messages::timestamp(None, now),
        kbwatch::messages::UNKNOWN
    );
}

/// What a test provides as context, for a lazily built view to find.
#[derive(Clone)]
struct Provided(&'static str);

#[wasm_bindgen_test]
async fn a_lazy_view_is_built_under_its_owner_and_finds_the_apps_context() {
    let root = container();
    let _mounted = mount_to(root.clone(), || {
        provide_context(Provided("from the app"));
        kbwatch::lazy_view::lazy_view("loading", || async {
            let provided = expect_context::<Provided>();
            Ok(view! { <p data-testid="lazy">{provided.0}</p> }.into_any())
        })
    });
    settle().await;
    assert_eq!(text(&root, "[data-testid=lazy]"), "from the app");
    assert!(root
        .query_selector("[data-testid=view-loading]")
        .unwrap()
        .is_none());
}

#[wasm_bindgen_test]
async fn a_lazy_view_retried_from_its_button_is_built_under_its_owner_too() {
    let root = container();
    let attempts = std::rc::Rc::new(std::cell::Cell::new(0));
    let _mounted = mount_to(root.clone(), move || {
        provide_context(Provided("from the app"));
        let attempts = attempts.clone();
        kbwatch::lazy_view::lazy_view("loading", move || {
            attempts.set(attempts.get() + 1);
            let first = attempts.get() == 1;
            async move {
                if first {
                    return Err(kbwatch::lazy_view::ViewUnavailable);
                }
                let provided = expect_context::<Provided>();
                Ok(view! { <p data-testid="lazy">{provided.0}</p> }.into_any())
            }
        })
    });
    settle().await;
    assert!(one(&root, "[data-testid=view-unavailable]").is_connected());
    click(&root, "[data-testid=view-unavailable] button");
    settle().await;
    assert_eq!(text(&root, "[data-testid=lazy]"), "from the app");
}

#[wasm_bindgen_test]
async fn a_lazy_view_left_before_its_code_arrives_builds_nothing() {
    let root = container();
    let built = RwSignal::new(false);
    let shown = RwSignal::new(true);
    // As the shell does: leaving the page disposes what the lazy view owned.
    let _mounted = mount_to(root.clone(), move || {
        move || {
            shown.get().then(move || {
                let owned = RwSignal::new("owned by the view");
                kbwatch::lazy_view::lazy_view("loading", move || async move {
                    gloo_timers::future::TimeoutFuture::new(30).await;
                    built.set(true);
                    Ok(view! { <p>{owned.get()}</p> }.into_any())
                })
            })
        }
    });
    settle().await;
    shown.set(false);
    gloo_timers::future::TimeoutFuture::new(80).await;
    assert!(
        !built.get_untracked(),
        "the view was built after it was left"
    );
}

/// A table read from machinesVulnerabilities (the per-device call refused) says so above the
/// table, and which facts it lacks; the documented answer carries no such note.
#[wasm_bindgen_test]
async fn the_kb_panel_says_when_its_table_comes_from_the_fallback() {
    let h = mount_kb_panel(loaded(sample_kbs()));
    settle().await;
    assert!(all(&h.root, "[data-testid=kb-source]").is_empty());
    let mut fallback = loaded(sample_kbs());
    if let Some(d) = fallback.value.as_mut() {
        d.source = KbSource::MachineVulnerabilities;
    }
    h.data.set(fallback);
    settle().await;
    let note = one(&h.root, "[data-testid=kb-source]")
        .text_content()
        .unwrap_or_default();
    assert!(note.contains("machinesVulnerabilities"), "{note}");
    assert!(note.contains("names are not known"), "{note}");
    assert_eq!(
        all(&h.root, "tr[data-testid=kb-row]").len(),
        3,
        "the table is still there"
    );
}
