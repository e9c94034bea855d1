//! The connection check's panel: each probe's diagnosis (the two 403s told apart), the token's
//! claims, the budget refusal, and the report to copy, which holds no token. And the link to
//! the check under the errors it can explain.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kbwatch::components::connection::ConnectionCheckPanel;
use kbwatch::components::error_banner::ErrorBanner;
use kbwatch_core::connection::{
    expected_audiences, CheckReport, CheckSetup, ConnectionCheck, TokenView,
};
use kbwatch_core::fleet::budgets::BudgetSet;
use kbwatch_core::token_info::TokenInfo;
use kbwatch_core::{ApiError, Cloud, Endpoints, ErrorDetail, LoadStatus};
use leptos::mount::mount_to;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlTextAreaElement};

use crate::dom::{all, click, container, one, settle, text};

const DEVICE: &str = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07";

fn token(scopes: &str) -> String {
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(serde_json::json!({"alg": "RS256", "typ": "JWT"})),
        part(serde_json::json!({
            "aud": "https://api.securitycenter.microsoft.com",
            "tid": "8d6f1f4e-tenant", "upn": "ana@contoso.example",
            "scp": scopes, "exp": 4_000_000_000u64,
        })),
        URL_SAFE_NO_PAD.encode("signature-bytes")
    )
}

fn forbidden() -> ApiError {
    ApiError::from_response(
        403,
        None,
        r#"{"error":{"code":"Forbidden","message":"Forbidden","target":"corr-403"}}"#,
    )
}

