//! Delegated permissions against application roles per endpoint, and the switch that makes the
//! per-device `getmissingkbs` application-only as its page documents (builder option, run-time
//! `/_mock/settings`, with and without the IdP) — in-process.

use axum::http::{Method, StatusCode};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kbwatch_mock::{router, router_with_idp, Idp, IdpOptions, MockOptions};
use serde_json::{json, Value};

use crate::common::{admin, admin_post, get_as, send, text};

fn options(app_only: bool) -> MockOptions {
    MockOptions {
        devices: 6,
        rate_per_minute: 0,
        rate_per_hour: 0,
        missing_kbs_app_only: app_only,
        ..MockOptions::default()
    }
}

fn with_idp(app_only: bool) -> (Router, std::sync::Arc<Idp>) {
    let idp = Idp::new(IdpOptions::default(), "https://127.0.0.1:8443").expect("idp");
    (router_with_idp(&options(app_only), idp.clone()), idp)
}

fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A user's token with `scp`.
fn user(idp: &Idp, scopes: &[&str]) -> String {
    idp.mint_access_token(Some(&list(scopes))).expect("token")
}

/// An application's token with `roles`.
fn application(idp: &Idp, roles: &[&str]) -> String {
    idp.mint_app_token(Some(&list(roles))).expect("token")
}

async fn first_device(app: &Router, token: &str) -> String {
    text(
        &get_as(app, "/api/machines?$top=1", token).await.rows()[0],
        "id",
    )
    .to_owned()
}

/// An unsigned JWT with `claims`, for a mock without IdP (it reads but never checks them).
fn unsigned(claims: Value) -> String {
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(json!({"alg": "RS256", "typ": "JWT"})),
        part(claims),
        URL_SAFE_NO_PAD.encode(b"unchecked")
    )
}

const SOFTWARE_PATHS: [&str; 3] = [
    "/api/Software",
    "/api/Software/microsoft-_-windows_10",
    "/api/Software/microsoft-_-windows_10/getmissingkbs",
];

