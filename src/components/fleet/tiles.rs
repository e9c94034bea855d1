//! The summary tiles: the four numbers an analyst reads first (fleet page and wall).

use kbwatch_core::fleet::aggregate::{Coverage, FleetSummary};
use leptos::prelude::*;

use crate::messages;

/// The four numbers an analyst reads first. While part of the scope is read, the devices tile
/// says "4 of 289" and the patched share waits for the rest: a partial scan is never shown as
/// a fleet figure.
#[component]
pub fn SummaryTiles(
    #[prop(into)] summary: Signal<FleetSummary>,
    /// Devices in the current scope.
    #[prop(into)]
    in_scope: Signal<usize>,
) -> impl IntoView {
    let tile = |label: &'static str, test_id: &'static str, value: Signal<String>| {
        view! {
            <div class="tile" data-testid=test_id>
                <span class="tile-value">{value}</span>
                <span class="tile-label">{label}</span>
            </div>
        }
    };
    let coverage = Memo::new(move |_| summary.get().coverage(in_scope.get()));
    let devices = Signal::derive(move || match coverage.get() {
        Coverage::Complete => summary.get().devices_scanned.to_string(),
        Coverage::Partial { scanned, of } => messages::scanned_of(scanned, of),
    });
    let patched = Signal::derive(move || match coverage.get() {
        Coverage::Complete => messages::percent(summary.get().fully_patched_pct),
        Coverage::Partial { .. } => messages::NOT_YET.to_owned(),
    });
    view! {
        <div class="tiles" data-coverage=move || match coverage.get() { Coverage::Complete => "complete", Coverage::Partial { .. } => "partial" }>
            {tile(messages::TILE_DEVICES_SCANNED, "tile-devices", devices)}
            {tile(messages::TILE_FULLY_PATCHED, "tile-patched", patched)}
            {tile(messages::TILE_DISTINCT_KBS, "tile-kbs", Signal::derive(move || summary.get().distinct_kbs.to_string()))}
            {tile(messages::TILE_TOTAL_CVES, "tile-cves", Signal::derive(move || summary.get().total_cves_addressable.to_string()))}
        </div>
    }
}
