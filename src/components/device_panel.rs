use kbwatch_core::device_list::{filter_and_sort, DeviceFacets};
use kbwatch_core::sort::Sort;
use kbwatch_core::{Device, DeviceFilter, DeviceId, DeviceSortKey, LoadStatus, Loadable};
use leptos::prelude::*;

use super::device_filters::DeviceFilters;
use super::device_table::DeviceTable;
use super::error_banner::ErrorBanner;
use crate::api::Collection;
use crate::messages;

/// The device list: filters, count, table, loading and error states.
#[component]
pub fn DevicePanel(
    #[prop(into)] data: Signal<Loadable<Collection<Device>>>,
    #[prop(into)] filter: Signal<DeviceFilter>,
    #[prop(into)] sort: Signal<Sort<DeviceSortKey>>,
    #[prop(into)] include_unmanaged: Signal<bool>,
    #[prop(into)] selected: Signal<Option<DeviceId>>,
    on_filter: Callback<DeviceFilter>,
    on_sort: Callback<DeviceSortKey>,
    on_include_unmanaged: Callback<bool>,
    on_retry: Callback<()>,
    link_for: Callback<DeviceId, String>,
) -> impl IntoView {
    let devices = Memo::new(move |_| data.get().value.map(|c| c.items).unwrap_or_default());
    let skipped = Memo::new(move |_| data.get().value.map_or(0, |c| c.skipped.len()));
    let facets = Memo::new(move |_| devices.with(|d| DeviceFacets::of(d)));
    let rows = Memo::new(move |_| {
        devices.with(|d| {
            filter_and_sort(d, &filter.get(), sort.get())
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let status = Signal::derive(move || data.get().status);
    let loaded = move || data.with(|d| d.value.is_some());

    view! {
        <section class="panel device-panel">
            <h2 class="panel-title">{messages::DEVICES}</h2>
            <ErrorBanner status on_retry/>
            <DeviceFilters filter facets include_unmanaged on_change=on_filter on_include_unmanaged/>
            {move || (skipped.get() > 0).then(|| view! {
                <p class="banner banner-warning" data-testid="skipped-devices">{messages::skipped_records(skipped.get())}</p>
            })}
            <p class="totals" data-testid="device-count">
                {move || {
                    if !loaded() && matches!(status.get(), LoadStatus::Loading) {
                        messages::LOADING_DEVICES.to_owned()
                    } else {
                        messages::device_count(rows.with(Vec::len), devices.with(Vec::len))
                    }
                }}
            </p>
            {move || {
                if !loaded() {
                    None
                } else if devices.with(Vec::is_empty) {
                    Some(view! { <p class="empty-state" data-testid="device-empty">{messages::NO_DEVICES}</p> }.into_any())
                } else if rows.with(Vec::is_empty) {
                    Some(view! { <p class="empty-state" data-testid="device-no-match">{messages::NO_DEVICES_MATCH}</p> }.into_any())
                } else {
                    Some(view! {
                        <div class="table-scroll">
                            <DeviceTable rows sort selected on_sort link_for/>
                        </div>
                    }.into_any())
                }
            }}
        </section>
    }
}
