//! The bar above every page but the wall: name, who is signed in, refresh; the page links; and
//! the URL parameters that were ignored.

use kbwatch_core::url_state::{IgnoredParam, Page};
use leptos::prelude::*;

use crate::messages;

/// Brand, the identity widget of the auth mode (`children`), and the refresh button.
#[component]
pub fn TopBar(on_refresh: Callback<()>, children: Children) -> impl IntoView {
    view! {
        <header class="topbar">
            <div>
                <h1 class="brand">{messages::APP_NAME}</h1>
                <p class="tagline">{messages::TAGLINE}</p>
            </div>
            <div class="topbar-actions">
                {children()}
                <button type="button" class="button" data-testid="refresh" on:click=move |_| on_refresh.run(())>
                    {messages::REFRESH}
                </button>
            </div>
        </header>
    }
}

/// The links between the device, fleet and connection pages; `href` builds each page's link.
#[component]
pub fn PageNav(#[prop(into)] page: Signal<Page>, href: Callback<Page, String>) -> impl IntoView {
    let link = move |target: Page, test_id: &'static str, label: &'static str| {
        view! {
            <a href=move || href.run(target) data-testid=test_id
                aria-current=move || (page.get() == target).then_some("page")>{label}</a>
        }
    };
    view! {
        <nav class="nav" aria-label=messages::NAV_LABEL>
            {link(Page::Devices, "nav-devices", messages::NAV_DEVICES)}
            {link(Page::Fleet, "nav-fleet", messages::NAV_FLEET)}
            {link(Page::Connection, "nav-connection", messages::NAV_CONNECTION)}
        </nav>
    }
}

/// URL parameters that were present but unusable, and why.
#[component]
pub fn IgnoredParams(#[prop(into)] ignored: Signal<Vec<IgnoredParam>>) -> impl IntoView {
    move || {
        ignored.with(|ignored| {
            (!ignored.is_empty()).then(|| view! {
                <p class="banner banner-warning" data-testid="ignored-params">{messages::ignored_params(ignored)}</p>
            })
        })
    }
}

/// Demo mode's badge.
#[component]
pub fn DemoBadge() -> impl IntoView {
    view! { <span class="badge" data-testid="mode">{messages::MODE_DEMO}</span> }
}
