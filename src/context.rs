//! What every page needs, provided once at start-up: the validated configuration, the API
//! client built from it (with its token source), and the last sign-in failure.

pub use kbwatch_core::config::StartupProblem;
use kbwatch_core::{AppConfig, AuthMode, Endpoints, SignInError};
use leptos::prelude::*;
use url::Url;

use crate::api::{self, ApiClient};
use crate::auth::{msal, TokenSource};

#[derive(Clone)]
pub struct AppContext {
    pub config: AppConfig,
    pub client: ApiClient,
    /// MSAL: why the last sign-in failed (shown on the sign-in page).
    pub sign_in_error: RwSignal<Option<SignInError>>,
}

impl AppContext {
    pub fn new(config: AppConfig, page_url: &Url) -> Self {
        let endpoints = Endpoints::new(config.api_base.resolve(page_url));
        let client = ApiClient::new(
            endpoints,
            TokenSource::for_mode(&config.auth),
            config.request_timeout_secs,
            config.device_page_size,
        );
        let client = match &config.auth {
            AuthMode::Msal(msal) => client.with_registration(&msal.tenant_id, &msal.client_id),
            _ => client,
        };
        Self {
            config,
            client,
            sign_in_error: RwSignal::new(None),
        }
    }

    /// Loads and validates `config.json`, then completes a returning MSAL sign-in.
    pub async fn load() -> Result<Self, StartupProblem> {
        let text = api::config_json().await?;
        let config = AppConfig::parse(&text).map_err(StartupProblem::Invalid)?;
        let page = page_url().ok_or_else(|| StartupProblem::Unreachable {
            status: None,
            reason: "no page URL".to_owned(),
        })?;
        let context = Self::new(config, &page);
        if let (AuthMode::Msal(settings), TokenSource::Msal(account)) =
            (&context.config.auth, context.client.tokens())
        {
            match msal::init(settings, &page).await {
                Ok(name) => account.set(name),
                Err(error) => context.sign_in_error.set(Some(error)),
            }
        }
        Ok(context)
    }
}

fn page_url() -> Option<Url> {
    let href = web_sys::window()?.location().href().ok()?;
    Url::parse(&href).ok()
}
