//! The Entra ID stand-in: OIDC metadata, the code flow with PKCE, refresh, errors in Entra's
//! shapes, and the API accepting only its tokens. In-process (`oneshot`), plus one run over a
//! real HTTPS socket.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kbwatch_mock::idp::{DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID};
use kbwatch_mock::{router, spawn, DemoUser, IdpOptions, MockOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{get_as, send, Answer};

const TENANT: &str = DEFAULT_TENANT_ID;
const CLIENT: &str = DEFAULT_CLIENT_ID;
const REDIRECT: &str = "http://127.0.0.1:8080/redirect.html";
const ORIGIN: &str = "http://127.0.0.1:8080";
const SCOPE: &str =
    "https://api.securitycenter.microsoft.com/.default openid profile offline_access";
const VERIFIER: &str = "a-test-verifier-that-is-long-enough-for-rfc7636-0123456789";
/// The IdP's issuer host in-process: `https://127.0.0.1:{IdpOptions::port}`.
const IDP_PORT: u16 = 44300;

fn idp_options() -> IdpOptions {
    IdpOptions {
        port: IDP_PORT,
        ..IdpOptions::default()
    }
}

fn mock_with(idp: IdpOptions) -> Router {
    router(&MockOptions {
        idp: Some(idp),
        ..MockOptions::default()
    })
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_uri(params: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("/{TENANT}/oauth2/v2.0/authorize?{query}")
}

/// What MSAL.js sends to `/authorize`, with `overrides` replacing or adding parameters.
fn msal_authorize(overrides: &[(&str, &str)]) -> String {
    let code_challenge = challenge(VERIFIER);
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", CLIENT),
        ("scope", SCOPE),
        ("redirect_uri", REDIRECT),
        ("client-request-id", "11111111-1111-4111-8111-111111111111"),
        ("response_mode", "fragment"),
        ("response_type", "code"),
        ("x-client-SKU", "msal.js.browser"),
        ("client_info", "1"),
        ("code_challenge", &code_challenge),
        ("code_challenge_method", "S256"),
        ("nonce", "nonce-123"),
        ("state", "state-abc"),
    ];
    for (key, value) in overrides {
        params.retain(|(k, _)| k != key);
        params.push((key, value));
    }
    authorize_uri(&params)
}

/// MSAL's `/authorize` request (with `overrides`) through `app`.
async fn authorize(app: &Router, overrides: &[(&str, &str)]) -> Answer {
    send(app, get(&msal_authorize(overrides))).await
}

async fn authorize_code(app: &Router) -> String {
    let answer = authorize(app, &[]).await;
    assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.text());
    answer.location_params('#')["code"].clone()
}

fn form(params: &[(&str, &str)]) -> Request<Body> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    Request::post(format!("/{TENANT}/oauth2/v2.0/token"))
        .header(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .header(header::ORIGIN, ORIGIN)
        .body(Body::from(body))
        .expect("request")
}

async fn redeem(app: &Router, code: &str, verifier: &str) -> Answer {
    send(
        app,
        form(&[
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("scope", SCOPE),
            ("code", code),
            ("code_verifier", verifier),
            ("grant_type", "authorization_code"),
            ("client_info", "1"),
        ]),
    )
    .await
}

/// The JSON payload of a JWT, without checking anything.
fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("json")
}

/// Assert an Entra JSON error and return its first AADSTS number.
fn aad_error(answer: &Answer, error: &str) -> u64 {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["error"], error, "{body}");
    for key in [
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_description",
    ] {
        assert!(body[key].is_string(), "{key} in {body}");
    }
    let code = body["error_codes"][0].as_u64().expect("error_codes");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("AADSTS{code}: "))),
        "{body}"
    );
    code
}

