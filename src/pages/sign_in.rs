//! What stands before the dashboard until the auth mode has what it needs: the MSAL sign-in
//! page, or the token entry of token mode.

use kbwatch_core::AuthMode;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::auth::{msal, TokenSource};
use crate::components::session::{SignInPage, TokenEntry};
use crate::context::AppContext;
use crate::lazy_view::{lazy_page, lazy_view};
use crate::messages;

lazy_page! {
    /// The sign-in and token screens: only some users see them, so they are a wasm chunk.
    fn sign_in_view() as sign_in_view => SignInGate
}

/// The sign-in gate in the shell, its code fetched when it is first needed.
#[component]
pub fn SignInRoute() -> impl IntoView {
    lazy_view(messages::LOADING_SIGN_IN, sign_in_view)
}

#[component]
fn SignInGate() -> impl IntoView {
    let context = expect_context::<AppContext>();
    match context.client.tokens() {
        TokenSource::Pasted(token) => {
            let on_token = Callback::new(move |t| token.set(Some(t)));
            view! { <TokenEntry on_token/> }.into_any()
        }
        _ => {
            let busy = RwSignal::new(false);
            let error = context.sign_in_error;
            // Navigates away on success; a failure is shown and the button works again.
            let on_sign_in = Callback::new(move |()| {
                busy.set(true);
                spawn_local(async move {
                    if let Err(e) = msal::login().await {
                        error.set(Some(e));
                        busy.set(false);
                    }
                });
            });
            let foreign_host = match &context.config.auth {
                AuthMode::Msal(msal) => msal.foreign_sign_in_host.clone(),
                _ => None,
            };
            view! { <SignInPage error busy on_sign_in foreign_host/> }.into_any()
        }
    }
}
