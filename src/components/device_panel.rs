use kbwatch_core::device_list::{filter_and_sort, DeviceFacets};
use kbwatch_core::sort::Sort;
use kbwatch_core::{
    Collection, Device, DeviceFilter, DeviceId, DeviceSortKey, LoadStatus, Loadable,
};
use leptos::prelude::*;

use super::device_filters::DeviceFilters;
use super::device_table::DeviceTable;
use super::error_banner::ErrorBanner;
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
    let devices = Memo::new(move |_| {
        data.with(|d| {
            d.value
                .as_ref()
                .map(|c| c.items.clone())
                .unwrap_or_default()
        })
    });
    let skipped =
        Memo::new(move |_| data.with(|d| d.value.as_ref().map_or(0, |c| c.skipped.len())));
    let facets = Memo::new(move |_| devices.with(|d| DeviceFacets::of(d)));
    let rows = Memo::new(move |_| {
        devices.with(|d| {
            filter_and_sort(d, &filter.get(), sort.get())
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let status = Signal::derive(move || data.with(|d| d.status.clone()));
    let loaded = move || data.with(|d| d.value.is_some());
    // What the panel shows below the count: a memo, so a keystroke that keeps rows on screen
    // does not rebuild the table.
    let content = Memo::new(move |_| {
        if !loaded() {
            Content::NotLoaded
        } else if devices.with(Vec::is_empty) {
            Content::NoDevices
        } else if rows.with(Vec::is_empty) {
            Content::NoMatch
        } else {
            Content::Table
        }
    });

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
            {move || match content.get() {
                Content::NotLoaded => None,
                Content::NoDevices => Some(view! { <p class="empty-state" data-testid="device-empty">{messages::NO_DEVICES}</p> }.into_any()),
                Content::NoMatch => Some(view! { <p class="empty-state" data-testid="device-no-match">{messages::NO_DEVICES_MATCH}</p> }.into_any()),
                Content::Table => {
                    // A new load builds a new table; filtering and sorting update this one.
                    devices.track();
                    Some(view! { <DeviceTable rows sort selected on_sort link_for/> }.into_any())
                }
            }}
        </section>
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Content {
    NotLoaded,
    NoDevices,
    NoMatch,
    Table,
}
