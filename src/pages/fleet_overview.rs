//! The fleet page's top half: the planner (which path answers the view, at what cost), the
//! per-product overview and its drill-down. The planner's pick runs by itself when it is the
//! per-product overview (a minute of API time at most), never a per-device scan or bulk read.

use std::collections::{HashMap, HashSet};

use kbwatch_core::fleet::plan::{FleetPath, PlanInput, Question};
use kbwatch_core::{Device, DeviceId, Loadable};
use leptos::prelude::*;

use crate::components::fleet::{DrillDownPanel, DrillRow, PathPlanner, ProductOverviewPanel};
use crate::fleet_model::ScopeScan;
use crate::fleet_scan::FleetScanner;
use crate::product_overview::ProductScan;

#[component]
pub fn FleetOverview(
    products: ProductScan,
    scanner: FleetScanner,
    scan: ScopeScan,
    #[prop(into)] scope: Signal<Option<Vec<Device>>>,
    /// A device filter (os, tag, group, …) narrows the scope: per-product counts cannot.
    #[prop(into)]
    filtered: Signal<bool>,
    /// The per-device tables are on screen (only per-device data fills them).
    #[prop(into)]
    device_tables: Signal<bool>,
    link_for: Callback<DeviceId, String>,
) -> impl IntoView {
    let question = Memo::new(move |_| {
        if filtered.get() {
            Question::FilteredOverview
        } else if device_tables.get() {
            Question::DeviceTables
        } else {
            Question::Overview
        }
    });
    let plan = Memo::new(move |_| {
        let devices = scope.with(|s| s.as_ref().map_or(0, Vec::len)) as u64;
        let to_fetch = scan.to_fetch.with(Vec::len) as u64;
        let input = PlanInput {
            devices,
            microsoft_products: products.products.get(),
            bulk_rows_per_device: None,
            already_cached_devices: devices.saturating_sub(to_fetch),
        };
        scanner.plan_paths(&input, question.get())
    });
    let run = Callback::new(move |path: FleetPath| match path {
        FleetPath::PerProduct => products.load(),
        FleetPath::PerDevice => scan.start_stale(),
        FleetPath::Bulk => scan.bulk(),
    });
    // The overview is cheap: it runs by itself once a session when it is the planner's pick
    // and the device list has loaded.
    Effect::new(move |ran: Option<bool>| {
        if ran == Some(true) {
            return true;
        }
        let ready = scope.with(Option::is_some);
        let untouched = products
            .overview
            .state()
            .with_untracked(|s| s.value.is_none() && s.error().is_none() && !s.is_loading());
        if ready && plan.with(|p| p.chosen == Some(FleetPath::PerProduct)) && untouched {
            products.load();
            return true;
        }
        false
    });
    let overview = products.overview.state();
    let rows = Memo::new(move |_| {
        overview.with(|s| s.value.as_ref().map(|o| o.rows()).unwrap_or_default())
    });
    let drill_rows = Memo::new(move |_| {
        let state = products.drill.state().get();
        let value = state.value.map(|drill| {
            // One pass over the scope for the names of the drilled devices.
            let wanted: HashSet<&DeviceId> = drill.devices.iter().map(|d| &d.machine_id).collect();
            let names: HashMap<DeviceId, String> = scope.with(|s| {
                s.iter()
                    .flatten()
                    .filter(|d| wanted.contains(&d.id))
                    .map(|d| (d.id.clone(), d.display_name().to_owned()))
                    .collect()
            });
            drill
                .devices
                .iter()
                .map(|d| DrillRow {
                    id: d.machine_id.clone(),
                    name: names
                        .get(&d.machine_id)
                        .cloned()
                        .unwrap_or_else(|| d.machine_id.to_string()),
                    products: d.products.clone(),
                    cves: d.cves,
                })
                .collect()
        });
        Loadable {
            value,
            status: state.status,
        }
    });
    view! {
        <PathPlanner plan running=scanner.running on_run=run/>
        <Show when=move || overview.with(|s| s.value.is_some() || s.is_loading() || s.error().is_some())>
            <ProductOverviewPanel rows progress=products.progress
                status=Signal::derive(move || overview.with(|s| s.status.clone()))
                on_retry=Callback::new(move |()| products.overview.retry())
                selected=products.drill_kb
                on_drill=Callback::new(move |kb| products.drill_down(kb))/>
        </Show>
        <DrillDownPanel kb=products.drill_kb state=drill_rows link_for
            on_retry=Callback::new(move |()| products.drill.retry())
            on_close=Callback::new(move |()| products.close_drill_down())/>
    }
}
