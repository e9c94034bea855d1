use kbwatch_core::device_list::WHOLE_TABLE_MAX_ROWS;
use kbwatch_core::sort::Sort;
use kbwatch_core::{Device, DeviceId, DeviceSortKey};
use leptos::prelude::*;

use super::row_window::WindowedTable;
use super::sort_header::SortHeader;
use crate::messages;

/// The device rows, already filtered and sorted. Each name is a real link (shareable, opens in
/// a new tab with a middle click) to the view of that device.
///
/// Rows are keyed by device ID: filtering, sorting and selecting move, add or restyle rows
/// instead of rebuilding the table. The caller rebuilds the table when the loaded devices
/// change. Above [`WHOLE_TABLE_MAX_ROWS`] rows the table scrolls in its own box and renders
/// only what is visible, like the KB table.
#[component]
pub fn DeviceTable(
    #[prop(into)] rows: Signal<Vec<Device>>,
    #[prop(into)] sort: Signal<Sort<DeviceSortKey>>,
    #[prop(into)] selected: Signal<Option<DeviceId>>,
    on_sort: Callback<DeviceSortKey>,
    /// The link (path and query) that opens a device.
    link_for: Callback<DeviceId, String>,
) -> impl IntoView {
    let total = Memo::new(move |_| rows.with(Vec::len));
    let now = crate::clock::now_utc();
    // A new table builds its rows in the next animation frame rather than in the task that
    // brought the devices: the KB table of the device in the URL, whose answer comes at the
    // same moment, is painted first instead of waiting for a few hundred device rows.
    let started = RwSignal::new(false);
    request_animation_frame(move || started.set(true));
    view! {
        <WindowedTable
            box_class="table-scroll device-table-box"
            table_class="table table-devices"
            testid="device-table"
            total
            whole_max_rows=WHOLE_TABLE_MAX_ROWS
            items=Callback::new(move |(first, last): (usize, usize)| {
                if started.get() {
                    rows.with(|r| r[first..last].to_vec())
                } else {
                    Vec::new()
                }
            })
            key=|device: &Device| device.id.clone()
            row=move |device: Device, row_index| {
                // Links carry the page's state: rebuilt whenever the list or the selection
                // changes, as they were when the whole table was rebuilt.
                let id = device.id.clone();
                let href = Signal::derive(move || {
                    rows.track();
                    selected.track();
                    link_for.run(id.clone())
                });
                view! { <DeviceRow device row_index selected href now/> }
            }
        >
            <SortHeader label=messages::COL_NAME key=DeviceSortKey::Name sort on_sort/>
            <SortHeader label=messages::COL_OS key=DeviceSortKey::Os sort on_sort/>
            <SortHeader label=messages::COL_HEALTH key=DeviceSortKey::Health sort on_sort/>
            <SortHeader label=messages::COL_RISK key=DeviceSortKey::Risk sort on_sort/>
            <SortHeader label=messages::COL_EXPOSURE key=DeviceSortKey::Exposure sort on_sort/>
            <SortHeader label=messages::COL_LAST_SEEN key=DeviceSortKey::LastSeen sort on_sort/>
        </WindowedTable>
    }
}

#[component]
fn DeviceRow(
    device: Device,
    row_index: Signal<usize>,
    selected: Signal<Option<DeviceId>>,
    href: Signal<String>,
    now: time::OffsetDateTime,
) -> impl IntoView {
    let id = device.id.clone();
    let is_selected = Memo::new(move |_| selected.with(|s| s.as_ref() == Some(&id)));
    let risk = device.risk_score.clone().unwrap_or_default();
    let exposure = device.exposure_level.clone().unwrap_or_default();
    let or_unknown = |v: Option<String>| v.unwrap_or_else(|| messages::UNKNOWN.to_owned());
    view! {
        <tr data-testid="device-row" data-device-id=device.id.to_string() class:selected=is_selected
            aria-current=move || is_selected.get().then_some("true") aria-rowindex=row_index>
            <td><a href=href data-testid="device-link">{device.display_name().to_owned()}</a></td>
            <td>{device.os_summary()}</td>
            <td>{or_unknown(device.health_status.clone())}</td>
            <td class=format!("level level-{}", risk.to_lowercase())>{or_unknown(device.risk_score.clone())}</td>
            <td class=format!("level level-{}", exposure.to_lowercase())>{or_unknown(device.exposure_level.clone())}</td>
            <td class="nowrap">{messages::age(device.last_seen, now)}</td>
        </tr>
    }
}
