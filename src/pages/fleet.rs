//! The fleet page: which KB is missing on how many devices, from a rate-limited scan of the
//! devices in the current device filter (partial results render as they arrive).

use kbwatch_core::fleet::aggregate::FleetKbFilter;
use kbwatch_core::url_state::{FleetTab, FleetView};
use kbwatch_core::{Device, DeviceId};
use leptos::prelude::*;

use crate::clock::{now_ms, use_now};
use crate::components::fleet::{
    ExportRow, FleetDeviceSearch, FleetDeviceTable, FleetEmpty, FleetKbFilters, FleetKbTable,
    FleetTabs, OverBudget, ScanActions, ScanFailures, ScanSource, ScanStatus, SelectedKbDevices,
    SummaryTiles, TopKbChart,
};
use crate::data::DashboardData;
use crate::fleet_model::{FleetModel, ScopeScan};
use crate::fleet_scan::{DataSource, ScannerSlot};
use crate::lazy_view::{lazy_page, lazy_view};
use crate::messages;
use crate::pages::fleet_overview::FleetOverview;
use crate::view_state::ViewHandle;

lazy_page! {
    /// The fleet page, fetched as a wasm chunk when it first opens.
    pub fn fleet_page_view(FleetPageProps) as fleet_view => FleetPage
}

/// The fleet page in the shell: its code is fetched the first time it opens.
#[component]
pub fn FleetRoute(view: ViewHandle, data: DashboardData) -> impl IntoView {
    let (scope, scanner, link_for) = (data.scope.into(), data.scanner, view.device_link());
    let fleet = Signal::from(view.part(|s| s.fleet.clone()));
    let on_change =
        Callback::new(move |(f, push): (FleetView, bool)| view.change(push, |s| s.fleet = f));
    let filtered = Signal::from(view.part(|s| !s.device_filter.is_empty()));
    let props = move || FleetPageProps {
        scope,
        filtered,
        view: fleet,
        on_change,
        link_for,
        scanner,
    };
    view! {
        <main class="layout-single">
            {lazy_view(messages::LOADING_FLEET_VIEW, move || fleet_page_view(props()))}
        </main>
    }
}

