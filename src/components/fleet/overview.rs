//! The fleet overview by the per-product path: the planner's choice of path, the per-KB table
//! with tenant-wide device counts ("at least" where a KB spans products), and one KB's
//! devices after a drill-down.

use kbwatch_core::fleet::plan::{FleetPath, Plan};
use kbwatch_core::overview::OverviewKb;
use kbwatch_core::{DeviceId, KbId, LoadStatus, Loadable};
use leptos::prelude::*;

use crate::components::error_banner::ErrorBanner;
use crate::components::row_window::{slice_of, WindowedTable};
use crate::messages;

/// Each path's call cost and API time, which one answers the view on screen, and a button to
/// run each; the planner's pick is marked.
#[component]
pub fn PathPlanner(
    #[prop(into)] plan: Signal<Plan>,
    #[prop(into)] running: Signal<bool>,
    on_run: Callback<FleetPath>,
) -> impl IntoView {
    view! {
        <div class="planner" data-testid="planner">
            <h3 class="planner-title">{messages::PLANNER_TITLE}</h3>
            <table class="table planner-table">
                <thead><tr>
                    <th scope="col">{messages::PLANNER_PATH}</th>
                    <th scope="col" class="numeric">{messages::PLANNER_CALLS}</th>
                    <th scope="col" class="numeric">{messages::PLANNER_TIME}</th>
                    <th scope="col">{messages::PLANNER_ANSWERS}</th>
                    <th scope="col"><span class="visually-hidden">{messages::PLANNER_RUN}</span></th>
                </tr></thead>
                <tbody>
                    {move || {
                        let plan = plan.get();
                        plan.options.iter().map(|option| {
                            let path = option.path;
                            let chosen = plan.chosen == Some(path);
                            view! {
                                <tr data-testid="planner-row" data-path=messages::path_id(path) class:chosen=chosen>
                                    <td>{messages::path_name(path)}{chosen.then(|| view! { <span class="chip chip-chosen">{messages::PLANNER_CHOSEN}</span> })}</td>
                                    <td class="numeric" data-testid="planner-calls">{option.calls}</td>
                                    <td class="numeric">{messages::duration(option.api_ms)}</td>
                                    <td>{if option.answers { messages::PLANNER_YES } else { messages::planner_no(path) }}</td>
                                    <td><button type="button" class="button button-quiet" data-testid="planner-run"
                                        disabled=move || running.get()
                                        on:click=move |_| on_run.run(path)>{messages::PLANNER_RUN}</button></td>
                                </tr>
                            }
                        }).collect_view()
                    }}
                </tbody>
            </table>
        </div>
    }
}

/// The per-product overview: progress while it loads, its failure, and the per-KB table.
#[component]
pub fn ProductOverviewPanel(
    #[prop(into)] rows: Signal<Vec<OverviewKb>>,
    /// Products read and to read, while loading.
    #[prop(into)]
    progress: Signal<Option<(usize, usize)>>,
    /// The overview's load: its failure or 429 countdown shows as a banner.
    #[prop(into)]
    status: Signal<LoadStatus>,
    on_retry: Callback<()>,
    #[prop(into)] selected: Signal<Option<KbId>>,
    on_drill: Callback<KbId>,
) -> impl IntoView {
    let total = Memo::new(move |_| rows.with(Vec::len));
    view! {
        <section class="overview" data-testid="overview">
            <h3>{messages::OVERVIEW_TITLE}</h3>
            <p class="muted" data-testid="overview-source">{messages::OVERVIEW_SOURCE}</p>
            {move || progress.get().map(|(done, of)| view! { <p class="muted" data-testid="overview-progress">{messages::overview_progress(done, of)}</p> })}
            <ErrorBanner status on_retry/>
            <WindowedTable
                box_class="table-scroll overview-table-box"
                table_class="table"
                testid="overview-table"
                total
                whole_max_rows=kbwatch_core::device_list::WHOLE_TABLE_MAX_ROWS
                items=slice_of(rows)
                key=|kb: &OverviewKb| (kb.id.clone(), kb.devices, kb.cves)
                row=move |kb: OverviewKb, row_index| view! { <OverviewRow kb row_index selected on_drill/> }
            >
                <th scope="col">{messages::COL_KB}</th>
                <th scope="col">{messages::COL_UPDATE}</th>
                <th scope="col">{messages::COL_PRODUCTS}</th>
                <th scope="col" class="numeric">{messages::COL_DEVICES_MISSING}</th>
                <th scope="col" class="numeric">{messages::COL_CVES}</th>
            </WindowedTable>
        </section>
    }
}

