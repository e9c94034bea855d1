//! Filters of the fleet tables.

use kbwatch_core::fleet::aggregate::FleetKbFilter;
use kbwatch_core::kb::humanize_product;
use leptos::prelude::*;

use crate::components::inputs::{filter_editor, MinimumInput, SearchInput};
use crate::components::select_filter::SelectFilter;
use crate::messages;

/// Filters of the per-KB table.
#[component]
pub fn FleetKbFilters(
    #[prop(into)] filter: Signal<FleetKbFilter>,
    #[prop(into)] products: Signal<Vec<(String, usize)>>,
    on_change: Callback<FleetKbFilter>,
) -> impl IntoView {
    let update = filter_editor(filter, on_change);
    view! {
        <div class="filters" role="search">
            <SearchInput label=messages::FLEET_KB_SEARCH test_id="fleet-kb-search" placeholder=messages::KB_SEARCH_PLACEHOLDER
                value=Signal::derive(move || filter.get().text)
                on_input=Callback::new(move |t: String| update(&|f| f.text = t.clone()))/>
            <SelectFilter label=messages::KB_PRODUCT test_id="fleet-kb-product" options=products
                selected=Signal::derive(move || filter.get().product)
                on_change=Callback::new(move |p: Option<String>| update(&|f| f.product = p.clone()))
                display=|raw: &str| humanize_product(raw) />
            <MinimumInput label=messages::FLEET_MIN_DEVICES test_id="fleet-min-devices"
                value=Signal::derive(move || filter.get().min_devices)
                on_input=Callback::new(move |n: Option<u32>| update(&|f| f.min_devices = n))/>
            <MinimumInput label=messages::KB_MIN_CVES test_id="fleet-min-cves"
                value=Signal::derive(move || filter.get().min_cves)
                on_input=Callback::new(move |n: Option<u32>| update(&|f| f.min_cves = n))/>
        </div>
    }
}

/// The per-device table's name search.
#[component]
pub fn FleetDeviceSearch(
    #[prop(into)] text: Signal<String>,
    on_change: Callback<String>,
) -> impl IntoView {
    view! {
        <div class="filters" role="search">
            <SearchInput label=messages::FLEET_DEVICE_SEARCH test_id="fleet-device-search"
                value=text on_input=on_change/>
        </div>
    }
}
