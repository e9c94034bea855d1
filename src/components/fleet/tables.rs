//! The fleet's per-KB and per-device tables.

use kbwatch_core::fleet::aggregate::{FleetDevice, FleetDeviceSortKey, FleetKb, FleetKbSortKey};
use kbwatch_core::sort::Sort;
use kbwatch_core::DeviceId;
use leptos::prelude::*;

use crate::components::sort_header::SortHeader;
use crate::messages;

/// Per KB: devices missing it, CVEs, products, catalog link. A click lists the devices.
#[component]
pub fn FleetKbTable(
    #[prop(into)] rows: Signal<Vec<FleetKb>>,
    #[prop(into)] sort: Signal<Sort<FleetKbSortKey>>,
    #[prop(into)] selected: Signal<Option<String>>,
    on_sort: Callback<FleetKbSortKey>,
    on_select: Callback<String>,
) -> impl IntoView {
    view! {
        <table class="table" data-testid="fleet-kb-table">
            <thead>
                <tr>
                    <SortHeader label=messages::COL_KB key=FleetKbSortKey::Kb sort on_sort/>
                    <SortHeader label=messages::COL_UPDATE key=FleetKbSortKey::Name sort on_sort/>
                    <th scope="col"><span class="th-text">{messages::COL_PRODUCTS}</span></th>
                    <SortHeader label=messages::COL_DEVICES_MISSING key=FleetKbSortKey::Devices sort on_sort numeric=true/>
                    <SortHeader label=messages::COL_CVES key=FleetKbSortKey::Cves sort on_sort numeric=true/>
                </tr>
            </thead>
            <tbody>
                {move || {
                    let current = selected.get();
                    rows.get().into_iter().map(|kb| {
                        let id = kb.id.clone();
                        let is_selected = current.as_deref() == Some(kb.id.as_str());
                        let link = match kb.catalog_url.clone() {
                            Some(href) => view! { <a href=href target="_blank" rel="noopener noreferrer" title=messages::CATALOG_LINK_TITLE>{kb.label.clone()}</a> }.into_any(),
                            None => view! { <span>{kb.label.clone()}</span> }.into_any(),
                        };
                        let products = kb.product_labels().into_iter().map(|p| view! { <span class="chip">{p}</span> }).collect_view();
                        view! {
                            <tr data-testid="fleet-kb-row" data-kb-id=kb.id.clone() class:selected=is_selected>
                                <td class="nowrap">{link}</td>
                                <td class="update-name">{kb.name.clone().unwrap_or_else(|| messages::UNKNOWN.to_owned())}</td>
                                <td>{products}</td>
                                <td class="numeric">
                                    <button type="button" class="link-button" data-testid="fleet-kb-devices"
                                        on:click=move |_| on_select.run(id.clone())>{kb.device_count()}</button>
                                </td>
                                <td class="numeric">{kb.cves}</td>
                            </tr>
                        }
                    }).collect_view()
                }}
            </tbody>
        </table>
    }
}

/// Per device: missing KBs, CVEs addressable, oldest missing update; links to its KB view.
#[component]
pub fn FleetDeviceTable(
    #[prop(into)] rows: Signal<Vec<FleetDevice>>,
    #[prop(into)] sort: Signal<Sort<FleetDeviceSortKey>>,
    on_sort: Callback<FleetDeviceSortKey>,
    link_for: Callback<DeviceId, String>,
) -> impl IntoView {
    view! {
        <table class="table" data-testid="fleet-device-table">
            <thead>
                <tr>
                    <SortHeader label=messages::COL_NAME key=FleetDeviceSortKey::Name sort on_sort/>
                    <SortHeader label=messages::COL_MISSING_KBS key=FleetDeviceSortKey::Missing sort on_sort numeric=true/>
                    <SortHeader label=messages::COL_CVES_TOTAL key=FleetDeviceSortKey::Cves sort on_sort numeric=true/>
                    <SortHeader label=messages::COL_OLDEST key=FleetDeviceSortKey::Oldest sort on_sort/>
                </tr>
            </thead>
            <tbody>
                {move || rows.get().into_iter().map(|d| {
                    let href = link_for.run(d.id.clone());
                    let oldest = d.oldest_update.map(|m| format!("{:04}-{:02}", m.year, m.month)).unwrap_or_else(|| messages::UNKNOWN.to_owned());
                    view! {
                        <tr data-testid="fleet-device-row" data-device-id=d.id.to_string()>
                            <td><a href=href data-testid="fleet-device-link">{d.name.clone()}</a></td>
                            <td class="numeric">{d.missing}</td>
                            <td class="numeric">{d.cves}</td>
                            <td class="nowrap">{oldest}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