/// A check as a tenant with a token carrying Machine.Read and Software.Read (no
/// Vulnerability.Read): machinesVulnerabilities refuses for the missing scope, the software
/// inventory refuses although the scope is there, the per-device call accepts application
/// permissions only.
fn report(jwt: &str) -> CheckReport {
    let endpoints = Endpoints::new("https://api.security.microsoft.com".parse().unwrap());
    let setup = CheckSetup {
        api_base: "https://api.security.microsoft.com/".into(),
        proxy: false,
        auth_mode: "msal",
        expected_audiences: expected_audiences(Cloud::Commercial, &[]),
    };
    let info = TokenInfo::decode(jwt).unwrap();
    let token = TokenView::read(&info, &setup.expected_audiences, 1_000);
    let mut check = ConnectionCheck::new();
    let mut budget = BudgetSet::default();
    while let Some(call) = check.next_call(&endpoints, &mut budget, 1_000) {
        let body = format!(r#"{{"value":[{{"id":"{DEVICE}"}}]}}"#);
        let result = match check.table()[call.index].probe {
            "machines" => Ok(body.as_str()),
            "software-vulnerabilities-by-machine" => Err(ApiError::Network(format!(
                "Failed to fetch (Authorization: Bearer {jwt})"
            ))),
            _ => Err(forbidden()),
        };
        check.answer(call.index, result, &mut budget, 1_000);
    }
    check.report(&setup, &token)
}

fn row(root: &Element, probe: &str, cell: &str) -> String {
    text(
        root,
        &format!("tr[data-probe='{probe}'] [data-testid={cell}]"),
    )
}

struct Panel {
    root: web_sys::HtmlElement,
    runs: RwSignal<u32>,
    copied_text: RwSignal<Option<String>>,
    copied: RwSignal<Option<bool>>,
    budget_wait: RwSignal<Option<String>>,
    _mounted: leptos::mount::UnmountHandle<leptos::tachys::view::any_view::AnyViewState>,
}

fn mount_panel(report: CheckReport) -> Panel {
    let root = container();
    let runs = RwSignal::new(0);
    let copied_text = RwSignal::new(None::<String>);
    let copied = RwSignal::new(None::<bool>);
    let budget_wait = RwSignal::new(None::<String>);
    let mounted = mount_to(root.clone(), move || {
        view! {
            <ConnectionCheckPanel report=Signal::derive(move || report.clone()) running=false
                budget_wait copied
                on_run=Callback::new(move |()| runs.update(|n| *n += 1))
                on_copy=Callback::new(move |text| copied_text.set(Some(text)))/>
        }
        .into_any()
    });
    Panel {
        root,
        runs,
        copied_text,
        copied,
        budget_wait,
        _mounted: mounted,
    }
}

#[wasm_bindgen_test]
async fn the_two_forbidden_cases_get_different_advice() {
    let p = mount_panel(report(&token("Machine.Read Software.Read")));
    settle().await;
    assert_eq!(all(&p.root, "tr[data-testid=check-row]").len(), 6);
    assert_eq!(row(&p.root, "machines", "check-result"), "OK");
    assert_eq!(row(&p.root, "machines", "check-diagnosis"), "Works.");

    // The scope is missing: grant it.
    let missing = row(&p.root, "machines-vulnerabilities", "check-diagnosis");
    assert!(
        missing.contains("The token lacks Vulnerability.Read"),
        "{missing}"
    );
    assert!(missing.contains("admin consent"), "{missing}");
    assert_eq!(
        row(&p.root, "machines-vulnerabilities", "check-grant"),
        "lacks Vulnerability.Read"
    );
    assert_eq!(
        row(&p.root, "machines-vulnerabilities", "check-result"),
        "HTTP 403"
    );

    // The scope is there and the API still refuses: roles and device groups.
    let present = row(&p.root, "software", "check-diagnosis");
    assert!(present.contains("The token has Software.Read"), "{present}");
    assert!(present.contains("'View data'"), "{present}");
    assert!(!present.contains("grant"), "{present}");

    // Application permissions only: said so, with the fallback, and no advice to grant one.
    let app_only = row(&p.root, "device-missing-kbs", "check-diagnosis");
    assert!(
        app_only.contains("application permissions only (Software.Read.All)"),
        "{app_only}"
    );
    assert!(app_only.contains("machinesVulnerabilities"), "{app_only}");
    assert!(!app_only.contains("grant"), "{app_only}");

    let blocked = row(
        &p.root,
        "software-vulnerabilities-by-machine",
        "check-diagnosis",
    );
    assert!(blocked.contains("CORS"), "{blocked}");
    assert!(row(&p.root, "software-missing-kbs", "check-diagnosis").starts_with("Skipped"));

    assert_eq!(
        text(&p.root, "[data-testid=check-tenant]"),
        "8d6f1f4e-tenant"
    );
    assert_eq!(
        text(&p.root, "[data-testid=check-scopes]"),
        "Machine.Read Software.Read"
    );
    assert_eq!(text(&p.root, "[data-testid=check-proxy]"), "no");
}

#[wasm_bindgen_test]
async fn the_report_to_copy_has_every_probe_and_no_token() {
    let jwt = token("Machine.Read Software.Read");
    let p = mount_panel(report(&jwt));
    settle().await;
    let shown = one(&p.root, "[data-testid=check-report]").unchecked_into::<HtmlTextAreaElement>();
    assert!(shown.read_only());
    let shown = shown.value();
    for expected in [
        "API base: https://api.security.microsoft.com/",
        "Same-origin proxy: no",
        "Tenant: 8d6f1f4e-tenant",
        "Scopes: Machine.Read Software.Read",
        "machines-vulnerabilities: GET /api/vulnerabilities/machinesVulnerabilities?$top=1",
        "Correlation ID: corr-403",
        "Date: 1970-01-01 00:00:01 UTC",
    ] {
        assert!(shown.contains(expected), "{expected:?} in {shown}");
    }
    let claims = jwt.split('.').nth(1).unwrap();
    let signature = jwt.split('.').nth(2).unwrap();
    for secret in [jwt.as_str(), claims, signature, "ana@contoso.example"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }

    click(&p.root, "[data-testid=check-copy]");
    settle().await;
    assert_eq!(
        p.copied_text.get_untracked().as_deref(),
        Some(shown.as_str())
    );
    assert!(p
        .root
        .query_selector("[data-testid=check-copied]")
        .unwrap()
        .is_none());
    p.copied.set(Some(false));
    settle().await;
    assert_eq!(
        text(&p.root, "[data-testid=check-copied]"),
        "Could not copy: select the text below."
    );
    p.copied.set(Some(true));
    settle().await;
    assert_eq!(text(&p.root, "[data-testid=check-copied]"), "Copied.");
}

#[wasm_bindgen_test]
async fn the_budget_refusal_says_when_and_the_run_button_asks() {
    let p = mount_panel(ConnectionCheck::new().report(
        &CheckSetup {
            api_base: "http://127.0.0.1:9/".into(),
            proxy: true,
            auth_mode: "demo",
            expected_audiences: vec![],
        },
        &TokenView::Demo,
    ));
    settle().await;
    assert!(text(&p.root, "[data-testid=check-token-problem]").starts_with("Demo mode: no token."));
    assert_eq!(row(&p.root, "machines", "check-result"), "—");
    click(&p.root, "[data-testid=check-run]");
    settle().await;
    assert_eq!(p.runs.get_untracked(), 1);
    p.budget_wait.set(Some("14:05:09".into()));
    settle().await;
    assert_eq!(
        text(&p.root, "[data-testid=check-budget-wait]"),
        "The API's rate budget has room for the check again at 14:05:09."
    );
}

#[wasm_bindgen_test]
async fn auth_and_network_errors_link_to_the_check() {
    let root = container();
    let status = RwSignal::new(LoadStatus::Failed(forbidden()));
    let _mounted = mount_to(root.clone(), move || {
        view! { <ErrorBanner status on_retry=Callback::new(|()| ())/> }.into_any()
    });
    settle().await;
    let link = one(&root, "[data-testid=check-link]");
    assert_eq!(
        link.get_attribute("href").as_deref(),
        Some("?view=connection")
    );
    status.set(LoadStatus::Failed(ApiError::Network(String::new())));
    settle().await;
    assert!(root
        .query_selector("[data-testid=check-link]")
        .unwrap()
        .is_some());
    status.set(LoadStatus::Failed(ApiError::NotFound(
        ErrorDetail::default(),
    )));
    settle().await;
    assert!(
        root.query_selector("[data-testid=check-link]")
            .unwrap()
            .is_none(),
        "a 404 is not the connection's fault"
    );
}
