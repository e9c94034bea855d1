//! The scan's buttons, and the warning when a scan would not fit the hourly budget.

use leptos::prelude::*;

use crate::messages;

/// Start (what is stale), refresh all, or read the bulk path instead.
#[component]
pub fn ScanActions(
    #[prop(into)] running: Signal<bool>,
    /// Some devices have no fresh result.
    #[prop(into)]
    has_stale: Signal<bool>,
    /// The device list has loaded (and is not empty, for "refresh all").
    #[prop(into)]
    has_devices: Signal<bool>,
    #[prop(into)] has_scope: Signal<bool>,
    on_start: Callback<()>,
    on_refresh_all: Callback<()>,
    on_bulk: Callback<()>,
) -> impl IntoView {
    view! {
        <div class="fleet-actions">
            <button type="button" class="button" data-testid="scan-start"
                disabled=move || running.get() || !has_stale.get()
                on:click=move |_| on_start.run(())>
                {messages::SCAN_START}
            </button>
            <button type="button" class="button button-quiet" data-testid="scan-refresh"
                disabled=move || running.get() || !has_devices.get()
                on:click=move |_| on_refresh_all.run(())>
                {messages::SCAN_REFRESH}
            </button>
            <button type="button" class="button button-quiet" data-testid="bulk-start"
                disabled=move || running.get() || !has_scope.get()
                on:click=move |_| on_bulk.run(())>
                {messages::BULK_LOAD}
            </button>
        </div>
    }
}

/// A scan of the stale devices would exceed the hourly budget: `(calls, estimated ms)`.
/// The analyst picks the bulk path or scans anyway.
#[component]
pub fn OverBudget(
    #[prop(into)] plan: Signal<Option<(usize, u64)>>,
    on_bulk: Callback<()>,
    on_scan_anyway: Callback<()>,
) -> impl IntoView {
    move || {
        plan.get().map(|(calls, ms)| view! {
            <div class="banner banner-warning" data-testid="over-budget">
                <p>{messages::scan_over_budget(calls, ms)}</p>
                <button type="button" class="button" data-testid="bulk-load" on:click=move |_| on_bulk.run(())>
                    {messages::BULK_LOAD}
                </button>
                " "
                <button type="button" class="button button-quiet" data-testid="scan-anyway" on:click=move |_| on_scan_anyway.run(())>
                    {messages::SCAN_ANYWAY}
                </button>
            </div>
        })
    }
}
