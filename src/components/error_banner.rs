use kbwatch_core::url_state::CONNECTION_CHECK_LINK;
use kbwatch_core::{ApiError, LoadStatus};
use leptos::prelude::*;

use crate::messages;

/// "Run the connection check" under a failure it can explain (401, 403, no answer).
#[component]
pub fn CheckLinkFor(error: ApiError) -> impl IntoView {
    kbwatch_core::connection::explains(&error).then(|| {
        view! { <p><a href=CONNECTION_CHECK_LINK data-testid="check-link">{messages::CHECK_LINK}</a></p> }
    })
}

/// The failure (or throttling countdown) of a load, with the API's code, message and
/// correlation id, and a retry button for errors that may go away.
#[component]
pub fn ErrorBanner(
    /// Status of the load this banner reports on.
    #[prop(into)]
    status: Signal<LoadStatus>,
    /// Context line, e.g. which device was requested.
    #[prop(into, optional)]
    context: Signal<Option<String>>,
    on_retry: Callback<()>,
) -> impl IntoView {
    move || {
        let (error, countdown): (ApiError, Option<u32>) = match status.get() {
            LoadStatus::Failed(e) => (e, None),
            LoadStatus::RetryingIn { seconds, error } => (error, Some(seconds)),
            LoadStatus::Idle | LoadStatus::Loading => return None,
        };
        let text = messages::api_error(&error);
        let check_error = error.clone();
        let retry_button = (countdown.is_none() && error.is_transient()).then(|| {
            view! {
                <button type="button" class="button" data-testid="retry" on:click=move |_| on_retry.run(())>
                    {messages::RETRY}
                </button>
            }
        });
        Some(view! {
            <div class="banner banner-error" role="alert" data-testid="error-banner">
                <p class="banner-title">{text.title}</p>
                {context.get().map(|c| view! { <p>{c}</p> })}
                {text.message.map(|m| view! { <p class="banner-api-message">{m}</p> })}
                <p>{text.action}</p>
                {countdown.map(|s| view! { <p data-testid="retry-countdown">{messages::retrying_in(s)}</p> })}
                <dl class="banner-meta">
                    {text.code.map(|c| view! { <dt>{messages::CODE}</dt><dd data-testid="error-code">{c}</dd> })}
                    {text.correlation_id.map(|c| view! { <dt>{messages::CORRELATION_ID}</dt><dd data-testid="correlation-id">{c}</dd> })}
                </dl>
                {retry_button}
                <CheckLinkFor error=check_error/>
            </div>
        })
    }
}