async fn sign_in(app: &Router) -> Value {
    let code = authorize_code(app).await;
    let answer = redeem(app, &code, VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.into_json()
}

#[tokio::test]
async fn openid_metadata_and_keys() {
    let app = mock_with(idp_options());
    let request = Request::get(format!("/{TENANT}/v2.0/.well-known/openid-configuration"))
        .header(header::ORIGIN, ORIGIN)
        .body(Body::empty())
        .expect("request");
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("access-control-allow-origin"), Some(ORIGIN));
    let meta = answer.json();
    let base = format!("https://127.0.0.1:{IDP_PORT}/{TENANT}");
    assert_eq!(meta["issuer"], format!("{base}/v2.0"));
    assert_eq!(
        meta["authorization_endpoint"],
        format!("{base}/oauth2/v2.0/authorize")
    );
    assert_eq!(meta["token_endpoint"], format!("{base}/oauth2/v2.0/token"));
    assert_eq!(meta["jwks_uri"], format!("{base}/discovery/v2.0/keys"));
    assert_eq!(
        meta["end_session_endpoint"],
        format!("{base}/oauth2/v2.0/logout")
    );
    let modes = meta["response_modes_supported"].to_string();
    assert!(
        modes.contains("fragment") && modes.contains("query"),
        "{modes}"
    );

    let keys = send(&app, get(&format!("/{TENANT}/discovery/v2.0/keys")))
        .await
        .into_json();
    let key = &keys["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert!(key["kid"].is_string() && key["x"].is_string() && key["y"].is_string());

    // Tokens name that key.
    let tokens = sign_in(&app).await;
    let header_part = tokens["access_token"]
        .as_str()
        .and_then(|t| t.split('.').next())
        .expect("jwt");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_part).expect("b64")).expect("json");
    assert_eq!(
        (header["alg"].as_str(), &header["kid"]),
        (Some("ES256"), &key["kid"])
    );

    let unknown = send(
        &app,
        get("/not-a-tenant/v2.0/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(aad_error(&unknown, "invalid_tenant"), 90002);
    let discovery = send(&app, get("/common/discovery/instance?api-version=1.1"))
        .await
        .into_json();
    assert_eq!(
        discovery["metadata"][0]["preferred_network"],
        format!("127.0.0.1:{IDP_PORT}")
    );
}

#[tokio::test]
async fn code_flow_with_pkce_gives_tokens_the_api_accepts() {
    let app = mock_with(idp_options());
    let answer = authorize(&app, &[]).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    let location = answer.header("location").expect("location");
    assert!(
        location.starts_with(&format!("{REDIRECT}#code=")),
        "{location}"
    );
    let params = answer.location_params('#');
    assert_eq!(params["state"], "state-abc");
    assert!(params.contains_key("session_state"));
    let info: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&params["client_info"]).expect("b64"))
            .expect("json");
    let user = DemoUser::default();
    assert_eq!(
        (info["uid"].as_str(), info["utid"].as_str()),
        (Some(user.oid.as_str()), Some(TENANT))
    );

    let answer = redeem(&app, &params["code"], VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(answer.header("cache-control"), Some("no-store, no-cache"));
    let tokens = answer.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["ext_expires_in"], 3600);
    assert_eq!(
        tokens["client_info"].as_str(),
        Some(params["client_info"].as_str())
    );
    let scope = tokens["scope"].as_str().expect("scope");
    for expected in [
        "https://api.securitycenter.microsoft.com/Machine.Read",
        "https://api.securitycenter.microsoft.com/Software.Read",
        "https://api.securitycenter.microsoft.com/.default",
    ] {
        assert!(
            scope.split(' ').any(|s| s == expected),
            "{expected} in {scope}"
        );
    }
    assert!(
        !scope.contains("openid") && !scope.contains("offline_access"),
        "{scope}"
    );
    assert!(tokens["refresh_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));

    let id = jwt_claims(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id["aud"], CLIENT);
    assert_eq!(id["nonce"], "nonce-123");
    assert_eq!(id["tid"], TENANT);
    assert_eq!(id["oid"], user.oid.as_str());
    assert_eq!(id["preferred_username"], user.preferred_username.as_str());
    assert_eq!(id["name"], user.name.as_str());
    assert_eq!(id["ver"], "2.0");
    assert_eq!(
        id["iss"],
        format!("https://127.0.0.1:{IDP_PORT}/{TENANT}/v2.0")
    );
    for claim in ["sub", "iat", "nbf", "exp"] {
        assert!(!id[claim].is_null(), "{claim}");
    }

    let access_token = tokens["access_token"].as_str().expect("access_token");
    let at = jwt_claims(access_token);
    assert_eq!(at["aud"], "https://api.securitycenter.microsoft.com");
    assert_eq!(at["iss"], format!("https://sts.windows.net/{TENANT}/"));
    assert_eq!(at["scp"], "Machine.Read Software.Read Vulnerability.Read");
    assert_eq!(at["appid"], CLIENT);
    assert_eq!(at["tid"], TENANT);
    assert_eq!(at["upn"], user.preferred_username.as_str());
    assert_eq!(
        at["exp"]
            .as_u64()
            .zip(at["iat"].as_u64())
            .map(|(e, i)| e - i),
        Some(3600)
    );

    let machines = get_as(&app, "/api/machines?$top=2", access_token).await;
    assert_eq!(machines.status, StatusCode::OK, "{}", machines.text());
    let id = machines.json()["value"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let kbs = get_as(
        &app,
        &format!("/api/machines/{id}/getmissingkbs"),
        access_token,
    )
    .await;
    assert_eq!(kbs.status, StatusCode::OK);

    let stats = send(&app, get("/_mock/idp/stats")).await.into_json();
    assert_eq!(stats["authorize"], 1);
    assert_eq!(stats["token"]["authorization_code"], 1);
}

#[tokio::test]
async fn wrong_verifier_and_reused_code_are_invalid_grant() {
    let app = mock_with(idp_options());
    let code = authorize_code(&app).await;
    let wrong = redeem(
        &app,
        &code,
        "another-verifier-that-is-long-enough-for-rfc7636-000000",
    )
    .await;
    assert_eq!(aad_error(&wrong, "invalid_grant"), 50148);
    assert_eq!(wrong.header("access-control-allow-origin"), Some(ORIGIN));

    assert_eq!(redeem(&app, &code, VERIFIER).await.status, StatusCode::OK);
    let again = redeem(&app, &code, VERIFIER).await;
    assert_eq!(aad_error(&again, "invalid_grant"), 54005);

    let unknown = redeem(&app, "no-such-code", VERIFIER).await;
    aad_error(&unknown, "invalid_grant");
    let missing = send(
        &app,
        form(&[
            ("client_id", CLIENT),
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", REDIRECT),
        ]),
    )
    .await;
    assert_eq!(aad_error(&missing, "invalid_request"), 900144);

    let code = authorize_code(&app).await;
    let other_redirect = send(
        &app,
        form(&[
            ("client_id", CLIENT),
            ("redirect_uri", "http://127.0.0.1:9999/"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("grant_type", "authorization_code"),
        ]),
    )
    .await;
    aad_error(&other_redirect, "invalid_grant");
    let other_client = send(
        &app,
        form(&[
            ("client_id", "someone-else"),
            ("redirect_uri", REDIRECT),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("grant_type", "authorization_code"),
        ]),
    )
    .await;
    assert_eq!(aad_error(&other_client, "unauthorized_client"), 700016);

    let stats = send(&app, get("/_mock/idp/stats")).await.into_json();
    assert_eq!(stats["failures"]["token:invalid_grant"], 4);
    assert_eq!(stats["token"]["authorization_code"], 1);
}

#[tokio::test]
async fn authorize_errors_redirect_or_show_a_page() {
    let app = mock_with(idp_options());
    let unknown = authorize(
        &app,
        &[("client_id", "00000000-dead-beef-0000-000000000000")],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::FOUND);
    let params = unknown.location_params('#');
    assert_eq!(params["error"], "unauthorized_client");
    assert!(params["error_description"].starts_with("AADSTS700016: Application with identifier '00000000-dead-beef-0000-000000000000' was not found in the directory"), "{}", params["error_description"]);
    assert_eq!(params["state"], "state-abc");
    assert!(!params.contains_key("code"));

    let nowhere = authorize(
        &app,
        &[
            ("client_id", "nope"),
            ("redirect_uri", "https://evil.example/cb"),
        ],
    )
    .await;
    assert_eq!(nowhere.status, StatusCode::BAD_REQUEST);
    assert!(nowhere.header("location").is_none());
    assert!(
        nowhere.text().contains("AADSTS700016"),
        "{}",
        nowhere.text()
    );

    let bad_redirect = authorize(&app, &[("redirect_uri", "https://evil.example/cb")]).await;
    assert_eq!(bad_redirect.status, StatusCode::BAD_REQUEST);
    assert!(bad_redirect.text().contains("AADSTS50011"));

    let no_pkce = send(
        &app,
        get(&authorize_uri(&[
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
        ])),
    )
    .await;
    let params = no_pkce.location_params('#');
    assert_eq!(
        (params["error"].as_str(), params["state"].as_str()),
        ("invalid_request", "s")
    );
    let plain = authorize(&app, &[("code_challenge_method", "plain")]).await;
    assert_eq!(plain.location_params('#')["error"], "invalid_request");
    let implicit = authorize(&app, &[("response_type", "id_token")]).await;
    assert_eq!(
        implicit.location_params('#')["error"],
        "unsupported_response_type"
    );

    // Query mode and prompt=none work the same (the demo user is always signed in).
    let query = authorize(&app, &[("response_mode", "query"), ("prompt", "none")]).await;
    assert_eq!(query.status, StatusCode::FOUND);
    assert!(query
        .header("location")
        .is_some_and(|l| l.starts_with(&format!("{REDIRECT}?code="))));
    assert_eq!(
        redeem(&app, &query.location_params('?')["code"], VERIFIER)
            .await
            .status,
        StatusCode::OK
    );

    // With registered URIs, only those.
    let strict = mock_with(IdpOptions {
        redirect_uris: vec!["http://localhost:3000/".to_owned()],
        ..idp_options()
    });
    assert_eq!(
        authorize(&strict, &[]).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        authorize(&strict, &[("redirect_uri", "http://localhost:3000/")])
            .await
            .status,
        StatusCode::FOUND
    );

    let stats = send(&app, get("/_mock/idp/stats")).await.into_json();
    assert_eq!(stats["failures"]["authorize:unauthorized_client"], 2);
}

#[tokio::test]
async fn refresh_token_grant_and_forced_expiry() {
    let app = mock_with(idp_options());
    let tokens = sign_in(&app).await;
    let first = tokens["access_token"].as_str().expect("at").to_owned();
    assert_eq!(
        get_as(&app, "/api/machines?$top=1", &first).await.status,
        StatusCode::OK
    );

    let expired = send(
        &app,
        Request::post("/_mock/idp/expire")
            .body(Body::empty())
            .expect("req"),
    )
    .await
    .into_json();
    assert_eq!(expired["expired"], 1);
    let refused = get_as(&app, "/api/machines?$top=1", &first).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    refused.assert_error(StatusCode::UNAUTHORIZED, "Unauthorized", "expired");
    assert_eq!(refused.error_message(), "Authorization token is expired");
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));

    let refresh = tokens["refresh_token"].as_str().expect("rt");
    let renewed = send(
        &app,
        form(&[
            ("client_id", CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", SCOPE),
        ]),
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text());
    let renewed = renewed.json();
    let second = renewed["access_token"].as_str().expect("at");
    assert_ne!(second, first);
    assert!(renewed["id_token"].is_string() && renewed["refresh_token"].is_string());
    assert!(jwt_claims(renewed["id_token"].as_str().unwrap_or_default())["nonce"].is_null());
    assert_eq!(
        get_as(&app, "/api/machines?$top=1", second).await.status,
        StatusCode::OK
    );

    let wrong_client = send(
        &app,
        form(&[
            ("client_id", "other"),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
        ]),
    )
    .await;
    assert_eq!(aad_error(&wrong_client, "unauthorized_client"), 700016);
    let garbage = send(
        &app,
        form(&[
            ("client_id", CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", "nope"),
        ]),
    )
    .await;
    aad_error(&garbage, "invalid_grant");
    let unsupported = send(
        &app,
        form(&[("client_id", CLIENT), ("grant_type", "password")]),
    )
    .await;
    assert_eq!(aad_error(&unsupported, "unsupported_grant_type"), 70003);

    let stats = send(&app, get("/_mock/idp/stats")).await.into_json();
    assert_eq!(stats["token"]["refresh_token"], 1);
    assert_eq!(stats["forced_expired"], 1);
    assert_eq!(stats["failures"]["api:expired"], 1);
}

#[tokio::test]
async fn refresh_tokens_expire() {
    let app = mock_with(IdpOptions {
        refresh_token_lifetime_secs: 0,
        ..idp_options()
    });
    let tokens = sign_in(&app).await;
    assert_eq!(tokens["refresh_token_expires_in"], 0);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refresh = tokens["refresh_token"].as_str().expect("rt");
    let answer = send(
        &app,
        form(&[
            ("client_id", CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
        ]),
    )
    .await;
    assert_eq!(aad_error(&answer, "invalid_grant"), 700084);
}

#[tokio::test]
async fn fewer_permissions_mean_403_per_endpoint() {
    let app = mock_with(IdpOptions {
        granted_scopes: vec!["Machine.Read".to_owned(), "Vulnerability.Read".to_owned()],
        ..idp_options()
    });
    let tokens = sign_in(&app).await;
    let token = tokens["access_token"].as_str().expect("at");
    assert_eq!(jwt_claims(token)["scp"], "Machine.Read Vulnerability.Read");
    let machines = get_as(&app, "/api/machines?$top=1", token).await;
    assert_eq!(machines.status, StatusCode::OK);
    let id = machines.json()["value"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        get_as(&app, &format!("/api/machines/{id}"), token)
            .await
            .status,
        StatusCode::OK
    );
    let kbs = get_as(&app, &format!("/api/machines/{id}/getmissingkbs"), token).await;
    kbs.assert_error(StatusCode::FORBIDDEN, "Forbidden", "getmissingkbs");
    assert_eq!(
        kbs.error_message(),
        "Missing user permissions. API required permissions: Software.Read. User permissions: Machine.Read Vulnerability.Read."
    );

    let none = mock_with(IdpOptions {
        granted_scopes: Vec::new(),
        ..idp_options()
    });
    let token = sign_in(&none).await["access_token"]
        .as_str()
        .expect("at")
        .to_owned();
    let machines = get_as(&none, "/api/machines", &token).await;
    machines.assert_error(StatusCode::FORBIDDEN, "Forbidden", "no scopes");
    assert!(machines
        .error_message()
        .contains("API required permissions: Machine.Read. User permissions: ."));
}

#[tokio::test]
async fn invalid_tokens_are_401() {
    let app = mock_with(idp_options());
    let token = sign_in(&app).await["access_token"]
        .as_str()
        .expect("at")
        .to_owned();

    let (head, rest) = token.rsplit_once('.').expect("jwt");
    let mut signature = URL_SAFE_NO_PAD.decode(rest).expect("b64");
    signature[10] ^= 0x01;
    let tampered = format!("{head}.{}", URL_SAFE_NO_PAD.encode(signature));
    let answer = get_as(&app, "/api/machines", &tampered).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    answer.assert_error(StatusCode::UNAUTHORIZED, "Unauthorized", "tampered");
    let message = answer.error_message();
    assert!(message.starts_with("Invalid token"), "{message}");

    // Claims changed, signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = jwt_claims(&token);
    claims["scp"] = "Machine.ReadWrite Software.Read".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(
        get_as(&app, "/api/machines", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );

    let dev = get_as(&app, "/api/machines", "dev").await;
    assert_eq!(dev.error_message(), "Invalid token (not a JWT)");

    // A token from another run's IdP (same options, other key).
    let other = mock_with(idp_options());
    let foreign = sign_in(&other).await["access_token"]
        .as_str()
        .expect("at")
        .to_owned();
    assert!(get_as(&app, "/api/machines", &foreign)
        .await
        .error_message()
        .starts_with("Invalid token"));

    let stats = send(&app, get("/_mock/idp/stats")).await.into_json();
    assert_eq!(stats["failures"]["api:invalid"], 4);
}

#[tokio::test]
async fn audience_follows_the_requested_resource() {
    let app = mock_with(idp_options());
    let sign_in_for = |scope: &'static str| {
        let app = app.clone();
        async move {
            let answer = authorize(&app, &[("scope", scope)]).await;
            let code = answer.location_params('#')["code"].clone();
            let tokens = send(
                &app,
                form(&[
                    ("client_id", CLIENT),
                    ("redirect_uri", REDIRECT),
                    ("code", &code),
                    ("code_verifier", VERIFIER),
                    ("grant_type", "authorization_code"),
                    ("scope", scope),
                ]),
            )
            .await
            .into_json();
            tokens["access_token"].as_str().expect("at").to_owned()
        }
    };
    let newer = sign_in_for("https://api.security.microsoft.com/.default openid").await;
    assert_eq!(
        jwt_claims(&newer)["aud"],
        "https://api.security.microsoft.com"
    );
    assert_eq!(
        get_as(&app, "/api/machines?$top=1", &newer).await.status,
        StatusCode::OK
    );

    let graph = sign_in_for("https://graph.microsoft.com/User.Read openid").await;
    let answer = get_as(&app, "/api/machines?$top=1", &graph).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.error_message().contains("audience"));
}

#[tokio::test]
async fn token_endpoint_answers_cors_preflight() {
    let app = mock_with(idp_options());
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri(format!("/{TENANT}/oauth2/v2.0/token"))
        .header(header::ORIGIN, ORIGIN)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "content-type,client-request-id",
        )
        .body(Body::empty())
        .expect("request");
    let answer = send(&app, preflight).await;
    assert!(answer.status.is_success(), "{}", answer.status);
    assert_eq!(answer.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(answer
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST")));
    let allowed = answer
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("content-type") && allowed.contains("client-request-id"),
        "{allowed}"
    );
}

#[tokio::test]
async fn logout_and_minted_tokens() {
    let app = mock_with(idp_options());
    let back = send(
        &app,
        get(&format!(
            "/{TENANT}/oauth2/v2.0/logout?post_logout_redirect_uri={}",
            form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
        )),
    )
    .await;
    assert_eq!(back.status, StatusCode::FOUND);
    assert_eq!(back.header("location"), Some(REDIRECT));
    let page = send(&app, get(&format!("/{TENANT}/oauth2/v2.0/logout"))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("signed out"));

    let minted = send(&app, get("/_mock/idp/token?scp=Machine.Read"))
        .await
        .into_json();
    let token = minted["access_token"].as_str().expect("token");
    assert_eq!(
        get_as(&app, "/api/machines?$top=1", token).await.status,
        StatusCode::OK
    );
    let id = get_as(&app, "/api/machines?$top=1", token).await.json()["value"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        get_as(&app, &format!("/api/machines/{id}/getmissingkbs"), token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert!(send(&app, get("/_mock/idp/cert"))
        .await
        .text()
        .starts_with("-----BEGIN CERTIFICATE-----"));
}

#[tokio::test]
async fn without_idp_any_bearer_still_passes() {
    let app = router(&MockOptions::default());
    assert_eq!(
        get_as(&app, "/api/machines?$top=1", "anything")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, get("/_mock/idp/stats")).await.status,
        StatusCode::NOT_FOUND
    );
}

/// HTTP/1.1 over TLS to the IdP, trusting only its CA (hyper + tokio-rustls on ring).
struct HttpsClient {
    addr: std::net::SocketAddr,
    connector: tokio_rustls::TlsConnector,
}

impl HttpsClient {
    fn new(addr: std::net::SocketAddr, ca_pem: &str) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots
                .add(cert.expect("PEM certificate"))
                .expect("CA accepted");
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            addr,
            connector: tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)),
        }
    }

    /// `host` is both the TLS server name (checked against the certificate) and `Host`.
    async fn send(
        &self,
        host: &str,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Result<Answer, String> {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| format!("server name: {e}"))?;
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(connection);
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, format!("{host}:{}", self.addr.port()))
            .header(header::ORIGIN, ORIGIN);
        let body = match form {
            Some(pairs) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
            }
            None => String::new(),
        };
        let request = builder.body(body).map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        Answer::read(response)
            .await
            .map_err(|e| format!("body: {e}"))
    }
}

