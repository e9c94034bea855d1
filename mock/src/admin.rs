//! `/_mock/*`: control the mock from tests and the dev server, without auth.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::faults::{FaultRule, FaultRuleBody};
use crate::MockState;

fn fault_list(state: &MockState) -> Value {
    Value::Array(state.faults.list().iter().map(FaultRule::to_json).collect())
}

/// `GET /_mock/faults`.
pub(crate) async fn list_faults(State(state): State<Arc<MockState>>) -> Json<Value> {
    Json(json!({ "faults": fault_list(&state) }))
}

/// `POST /_mock/faults` with `{"kind": "...", "retry_after_secs"?, "ms"?, "path_contains"?, "count"?}`.
pub(crate) async fn add_fault(State(state): State<Arc<MockState>>, body: Bytes) -> Response {
    let rule = serde_json::from_slice::<FaultRuleBody>(&body)
        .map_err(|e| ApiError::invalid_request_body(format!("Fault body is not valid: {e}")))
        .and_then(|b| {
            FaultRule::try_from(b).map_err(|e| ApiError::invalid_request_body(e.to_string()))
        });
    match rule {
        Ok(rule) => {
            let added = rule.to_json();
            state.faults.add(rule);
            (
                StatusCode::CREATED,
                Json(json!({ "added": added, "faults": fault_list(&state) })),
            )
                .into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// `DELETE /_mock/faults`.
pub(crate) async fn clear_faults(State(state): State<Arc<MockState>>) -> Json<Value> {
    Json(json!({ "cleared": state.faults.clear() }))
}

/// `GET /_mock/stats`: request counters (in all, per exact path, per route template, per
/// status, and per endpoint `{calls, statuses, throttled}`) plus `rate_limits`: the global
/// budget (`budgets.default`), the export's (`budgets.export`) and every endpoint's
/// (`endpoints`, by route template) with their limits, (scaled) windows and, per token, the
/// most calls seen in any window and the calls over the limit.
pub(crate) async fn stats(State(state): State<Arc<MockState>>) -> Json<Value> {
    let mut body = json!(state.stats.snapshot());
    body["rate_limits"] = json!(state.limits.stats());
    Json(body)
}

fn settings_json(state: &MockState) -> Value {
    json!({ "missing_kbs_app_only": state.access_policy().missing_kbs_app_only })
}

/// `GET /_mock/settings`: `{"missing_kbs_app_only": bool}`.
pub(crate) async fn settings(State(state): State<Arc<MockState>>) -> Json<Value> {
    Json(settings_json(&state))
}

/// Body of `POST /_mock/settings`: the switches to change; absent ones stay.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    missing_kbs_app_only: Option<bool>,
}

/// `POST /_mock/settings` with `{"missing_kbs_app_only": true}`: flip the switches at run time
/// (see [`crate::MockOptions::missing_kbs_app_only`]); answers the settings now. Unknown keys
/// are 400 `InvalidRequestBody`.
pub(crate) async fn update_settings(State(state): State<Arc<MockState>>, body: Bytes) -> Response {
    match serde_json::from_slice::<SettingsBody>(&body) {
        Ok(update) => {
            if let Some(on) = update.missing_kbs_app_only {
                state
                    .missing_kbs_app_only
                    .store(on, std::sync::atomic::Ordering::SeqCst);
            }
            Json(settings_json(&state)).into_response()
        }
        Err(e) => ApiError::invalid_request_body(format!("Settings body is not valid: {e}"))
            .into_response(),
    }
}

/// `POST /_mock/reset`: no faults, no counts (the IdP's too), fresh rate windows, the settings
/// as started. Issued tokens stay valid.
pub(crate) async fn reset(State(state): State<Arc<MockState>>) -> Json<Value> {
    state.missing_kbs_app_only.store(
        state.options.missing_kbs_app_only,
        std::sync::atomic::Ordering::SeqCst,
    );
    state.faults.clear();
    state.stats.reset();
    state.limits.reset();
    if let Some(idp) = &state.idp {
        idp.reset_stats();
    }
    Json(json!({ "reset": true }))
}

/// `GET /_mock/fleet`: a summary of every device, so tests can pick one by shape.
pub(crate) async fn fleet(State(state): State<Arc<MockState>>) -> Json<Value> {
    let devices: Vec<Value> = state
        .fleet
        .machines
        .iter()
        .enumerate()
        .map(|(index, m)| {
            json!({
                "id": m.id,
                "computerDnsName": m.computer_dns_name,
                "osPlatform": m.os_platform,
                "onboardingStatus": m.onboarding_status,
                "healthStatus": m.health_status,
                "missingKbs": m.missing_kbs.len(),
                "vulnerabilities": state.vulns.cve_rows_of(index),
            })
        })
        .collect();
    let (with_cve, all) = state.vulns.totals();
    Json(json!({
        "devices": devices,
        "catalogSize": state.fleet.catalog.kbs.len(),
        "machinesVulnerabilities": with_cve,
        "softwareVulnerabilitiesByMachine": all,
    }))
}
