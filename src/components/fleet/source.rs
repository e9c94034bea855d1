//! Where the fleet data on screen came from, how old it is, and what the scan covers.

use kbwatch_core::fleet::bulk::BulkStats;
use kbwatch_core::ApiError;
use leptos::prelude::*;

use crate::components::error_banner::CheckLinkFor;
use crate::messages;

/// The path (per device, or bulk with its figures), the bulk path's progress and failure, the
/// scope ("N devices, M to fetch"), the data's age, and a full sessionStorage.
#[component]
pub fn ScanSource(
    /// `None`: per-device calls; `Some`: the bulk path's figures.
    #[prop(into)]
    bulk: Signal<Option<BulkStats>>,
    #[prop(into)] bulk_pages: Signal<Option<u64>>,
    #[prop(into)] bulk_error: Signal<Option<ApiError>>,
    /// Devices in scope and how many need fetching; `None` until the list has loaded.
    #[prop(into)]
    scope: Signal<Option<(usize, usize)>>,
    #[prop(into)] running: Signal<bool>,
    /// Oldest fetch among the devices shown, and now (Unix ms).
    #[prop(into)]
    oldest_fetch_ms: Signal<Option<u64>>,
    #[prop(into)] now: Signal<u64>,
    #[prop(into)] storage_full: Signal<bool>,
    /// Devices whose KBs came from `machinesVulnerabilities` (the per-device call refused).
    #[prop(into)]
    from_vulnerabilities: Signal<usize>,
) -> impl IntoView {
    view! {
        <p class="muted" data-testid="scan-path">
            {move || match bulk.get() {
                None => messages::SCAN_PATH.to_owned(),
                Some(stats) => messages::bulk_path(stats.rows, stats.pages, stats.rows_without_kb),
            }}
        </p>
        {move || bulk_pages.get().map(|p| view! { <p class="muted" data-testid="bulk-loading">{messages::bulk_loading(p)}</p> })}
        {move || bulk_error.get().map(|e| {
            let text = messages::api_error(&e);
            view! { <div class="banner banner-error" role="alert" data-testid="bulk-error"><p class="banner-title">{messages::BULK_TITLE}": "{text.title}</p><p>{text.action}</p><CheckLinkFor error=e/></div> }
        })}
        {move || match scope.get() {
            None => Some(view! { <p class="muted">{messages::FLEET_WAITING_FOR_DEVICES}</p> }.into_any()),
            Some(_) if running.get() => None,
            Some((devices, to_fetch)) => Some(view! { <p class="muted" data-testid="scan-scope">{messages::scan_scope(devices, to_fetch)}</p> }.into_any()),
        }}
        {move || oldest_fetch_ms.get().map(|t| view! {
            <p class="muted" data-testid="data-age">{messages::data_age(now.get().saturating_sub(t))}</p>
        })}
        {move || (from_vulnerabilities.get() > 0).then(|| view! {
            <p class="banner banner-info" data-testid="scan-fallback">{messages::fleet_from_vulnerabilities(from_vulnerabilities.get())}</p>
        })}
        {move || storage_full.get().then(|| view! { <p class="banner banner-warning">{messages::FLEET_STORAGE_FULL}</p> })}
    }
}
