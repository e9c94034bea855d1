//! The fleet page: which KB is missing on how many devices, from a rate-limited scan of the
//! devices in the current device filter (partial results render as they arrive).

use kbwatch_core::fleet::aggregate::{FleetDeviceFilter, FleetKb, FleetKbFilter};
use kbwatch_core::fleet::csv_export;
use kbwatch_core::url_state::{FleetTab, FleetView};
use kbwatch_core::{Device, DeviceId};
use leptos::prelude::*;

use crate::components::fleet::{
    FleetDeviceTable, FleetKbFilters, FleetKbTable, ScanStatus, SummaryTiles, TopKbChart,
};
use crate::download::save_text;
use crate::fleet_scan::{now_ms, DataSource, ScannerSlot};
use crate::lazy_view::ViewUnavailable;
use crate::messages;

const CHART_BARS: usize = 10;

/// The fleet page as a view. With the `split` feature this function and the code only it
/// reaches are a wasm chunk, fetched when the fleet view first opens (see `lazy_view`).
#[cfg(feature = "split")]
#[leptos::wasm_split::wasm_split(fleet_view, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn fleet_page_view(props: FleetPageProps) -> Result<AnyView, ViewUnavailable> {
    Ok(FleetPage(props).into_any())
}

/// The fleet page as a view (no `split` feature: already here).
#[cfg(not(feature = "split"))]
pub async fn fleet_page_view(props: FleetPageProps) -> Result<AnyView, ViewUnavailable> {
    Ok(FleetPage(props).into_any())
}

