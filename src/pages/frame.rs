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
use crate::view_state::ViewHandle;

#[component]
pub fn Frame(view: ViewHandle, data: DashboardData) -> impl IntoView {
    let context = expect_context::<AppContext>();
    let identity = match context.client.tokens() {
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
    };
    view! {
        <TopBar on_refresh=Callback::new(move |()| data.refresh())>{identity}</TopBar>
        <IgnoredParams ignored=view.ignored()/>
        <PageNav page=view.part(|s| s.page) href=Callback::new(move |target: Page| view.href(|s| s.page = target))/>
    }
}