/// The whole flow over real sockets: the HTTPS IdP (its certificate verified against the CA it
/// hands out, for both 127.0.0.1 and localhost) and the plain-HTTP API.
#[tokio::test]
async fn https_idp_over_real_sockets() {
    let mock = spawn(
        MockOptions {
            cors: true,
            idp: Some(IdpOptions {
                port: 0,
                ..IdpOptions::default()
            }),
            ..MockOptions::default()
        },
        0,
    )
    .await
    .expect("spawn");
    let idp_addr = mock.idp_addr.expect("idp listener");
    assert!(idp_addr.ip().is_loopback());
    let authority = mock.authority().expect("authority");
    assert_eq!(authority, format!("https://{idp_addr}/{TENANT}"));
    let https = HttpsClient::new(idp_addr, mock.idp_cert_pem.as_deref().expect("CA PEM"));

    let meta = https
        .send(
            "127.0.0.1",
            Method::GET,
            &format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
            None,
        )
        .await
        .expect("metadata")
        .into_json();
    assert_eq!(meta["issuer"], format!("{authority}/v2.0"));
    assert_eq!(
        meta["token_endpoint"],
        format!("{authority}/oauth2/v2.0/token")
    );

    let authorize = https
        .send("localhost", Method::GET, &msal_authorize(&[]), None)
        .await
        .expect("authorize");
    assert_eq!(authorize.status, StatusCode::FOUND);
    let code = authorize.location_params('#')["code"].clone();

    let tokens = https
        .send(
            "127.0.0.1",
            Method::POST,
            &format!("/{TENANT}/oauth2/v2.0/token"),
            Some(&[
                ("client_id", CLIENT),
                ("redirect_uri", REDIRECT),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("grant_type", "authorization_code"),
                ("scope", SCOPE),
            ]),
        )
        .await
        .expect("token");
    assert_eq!(tokens.header("access-control-allow-origin"), Some(ORIGIN));
    let tokens = tokens.json();
    let token = tokens["access_token"].as_str().expect("access_token");

    let client = reqwest::Client::new();
    let machines = format!("{}/api/machines?$top=1", mock.api_url());
    let ok = client
        .get(&machines)
        .bearer_auth(token)
        .send()
        .await
        .expect("api");
    assert_eq!(ok.status(), StatusCode::OK);
    let refused = client
        .get(&machines)
        .bearer_auth("dev")
        .send()
        .await
        .expect("api");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // The admin routes answer on both listeners.
    let expired = https
        .send("127.0.0.1", Method::POST, "/_mock/idp/expire", None)
        .await
        .expect("expire")
        .into_json();
    assert_eq!(expired["expired"], 1);
    let again = client
        .get(&machines)
        .bearer_auth(token)
        .send()
        .await
        .expect("api");
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    let stats: Value = client
        .get(format!("{}/_mock/idp/stats", mock.api_url()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["forced_expired"], 1);
    assert_eq!(stats["token"]["authorization_code"], 1);

    mock.shutdown().await;
    assert!(https
        .send("127.0.0.1", Method::GET, "/_mock/idp/stats", None)
        .await
        .is_err());
}

#[tokio::test]
async fn an_ended_session_refuses_silent_renewal_until_the_user_signs_in_again() {
    let app = mock_with(idp_options());
    let tokens = sign_in(&app).await;
    let access = tokens["access_token"].as_str().expect("at").to_owned();
    let refresh = tokens["refresh_token"].as_str().expect("rt").to_owned();
    let refresh_grant = || {
        form(&[
            ("client_id", CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", SCOPE),
        ])
    };

    let ended = send(
        &app,
        Request::post("/_mock/idp/end-session")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK);
    // Tokens issued so far are expired, the refresh token is refused, and so is a silent sign-in.
    assert_eq!(
        get_as(&app, "/api/machines?$top=1", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        aad_error(&send(&app, refresh_grant()).await, "invalid_grant"),
        50173
    );
    let silent = authorize(&app, &[("prompt", "none")]).await;
    assert_eq!(silent.status, StatusCode::FOUND, "{}", silent.text());
    let params = silent.location_params('#');
    assert_eq!(params["error"], "login_required");
    assert!(params["error_description"].starts_with("AADSTS50058: "));
    assert_eq!(params["state"], "state-abc");

    // The user signs in again on the sign-in page: a code, and silent renewal works again.
    let again = sign_in(&app).await;
    assert!(again["access_token"].is_string());
    let silent = authorize(&app, &[("prompt", "none")]).await;
    assert!(silent.location_params('#').contains_key("code"));
    assert_eq!(
        aad_error(&send(&app, refresh_grant()).await, "invalid_grant"),
        50173,
        "a revoked refresh token stays revoked"
    );

    let stats = send(&app, get("/_mock/idp/stats")).await.into_json();
    assert_eq!(stats["ended_sessions"], 1);
    assert_eq!(stats["failures"]["token:invalid_grant"], 2);
    assert_eq!(stats["failures"]["authorize:login_required"], 1);
}
