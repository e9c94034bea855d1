//! Rust side of the MSAL.js bridge (`msal_bridge.js`).

use kbwatch_core::config::MsalConfig;
use kbwatch_core::SignInError;
use serde::Serialize;
use url::Url;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/auth/msal_bridge.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = msalInit)]
    async fn msal_init(settings: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = msalLogin)]
    async fn msal_login() -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = msalToken)]
    async fn msal_token(force_refresh: bool, interactive: bool) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = msalLogout)]
    async fn msal_logout() -> Result<JsValue, JsValue>;
}

/// Reads MSAL's error object (`errorCode`, `errorMessage`, `interactionRequired`).
fn sign_in_error(value: JsValue) -> SignInError {
    let text = |key: &str| {
        js_sys::Reflect::get(&value, &JsValue::from_str(key))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let interaction_required =
        js_sys::Reflect::get(&value, &JsValue::from_str("interactionRequired"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
    SignInError {
        code: text("errorCode"),
        message: text("errorMessage"),
        interaction_required,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BridgeSettings<'a> {
    script_url: String,
    client_id: &'a str,
    authority: &'a str,
    redirect_uri: String,
    post_logout_redirect_uri: String,
    scopes: &'a [String],
    cache_location: &'static str,
    known_authorities: &'a [String],
    authority_metadata: Option<&'a str>,
    token_renewal_offset_seconds: u32,
}

/// Initialises MSAL (loading its script) and completes a returning redirect.
/// Returns the signed-in account's user name, if any.
pub async fn init(config: &MsalConfig, page: &Url) -> Result<Option<String>, SignInError> {
    let app_root = page.join("./").unwrap_or_else(|_| page.clone());
    let redirect_uri = match &config.redirect_uri {
        Some(uri) => page
            .join(uri)
            .map(String::from)
            .unwrap_or_else(|_| uri.clone()),
        None => app_root
            .join("redirect.html")
            .map(String::from)
            .unwrap_or_default(),
    };
    let settings = BridgeSettings {
        script_url: app_root
            .join("msal-browser.min.js")
            .map(String::from)
            .unwrap_or_default(),
        client_id: &config.client_id,
        authority: config.authority.as_str(),
        redirect_uri,
        post_logout_redirect_uri: app_root.to_string(),
        scopes: &config.scopes,
        cache_location: config.cache_location.name(),
        known_authorities: &config.known_authorities,
        authority_metadata: config.authority_metadata.as_deref(),
        token_renewal_offset_seconds: config.token_renewal_offset_secs,
    };
    let json = serde_json::to_string(&settings).map_err(|e| SignInError {
        code: "settings".into(),
        message: e.to_string(),
        interaction_required: false,
    })?;
    let account = msal_init(&json).await.map_err(sign_in_error)?;
    Ok(account.as_string().filter(|a| !a.is_empty()))
}

/// Navigates to the sign-in page.
pub async fn login() -> Result<(), SignInError> {
    msal_login().await.map(|_| ()).map_err(sign_in_error)
}

/// An access token; `force_refresh` bypasses MSAL's cache. With `interactive`, MSAL navigates
/// to the sign-in page when silent renewal is impossible.
pub async fn token(force_refresh: bool, interactive: bool) -> Result<String, SignInError> {
    let value = msal_token(force_refresh, interactive)
        .await
        .map_err(sign_in_error)?;
    value.as_string().ok_or_else(|| SignInError {
        code: "no_token".into(),
        message: String::new(),
        interaction_required: true,
    })
}

pub async fn logout() -> Result<(), SignInError> {
    msal_logout().await.map(|_| ()).map_err(sign_in_error)
}
