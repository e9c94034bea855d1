use kbwatch_core::fallback::KbSource;
use kbwatch_core::kb_list::{products, KbIndex};
use kbwatch_core::sort::Sort;
use kbwatch_core::{
    Cloud, Device, DeviceKbs, DeviceRefError, KbFilter, KbSortKey, KbTotals, LoadStatus, Loadable,
    MissingKb,
};
use leptos::prelude::*;

use super::error_banner::ErrorBanner;
use super::kb_filters::KbFilters;
use super::kb_table::KbTable;
use crate::messages;

/// Performance mark set once the first KB rows are in the DOM (read by `make bench`).
pub const KB_TABLE_RENDERED_MARK: &str = "kb-table-rendered";

/// One device's missing KBs: header, filters, totals, table, empty and error states.
/// Earlier rows stay visible while a reload runs or fails.
#[component]
pub fn KbPanel(
    #[prop(into)] data: Signal<Loadable<DeviceKbs>>,
    /// The device the user asked for, named in loading and error messages.
    #[prop(into)]
    requested: Signal<Option<String>>,
    #[prop(into)] filter: Signal<KbFilter>,
    #[prop(into)] sort: Signal<Sort<KbSortKey>>,
    on_filter: Callback<KbFilter>,
    on_sort: Callback<KbSortKey>,
    on_retry: Callback<()>,
    /// The KBs as shown (filtered, sorted), to export.
    on_export: Callback<Vec<MissingKb>>,
    cloud: Cloud,
) -> impl IntoView {
    let loaded = Memo::new(move |_| data.get().value);
    let all_kbs = Memo::new(move |_| loaded.get().map(|d| d.kbs.items).unwrap_or_default());
    let index = Memo::new(move |_| all_kbs.with(|kbs| KbIndex::new(kbs)));
    // Positions into `all_kbs`: a keystroke compares and passes on indices, not KB records.
    let rows = Memo::new(move |_| index.with(|index| index.select(&filter.get(), sort.get())));
    // The device's totals change with its data, not with each keystroke.
    let all_totals = Memo::new(move |_| all_kbs.with(|k| KbTotals::of(k.iter())));
    let product_options = Memo::new(move |_| {
        all_kbs.with(|kbs| {
            products(kbs)
                .into_iter()
                .map(|p| {
                    let n = kbs.iter().filter(|kb| kb.products.contains(&p)).count();
                    (p, n)
                })
                .collect::<Vec<_>>()
        })
    });
    let content = Memo::new(move |_| {
        let skipped = loaded.with(|d| d.as_ref().is_some_and(|d| !d.kbs.skipped.is_empty()));
        if all_kbs.with(Vec::is_empty) && !skipped {
            let windows = loaded.with(|d| d.as_ref().is_some_and(|d| d.device.is_windows()));
            KbContent::Empty { windows }
        } else if rows.with(Vec::is_empty) {
            KbContent::NoMatch
        } else {
            KbContent::Table
        }
    });
    let status = Signal::derive(move || data.get().status);

    mark_first_rows(rows);

    let error_context = Signal::derive(move || {
        let requested = requested.get()?;
        let shown = loaded.with(|d| d.as_ref().map(|d| d.device.display_name().to_owned()));
        Some(match shown {
            Some(name) => messages::showing_previous(&name),
            None => messages::while_loading(&requested),
        })
    });

    view! {
        <section class="panel kb-panel" aria-live="polite">
            <ErrorBanner status context=error_context on_retry/>
            {move || match (loaded.get(), status.get()) {
                (None, LoadStatus::Loading) => {
                    let text = requested.get().map(|r| messages::loading_device(&r)).unwrap_or_else(|| messages::LOADING_KBS.to_owned());
                    Some(view! { <p class="muted" data-testid="kb-loading">{text}</p> }.into_any())
                }
                (None, _) => None,
                (Some(loaded), _) => Some(view! {
                    <DeviceHeader device=loaded.device.clone() cloud/>
                    {(loaded.source == KbSource::MachineVulnerabilities).then(|| view! {
                        <p class="banner banner-info" data-testid="kb-source" data-source="machinesVulnerabilities">{messages::KB_SOURCE_VULNERABILITIES}</p>
                    })}
                    {(!loaded.kbs.skipped.is_empty()).then(|| view! {
                        <p class="banner banner-warning" data-testid="skipped-records">{messages::skipped_records(loaded.kbs.skipped.len())}</p>
                    })}
                }.into_any()),
            }}
            <Show when=move || loaded.with(Option::is_some)>
                <KbFilters filter products=product_options on_change=on_filter/>
                <p class="totals" data-testid="kb-totals">
                    {move || {
                        let shown = rows.with(|r| all_kbs.with(|k| KbTotals::of(r.iter().map(|&i| &k[i]))));
                        messages::kb_totals(shown, Some(all_totals.get()))
                    }}
                </p>
                <div class="export-row">
                    <button type="button" class="button button-quiet" data-testid="export-device-kbs" disabled=move || rows.with(Vec::is_empty)
                        on:click=move |_| on_export.run(rows.with_untracked(|r| all_kbs.with_untracked(|k| r.iter().map(|&i| k[i].clone()).collect())))>
                        {messages::EXPORT_DEVICE_KBS}
                    </button>
                </div>
                // Re-runs only when the kind of content changes (or new data arrives, which
                // rebuilds the table), not on every keystroke.
                {move || {
                    all_kbs.track();
                    match content.get() {
                        KbContent::Table => view! { <KbTable kbs=all_kbs rows sort on_sort/> }.into_any(),
                        KbContent::Empty { windows } => {
                            let text = if windows { messages::NO_MISSING_KBS } else { messages::NO_MISSING_KBS_NON_WINDOWS };
                            view! { <p class="empty-state" data-testid="kb-empty">{text}</p> }.into_any()
                        }
                        KbContent::NoMatch => {
                            view! { <p class="empty-state" data-testid="kb-no-match">{messages::NO_KBS_MATCH}</p> }.into_any()
                        }
                    }
                }}
            </Show>
        </section>
    }
}