#[component]
pub fn FleetPage(
    /// The devices in the current device filter; `None` until the device list has loaded.
    #[prop(into)]
    scope: Signal<Option<Vec<Device>>>,
    #[prop(into)] view: Signal<FleetView>,
    /// The new fleet view, and whether it is a step Back should return from.
    on_change: Callback<(FleetView, bool)>,
    link_for: Callback<DeviceId, String>,
    /// Where the session's scanner lives (made here the first time a view needs it).
    scanner: ScannerSlot,
) -> impl IntoView {
    let scanner = scanner.scanner();
    let to_fetch = RwSignal::new(Vec::<DeviceId>::new());
    let over_budget = RwSignal::new(None::<(usize, u64)>);

    // A new scope shows what the cache has at once and scans the rest, unless that would
    // not fit the hourly budget: then the analyst decides.
    Effect::new(move |_| {
        let Some(scope) = scope.get() else { return };
        let stale = scanner.set_scope(&scope);
        to_fetch.set(stale.clone());
        if stale.is_empty() || scanner.running.get_untracked() {
            over_budget.set(None);
            return;
        }
        let plan = scanner.plan(stale.len());
        if plan.exceeds_hourly_budget {
            over_budget.set(Some((plan.calls, plan.estimated_ms)));
        } else {
            over_budget.set(None);
            scanner.start(stale);
        }
    });

    // When a scan or the bulk path ends, what still needs fetching changes.
    Effect::new(move |was_running: Option<bool>| {
        let running = scanner.running.get();
        if was_running == Some(true) && !running {
            let stale = match scanner.source.get_untracked() {
                DataSource::Bulk(_) => Vec::new(),
                DataSource::PerDevice => scope
                    .with_untracked(|s| s.as_deref().map(|s| scanner.stale(s)).unwrap_or_default()),
            };
            to_fetch.set(stale);
        }
        running
    });

    let aggregate = scanner.aggregate;
    let summary = Memo::new(move |_| aggregate.with(|a| a.summary()));
    let top = Memo::new(move |_| {
        aggregate.with(|a| {
            a.top_kbs_by_devices(CHART_BARS)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let kb_rows = Memo::new(move |_| {
        let v = view.get();
        aggregate.with(|a| {
            a.kb_rows(&v.kb_filter, v.kb_sort)
                .into_iter()
                .cloned()
                .collect::<Vec<FleetKb>>()
        })
    });
    let device_rows = Memo::new(move |_| {
        let v = view.get();
        aggregate.with(|a| {
            a.device_rows(&v.device_filter, v.device_sort)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let products = Memo::new(move |_| {
        aggregate.with(|a| {
            a.products()
                .into_iter()
                .map(|p| {
                    let n = a.kbs().filter(|kb| kb.products.contains(&p)).count();
                    (p, n)
                })
                .collect::<Vec<_>>()
        })
    });
    let selected_kb = Memo::new(move |_| view.get().selected_kb);
    let selected_devices = Memo::new(move |_| {
        let id = selected_kb.get()?;
        aggregate.with(|a| {
            let kb = a.kb(&id)?;
            let devices = a
                .devices_missing(&id)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>();
            Some((kb.label.clone(), devices))
        })
    });

    let edit = move |push: bool, change: &dyn Fn(&mut FleetView)| {
        let mut next = view.get_untracked();
        change(&mut next);
        on_change.run((next, push));
    };
    let select_kb =
        Callback::new(move |id: String| edit(true, &|v| v.selected_kb = Some(id.clone())));

    let export_kbs = move |_| {
        let rows = kb_rows.get_untracked();
        save_text(
            "kbwatch-updates.csv",
            "text/csv",
            &csv_export::kbs_csv(&rows.iter().collect::<Vec<_>>()),
        );
    };
    let export_devices = move |_| {
        let rows = device_rows.get_untracked();
        save_text(
            "kbwatch-devices.csv",
            "text/csv",
            &csv_export::devices_csv(&rows.iter().collect::<Vec<_>>()),
        );
    };
    let export_matrix = move |_| {
        aggregate.with_untracked(|a| {
            save_text("kbwatch-matrix.csv", "text/csv", &csv_export::matrix_csv(a))
        });
    };

    let tab = Memo::new(move |_| view.get().tab);

    view! {
        <section class="panel fleet-page" data-testid="fleet-page">
            <div class="fleet-head">
                <h2 class="panel-title">{messages::FLEET_TITLE}</h2>
                <div class="fleet-actions">
                    <button type="button" class="button" data-testid="scan-start"
                        disabled=move || scanner.running.get() || to_fetch.with(Vec::is_empty)
                        on:click=move |_| { over_budget.set(None); scanner.start(to_fetch.get_untracked()); }>
                        {messages::SCAN_START}
                    </button>
                    <button type="button" class="button button-quiet" data-testid="scan-refresh"
                        disabled=move || scanner.running.get() || scope.with(|s| s.as_ref().is_none_or(Vec::is_empty))
                        on:click=move |_| {
                            let ids = scope.get_untracked().unwrap_or_default().into_iter().map(|d| d.id).collect();
                            over_budget.set(None);
                            scanner.start(ids);
                        }>
                        {messages::SCAN_REFRESH}
                    </button>
                    <button type="button" class="button button-quiet" data-testid="bulk-start"
                        disabled=move || scanner.running.get() || scope.with(Option::is_none)
                        on:click=move |_| { over_budget.set(None); scanner.load_bulk(); }>
                        {messages::BULK_LOAD}
                    </button>
                </div>
            </div>
            <p class="muted" data-testid="scan-path">
                {move || match scanner.source.get() {
                    DataSource::PerDevice => messages::SCAN_PATH.to_owned(),
                    DataSource::Bulk(stats) => messages::bulk_path(stats.rows, stats.pages, stats.rows_without_kb),
                }}
            </p>
            {move || scanner.bulk_pages.get().map(|p| view! { <p class="muted" data-testid="bulk-loading">{messages::bulk_loading(p)}</p> })}
            {move || scanner.bulk_error.get().map(|e| {
                let text = messages::api_error(&e);
                view! { <div class="banner banner-error" role="alert" data-testid="bulk-error"><p class="banner-title">{messages::BULK_TITLE}": "{text.title}</p><p>{text.action}</p></div> }
            })}
            {move || match scope.get() {
                None => Some(view! { <p class="muted">{messages::FLEET_WAITING_FOR_DEVICES}</p> }.into_any()),
                Some(_) if scanner.running.get() => None,
                Some(s) => Some(view! { <p class="muted" data-testid="scan-scope">{messages::scan_scope(s.len(), to_fetch.with(Vec::len))}</p> }.into_any()),
            }}
            {move || scanner.oldest_fetch_ms.get().map(|t| view! {
                <p class="muted" data-testid="data-age">{messages::data_age(now_ms().saturating_sub(t))}</p>
            })}
            {move || over_budget.get().map(|(calls, ms)| view! {
                <div class="banner banner-warning" data-testid="over-budget">
                    <p>{messages::scan_over_budget(calls, ms)}</p>
                    <button type="button" class="button" data-testid="bulk-load" on:click=move |_| { over_budget.set(None); scanner.load_bulk(); }>
                        {messages::BULK_LOAD}
                    </button>
                    " "
                    <button type="button" class="button button-quiet" data-testid="scan-anyway" on:click=move |_| { over_budget.set(None); scanner.start(to_fetch.get_untracked()); }>
                        {messages::SCAN_ANYWAY}
                    </button>
                </div>
            })}
            {move || scanner.storage_full.get().then(|| view! { <p class="banner banner-warning">{messages::FLEET_STORAGE_FULL}</p> })}
            <ScanStatus
                progress=scanner.progress
                running=scanner.running
                paused=scanner.paused
                on_pause=Callback::new(move |()| scanner.pause())
                on_resume=Callback::new(move |()| scanner.resume())
                on_cancel=Callback::new(move |()| scanner.cancel())
            />
            {move || {
                let failures = scanner.failures.get();
                (!failures.is_empty()).then(|| view! {
                    <details class="banner banner-error" data-testid="scan-failures" open>
                        <summary>{messages::FAILED_DEVICES}" ("{failures.len()}")"</summary>
                        <ul>
                            {failures.into_iter().map(|(id, why)| {
                                let href = link_for.run(id.clone());
                                view! { <li data-testid="scan-failure"><a href=href>{id.to_string()}</a>": "{why}</li> }
                            }).collect_view()}
                        </ul>
                        <button type="button" class="button" data-testid="scan-retry-failed" on:click=move |_| scanner.retry_failed()>
                            {messages::SCAN_RETRY_FAILED}
                        </button>
                    </details>
                })
            }}
            <SummaryTiles summary/>
            <TopKbChart rows=top on_select=select_kb/>
            {move || selected_devices.get().map(|(label, devices)| view! {
                <div class="selected-kb" data-testid="selected-kb">
                    <h3>{messages::selected_kb_devices(&label, devices.len())}</h3>
                    <ul class="device-chips">
                        {devices.into_iter().map(|d| {
                            let href = link_for.run(d.id.clone());
                            view! { <li><a href=href data-testid="selected-kb-device">{d.name.clone()}</a></li> }
                        }).collect_view()}
                    </ul>
                    <button type="button" class="button button-quiet" on:click=move |_| edit(true, &|v| v.selected_kb = None)>{messages::CLOSE}</button>
                </div>
            })}
            <div class="tabs" role="tablist">
                <button type="button" role="tab" data-testid="tab-kbs" aria-selected=move || (tab.get() == FleetTab::Kbs).to_string()
                    on:click=move |_| edit(true, &|v| v.tab = FleetTab::Kbs)>{messages::FLEET_TAB_KBS}</button>
                <button type="button" role="tab" data-testid="tab-devices" aria-selected=move || (tab.get() == FleetTab::Devices).to_string()
                    on:click=move |_| edit(true, &|v| v.tab = FleetTab::Devices)>{messages::FLEET_TAB_DEVICES}</button>
            </div>
            {move || match tab.get() {
                FleetTab::Kbs => view! {
                    <FleetKbFilters
                        filter=Signal::derive(move || view.get().kb_filter)
                        products
                        on_change=Callback::new(move |f: FleetKbFilter| edit(false, &|v| v.kb_filter = f.clone()))
                    />
                    <div class="export-row">
                        <button type="button" class="button button-quiet" data-testid="export-kbs" on:click=export_kbs>{messages::EXPORT_KBS}</button>
                        <button type="button" class="button button-quiet" data-testid="export-matrix" on:click=export_matrix>{messages::EXPORT_MATRIX}</button>
                    </div>
                    {move || if aggregate.with(|a| a.is_empty()) {
                        view! { <p class="empty-state">{messages::NO_FLEET_DATA}</p> }.into_any()
                    } else if kb_rows.with(Vec::is_empty) {
                        view! { <p class="empty-state">{messages::NO_FLEET_MATCH}</p> }.into_any()
                    } else {
                        view! {
                            <div class="table-scroll">
                                <FleetKbTable rows=kb_rows sort=Signal::derive(move || view.get().kb_sort) selected=selected_kb
                                    on_sort=Callback::new(move |k| edit(false, &|v| v.kb_sort = v.kb_sort.toggled(k)))
                                    on_select=select_kb/>
                            </div>
                        }.into_any()
                    }}
                }.into_any(),
                FleetTab::Devices => view! {
                    <div class="filters" role="search">
                        <label class="filter filter-grow">
                            <span class="filter-label">{messages::FLEET_DEVICE_SEARCH}</span>
                            <input type="search" data-testid="fleet-device-search"
                                prop:value=move || view.get().device_filter.text
                                on:input=move |ev| { let t = event_target_value(&ev); edit(false, &|v| v.device_filter = FleetDeviceFilter { text: t.clone() }); } />
                        </label>
                    </div>
                    <div class="export-row">
                        <button type="button" class="button button-quiet" data-testid="export-devices" on:click=export_devices>{messages::EXPORT_DEVICES}</button>
                    </div>
                    <div class="table-scroll">
                        <FleetDeviceTable rows=device_rows sort=Signal::derive(move || view.get().device_sort)
                            on_sort=Callback::new(move |k| edit(false, &|v| v.device_sort = v.device_sort.toggled(k)))
                            link_for/>
                    </div>
                }.into_any(),
            }}
        </section>
    }
}
