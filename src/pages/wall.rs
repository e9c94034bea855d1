//! The SOC wall display: large type, dark theme, no pointer needed, panels rotating, data
//! refreshed within the rate budget, last good data kept (with a stale banner) when a refresh
//! fails, and a "sign-in needed" panel instead of a redirect when interaction is unavoidable.

use kbwatch_core::fleet::aggregate::{FleetDeviceFilter, FleetKbFilter};
use kbwatch_core::sort::Sort;
use kbwatch_core::wall::{rows_that_fit, WallPanel, WallSettings, WallTheme};
use kbwatch_core::{ApiError, Device, LoadStatus, Loadable};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::*;

use crate::api::{Collection, DeviceKbs};
use crate::components::fleet::SummaryTiles;
use crate::fleet_scan::{now_ms, ScannerSlot};
use crate::lazy_view::ViewUnavailable;
use crate::messages;
use crate::remote::Remote;

#[wasm_bindgen(module = "/src/wake_lock.js")]
extern "C" {
    #[wasm_bindgen(js_name = keepScreenAwake)]
    async fn keep_screen_awake() -> JsValue;
}

/// Height of one list row at wall size, in CSS pixels (see `.wall-list li`).
const ROW_HEIGHT_PX: f64 = 76.0;
/// Header, footer and panel title.
const CHROME_PX: f64 = 250.0;

fn clock(ms: u64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(ms as f64));
    date.to_locale_time_string("en-GB").into()
}

fn visible_rows() -> usize {
    let height = web_sys::window()
        .and_then(|w| w.inner_height().ok())
        .and_then(|h| h.as_f64())
        .unwrap_or(1080.0);
    ((height - CHROME_PX) / ROW_HEIGHT_PX).floor().max(1.0) as usize
}

/// The wall display as a view. With the `split` feature this function and the code only it
/// reaches are a wasm chunk, fetched when the wall opens (see `lazy_view`).
#[cfg(feature = "split")]
#[leptos::wasm_split::wasm_split(wall_view, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn wall_page_view(props: WallPageProps) -> Result<AnyView, ViewUnavailable> {
    Ok(WallPage(props).into_any())
}

/// The wall display as a view (no `split` feature: already here).
#[cfg(not(feature = "split"))]
pub async fn wall_page_view(props: WallPageProps) -> Result<AnyView, ViewUnavailable> {
    Ok(WallPage(props).into_any())
}

