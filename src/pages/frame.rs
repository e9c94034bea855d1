//! The frame around the device and fleet pages: the top bar with the auth mode's identity
//! widget, the page links, and the ignored-parameters banner.

use std::time::Duration;

use kbwatch_core::url_state::Page;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::auth::{msal, TokenSource};
use crate::clock::use_now;
use crate::components::session::{AccountStatus, TokenStatus};
use crate::components::top_bar::{DemoBadge, IgnoredParams, PageNav, TopBar};
use crate::context::AppContext;
use crate::data::DashboardData;
use crate::lazy_view::{lazy_page, lazy_view};
use crate::view_state::ViewHandle;

#[component]
pub fn Frame(view: ViewHandle, data: DashboardData) -> impl IntoView {
    let identity = match expect_context::<AppContext>().client.tokens() {
        TokenSource::Demo => view! { <DemoBadge/> }.into_any(),
        // Only token and MSAL users see these: their code comes with a chunk.
        tokens => lazy_view("", move || identity_view(IdentityProps { tokens, data })).into_any(),
    };
    view! {
        <TopBar on_refresh=Callback::new(move |()| data.refresh())>{identity}</TopBar>
        <IgnoredParams ignored=view.ignored()/>
        <PageNav page=view.part(|s| s.page) href=Callback::new(move |target: Page| view.href(|s| s.page = target))/>
    }
}

lazy_page! {
    fn identity_view(IdentityProps) as identity_view => Identity
}

/// Who is signed in (the token's owner and expiry, or the MSAL account) with the way out.
#[component]
fn Identity(tokens: TokenSource, data: DashboardData) -> impl IntoView {
    match tokens {
        TokenSource::Demo => view! { <DemoBadge/> }.into_any(),
        TokenSource::Pasted(token) => {
            // A new token may belong to someone else: their fleet data goes with the old one.
            let on_replace = Callback::new(move |()| {
                data.scanner.forget_data();
                token.set(None);
            });
            let now = use_now(Duration::from_secs(5));
            view! { <TokenStatus token now on_replace/> }.into_any()
        }
        TokenSource::Msal(account) => {
            let on_sign_out = Callback::new(move |()| {
                data.scanner.forget_data();
                spawn_local(async move {
                    let _ = msal::logout().await;
                });
            });
            view! { <AccountStatus account on_sign_out/> }.into_any()
        }
    }
}
