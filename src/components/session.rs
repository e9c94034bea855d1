use kbwatch_core::token_info::{TokenFreshness, TokenInfo, TokenInfoError};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::auth::msal::{self, MsalError};
use crate::messages;

/// Seconds since the Unix epoch, from the browser clock.
pub fn now_unix() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// The MSAL sign-in landing page: a button (never an automatic redirect, so a failing sign-in
/// cannot loop) and the last sign-in error, if any.
#[component]
pub fn SignInPage(#[prop(into)] error: Signal<Option<MsalError>>) -> impl IntoView {
    let busy = RwSignal::new(false);
    let failure = RwSignal::new(None::<MsalError>);
    let sign_in = move |_| {
        busy.set(true);
        spawn_local(async move {
            if let Err(e) = msal::login().await {
                failure.set(Some(e));
                busy.set(false);
            }
        });
    };
    let shown = move || failure.get().or_else(|| error.get());
    view! {
        <main class="gate" data-testid="sign-in-page">
            <h1>{messages::SIGN_IN_TITLE}</h1>
            <p>{messages::SIGN_IN_HELP}</p>
            {move || shown().map(|e| view! {
                <div class="banner banner-error" role="alert" data-testid="sign-in-error">
                    <p class="banner-title">{messages::SIGN_IN_FAILED}</p>
                    <p>{messages::msal_error(&e.code, &e.message)}</p>
                </div>
            })}
            <button type="button" class="button" data-testid="sign-in" on:click=sign_in disabled=move || busy.get()>
                {move || if busy.get() { messages::SIGNING_IN } else { messages::SIGN_IN }}
            </button>
        </main>
    }
}

/// Token mode: paste an access token; its claims are shown, its signature is the API's job.
#[component]
pub fn TokenEntry(token: RwSignal<Option<String>>) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<&'static str>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = draft
            .get_untracked()
            .trim()
            .trim_start_matches("Bearer ")
            .trim()
            .to_owned();
        match TokenInfo::decode(&text) {
            Err(TokenInfoError::NotAJwt) => problem.set(Some(messages::TOKEN_NOT_JWT)),
            Err(TokenInfoError::UnreadableClaims) => problem.set(Some(messages::TOKEN_UNREADABLE)),
            Ok(info) if info.freshness(now_unix()) == TokenFreshness::Expired => {
                problem.set(Some(messages::TOKEN_ALREADY_EXPIRED))
            }
            Ok(_) => {
                problem.set(None);
                draft.set(String::new());
                token.set(Some(text));
            }
        }
    };
    view! {
        <main class="gate" data-testid="token-entry">
            <h1>{messages::TOKEN_TITLE}</h1>
            <p>{messages::TOKEN_HELP}</p>
            <pre class="command">{messages::TOKEN_COMMAND}</pre>
            <form on:submit=submit>
                <label class="filter">
                    <span class="filter-label">{messages::TOKEN_LABEL}</span>
                    <textarea
                        data-testid="token-input"
                        rows="5"
                        autocomplete="off"
                        spellcheck="false"
                        prop:value=move || draft.get()
                        on:input=move |ev| draft.set(event_target_value(&ev))
                    ></textarea>
                </label>
                {move || problem.get().map(|p| view! { <p class="banner banner-error" role="alert" data-testid="token-problem">{p}</p> })}
                <button type="submit" class="button" data-testid="token-submit">{messages::TOKEN_USE}</button>
            </form>
        </main>
    }
}

/// Who the pasted token belongs to and when it expires, re-evaluated every few seconds so
/// the warning appears before the API starts answering 401.
#[component]
pub fn TokenStatus(token: RwSignal<Option<String>>) -> impl IntoView {
    let now = RwSignal::new(now_unix());
    if let Ok(handle) = set_interval_with_handle(
        move || now.set(now_unix()),
        std::time::Duration::from_secs(5),
    ) {
        on_cleanup(move || handle.clear());
    }
    let info = Memo::new(move |_| token.get().and_then(|t| TokenInfo::decode(&t).ok()));
    move || {
        let info = info.get()?;
        let freshness = info.freshness(now.get());
        let (class, expiry) = match freshness {
            TokenFreshness::Valid { remaining_secs } => {
                ("badge", messages::token_expires_in(remaining_secs))
            }
            TokenFreshness::ExpiringSoon { remaining_secs } => (
                "badge badge-warning",
                messages::token_expiring_soon(remaining_secs),
            ),
            TokenFreshness::Expired => ("badge badge-error", messages::TOKEN_EXPIRED.to_owned()),
            TokenFreshness::Unknown => ("badge", messages::TOKEN_NO_EXPIRY.to_owned()),
        };
        Some(view! {
            <span class=class data-testid="token-status" role="status">
                {messages::token_owner(info.subject.as_deref())}", "{expiry}
            </span>
            <button type="button" class="button button-quiet" data-testid="token-replace" on:click=move |_| token.set(None)>
                {messages::TOKEN_REPLACE}
            </button>
        })
    }
}

/// The signed-in MSAL account and a sign-out button.
#[component]
pub fn AccountStatus(#[prop(into)] account: Signal<Option<String>>) -> impl IntoView {
    let sign_out = move |_| {
        spawn_local(async move {
            let _ = msal::logout().await;
        });
    };
    view! {
        <span class="badge" data-testid="account">{move || account.get().unwrap_or_default()}</span>
        <button type="button" class="button button-quiet" data-testid="sign-out" on:click=sign_out>
            {messages::SIGN_OUT}
        </button>
    }
}
