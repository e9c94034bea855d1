//! The fleet's per-KB and per-device tables: keyed rows, windowed above
//! [`WHOLE_TABLE_MAX_ROWS`] like the device and KB tables, so a fleet of 100,000 devices renders
//! the rows in view only and a filter keystroke moves rows instead of rebuilding them. The key
//! is the record's `row_key` (identity plus what the row shows): a scan's arrival rebuilds just
//! the rows whose figures changed.

use kbwatch_core::device_list::WHOLE_TABLE_MAX_ROWS;
use kbwatch_core::fleet::aggregate::{
    FleetDevice, FleetDeviceRows, FleetDeviceSortKey, FleetKb, FleetKbSortKey,
};
use kbwatch_core::sort::Sort;
use kbwatch_core::DeviceId;
use leptos::prelude::*;

use crate::components::row_window::{slice_of, WindowedTable};
use crate::components::sort_header::SortHeader;
use crate::messages;

/// The per-device table windows itself above this many rows (a few screens): at 100,000
/// devices a filter often leaves a few hundred, and putting 100 rows in the DOM at once costs a
/// keystroke more than a frame on the project's VM, 1,000 rows ~150 ms (`make bench`, figure
/// 7), where a window of ~15 rows costs ~11 ms.
const DEVICE_TABLE_WHOLE_MAX_ROWS: usize = 80;

/// Per KB: devices missing it, CVEs, products, catalog link. A click lists the devices.
#[component]
pub fn FleetKbTable(
    #[prop(into)] rows: Signal<Vec<FleetKb>>,
    #[prop(into)] sort: Signal<Sort<FleetKbSortKey>>,
    #[prop(into)] selected: Signal<Option<String>>,
    on_sort: Callback<FleetKbSortKey>,
    on_select: Callback<String>,
) -> impl IntoView {
    let total = Memo::new(move |_| rows.with(Vec::len));
    view! {
        <WindowedTable
            box_class="table-scroll fleet-kb-table-box"
            table_class="table"
            testid="fleet-kb-table"
            total
            whole_max_rows=WHOLE_TABLE_MAX_ROWS
            items=slice_of(rows)
            key=|kb: &FleetKb| kb.row_key()
            row=move |kb: FleetKb, row_index| view! { <FleetKbRow kb row_index selected on_select/> }
        >
            <SortHeader label=messages::COL_KB key=FleetKbSortKey::Kb sort on_sort/>
            <SortHeader label=messages::COL_UPDATE key=FleetKbSortKey::Name sort on_sort/>
            <th scope="col"><span class="th-text">{messages::COL_PRODUCTS}</span></th>
            <SortHeader label=messages::COL_DEVICES_MISSING key=FleetKbSortKey::Devices sort on_sort numeric=true/>
            <SortHeader label=messages::COL_CVES key=FleetKbSortKey::Cves sort on_sort numeric=true/>
        </WindowedTable>
    }
}

#[component]
fn FleetKbRow(
    kb: FleetKb,
    row_index: Signal<usize>,
    selected: Signal<Option<String>>,
    on_select: Callback<String>,
) -> impl IntoView {
    let id = kb.id.clone();
    let is_selected = {
        let id = id.clone();
        Memo::new(move |_| selected.with(|s| s.as_deref() == Some(id.as_str())))
    };
    let link = match kb.catalog_url.clone() {
        Some(href) => view! { <a href=href target="_blank" rel="noopener noreferrer" title=messages::CATALOG_LINK_TITLE>{kb.label.clone()}</a> }.into_any(),
        None => view! { <span>{kb.label.clone()}</span> }.into_any(),
    };
    let products = kb
        .product_labels()
        .into_iter()
        .map(|p| view! { <span class="chip">{p}</span> })
        .collect_view();
    view! {
        <tr data-testid="fleet-kb-row" data-kb-id=kb.id.clone() class:selected=is_selected aria-rowindex=row_index>
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
}

/// Per device: missing KBs, CVEs addressable, oldest missing update; links to its KB view.
#[component]
pub fn FleetDeviceTable(
    /// The rows as shown (filtered, sorted): positions into the fleet's device index.
    #[prop(into)]
    rows: Signal<FleetDeviceRows>,
    #[prop(into)] sort: Signal<Sort<FleetDeviceSortKey>>,
    on_sort: Callback<FleetDeviceSortKey>,
    link_for: Callback<DeviceId, String>,
) -> impl IntoView {
    let total = Memo::new(move |_| rows.with(FleetDeviceRows::len));
    view! {
        <WindowedTable
            box_class="table-scroll fleet-device-table-box"
            table_class="table"
            testid="fleet-device-table"
            total
            whole_max_rows=DEVICE_TABLE_WHOLE_MAX_ROWS
            items=Callback::new(move |(first, last): (usize, usize)| rows.with(|r| r.slice(first, last)))
            key=|d: &FleetDevice| d.row_key()
            row=move |d: FleetDevice, row_index| {
                // Links carry the page's state: rebuilt when the rows change.
                let id = d.id.clone();
                let href = Signal::derive(move || {
                    rows.track();
                    link_for.run(id.clone())
                });
                view! { <FleetDeviceRow d row_index href/> }
            }
        >
            <SortHeader label=messages::COL_NAME key=FleetDeviceSortKey::Name sort on_sort/>
            <SortHeader label=messages::COL_MISSING_KBS key=FleetDeviceSortKey::Missing sort on_sort numeric=true/>
            <SortHeader label=messages::COL_CVES_TOTAL key=FleetDeviceSortKey::Cves sort on_sort numeric=true/>
            <SortHeader label=messages::COL_OLDEST key=FleetDeviceSortKey::Oldest sort on_sort/>
        </WindowedTable>
    }
}

#[component]
fn FleetDeviceRow(d: FleetDevice, row_index: Signal<usize>, href: Signal<String>) -> impl IntoView {
    let oldest = d
        .oldest_update
        .map(|m| format!("{:04}-{:02}", m.year, m.month))
        .unwrap_or_else(|| messages::UNKNOWN.to_owned());
    view! {
        <tr data-testid="fleet-device-row" data-device-id=d.id.to_string() aria-rowindex=row_index>
            <td><a href=href data-testid="fleet-device-link">{d.name.clone()}</a></td>
            <td class="numeric">{d.missing}</td>
            <td class="numeric">{d.cves}</td>
            <td class="nowrap">{oldest}</td>
        </tr>
    }
}
