//! What the fleet page and the wall read off the scanner's live aggregate: the summary, the
//! chart's top KBs, the filtered and sorted tables, product facets and the selected KB's
//! devices. One memo each, so a keystroke re-runs only the table it filters.

use std::sync::Arc;

use kbwatch_core::fleet::aggregate::{
    FleetAggregate, FleetDevice, FleetDeviceIndex, FleetDeviceRows, FleetKb, FleetSummary,
};
use kbwatch_core::fleet::csv_export;
use kbwatch_core::url_state::FleetView;
use kbwatch_core::{Device, DeviceId};
use leptos::prelude::*;

use crate::download::save_csv;
use crate::fleet_scan::{DataSource, FleetScanner};

/// Bars in the top-KB chart.
const CHART_BARS: usize = 10;

#[derive(Clone, Copy)]
pub struct FleetModel {
    pub summary: Memo<FleetSummary>,
    pub top: Memo<Vec<FleetKb>>,
    pub kb_rows: Memo<Vec<FleetKb>>,
    pub device_rows: Memo<FleetDeviceRows>,
    /// Product names with the number of KBs for each.
    pub products: Memo<Vec<(String, usize)>>,
    /// The selected KB's label and the devices missing it.
    pub selected: Memo<Option<(String, Vec<FleetDevice>)>>,
    pub is_empty: Memo<bool>,
    aggregate: RwSignal<FleetAggregate>,
}

impl FleetModel {
    pub fn new(scanner: FleetScanner, view: Signal<FleetView>) -> Self {
        let aggregate = scanner.aggregate;
        let owned = |rows: Vec<&FleetKb>| rows.into_iter().cloned().collect::<Vec<_>>();
        // Its own memo: typing in a filter does not recompute the selected KB's devices.
        let selected_kb = Memo::new(move |_| view.with(|v| v.selected_kb.clone()));
        Self {
            summary: Memo::new(move |_| aggregate.with(|a| a.summary())),
            top: Memo::new(move |_| aggregate.with(|a| owned(a.top_kbs_by_devices(CHART_BARS)))),
            kb_rows: Memo::new(move |_| {
                let v = view.get();
                aggregate.with(|a| owned(a.kb_rows(&v.kb_filter, v.kb_sort)))
            }),
            device_rows: device_rows(aggregate, view),
            products: Memo::new(move |_| {
                aggregate.with(|a| {
                    a.products()
                        .into_iter()
                        .map(|p| {
                            let n = a.kbs().filter(|kb| kb.products.contains(&p)).count();
                            (p, n)
                        })
                        .collect()
                })
            }),
            selected: Memo::new(move |_| {
                let id = selected_kb.get()?;
                aggregate.with(|a| {
                    let kb = a.kb(&id)?;
                    let devices = a.devices_missing(&id).into_iter().cloned().collect();
                    Some((kb.label.clone(), devices))
                })
            }),
            is_empty: Memo::new(move |_| aggregate.with(|a| a.is_empty())),
            aggregate,
        }
    }

    /// The per-KB table as shown (filtered, sorted) as a CSV download.
    pub fn export_kbs(&self) {
        let csv = self
            .kb_rows
            .with_untracked(|rows| csv_export::kbs_csv(&rows.iter().collect::<Vec<_>>()));
        save_csv("kbwatch-updates.csv", &csv);
    }

    /// The per-device table as shown as a CSV download.
    pub fn export_devices(&self) {
        let csv = self
            .device_rows
            .with_untracked(|rows| csv_export::devices_csv(&rows.iter().collect::<Vec<_>>()));
        save_csv("kbwatch-devices.csv", &csv);
    }

    /// Device × KB, the whole aggregate, as a CSV download.
    pub fn export_matrix(&self) {
        let csv = self.aggregate.with_untracked(csv_export::matrix_csv);
        save_csv("kbwatch-matrix.csv", &csv);
    }
}

/// The per-device table, built for typing in a 100,000-device fleet: the index (devices with
/// lower-cased names) follows the aggregate, the order follows the sort, and a keystroke only
/// filters positions.
pub fn device_rows(
    aggregate: RwSignal<FleetAggregate>,
    view: Signal<FleetView>,
) -> Memo<FleetDeviceRows> {
    // A new aggregate is a new index: no deep comparison of 100,000 devices.
    let index = Memo::new_with_compare(
        move |_| Arc::new(aggregate.with(FleetDeviceIndex::new)),
        |_, _| true,
    );
    let sort = Memo::new(move |_| view.with(|v| v.device_sort));
    let filter = Memo::new(move |_| view.with(|v| v.device_filter.clone()));
    let order = Memo::new(move |_| {
        let index = index.get();
        let order = index.order(sort.get());
        FleetDeviceRows::new(index, order)
    });
    Memo::new(move |_| {
        let order = order.get();
        let positions = order.select(&filter.get());
        FleetDeviceRows::new(order.into_index(), positions)
    })
}

/// The fleet page's scan of its scope (the devices in the device filter): what still needs
/// fetching, and the plan that would not fit the hourly budget (then the analyst decides).
#[derive(Clone, Copy)]
pub struct ScopeScan {
    pub to_fetch: RwSignal<Vec<DeviceId>>,
    /// `(calls, estimated ms)` of a scan that would exceed the hourly budget.
    pub over_budget: RwSignal<Option<(usize, u64)>>,
    scanner: FleetScanner,
    scope: Signal<Option<Vec<Device>>>,
}

impl ScopeScan {
    /// A new scope shows what the cache has at once and scans the rest, unless that would not
    /// fit the hourly budget.
    pub fn follow(scanner: FleetScanner, scope: Signal<Option<Vec<Device>>>) -> Self {
        let this = Self {
            to_fetch: RwSignal::new(Vec::new()),
            over_budget: RwSignal::new(None),
            scanner,
            scope,
        };
        Effect::new(move |_| {
            let Some(scope) = scope.get() else { return };
            let stale = scanner.set_scope(&scope);
            this.to_fetch.set(stale.clone());
            this.over_budget.set(None);
            if stale.is_empty() || scanner.running.get_untracked() {
                return;
            }
            let plan = scanner.plan(stale.len());
            if plan.exceeds_hourly_budget {
                this.over_budget.set(Some((plan.calls, plan.estimated_ms)));
            } else {
                scanner.start(stale);
            }
        });
        // When a scan or the bulk path ends, what still needs fetching changes.
        Effect::new(move |was_running: Option<bool>| {
            let running = scanner.running.get();
            if was_running == Some(true) && !running {
                let stale = match scanner.source.get_untracked() {
                    DataSource::Bulk(_) => Vec::new(),
                    DataSource::PerDevice => scope.with_untracked(|s| {
                        s.as_deref().map(|s| scanner.stale(s)).unwrap_or_default()
                    }),
                };
                this.to_fetch.set(stale);
            }
            running
        });

        this
    }

    /// Scans the devices without a fresh result.
    pub fn start_stale(&self) {
        self.scan(self.to_fetch.get_untracked());
    }

    /// Scans every device in scope again.
    pub fn refresh_all(&self) {
        let scope = self.scope.get_untracked().unwrap_or_default();
        self.scan(scope.into_iter().map(|d| d.id).collect());
    }

    /// Reads the bulk path instead of per-device calls.
    pub fn bulk(&self) {
        self.over_budget.set(None);
        self.scanner.load_bulk();
    }

    fn scan(&self, ids: Vec<DeviceId>) {
        self.over_budget.set(None);
        self.scanner.start(ids);
    }
}
