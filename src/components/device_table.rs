use kbwatch_core::sort::Sort;
use kbwatch_core::{Device, DeviceId, DeviceSortKey};
use leptos::prelude::*;

use super::sort_header::SortHeader;
use crate::messages;

/// The device rows, already filtered and sorted. Each name is a real link (shareable, opens in
/// a new tab with a middle click) to the view of that device.
#[component]
pub fn DeviceTable(
    #[prop(into)] rows: Signal<Vec<Device>>,
    #[prop(into)] sort: Signal<Sort<DeviceSortKey>>,
    #[prop(into)] selected: Signal<Option<DeviceId>>,
    on_sort: Callback<DeviceSortKey>,
    /// The link (path and query) that opens a device.
    link_for: Callback<DeviceId, String>,
) -> impl IntoView {
    view! {
        <table class="table table-devices" data-testid="device-table">
            <thead>
                <tr>
                    <SortHeader label=messages::COL_NAME key=DeviceSortKey::Name sort on_sort/>
                    <SortHeader label=messages::COL_OS key=DeviceSortKey::Os sort on_sort/>
                    <SortHeader label=messages::COL_HEALTH key=DeviceSortKey::Health sort on_sort/>
                    <SortHeader label=messages::COL_RISK key=DeviceSortKey::Risk sort on_sort/>
                    <SortHeader label=messages::COL_EXPOSURE key=DeviceSortKey::Exposure sort on_sort/>
                    <SortHeader label=messages::COL_LAST_SEEN key=DeviceSortKey::LastSeen sort on_sort/>
                </tr>
            </thead>
            <tbody>
                {move || {
                    let now = time::OffsetDateTime::now_utc();
                    let current = selected.get();
                    rows.get()
                        .into_iter()
                        .map(|device| {
                            let is_selected = current.as_ref() == Some(&device.id);
                            let href = link_for.run(device.id.clone());
                            let risk = device.risk_score.clone().unwrap_or_default();
                            let exposure = device.exposure_level.clone().unwrap_or_default();
                            let or_unknown = |v: Option<String>| v.unwrap_or_else(|| messages::UNKNOWN.to_owned());
                            view! {
                                <tr data-testid="device-row" data-device-id=device.id.to_string() class:selected=is_selected
                                    aria-current=is_selected.then_some("true")>
                                    <td><a href=href data-testid="device-link">{device.display_name().to_owned()}</a></td>
                                    <td>{device.os_summary()}</td>
                                    <td>{or_unknown(device.health_status.clone())}</td>
                                    <td class=format!("level level-{}", risk.to_lowercase())>{or_unknown(device.risk_score.clone())}</td>
                                    <td class=format!("level level-{}", exposure.to_lowercase())>{or_unknown(device.exposure_level.clone())}</td>
                                    <td class="nowrap">{messages::age(device.last_seen, now)}</td>
                                </tr>
                            }
                        })
                        .collect_view()
                }}
            </tbody>
        </table>
    }
}