/// Sets [`KB_TABLE_RENDERED_MARK`] once, when the first rows are there.
fn mark_first_rows(rows: Memo<Vec<usize>>) {
    Effect::new(move |marked: Option<bool>| {
        let has_rows = !rows.with(Vec::is_empty);
        if has_rows && marked != Some(true) {
            if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
                let _ = performance.mark(KB_TABLE_RENDERED_MARK);
            }
            return true;
        }
        marked.unwrap_or(false)
    });
}

/// The KB panel before a device is chosen, or when the link's device cannot be used: the
/// raw value and why.
#[component]
pub fn KbPanelPlaceholder(problem: Option<(String, DeviceRefError)>) -> impl IntoView {
    match problem {
        None => view! {
            <section class="panel kb-panel placeholder" data-testid="select-device"><p class="muted">{messages::SELECT_DEVICE}</p></section>
        }.into_any(),
        Some((raw, error)) => view! {
            <section class="panel kb-panel">
                <div class="banner banner-error" role="alert" data-testid="error-banner"><p>{messages::invalid_device_ref(&raw, &error)}</p></div>
            </section>
        }.into_any(),
    }
}

/// What the panel shows below the totals.
#[derive(Clone, Copy, PartialEq)]
enum KbContent {
    /// The device lacks nothing (per Defender, which reports KBs for Windows only).
    Empty {
        windows: bool,
    },
    /// Nothing passes the filters, or every record was unreadable.
    NoMatch,
    Table,
}

/// Name, OS, health, risk, exposure, last seen, and the link into the Defender portal.
#[component]
pub fn DeviceHeader(device: Device, cloud: Cloud) -> impl IntoView {
    let now = crate::clock::now_utc();
    let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| messages::UNKNOWN.to_owned());
    let portal = cloud.device_portal_url(&device.id);
    let tags = (!device.machine_tags.is_empty()).then(|| {
        let chips = device
            .machine_tags
            .iter()
            .map(|t| view! { <span class="chip">{t.clone()}</span> })
            .collect_view();
        view! { <div><dt>{messages::LABEL_TAGS}</dt><dd>{chips}</dd></div> }
    });
    view! {
        <header class="device-header">
            <h2 data-testid="device-header">{device.display_name().to_owned()}</h2>
            <p class="muted">{device.os_summary()}</p>
            <dl class="facts">
                <div><dt>{messages::LABEL_HEALTH}</dt><dd>{or_unknown(&device.health_status)}</dd></div>
                <div><dt>{messages::LABEL_RISK}</dt><dd class=format!("level level-{}", device.risk_score.clone().unwrap_or_default().to_lowercase())>{or_unknown(&device.risk_score)}</dd></div>
                <div><dt>{messages::LABEL_EXPOSURE}</dt><dd class=format!("level level-{}", device.exposure_level.clone().unwrap_or_default().to_lowercase())>{or_unknown(&device.exposure_level)}</dd></div>
                <div><dt>{messages::LABEL_LAST_SEEN}</dt><dd>{messages::timestamp(device.last_seen, now)}</dd></div>
                <div><dt>{messages::LABEL_GROUP}</dt><dd>{or_unknown(&device.rbac_group_name)}</dd></div>
                {tags}
            </dl>
            <a class="portal-link" href=portal target="_blank" rel="noopener noreferrer" data-testid="portal-link">{messages::OPEN_IN_PORTAL}</a>
        </header>
    }
}
