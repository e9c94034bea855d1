//! The wall display's panels, at five-metre size: ranked lists, "sign-in needed", the stale
//! banner and the footer.

use kbwatch_core::fleet::aggregate::{Coverage, FleetAggregate, FleetDeviceFilter, FleetKbFilter};
use kbwatch_core::sort::{sort_by_cached_key, Sort};
use kbwatch_core::wall::{rows_that_fit, WallPanel};
use kbwatch_core::{DeviceKbs, Loadable};
use leptos::prelude::*;

use super::fleet::SummaryTiles;
use crate::messages;

/// One row of a ranked wall list.
#[derive(Debug, Clone, PartialEq)]
pub struct WallRow {
    pub name: String,
    /// Smaller text after the name (the update's title).
    pub detail: Option<String>,
    pub value: String,
}

/// A titled ranked list with "+N more" when not every row fits the screen.
#[component]
pub fn WallList(
    title: String,
    rows: Vec<WallRow>,
    /// Rows left out for lack of room.
    more: usize,
    /// `data-testid` of each row.
    row_test_id: &'static str,
) -> impl IntoView {
    let items = rows
        .into_iter()
        .map(|row| {
            view! {
                <li data-testid=row_test_id>
                    <span class="wall-item-name">{row.name}{row.detail.map(|d| view! { " "<small>{d}</small> })}</span>
                    <span class="wall-item-value">{row.value}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <h2>{title}</h2>
        <ol class="wall-list">{items}</ol>
        {(more > 0).then(|| view! { <p class="wall-more" data-testid="wall-more">{messages::wall_more(more)}</p> })}
    }
}

/// Interaction is unavoidable: someone has to sign in on this screen (no redirect, no loop).
#[component]
pub fn WallSignInNeeded() -> impl IntoView {
    view! {
        <section class="wall-signin" data-testid="wall-sign-in-needed">
            <h2>{messages::WALL_SIGN_IN_NEEDED}</h2>
            <p>{messages::WALL_SIGN_IN_HELP}</p>
        </section>
    }
}

/// A message in the wall's large type.
#[component]
pub fn WallEmpty(text: &'static str) -> impl IntoView {
    view! { <p class="wall-empty">{text}</p> }
}

/// The last refresh failed: the data shown is from `since` (a clock time), and why.
#[component]
pub fn WallStale(since: Option<String>, reason: String) -> impl IntoView {
    view! { <div class="wall-stale" role="status" data-testid="wall-stale">{messages::wall_stale(since.as_deref(), &reason)}</div> }
}

/// Last update, next refresh, data age, scan progress and who the data is read as.
#[component]
pub fn WallFooter(
    #[prop(into)] last_update: Signal<Option<String>>,
    #[prop(into)] next_refresh: Signal<String>,
    #[prop(into)] data_age: Signal<Option<String>>,
    #[prop(into)] scanning: Signal<Option<String>>,
    #[prop(into)] identity: Signal<String>,
) -> impl IntoView {
    view! {
        <footer class="wall-footer" data-testid="wall-footer">
            <span data-testid="wall-last-update">{move || messages::wall_last_update(last_update.get().as_deref())}</span>
            <span>{move || messages::wall_next_refresh(&next_refresh.get())}</span>
            <span>{move || data_age.get().unwrap_or_default()}</span>
            <span>{move || scanning.get().unwrap_or_default()}</span>
            <span data-testid="wall-identity">{move || identity.get()}</span>
        </footer>
    }
}

/// The panel on screen: "sign-in needed" above all, else the rotation's current panel (the
/// fleet panels wait for the first scan results).
#[component]
pub fn WallStage(
    #[prop(into)] panel: Signal<Option<WallPanel>>,
    #[prop(into)] sign_in_needed: Signal<bool>,
    #[prop(into)] aggregate: Signal<FleetAggregate>,
    /// Devices in scope: until all are read, lists say how many they cover.
    #[prop(into)]
    in_scope: Signal<usize>,
    /// The wall's one device (`device=` in its link).
    #[prop(into)]
    device: Signal<Loadable<DeviceKbs>>,
    /// List rows that fit the screen.
    #[prop(into)]
    rows: Signal<usize>,
) -> impl IntoView {
    let summary = Memo::new(move |_| aggregate.with(|a| a.summary()));
    let fleet_title = move |title: &str| match summary.get().coverage(in_scope.get()) {
        Coverage::Complete => title.to_owned(),
        Coverage::Partial { scanned, of } => messages::partial_title(title, scanned, of),
    };
    let list = move |title: String, all: Vec<WallRow>, row_test_id: &'static str| {
        let (shown, more) = rows_that_fit(all.len(), rows.get());
        let rows = all.into_iter().take(shown).collect();
        view! { <WallList title rows more row_test_id/> }.into_any()
    };
    let top_kbs = move || {
        let all = aggregate.with(|a| {
            let kbs = a.kb_rows(&FleetKbFilter::default(), Sort::default());
            kbs.into_iter()
                .map(|kb| WallRow {
                    name: kb.label.clone(),
                    detail: Some(kb.name.clone().unwrap_or_default()),
                    value: messages::wall_devices(kb.device_count()),
                })
                .collect()
        });
        list(fleet_title(messages::WALL_TOP_KBS), all, "wall-kb")
    };
    let top_devices = move || {
        let all = aggregate.with(|a| {
            let devices = a.device_rows(&FleetDeviceFilter::default(), Sort::default());
            devices
                .into_iter()
                .map(|d| WallRow {
                    name: d.name.clone(),
                    detail: None,
                    value: messages::wall_cves(d.cves),
                })
                .collect()
        });
        list(fleet_title(messages::WALL_TOP_DEVICES), all, "wall-device")
    };
    let one_device = move || match device.get().value {
        None => view! { <WallEmpty text=messages::WALL_DEVICE_SELECT/> }.into_any(),
        Some(d) => {
            let mut kbs = d.kbs.items;
            sort_by_cached_key(&mut kbs, |kb| std::cmp::Reverse(kb.cves()));
            let all = kbs
                .iter()
                .map(|kb| WallRow {
                    name: kb.label(),
                    detail: Some(kb.name.clone().unwrap_or_default()),
                    value: messages::wall_cves(u64::from(kb.cves())),
                })
                .collect();
            list(d.device.display_name().to_owned(), all, "wall-device-kb")
        }
    };
    move || match panel.get() {
        _ if sign_in_needed.get() => view! { <WallSignInNeeded/> }.into_any(),
        Some(WallPanel::Device) => one_device(),
        _ if aggregate.with(FleetAggregate::is_empty) => {
            view! { <WallEmpty text=messages::WALL_NO_DATA/> }.into_any()
        }
        Some(WallPanel::Tiles) | None => view! { <SummaryTiles summary in_scope/> }.into_any(),
        Some(WallPanel::TopKbs) => top_kbs(),
        Some(WallPanel::TopDevices) => top_devices(),
    }
}
