//! Fleet view pieces: summary tiles, the top-KB chart, scan progress, filters and tables.

use kbwatch_core::fleet::aggregate::{
    FleetDevice, FleetDeviceSortKey, FleetKb, FleetKbFilter, FleetKbSortKey, FleetSummary,
};
use kbwatch_core::fleet::scan::ScanProgress;
use kbwatch_core::kb::humanize_product;
use kbwatch_core::sort::Sort;
use kbwatch_core::DeviceId;
use leptos::prelude::*;

use super::select_filter::SelectFilter;
use super::sort_header::SortHeader;
use crate::messages;

/// The four numbers an analyst reads first.
#[component]
pub fn SummaryTiles(#[prop(into)] summary: Signal<FleetSummary>) -> impl IntoView {
    let tile = |label: &'static str, test_id: &'static str, value: Signal<String>| {
        view! {
            <div class="tile" data-testid=test_id>
                <span class="tile-value">{value}</span>
                <span class="tile-label">{label}</span>
            </div>
        }
    };
    view! {
        <div class="tiles">
            {tile(messages::TILE_DEVICES_SCANNED, "tile-devices", Signal::derive(move || summary.get().devices_scanned.to_string()))}
            {tile(messages::TILE_FULLY_PATCHED, "tile-patched", Signal::derive(move || messages::percent(summary.get().fully_patched_pct)))}
            {tile(messages::TILE_DISTINCT_KBS, "tile-kbs", Signal::derive(move || summary.get().distinct_kbs.to_string()))}
            {tile(messages::TILE_TOTAL_CVES, "tile-cves", Signal::derive(move || summary.get().total_cves_addressable.to_string()))}
        </div>
    }
}

/// Horizontal SVG bars: devices affected per KB (no canvas, no chart library).
#[component]
pub fn TopKbChart(
    #[prop(into)] rows: Signal<Vec<FleetKb>>,
    on_select: Callback<String>,
) -> impl IntoView {
    // Whole SVG units: formatting a float attribute would ship Rust's float printer.
    const BAR_HEIGHT: usize = 22;
    const LABEL_WIDTH: usize = 90;
    const WIDTH: usize = 520;
    move || {
        let rows = rows.get();
        if rows.is_empty() {
            return None;
        }
        let max = rows
            .iter()
            .map(FleetKb::device_count)
            .max()
            .unwrap_or(1)
            .max(1);
        let height = rows.len() * BAR_HEIGHT;
        let bars = rows
            .into_iter()
            .enumerate()
            .map(|(i, kb)| {
                let y = i * BAR_HEIGHT;
                let count = kb.device_count();
                let width = (WIDTH - LABEL_WIDTH - 50) * count / max;
                let id = kb.id.clone();
                let title = format!("{} — {}", kb.label, kb.name.clone().unwrap_or_default());
                view! {
                    <g class="bar" data-testid="chart-bar" on:click=move |_| on_select.run(id.clone())>
                        <title>{title}</title>
                        <text x="0" y=y + 15 class="bar-label">{kb.label.clone()}</text>
                        <rect x=LABEL_WIDTH y=y + 3 width=width.max(1) height=BAR_HEIGHT - 6 rx="3"></rect>
                        <text x=LABEL_WIDTH + width + 6 y=y + 15 class="bar-value">{count}</text>
                    </g>
                }
            })
            .collect_view();
        Some(view! {
            <figure class="chart">
                <figcaption>{messages::CHART_TITLE}</figcaption>
                <svg viewBox=format!("0 0 {WIDTH} {height}") width="100%" role="img" aria-label=messages::CHART_TITLE>
                    {bars}
                </svg>
            </figure>
        })
    }
}

