//! Start-up: load and validate `config.json`, then show the dashboard or say exactly what
//! is wrong with the configuration.

use gloo_net::http::Request;
use kbwatch_core::{AppConfig, AuthMode, ConfigError, Endpoints};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::Router;
use url::Url;
use web_sys::RequestCache;

use crate::api::ApiClient;
use crate::auth::msal::{self, MsalError};
use crate::auth::TokenSource;
use crate::components::session::{SignInPage, TokenEntry};
use crate::messages;
use crate::pages::dashboard::Dashboard;

/// What every page needs: the validated configuration, the API client built from it, and
/// who is signed in.
#[derive(Clone)]
pub struct AppContext {
    pub config: AppConfig,
    pub client: ApiClient,
    /// MSAL: the signed-in account's user name.
    pub account: RwSignal<Option<String>>,
    /// MSAL: why the last sign-in failed (shown on the sign-in page).
    pub sign_in_error: RwSignal<Option<MsalError>>,
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
        Self {
            config,
            client,
            account: RwSignal::new(None),
            sign_in_error: RwSignal::new(None),
        }
    }
}

/// Why the app cannot start.
#[derive(Debug, Clone, PartialEq)]
pub enum StartupProblem {
    Unreachable(String),
    Invalid(Vec<ConfigError>),
}

#[component]
pub fn App() -> impl IntoView {
    let startup = RwSignal::new(None::<Result<AppContext, StartupProblem>>);
    spawn_local(async move {
        startup.set(Some(load_context().await));
    });
    move || match startup.get() {
        None => view! { <p class="muted startup">{messages::LOADING_CONFIG}</p> }.into_any(),
        Some(Err(problem)) => view! { <ConfigProblem problem/> }.into_any(),
        Some(Ok(context)) => {
            provide_context(context.clone());
            view! { <Gate context/> }.into_any()
        }
    }
}

/// Shows the dashboard once the auth mode has what it needs (a token, an account).
#[component]
fn Gate(context: AppContext) -> impl IntoView {
    let tokens = context.client.tokens();
    let account = context.account;
    let ready = Memo::new(move |_| match tokens {
        TokenSource::Demo => true,
        TokenSource::Pasted(token) => token.with(Option::is_some),
        TokenSource::Msal => account.with(Option::is_some),
    });
    let sign_in_error = context.sign_in_error;
    move || {
        if ready.get() {
            view! { <Router><Dashboard/></Router> }.into_any()
        } else {
            match tokens {
                TokenSource::Pasted(token) => view! { <TokenEntry token/> }.into_any(),
                _ => view! { <SignInPage error=sign_in_error/> }.into_any(),
            }
        }
    }
}

fn page_url() -> Option<Url> {
    let href = web_sys::window()?.location().href().ok()?;
    Url::parse(&href).ok()
}

async fn load_context() -> Result<AppContext, StartupProblem> {
    let response = Request::get("config.json")
        .cache(RequestCache::NoCache)
        .send()
        .await
        .map_err(|e| {
            StartupProblem::Unreachable(messages::config_unreachable(None, &e.to_string()))
        })?;
    if !response.ok() {
        return Err(StartupProblem::Unreachable(messages::config_unreachable(
            Some(response.status()),
            "",
        )));
    }
    let text = response.text().await.map_err(|e| {
        StartupProblem::Unreachable(messages::config_unreachable(None, &e.to_string()))
    })?;
    let config = AppConfig::parse(&text).map_err(StartupProblem::Invalid)?;
    let page = page_url().ok_or_else(|| {
        StartupProblem::Unreachable(messages::config_unreachable(None, "no page URL"))
    })?;
    let context = AppContext::new(config, &page);
    if let AuthMode::Msal(settings) = &context.config.auth {
        match msal::init(settings, &page).await {
            Ok(account) => context.account.set(account),
            Err(error) => context.sign_in_error.set(Some(error)),
        }
    }
    Ok(context)
}

/// The configuration error page: every wrong key, what was found, what is allowed.
#[component]
pub fn ConfigProblem(problem: StartupProblem) -> impl IntoView {
    let lines: Vec<String> = match problem {
        StartupProblem::Unreachable(text) => vec![text],
        StartupProblem::Invalid(errors) => errors.iter().map(messages::config_error).collect(),
    };
    view! {
        <main class="config-problem" data-testid="config-error">
            <h1>{messages::CONFIG_INVALID_TITLE}</h1>
            <p>{messages::CONFIG_INVALID_HELP}</p>
            <ul>
                {lines.into_iter().map(|l| view! { <li data-testid="config-error-item">{l}</li> }).collect_view()}
            </ul>
        </main>
    }
}