#[component]
pub fn FleetPage(
    /// The devices in the current device filter; `None` until the device list has loaded.
    #[prop(into)]
    scope: Signal<Option<Vec<Device>>>,
    /// A device filter narrows the scope (per-product counts cannot honour it).
    #[prop(into)]
    filtered: Signal<bool>,
    #[prop(into)] view: Signal<FleetView>,
    /// The new fleet view, and whether it is a step Back should return from.
    on_change: Callback<(FleetView, bool)>,
    link_for: Callback<DeviceId, String>,
    /// Where the session's scanner lives (made here the first time a view needs it).
    scanner: ScannerSlot,
) -> impl IntoView {
    let products = scanner.product_scan();
    let scanner = scanner.scanner();
    let scan = ScopeScan::follow(scanner, scope);
    let model = FleetModel::new(scanner, view);
    let edit = move |push: bool, change: &dyn Fn(&mut FleetView)| {
        let mut next = view.get_untracked();
        change(&mut next);
        on_change.run((next, push));
    };
    let select_kb =
        Callback::new(move |id: String| edit(true, &|v| v.selected_kb = Some(id.clone())));
    let bulk = Callback::new(move |()| scan.bulk());
    let start = Callback::new(move |()| scan.start_stale());
    let exports_kbs = vec![
        (
            "export-kbs",
            messages::EXPORT_KBS,
            Callback::new(move |()| model.export_kbs()),
        ),
        (
            "export-matrix",
            messages::EXPORT_MATRIX,
            Callback::new(move |()| model.export_matrix()),
        ),
    ];
    let export_devices = Callback::new(move |()| model.export_devices());
    let tab = Memo::new(move |_| view.get().tab);

    view! {
        <section class="panel fleet-page" data-testid="fleet-page">
            <div class="fleet-head">
                <h2 class="panel-title">{messages::FLEET_TITLE}</h2>
                <ScanActions running=scanner.running has_stale=Signal::derive(move || !scan.to_fetch.with(Vec::is_empty))
                    has_devices=Signal::derive(move || scope.with(|s| s.as_ref().is_some_and(|s| !s.is_empty())))
                    has_scope=Signal::derive(move || scope.with(Option::is_some))
                    on_start=start on_bulk=bulk
                    on_refresh_all=Callback::new(move |()| scan.refresh_all())/>
            </div>
            <ScanSource bulk=Signal::derive(move || match scanner.source.get() { DataSource::Bulk(s) => Some(s), DataSource::PerDevice => None })
                bulk_pages=scanner.bulk_pages bulk_error=scanner.bulk_error running=scanner.running
                scope=Signal::derive(move || scope.with(|s| s.as_ref().map(|s| (s.len(), scan.to_fetch.with(Vec::len)))))
                oldest_fetch_ms=scanner.oldest_fetch_ms now=use_now(std::time::Duration::from_secs(10)) storage_full=scanner.storage_full
                from_vulnerabilities=scanner.from_vulnerabilities/>
            <FleetOverview products scanner scan scope filtered link_for
                device_tables=Signal::derive(move || tab.get() == FleetTab::Devices)/>
            <OverBudget plan=scan.over_budget on_bulk=bulk on_scan_anyway=start/>
            <ScanStatus progress=scanner.progress running=scanner.running paused=scanner.paused now=Signal::derive(now_ms)
                on_pause=Callback::new(move |()| scanner.pause()) on_resume=Callback::new(move |()| scanner.resume())
                on_cancel=Callback::new(move |()| scanner.cancel())/>
            <ScanFailures failures=scanner.failures link_for on_retry=Callback::new(move |()| scanner.retry_failed())/>
            <SummaryTiles summary=model.summary in_scope=scanner.in_scope/>
            <TopKbChart rows=model.top on_select=select_kb/>
            <SelectedKbDevices selected=model.selected link_for on_close=Callback::new(move |()| edit(true, &|v| v.selected_kb = None))/>
            <FleetTabs tab on_select=Callback::new(move |t: FleetTab| edit(true, &|v| v.tab = t))/>
            {move || match tab.get() {
                FleetTab::Kbs => view! {
                    <FleetKbFilters filter=Signal::derive(move || view.get().kb_filter) products=model.products
                        on_change=Callback::new(move |f: FleetKbFilter| edit(false, &|v| v.kb_filter = f.clone()))/>
                    <ExportRow buttons=exports_kbs.clone()/>
                    {move || if model.is_empty.get() || model.kb_rows.with(Vec::is_empty) {
                        view! { <FleetEmpty no_data=model.is_empty.get()/> }.into_any()
                    } else {
                        view! {
                            <FleetKbTable rows=model.kb_rows sort=Signal::derive(move || view.get().kb_sort)
                                selected=Signal::derive(move || view.get().selected_kb)
                                on_sort=Callback::new(move |k| edit(false, &|v| v.kb_sort = v.kb_sort.toggled(k)))
                                on_select=select_kb/>
                        }.into_any()
                    }}
                }.into_any(),
                FleetTab::Devices => view! {
                    <FleetDeviceSearch text=Signal::derive(move || view.get().device_filter.text)
                        on_change=Callback::new(move |t: String| edit(false, &|v| v.device_filter.text = t.clone()))/>
                    <ExportRow buttons=vec![("export-devices", messages::EXPORT_DEVICES, export_devices)]/>
                    <FleetDeviceTable rows=model.device_rows sort=Signal::derive(move || view.get().device_sort)
                        on_sort=Callback::new(move |k| edit(false, &|v| v.device_sort = v.device_sort.toggled(k)))
                        link_for/>
                }.into_any(),
            }}
        </section>
    }
}
