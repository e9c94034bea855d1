//! The SOC wall display: large type, dark theme, no pointer needed, panels rotating, data
//! refreshed within the rate budget, last good data kept (with a stale banner) when a refresh
//! fails, and a "sign-in needed" panel instead of a redirect when interaction is unavoidable.

use std::time::Duration;

use kbwatch_core::wall::{WallSettings, WallTheme};
use kbwatch_core::{ApiError, LoadStatus};
use leptos::prelude::*;

use crate::clock::now_ms;
use crate::components::wall::{WallFooter, WallStage, WallStale};
use crate::context::AppContext;
use crate::data::DashboardData;
use crate::lazy_view::{lazy_page, lazy_view};
use crate::messages;
use crate::view_state::ViewHandle;
use crate::wall_display::{keep_awake, use_refresh_clock, use_rows_that_fit};

lazy_page! {
    /// The wall display, fetched as a wasm chunk when it first opens.
    pub fn wall_page_view(WallPageProps) as wall_view => WallPage
}

/// The wall in the shell: its settings from the link as it was opened, its code fetched the
/// first time it opens.
#[component]
pub fn WallRoute(view: ViewHandle, data: DashboardData) -> impl IntoView {
    let (settings, _) = WallSettings::from_query(&view.query().get_untracked());
    let tokens = expect_context::<AppContext>().client.tokens();
    let identity = Signal::derive(move || messages::identity(&tokens.identity()));
    let props = move || WallPageProps {
        settings: settings.clone(),
        data,
        identity,
    };
    lazy_view(messages::LOADING_WALL, move || wall_page_view(props()))
}

#[component]
pub fn WallPage(
    settings: WallSettings,
    data: DashboardData,
    /// "Demo mode", the account, or the token's owner.
    #[prop(into)]
    identity: Signal<String>,
) -> impl IntoView {
    let scanner = data.scanner.scanner();
    // Unattended: when silent renewal fails, show "sign-in needed" rather than navigate away.
    crate::auth::set_interactive(false);
    on_cleanup(|| crate::auth::set_interactive(true));
    keep_awake();
    let refresh_ms = settings.refresh_interval_ms();
    scanner.set_max_age_ms(refresh_ms);
    let started = now_ms();
    let tick = Duration::from_millis(settings.rotate_interval_ms().clamp(50, 1_000));
    let (now, next_refresh) = use_refresh_clock(data, tick, refresh_ms);
    let rows = use_rows_that_fit();
    let last_success = RwSignal::new(None::<u64>);

    // Each successful device-list load rescans what is older than the refresh interval;
    // the scheduler keeps every call inside the budget, however long the outage was.
    Effect::new(move |_| {
        let Some(scope) = data.scope.get() else {
            return;
        };
        let stale = scanner.set_scope(&scope);
        if !stale.is_empty() && !scanner.running.get_untracked() {
            scanner.start(stale);
        }
    });
    let devices = data.devices.state();
    Effect::new(move |_| {
        let loaded = devices.with(|d| matches!(d.status, LoadStatus::Idle) && d.value.is_some());
        if loaded && !scanner.running.get() {
            last_success.set(Some(now_ms()));
        }
    });

    let problem = Memo::new(move |_| -> Option<ApiError> {
        devices.with(|d| d.error().cloned()).or_else(|| {
            let failures = scanner.failures;
            failures.with(|f| f.iter().find_map(|(_, why)| why.api_error().cloned()))
        })
    });
    // Latched: a retry in progress clears the error it retries, but not the need to sign in;
    // only an answered reload does.
    let sign_in_needed = Memo::new(move |before: Option<&bool>| {
        let signed_out = matches!(
            problem.get(),
            Some(ApiError::SignInRequired { .. } | ApiError::Unauthorized(_))
        );
        let needed = signed_out
            || scanner
                .failures
                .with(|f| f.iter().any(|(_, why)| why.needs_sign_in()));
        let reloading = devices.with(|d| d.status == LoadStatus::Loading);
        needed || (reloading && before.copied().unwrap_or(false))
    });
    let panel = {
        let settings = settings.clone();
        Memo::new(move |_| settings.panel_after(now.get().saturating_sub(started)))
    };
    let clock = move |at: Option<u64>| at.map(messages::clock_time);
    let theme = match settings.theme {
        WallTheme::Dark => "wall wall-dark",
        WallTheme::Light => "wall wall-light",
    };
    view! {
        <div class=theme data-testid="wall">
            {move || problem.get().filter(|_| !sign_in_needed.get()).map(|e| view! {
                <WallStale since=clock(last_success.get()) reason=messages::api_error(&e).title/>
            })}
            <main class="wall-stage" data-testid="wall-panel" data-panel=move || panel.get().map(|p| p.url_name()).unwrap_or_default()>
                <WallStage panel sign_in_needed aggregate=scanner.aggregate in_scope=scanner.in_scope device=data.kbs.state() rows/>
            </main>
            <WallFooter last_update=Signal::derive(move || clock(last_success.get()))
                next_refresh=Signal::derive(move || messages::clock_time(next_refresh.get()))
                data_age=Signal::derive(move || scanner.oldest_fetch_ms.get().map(|t| messages::data_age(now.get().saturating_sub(t))))
                scanning=Signal::derive(move || {
                    let progress = scanner.progress.get().filter(|_| scanner.running.get());
                    progress.map(|p| messages::wall_scanning(p.done + p.failed, p.total))
                })
                identity/>
        </div>
    }
}