#[component]
pub fn WallPage(
    settings: WallSettings,
    devices: Remote<Collection<Device>>,
    kbs: Remote<DeviceKbs>,
    /// The devices in the current device filter; `None` until the device list has loaded.
    #[prop(into)]
    scope: Signal<Option<Vec<Device>>>,
    /// Where the session's scanner lives (made here the first time a view needs it).
    scanner: ScannerSlot,
    /// "Demo mode", the account, or the token's owner.
    #[prop(into)]
    identity: Signal<String>,
) -> impl IntoView {
    let scanner = scanner.scanner();
    // Unattended: when silent renewal fails, show "sign-in needed" rather than navigate away.
    crate::auth::set_interactive(false);
    on_cleanup(|| crate::auth::set_interactive(true));
    let refresh_ms = settings.refresh_interval_ms();
    scanner.set_max_age_ms(refresh_ms);
    spawn_local(async {
        let _ = keep_screen_awake().await;
    });

    let started = now_ms();
    let now = RwSignal::new(now_ms());
    let rows = RwSignal::new(visible_rows());
    let last_success = RwSignal::new(None::<u64>);
    let next_refresh = RwSignal::new(started + refresh_ms);
    let tick_ms = settings.rotate_interval_ms().clamp(50, 1_000);

    if let Ok(handle) = set_interval_with_handle(
        move || {
            let t = now_ms();
            now.set(t);
            if t >= next_refresh.get_untracked() {
                next_refresh.set(t + refresh_ms);
                devices.retry();
                kbs.retry();
            }
        },
        std::time::Duration::from_millis(tick_ms),
    ) {
        on_cleanup(move || handle.clear());
    }
    let resize = window_event_listener(leptos::ev::resize, move |_| rows.set(visible_rows()));
    on_cleanup(move || resize.remove());

    // Each successful device-list load rescans what is older than the refresh interval;
    // the scheduler keeps every call inside the budget, however long the outage was.
    Effect::new(move |_| {
        let Some(scope) = scope.get() else { return };
        let stale = scanner.set_scope(&scope);
        if !stale.is_empty() && !scanner.running.get_untracked() {
            scanner.start(stale);
        }
    });
    Effect::new(move |_| {
        let loaded = devices
            .state()
            .with(|d| matches!(d.status, LoadStatus::Idle) && d.value.is_some());
        if loaded && !scanner.running.get() {
            last_success.set(Some(now_ms()));
        }
    });

    let problem = Memo::new(move |_| -> Option<ApiError> {
        let device_error = devices
            .state()
            .with(|d: &Loadable<Collection<Device>>| d.error().cloned());
        device_error.or_else(|| {
            scanner
                .failures
                .with(|f| f.first().map(|(_, why)| ApiError::Network(why.clone())))
        })
    });
    // Latched: a retry in progress clears the error it retries, but not the need to sign in;
    // only an answered reload does.
    let sign_in_needed = Memo::new(move |before: Option<&bool>| {
        let needed = matches!(
            problem.get(),
            Some(ApiError::SignInRequired { .. } | ApiError::Unauthorized(_))
        ) || scanner
            .failures
            .with(|f| f.iter().any(|(_, why)| why.contains("sign-in")));
        let reloading = devices.state().with(|d| d.status == LoadStatus::Loading);
        needed || (reloading && before.copied().unwrap_or(false))
    });

    let aggregate = scanner.aggregate;
    let summary = Memo::new(move |_| aggregate.with(|a| a.summary()));
    let panel = {
        let settings = settings.clone();
        Memo::new(move |_| settings.panel_after(now.get().saturating_sub(started)))
    };

    let top_kbs = move || {
        let capacity = rows.get();
        aggregate.with(|a| {
            let all = a.kb_rows(&FleetKbFilter::default(), Sort::default());
            let (shown, more) = rows_that_fit(all.len(), capacity);
            let items = all
                .into_iter()
                .take(shown)
                .map(|kb| {
                    view! {
                        <li data-testid="wall-kb">
                            <span class="wall-item-name">{kb.label.clone()}" "<small>{kb.name.clone().unwrap_or_default()}</small></span>
                            <span class="wall-item-value">{messages::wall_devices(kb.device_count())}</span>
                        </li>
                    }
                })
                .collect_view();
            view! {
                <h2>{messages::WALL_TOP_KBS}</h2>
                <ol class="wall-list">{items}</ol>
                {(more > 0).then(|| view! { <p class="wall-more" data-testid="wall-more">{messages::wall_more(more)}</p> })}
            }
        })
    };
    let top_devices = move || {
        let capacity = rows.get();
        aggregate.with(|a| {
            let all = a.device_rows(&FleetDeviceFilter::default(), Sort::default());
            let (shown, more) = rows_that_fit(all.len(), capacity);
            let items = all
                .into_iter()
                .take(shown)
                .map(|d| {
                    view! {
                        <li data-testid="wall-device">
                            <span class="wall-item-name">{d.name.clone()}</span>
                            <span class="wall-item-value">{messages::wall_cves(d.cves)}</span>
                        </li>
                    }
                })
                .collect_view();
            view! {
                <h2>{messages::WALL_TOP_DEVICES}</h2>
                <ol class="wall-list">{items}</ol>
                {(more > 0).then(|| view! { <p class="wall-more" data-testid="wall-more">{messages::wall_more(more)}</p> })}
            }
        })
    };
    let one_device = move || {
        let capacity = rows.get();
        kbs.state().with(|state| match &state.value {
            None => view! { <p class="wall-empty">{messages::WALL_DEVICE_SELECT}</p> }.into_any(),
            Some(d) => {
                let mut list = d.kbs.items.clone();
                kbwatch_core::sort::sort_by_cached_key(&mut list, |kb| std::cmp::Reverse(kb.cves()));
                let (shown, more) = rows_that_fit(list.len(), capacity);
                let items = list
                    .into_iter()
                    .take(shown)
                    .map(|kb| view! {
                        <li data-testid="wall-device-kb">
                            <span class="wall-item-name">{kb.label()}" "<small>{kb.name.clone().unwrap_or_default()}</small></span>
                            <span class="wall-item-value">{messages::wall_cves(u64::from(kb.cves()))}</span>
                        </li>
                    })
                    .collect_view();
                view! {
                    <h2>{d.device.display_name().to_owned()}</h2>
                    <ol class="wall-list">{items}</ol>
                    {(more > 0).then(|| view! { <p class="wall-more">{messages::wall_more(more)}</p> })}
                }
                .into_any()
            }
        })
    };

    let theme = match settings.theme {
        WallTheme::Dark => "wall wall-dark",
        WallTheme::Light => "wall wall-light",
    };
    view! {
        <div class=theme data-testid="wall">
            {move || problem.get().filter(|_| !sign_in_needed.get()).map(|e| {
                let since = last_success.get().map(clock);
                view! { <div class="wall-stale" role="status" data-testid="wall-stale">{messages::wall_stale(since.as_deref(), &messages::api_error(&e).title)}</div> }
            })}
            <main class="wall-stage" data-testid="wall-panel" data-panel=move || panel.get().map(|p| p.url_name()).unwrap_or_default()>
                {move || {
                    if sign_in_needed.get() {
                        return view! {
                            <section class="wall-signin" data-testid="wall-sign-in-needed">
                                <h2>{messages::WALL_SIGN_IN_NEEDED}</h2>
                                <p>{messages::WALL_SIGN_IN_HELP}</p>
                            </section>
                        }.into_any();
                    }
                    if aggregate.with(|a| a.is_empty()) && panel.get() != Some(WallPanel::Device) {
                        return view! { <p class="wall-empty">{messages::WALL_NO_DATA}</p> }.into_any();
                    }
                    match panel.get() {
                        Some(WallPanel::Tiles) | None => view! { <SummaryTiles summary/> }.into_any(),
                        Some(WallPanel::TopKbs) => top_kbs().into_any(),
                        Some(WallPanel::TopDevices) => top_devices().into_any(),
                        Some(WallPanel::Device) => one_device().into_any(),
                    }
                }}
            </main>
            <footer class="wall-footer" data-testid="wall-footer">
                <span data-testid="wall-last-update">{move || messages::wall_last_update(last_success.get().map(clock).as_deref())}</span>
                <span>{move || messages::wall_next_refresh(&clock(next_refresh.get()))}</span>
                <span>{move || scanner.oldest_fetch_ms.get().map(|t| messages::data_age(now.get().saturating_sub(t))).unwrap_or_default()}</span>
                <span>{move || scanner.progress.get().filter(|_| scanner.running.get()).map(|p| messages::wall_scanning(p.done + p.failed, p.total)).unwrap_or_default()}</span>
                <span data-testid="wall-identity">{move || identity.get()}</span>
            </footer>
        </div>
    }
}
