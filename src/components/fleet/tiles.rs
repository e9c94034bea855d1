//! The summary tiles: the four numbers an analyst reads first (fleet page and wall).

use kbwatch_core::fleet::aggregate::FleetSummary;
use leptos::prelude::*;

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