/// Progress bar with done/failed/remaining, ETA and the scan controls.
#[component]
pub fn ScanStatus(
    #[prop(into)] progress: Signal<Option<ScanProgress>>,
    #[prop(into)] running: Signal<bool>,
    #[prop(into)] paused: Signal<bool>,
    on_pause: Callback<()>,
    on_resume: Callback<()>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    move || {
        let p = progress.get()?;
        let finished = p.done + p.failed + p.cancelled;
        let percent = (finished * 100).checked_div(p.total).unwrap_or(100);
        let now = crate::fleet_scan::now_ms();
        let detail = if paused.get() {
            Some(messages::scan_paused().to_owned())
        } else if let Some(until) = p.throttled_until.filter(|u| *u > now) {
            Some(messages::scan_throttled_until((until - now).div_ceil(1000)))
        } else if running.get() {
            p.eta_ms.map(messages::scan_eta)
        } else {
            None
        };
        let controls = running.get().then(|| {
            view! {
                {if paused.get() {
                    view! { <button type="button" class="button" data-testid="scan-resume" on:click=move |_| on_resume.run(())>{messages::SCAN_RESUME}</button> }.into_any()
                } else {
                    view! { <button type="button" class="button button-quiet" data-testid="scan-pause" on:click=move |_| on_pause.run(())>{messages::SCAN_PAUSE}</button> }.into_any()
                }}
                <button type="button" class="button button-quiet" data-testid="scan-cancel" on:click=move |_| on_cancel.run(())>{messages::SCAN_CANCEL}</button>
            }
        });
        Some(view! {
            <div class="scan-status" data-testid="scan-status">
                <progress max="100" value=percent aria-label="scan progress"></progress>
                <p data-testid="scan-progress">{messages::scan_progress(p.done, p.failed, p.remaining + p.in_flight, p.cancelled, p.total)}</p>
                {detail.map(|d| view! { <p class="muted" data-testid="scan-detail">{d}</p> })}
                <div class="scan-controls">{controls}</div>
            </div>
        })
    }
}

/// Filters of the per-KB table.
#[component]
pub fn FleetKbFilters(
    #[prop(into)] filter: Signal<FleetKbFilter>,
    #[prop(into)] products: Signal<Vec<(String, usize)>>,
    on_change: Callback<FleetKbFilter>,
) -> impl IntoView {
    let update = move |change: &dyn Fn(&mut FleetKbFilter)| {
        let mut next = filter.get_untracked();
        change(&mut next);
        on_change.run(next);
    };
    let number = |raw: String| raw.trim().parse::<u32>().ok().filter(|n| *n > 0);
    view! {
        <div class="filters" role="search">
            <label class="filter filter-grow">
                <span class="filter-label">{messages::FLEET_KB_SEARCH}</span>
                <input type="search" data-testid="fleet-kb-search" placeholder=messages::KB_SEARCH_PLACEHOLDER
                    prop:value=move || filter.get().text
                    on:input=move |ev| { let t = event_target_value(&ev); update(&|f| f.text = t.clone()); } />
            </label>
            <SelectFilter label=messages::KB_PRODUCT test_id="fleet-kb-product" options=products
                selected=Signal::derive(move || filter.get().product)
                on_change=Callback::new(move |p: Option<String>| update(&|f| f.product = p.clone()))
                display=|raw: &str| humanize_product(raw) />
            <label class="filter filter-narrow">
                <span class="filter-label">{messages::FLEET_MIN_DEVICES}</span>
                <input type="number" min="0" data-testid="fleet-min-devices"
                    prop:value=move || filter.get().min_devices.map(|n| n.to_string()).unwrap_or_default()
                    on:input=move |ev| { let n = number(event_target_value(&ev)); update(&|f| f.min_devices = n); } />
            </label>
            <label class="filter filter-narrow">
                <span class="filter-label">{messages::KB_MIN_CVES}</span>
                <input type="number" min="0" data-testid="fleet-min-cves"
                    prop:value=move || filter.get().min_cves.map(|n| n.to_string()).unwrap_or_default()
                    on:input=move |ev| { let n = number(event_target_value(&ev)); update(&|f| f.min_cves = n); } />
            </label>
        </div>
    }
}

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
