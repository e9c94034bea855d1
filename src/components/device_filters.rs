use kbwatch_core::device_list::DeviceFacets;
use kbwatch_core::DeviceFilter;
use leptos::prelude::*;

use super::inputs::{filter_editor, SearchInput};
use super::select_filter::SelectFilter;
use crate::messages;

/// Name search and facet filters of the device list.
#[component]
pub fn DeviceFilters(
    #[prop(into)] filter: Signal<DeviceFilter>,
    #[prop(into)] facets: Signal<DeviceFacets>,
    #[prop(into)] include_unmanaged: Signal<bool>,
    on_change: Callback<DeviceFilter>,
    on_include_unmanaged: Callback<bool>,
) -> impl IntoView {
    let update = filter_editor(filter, on_change);
    let facet = move |pick: fn(&DeviceFacets) -> &Vec<(String, usize)>| {
        Signal::derive(move || facets.with(|f| pick(f).clone()))
    };
    let select = move |label: &'static str,
                       test_id: &'static str,
                       options: Signal<Vec<(String, usize)>>,
                       field: fn(&mut DeviceFilter) -> &mut Option<String>| {
        let selected = Signal::derive(move || {
            let mut f = filter.get();
            field(&mut f).clone()
        });
        view! {
            <SelectFilter
                label
                test_id
                options
                selected
                on_change=Callback::new(move |value: Option<String>| update(&|f| *field(f) = value.clone()))
            />
        }
    };
    view! {
        <div class="filters" role="search">
            <SearchInput label=messages::DEVICE_SEARCH test_id="device-search" placeholder=messages::DEVICE_SEARCH_PLACEHOLDER
                value=Signal::derive(move || filter.get().search)
                on_input=Callback::new(move |text: String| update(&|f| f.search = text.clone()))/>
            {select(messages::FILTER_OS, "device-os", facet(|f| &f.os_platforms), |f| &mut f.os_platform)}
            {select(messages::FILTER_HEALTH, "device-health", facet(|f| &f.health_statuses), |f| &mut f.health_status)}
            {select(messages::FILTER_RISK, "device-risk", facet(|f| &f.risk_scores), |f| &mut f.risk_score)}
            {select(messages::FILTER_EXPOSURE, "device-exposure", facet(|f| &f.exposure_levels), |f| &mut f.exposure_level)}
            {select(messages::FILTER_TAG, "device-tag", facet(|f| &f.tags), |f| &mut f.tag)}
            {select(messages::FILTER_GROUP, "device-group", facet(|f| &f.groups), |f| &mut f.group)}
            <label class="filter filter-check">
                <input
                    type="checkbox"
                    data-testid="include-unmanaged"
                    prop:checked=move || include_unmanaged.get()
                    on:change=move |ev| on_include_unmanaged.run(event_target_checked(&ev))
                />
                <span>{messages::INCLUDE_UNMANAGED}</span>
            </label>
            <Show when=move || !filter.with(DeviceFilter::is_empty)>
                <button type="button" class="button button-quiet" data-testid="clear-device-filters"
                    on:click=move |_| on_change.run(DeviceFilter::default())>
                    {messages::CLEAR_FILTERS}
                </button>
            </Show>
        </div>
    }
}
