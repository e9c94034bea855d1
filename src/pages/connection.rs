//! The connection check page: reads what the token carries, runs one probe per endpoint within
//! the rate budget the fleet scan uses, and copies the report. The logic is
//! `kbwatch_core::connection`; this page only calls and stores.

use kbwatch_core::connection::{
    check_available_at, CheckSetup, ConnectionCheck, TokenView, ENDPOINT_NEEDS,
};
use kbwatch_core::token_info::TokenInfo;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsValue;

use crate::api::ApiClient;
use crate::auth::TokenSource;
use crate::clock::{now_ms, now_unix};
use crate::components::connection::ConnectionCheckPanel;
use crate::context::AppContext;
use crate::data::DashboardData;
use crate::fleet_scan::ScannerSlot;
use crate::lazy_view::{lazy_page, lazy_view};
use crate::messages;

lazy_page! {
    /// The connection check, fetched as a wasm chunk when it first opens.
    fn connection_page_view(ConnectionPageProps) as connection_view => ConnectionPage
}

/// The connection check in the shell: its code is fetched the first time it opens.
#[component]
pub fn ConnectionRoute(data: DashboardData) -> impl IntoView {
    let scanner = data.scanner;
    view! {
        <main class="layout-single">
            {lazy_view(messages::LOADING_CONNECTION, move || connection_page_view(ConnectionPageProps { scanner }))}
        </main>
    }
}

#[component]
fn ConnectionPage(
    /// Whose budget the probes are charged to: the fleet scan's, in this tab and the next.
    scanner: ScannerSlot,
) -> impl IntoView {
    let context = expect_context::<AppContext>();
    let client = StoredValue::new(context.client.clone());
    let page = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .and_then(|href| url::Url::parse(&href).ok())
        .unwrap_or_else(|| context.client.endpoints().base().clone());
    let setup = StoredValue::new(CheckSetup::new(
        &context.config,
        context.client.endpoints(),
        &page,
    ));
    let token = RwSignal::new(TokenView::Unreadable);
    let read_token = move || {
        let tokens = client.with_value(ApiClient::tokens);
        let audiences = setup.with_value(|s| s.expected_audiences.clone());
        spawn_local(async move {
            let view = token_view(tokens, &audiences).await;
            token.try_set(view);
        });
    };
    read_token();
    let check = RwSignal::new(ConnectionCheck::new());
    let running = RwSignal::new(false);
    let waiting_until = RwSignal::new(None::<u64>);
    let copied = RwSignal::new(None::<bool>);

    let on_run = Callback::new(move |()| {
        let scanner = scanner.scanner();
        let now = now_ms();
        let at = scanner
            .with_stored_budget(|b| check_available_at(b, ENDPOINT_NEEDS.len(), now))
            .unwrap_or(now);
        if at > now {
            waiting_until.set(Some(at));
            return;
        }
        waiting_until.set(None);
        copied.set(None);
        running.set(true);
        read_token();
        check.set(ConnectionCheck::new());
        spawn_local(async move {
            let client = client.get_value();
            loop {
                let call = scanner.with_stored_budgets(|budget| {
                    let next =
                        |c: &mut ConnectionCheck| c.next_call(client.endpoints(), budget, now_ms());
                    check.try_update(next).flatten()
                });
                let Some(call) = call.flatten() else { break };
                let result = client.probe(&call.url).await;
                // A 429 holds the budget for its Retry-After.
                let answered = scanner.with_stored_budgets(|budget| {
                    let result = result.as_deref().map_err(Clone::clone);
                    check.try_update(|c| c.answer(call.index, result, budget, now_ms()))
                });
                if answered.flatten().is_none() {
                    return;
                }
            }
            running.try_set(false);
        });
    });
    let on_copy = Callback::new(move |text: String| copy(text, copied));
    let report = Signal::derive(move || {
        let token = token.get();
        check.with(|c| setup.with_value(|s| c.report(s, &token)))
    });
    let budget_wait = Signal::derive(move || waiting_until.get().map(messages::clock_time));
    view! { <ConnectionCheckPanel report running budget_wait copied on_run on_copy/> }
}

/// What the calls' token carries. MSAL's is asked for (from its cache) and read, never kept.
async fn token_view(tokens: TokenSource, audiences: &[String]) -> TokenView {
    let read = |info: &TokenInfo| TokenView::read(info, audiences, now_unix());
    match tokens {
        TokenSource::Demo => TokenView::Demo,
        TokenSource::Pasted(token) => token
            .with_untracked(|t| t.as_ref().map(|t| read(&t.info)))
            .unwrap_or(TokenView::Unreadable),
        TokenSource::Msal(_) => match tokens.bearer(false).await {
            Ok(bearer) => TokenInfo::decode(&bearer).map_or(TokenView::Unreadable, |i| read(&i)),
            Err(_) => TokenView::Unreadable,
        },
    }
}

/// Puts `text` on the clipboard; `copied` says whether that worked. Without the Clipboard API
/// (an insecure origin) or with permission refused, the page points at the text instead.
fn copy(text: String, copied: RwSignal<Option<bool>>) {
    let navigator = web_sys::window().map(|w| w.navigator());
    let has_clipboard = navigator.as_ref().is_some_and(|n| {
        js_sys::Reflect::get(n, &JsValue::from_str("clipboard")).is_ok_and(|c| !c.is_undefined())
    });
    let Some(navigator) = navigator.filter(|_| has_clipboard) else {
        copied.set(Some(false));
        return;
    };
    let promise = navigator.clipboard().write_text(&text);
    spawn_local(async move {
        let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
        copied.try_set(Some(ok));
    });
}