#[component]
fn OverviewRow(
    kb: OverviewKb,
    row_index: Signal<usize>,
    selected: Signal<Option<KbId>>,
    on_drill: Callback<KbId>,
) -> impl IntoView {
    let kb_id = kb.kb_id();
    let is_selected = {
        let kb_id = kb_id.clone();
        Memo::new(move |_| kb_id.is_some() && selected.with(|s| *s == kb_id))
    };
    let products = kb
        .products
        .iter()
        .map(|p| view! { <span class="chip">{kbwatch_core::kb::humanize_product(p)}</span> })
        .collect_view();
    let link = match kb.url.clone() {
        Some(href) => view! { <a href=href target="_blank" rel="noopener noreferrer" title=messages::CATALOG_LINK_TITLE>{kb.label.clone()}</a> }.into_any(),
        None => view! { <span>{kb.label.clone()}</span> }.into_any(),
    };
    let devices = messages::count(kb.devices);
    let drill = match kb_id {
        Some(id) => view! {
            <button type="button" class="link-button" data-testid="overview-devices" data-exact=kb.devices.is_exact().to_string()
                title=messages::DRILL_DOWN_TITLE on:click=move |_| on_drill.run(id.clone())>{devices}</button>
        }.into_any(),
        // Not a KB number: nothing to ask machinesVulnerabilities for.
        None => view! { <span data-testid="overview-devices">{devices}</span> }.into_any(),
    };
    view! {
        <tr data-testid="overview-row" data-kb-id=kb.id.clone() class:selected=is_selected aria-rowindex=row_index>
            <td class="nowrap">{link}</td>
            <td class="update-name">{kb.name.clone().unwrap_or_else(|| messages::UNKNOWN.to_owned())}</td>
            <td>{products}</td>
            <td class="numeric">{drill}</td>
            <td class="numeric">{messages::count(kb.cves)}</td>
        </tr>
    }
}

/// One row of a drill-down: a device missing the KB.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillRow {
    pub id: DeviceId,
    /// The device's name when the device list knows it, else its ID.
    pub name: String,
    pub products: Vec<String>,
    pub cves: u32,
}

/// The devices missing one KB, each linking to its device view.
#[component]
pub fn DrillDownPanel(
    #[prop(into)] kb: Signal<Option<KbId>>,
    #[prop(into)] state: Signal<Loadable<Vec<DrillRow>>>,
    link_for: Callback<DeviceId, String>,
    on_retry: Callback<()>,
    on_close: Callback<()>,
) -> impl IntoView {
    let rows = Memo::new(move |_| state.with(|s| s.value.clone().unwrap_or_default()));
    let total = Memo::new(move |_| rows.with(Vec::len));
    move || {
        kb.get().map(|kb| view! {
            <div class="selected-kb" data-testid="drill-down">
                <h3>{move || match state.with(|s| s.value.is_some()) {
                    true => messages::selected_kb_devices(&kb.label(), total.get()),
                    false => messages::drill_loading(&kb.label()),
                }}</h3>
                <ErrorBanner status=Signal::derive(move || state.with(|s| s.status.clone())) on_retry/>
                <WindowedTable
                    box_class="table-scroll drill-table-box"
                    table_class="table"
                    testid="drill-table"
                    total
                    whole_max_rows=kbwatch_core::device_list::WHOLE_TABLE_MAX_ROWS
                    items=slice_of(rows.into())
                    key=|d: &DrillRow| d.id.clone()
                    row=move |d: DrillRow, row_index| {
                        let href = link_for.run(d.id.clone());
                        let products = d.products.iter().map(|p| kbwatch_core::kb::humanize_product(p)).collect::<Vec<_>>().join(", ");
                        view! {
                            <tr data-testid="drill-row" data-device-id=d.id.to_string() aria-rowindex=row_index>
                                <td><a href=href data-testid="drill-device-link">{d.name.clone()}</a></td>
                                <td>{products}</td>
                                <td class="numeric">{d.cves}</td>
                            </tr>
                        }
                    }
                >
                    <th scope="col">{messages::COL_NAME}</th>
                    <th scope="col">{messages::COL_PRODUCTS}</th>
                    <th scope="col" class="numeric">{messages::COL_CVES}</th>
                </WindowedTable>
                <button type="button" class="button button-quiet" on:click=move |_| on_close.run(())>{messages::CLOSE}</button>
            </div>
        })
    }
}