#[tokio::test]
async fn software_needs_software_read_or_software_read_all() {
    let (app, idp) = with_idp(false);
    let reader = user(&idp, &["Software.Read"]);
    let machines_only = user(&idp, &["Machine.Read", "Vulnerability.Read"]);
    let app_reader = application(&idp, &["Software.Read.All"]);
    let app_machines = application(&idp, &["Machine.Read.All"]);
    for path in SOFTWARE_PATHS {
        assert_eq!(
            get_as(&app, path, &reader).await.status,
            StatusCode::OK,
            "{path}"
        );
        assert_eq!(
            get_as(&app, path, &app_reader).await.status,
            StatusCode::OK,
            "{path}"
        );
        let refused = get_as(&app, path, &machines_only).await;
        refused.assert_error(StatusCode::FORBIDDEN, "Forbidden", path);
        assert_eq!(
            refused.error_message(),
            "Missing user permissions. API required permissions: Software.Read. User permissions: Machine.Read Vulnerability.Read."
        );
        let refused = get_as(&app, path, &app_machines).await;
        refused.assert_error(StatusCode::FORBIDDEN, "Forbidden", path);
        assert_eq!(
            refused.error_message(),
            "Missing application roles. API required roles: Software.Read.All. Application roles: Machine.Read.All."
        );
    }
    // Application roles per documented endpoint.
    let id = first_device(&app, &app_machines).await;
    let all = application(
        &idp,
        &[
            "Machine.Read.All",
            "Software.Read.All",
            "Vulnerability.Read.All",
        ],
    );
    for path in [
        "/api/machines?$top=1".to_owned(),
        format!("/api/machines/{id}"),
        format!("/api/machines/{id}/getmissingkbs"),
        "/api/vulnerabilities/machinesVulnerabilities?$top=1".to_owned(),
        "/api/machines/SoftwareVulnerabilitiesByMachine?$top=1".to_owned(),
    ] {
        assert_eq!(
            get_as(&app, &path, &all).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    let refused = get_as(
        &app,
        "/api/vulnerabilities/machinesVulnerabilities",
        &app_reader,
    )
    .await;
    assert!(refused
        .error_message()
        .contains("API required roles: Vulnerability.Read.All."));
    // The IdP counts the refusals.
    let stats = send(
        &app,
        crate::common::request(Method::GET, "/_mock/idp/stats", &[], Default::default()),
    )
    .await
    .into_json();
    assert_eq!(stats["failures"]["api:forbidden"], 7);
}

#[tokio::test]
async fn app_only_switch_refuses_users_on_the_device_missing_kbs() {
    let (app, idp) = with_idp(true);
    let reader = user(&idp, &["Machine.Read", "Software.Read"]);
    let id = first_device(&app, &reader).await;
    let device = format!("/api/machines/{id}/getmissingkbs");
    let refused = get_as(&app, &device, &reader).await;
    refused.assert_error(StatusCode::FORBIDDEN, "Forbidden", "a user's token");
    assert_eq!(
        refused.error_message(),
        "Missing application roles. API required roles: Software.Read.All. Application roles: ."
    );
    // An application with the documented role passes; one without it does not.
    let app_reader = application(&idp, &["Software.Read.All"]);
    let kbs = get_as(&app, &device, &app_reader).await;
    assert_eq!(kbs.status, StatusCode::OK);
    assert!(!kbs.rows().is_empty());
    let refused = get_as(&app, &device, &application(&idp, &["Machine.Read.All"])).await;
    assert!(refused
        .error_message()
        .ends_with("API required roles: Software.Read.All. Application roles: Machine.Read.All."));
    // Only that path: the user still lists devices and reads the software views.
    for path in SOFTWARE_PATHS {
        assert_eq!(
            get_as(&app, path, &reader).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    assert_eq!(
        get_as(&app, &format!("/api/machines/{id}"), &reader)
            .await
            .status,
        StatusCode::OK
    );
    // Minted over HTTP too: `/_mock/idp/token?roles=…`.
    let minted = admin(
        &app,
        Method::GET,
        "/_mock/idp/token?roles=Software.Read.All",
    )
    .await
    .into_json();
    assert_eq!(minted["roles"], json!(["Software.Read.All"]));
    let token = minted["access_token"].as_str().expect("token");
    assert_eq!(get_as(&app, &device, token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn app_only_switch_flips_at_run_time_and_reset_restores_it() {
    let (app, idp) = with_idp(false);
    let reader = user(&idp, &["Machine.Read", "Software.Read"]);
    let id = first_device(&app, &reader).await;
    let device = format!("/api/machines/{id}/getmissingkbs");
    let settings = |app: Router| async move {
        admin(&app, Method::GET, "/_mock/settings")
            .await
            .into_json()
    };
    assert_eq!(
        settings(app.clone()).await,
        json!({"missing_kbs_app_only": false})
    );
    assert_eq!(get_as(&app, &device, &reader).await.status, StatusCode::OK);

    let on = admin_post(&app, "/_mock/settings", r#"{"missing_kbs_app_only": true}"#).await;
    assert_eq!(on.status, StatusCode::OK);
    assert_eq!(on.into_json(), json!({"missing_kbs_app_only": true}));
    assert_eq!(
        get_as(&app, &device, &reader).await.status,
        StatusCode::FORBIDDEN
    );
    let app_reader = application(&idp, &["Software.Read.All"]);
    assert_eq!(
        get_as(&app, &device, &app_reader).await.status,
        StatusCode::OK
    );
    // An empty body changes nothing; unknown keys are refused.
    assert_eq!(
        admin_post(&app, "/_mock/settings", "{}").await.into_json(),
        json!({"missing_kbs_app_only": true})
    );
    admin_post(&app, "/_mock/settings", r#"{"app_only": true}"#)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "InvalidRequestBody", "unknown key");

    admin(&app, Method::POST, "/_mock/reset").await;
    assert_eq!(
        settings(app.clone()).await,
        json!({"missing_kbs_app_only": false})
    );
    assert_eq!(get_as(&app, &device, &reader).await.status, StatusCode::OK);

    // Started on, reset puts it back on.
    let (started_on, _) = with_idp(true);
    admin_post(
        &started_on,
        "/_mock/settings",
        r#"{"missing_kbs_app_only": false}"#,
    )
    .await;
    admin(&started_on, Method::POST, "/_mock/reset").await;
    assert_eq!(
        settings(started_on).await,
        json!({"missing_kbs_app_only": true})
    );
}

#[tokio::test]
async fn without_idp_the_switch_reads_the_token_unverified() {
    let app = router(&options(true));
    let id = first_device(&app, "opaque").await;
    let device = format!("/api/machines/{id}/getmissingkbs");
    let app_token = unsigned(json!({"roles": ["Software.Read.All"], "idtyp": "app"}));
    assert_eq!(
        get_as(&app, &device, &app_token).await.status,
        StatusCode::OK
    );
    let user_token = unsigned(json!({"scp": "Machine.Read Software.Read", "upn": "u@contoso.com"}));
    for token in ["opaque", user_token.as_str()] {
        let refused = get_as(&app, &device, token).await;
        refused.assert_error(StatusCode::FORBIDDEN, "Forbidden", token);
        assert!(refused
            .error_message()
            .starts_with("Missing application roles."));
    }
    // Everything else still takes any bearer token.
    assert_eq!(
        get_as(
            &app,
            "/api/Software/microsoft-_-windows_10/getmissingkbs",
            "opaque"
        )
        .await
        .status,
        StatusCode::OK
    );
    // Off, any token reaches it.
    let off = router(&options(false));
    assert_eq!(get_as(&off, &device, "opaque").await.status, StatusCode::OK);
}
