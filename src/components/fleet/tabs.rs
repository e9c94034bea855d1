//! The fleet page's tabs: the per-KB table with its filters and exports, and the per-device
//! table with its search and export.

use kbwatch_core::url_state::FleetTab;
use leptos::prelude::*;

use crate::messages;

/// The tab buttons.
#[component]
pub fn FleetTabs(
    #[prop(into)] tab: Signal<FleetTab>,
    on_select: Callback<FleetTab>,
) -> impl IntoView {
    let button = move |target: FleetTab, test_id: &'static str, label: &'static str| {
        view! {
            <button type="button" role="tab" data-testid=test_id aria-selected=move || (tab.get() == target).to_string()
                on:click=move |_| on_select.run(target)>{label}</button>
        }
    };
    view! {
        <div class="tabs" role="tablist">
            {button(FleetTab::Kbs, "tab-kbs", messages::FLEET_TAB_KBS)}
            {button(FleetTab::Devices, "tab-devices", messages::FLEET_TAB_DEVICES)}
        </div>
    }
}

/// A row of export buttons: `(test id, label, action)` each.
#[component]
pub fn ExportRow(buttons: Vec<(&'static str, &'static str, Callback<()>)>) -> impl IntoView {
    view! {
        <div class="export-row">
            {buttons.into_iter().map(|(test_id, label, on_click)| view! {
                <button type="button" class="button button-quiet" data-testid=test_id on:click=move |_| on_click.run(())>{label}</button>
            }).collect_view()}
        </div>
    }
}

/// The empty states of the per-KB table: no fleet data yet, or nothing matches the filters.
#[component]
pub fn FleetEmpty(no_data: bool) -> impl IntoView {
    let text = if no_data {
        messages::NO_FLEET_DATA
    } else {
        messages::NO_FLEET_MATCH
    };
    view! { <p class="empty-state">{text}</p> }
}
