//! Sign-in and token screens and the top bar's identity widgets. They render and report intent
//! (sign in, sign out, a token accepted, replace it); the pages do the signing in.

use kbwatch_core::token_info::{PastedToken, TokenFreshness, TokenRejected};
use kbwatch_core::SignInError;
use leptos::prelude::*;

use crate::clock;
use crate::messages;

/// The MSAL sign-in landing page: a button (never an automatic redirect, so a failing sign-in
/// cannot loop) and the last sign-in error, if any.
#[component]
pub fn SignInPage(
    #[prop(into)] error: Signal<Option<SignInError>>,
    /// A sign-in is under way (the button is disabled).
    #[prop(into)]
    busy: Signal<bool>,
    on_sign_in: Callback<()>,
    /// The sign-in host when it is not the cloud's (a test configuration): said before the
    /// button.
    foreign_host: Option<String>,
) -> impl IntoView {
    view! {
        <main class="gate" data-testid="sign-in-page">
            <h1>{messages::SIGN_IN_TITLE}</h1>
            <p>{messages::SIGN_IN_HELP}</p>
            {foreign_host.map(|host| view! {
                <p class="banner banner-warning" role="alert" data-testid="sign-in-host-warning">{messages::foreign_sign_in_host(&host)}</p>
            })}
            {move || error.get().map(|e| view! {
                <div class="banner banner-error" role="alert" data-testid="sign-in-error">
                    <p class="banner-title">{messages::SIGN_IN_FAILED}</p>
                    <p>{messages::msal_error(&e.code, &e.message)}</p>
                </div>
            })}
            <button type="button" class="button" data-testid="sign-in" on:click=move |_| on_sign_in.run(()) disabled=move || busy.get()>
                {move || if busy.get() { messages::SIGNING_IN } else { messages::SIGN_IN }}
            </button>
        </main>
    }
}

/// Token mode: paste an access token; its claims are shown, its signature is the API's job.
#[component]
pub fn TokenEntry(on_token: Callback<PastedToken>) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<TokenRejected>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match PastedToken::accept(&draft.get_untracked(), clock::now_unix()) {
            Err(rejected) => problem.set(Some(rejected)),
            Ok(token) => {
                problem.set(None);
                draft.set(String::new());
                on_token.run(token);
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
                {move || problem.get().map(|p| view! { <p class="banner banner-error" role="alert" data-testid="token-problem">{messages::token_rejected(p)}</p> })}
                <button type="submit" class="button" data-testid="token-submit">{messages::TOKEN_USE}</button>
            </form>
        </main>
    }
}

/// Who the pasted token belongs to and when it expires, re-evaluated as `now` moves so the
/// warning appears before the API starts answering 401.
#[component]
pub fn TokenStatus(
    #[prop(into)] token: Signal<Option<PastedToken>>,
    /// Unix milliseconds (see `clock::use_now`).
    #[prop(into)]
    now: Signal<u64>,
    on_replace: Callback<()>,
) -> impl IntoView {
    move || {
        let info = token.with(|t| t.as_ref().map(|t| t.info.clone()))?;
        let (class, expiry) = match info.freshness((now.get() / 1_000) as i64) {
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
            <button type="button" class="button button-quiet" data-testid="token-replace" on:click=move |_| on_replace.run(())>
                {messages::TOKEN_REPLACE}
            </button>
        })
    }
}

/// The signed-in MSAL account and a sign-out button.
#[component]
pub fn AccountStatus(
    #[prop(into)] account: Signal<Option<String>>,
    on_sign_out: Callback<()>,
) -> impl IntoView {
    view! {
        <span class="badge" data-testid="account">{move || account.get().unwrap_or_default()}</span>
        <button type="button" class="button button-quiet" data-testid="sign-out" on:click=move |_| on_sign_out.run(())>
            {messages::SIGN_OUT}
        </button>
    }
}
