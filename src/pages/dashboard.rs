//! The dashboard: device list beside the selected device's missing KBs. The whole view lives
//! in the URL query (see `kbwatch_core::url_state`), so Back, reload and shared links work.

use kbwatch_core::device_list::filter_and_sort;
use kbwatch_core::sort::Sort;
use kbwatch_core::url_state::{FleetView, Page};
use kbwatch_core::{
    Device, DeviceFilter, DeviceId, DeviceRef, DeviceSortKey, KbFilter, KbSortKey, MachineQuery,
    ViewState,
};
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::NavigateOptions;

use crate::api::{ApiClient, Collection, DeviceKbs};
use crate::app::AppContext;
use crate::auth::TokenSource;
use crate::components::device_panel::DevicePanel;
use crate::components::kb_panel::KbPanel;
use crate::components::session::{AccountStatus, TokenStatus};
use crate::fleet_scan::ScannerSlot;
use crate::lazy_view::lazy_view;
use crate::messages;
use crate::pages::fleet::{fleet_page_view, FleetPageProps};
use crate::pages::wall::{wall_page_view, WallPageProps};
use crate::remote::Remote;
use kbwatch_core::wall::WallSettings;

#[component]
pub fn Dashboard() -> impl IntoView {
    let context = expect_context::<AppContext>();
    let cloud = context.config.cloud;
    let client = StoredValue::new(context.client.clone());
    let location = use_location();
    let navigate = StoredValue::new_local(use_navigate());

    let parsed = Memo::new(move |_| ViewState::from_query(&location.search.get()));
    // What the user typed and the URL does not say yet: shown at once, written just after.
    let unwritten = RwSignal::new(None::<ViewState>);
    let state = Memo::new(move |_| unwritten.get().unwrap_or_else(|| parsed.get().0));
    // Any navigation (a link, Back, the write itself) makes the URL the truth again.
    Effect::new(move |_| {
        parsed.track();
        if unwritten.with_untracked(Option::is_some) {
            unwritten.set(None);
        }
    });
    let ignored = Memo::new(move |_| parsed.get().1);
    // One memo per part of the view: a keystroke in one filter re-runs only what reads that part.
    let device_filter = Memo::new(move |_| state.get().device_filter);
    let device_sort = Memo::new(move |_| state.get().device_sort);
    let include_unmanaged = Memo::new(move |_| state.get().include_unmanaged);
    let kb_filter = Memo::new(move |_| state.get().kb_filter);
    let kb_sort = Memo::new(move |_| state.get().kb_sort);
    let fleet_view = Memo::new(move |_| state.get().fleet);

    // `push` for deliberate steps (open a device) so Back returns; `replace` for typing.
    let go = move |next: ViewState, push: bool| {
        let path = location.pathname.get_untracked();
        let query = next.to_query();
        let url = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        navigate.with_value(|nav| {
            nav(
                &url,
                NavigateOptions {
                    replace: !push,
                    scroll: false,
                    ..Default::default()
                },
            )
        });
    };
    // A deliberate step navigates at once. Typing and sorting show the new view first and
    // write the URL in a task of its own (the router's work, about 2 ms, stays out of the
    // keystroke's frame); a later change supersedes an unwritten one.
    let change = move |push: bool, edit: &dyn Fn(&mut ViewState)| {
        let mut next = state.get_untracked();
        edit(&mut next);
        if next == state.get_untracked() {
            return;
        }
        if push {
            unwritten.set(None);
            go(next, true);
            return;
        }
        unwritten.set(Some(next.clone()));
        set_timeout(
            move || {
                if unwritten.with_untracked(|u| u.as_ref() == Some(&next)) {
                    go(next, false);
                    unwritten.set(None);
                }
            },
            std::time::Duration::ZERO,
        );
    };

    // Device list: reloaded only when the server-side query changes.
    let devices = Remote::<Collection<Device>>::new();
    let machine_query = Memo::new(move |_| MachineQuery {
        include_unmanaged: include_unmanaged.get(),
    });
    Effect::new(move |_| {
        let query = machine_query.get();
        let client = client.get_value();
        devices.load(move || {
            let client = client.clone();
            async move { client.devices(query).await }
        });
    });

    // Selected device: validated before any call; reloaded only when it changes.
    let requested = Memo::new(move |_| state.get().device);
    let device_ref = Memo::new(move |_| {
        requested
            .get()
            .map(|raw| DeviceRef::parse(&raw).map_err(|e| messages::invalid_device_ref(&raw, &e)))
    });
    let kbs = Remote::<DeviceKbs>::new();
    Effect::new(move |_| {
        kbs.clear();
        if let Some(Ok(device)) = device_ref.get() {
            let client = client.get_value();
            kbs.load(move || {
                let client = client.clone();
                let device = device.clone();
                let known = devices.state().with_untracked(|d| {
                    let items = d.value.as_ref()?;
                    match &device {
                        DeviceRef::Id(id) => items.items.iter().find(|x| &x.id == id).cloned(),
                        DeviceRef::ComputerName(_) => None,
                    }
                });
                async move { load_device_kbs(&client, &device, known).await }
            });
        }
    });

    let selected_id = Signal::derive(move || {
        kbs.state()
            .with(|s| s.value.as_ref().map(|d| d.device.id.clone()))
    });
    let link_for = Callback::new(move |id: DeviceId| {
        let mut next = state.get_untracked();
        next.page = Page::Devices;
        next.device = Some(id.to_string());
        let query = next.to_query();
        format!("{}?{query}", location.pathname.get_untracked())
    });

    let scanner = ScannerSlot::new(context.client.clone(), context.config.fleet);
    // The devices the fleet and wall views work on: the loaded list under the device filter.
    let scope = Memo::new(move |_| {
        let filter = device_filter.get();
        devices.state().with(|d| {
            d.value.as_ref().map(|c| {
                filter_and_sort(&c.items, &filter, Sort::default())
                    .into_iter()
                    .cloned()
                    .collect::<Vec<_>>()
            })
        })
    });
    let page = Memo::new(move |_| state.get().page);
    let page_href = move |target: Page| {
        let mut next = state.get();
        next.page = target;
        let query = next.to_query();
        let path = location.pathname.get();
        if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        }
    };

    let auto_refresh = context.config.auto_refresh_minutes;
    if auto_refresh > 0 {
        let handle = set_interval_with_handle(
            move || {
                devices.retry();
                kbs.retry();
            },
            std::time::Duration::from_secs(u64::from(auto_refresh) * 60),
        );
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    }

    let identity = {
        let tokens = context.client.tokens();
        let account = context.account;
        Signal::derive(move || match tokens {
            TokenSource::Demo => messages::MODE_DEMO.to_owned(),
            TokenSource::Pasted(token) => token
                .with(|t| {
                    t.as_deref()
                        .and_then(|t| kbwatch_core::token_info::TokenInfo::decode(t).ok())
                })
                .and_then(|info| info.subject)
                .unwrap_or_else(|| messages::MODE_TOKEN.to_owned()),
            TokenSource::Msal => account.get().unwrap_or_default(),
        })
    };
    let wall = move || {
        (page.get() == Page::Wall).then(|| {
            let (settings, _) = WallSettings::from_query(&location.search.get_untracked());
            lazy_view(messages::LOADING_WALL, move || {
                wall_page_view(WallPageProps {
                    settings: settings.clone(),
                    devices,
                    kbs,
                    scope: scope.into(),
                    scanner,
                    identity,
                })
            })
        })
    };

    view! {
        {wall}
        <Show when=move || page.get() != Page::Wall>
        <header class="topbar">
            <div>
                <h1 class="brand">{messages::APP_NAME}</h1>
                <p class="tagline">{messages::TAGLINE}</p>
            </div>
            <div class="topbar-actions">
                {match context.client.tokens() {
                    TokenSource::Demo => view! { <span class="badge" data-testid="mode">{messages::MODE_DEMO}</span> }.into_any(),
                    TokenSource::Pasted(token) => view! { <TokenStatus token/> }.into_any(),
                    TokenSource::Msal => view! { <AccountStatus account=context.account/> }.into_any(),
                }}
                <button type="button" class="button" data-testid="refresh" on:click=move |_| { devices.retry(); kbs.retry(); }>
                    {messages::REFRESH}
                </button>
            </div>
        </header>
        {move || {
            let ignored = ignored.get();
            (!ignored.is_empty()).then(|| view! {
                <p class="banner banner-warning" data-testid="ignored-params">{messages::ignored_params(&ignored)}</p>
            })
        }}
        <nav class="nav" aria-label="Views">
            <a href=move || page_href(Page::Devices) data-testid="nav-devices"
                aria-current=move || (page.get() == Page::Devices).then_some("page")>{messages::NAV_DEVICES}</a>
            <a href=move || page_href(Page::Fleet) data-testid="nav-fleet"
                aria-current=move || (page.get() == Page::Fleet).then_some("page")>{messages::NAV_FLEET}</a>
        </nav>
        {move || (page.get() == Page::Fleet).then(|| {
            let on_change = Callback::new(move |(fleet, push): (FleetView, bool)| change(push, &|s| s.fleet = fleet.clone()));
            view! {
                <main class="layout-single">
                    {lazy_view(messages::LOADING_FLEET_VIEW, move || {
                        fleet_page_view(FleetPageProps {
                            scope: scope.into(),
                            view: fleet_view.into(),
                            on_change,
                            link_for,
                            scanner,
                        })
                    })}
                </main>
            }
        })}
        <main class="layout" class:hidden=move || page.get() != Page::Devices>
            <DevicePanel
                data=devices.state()
                filter=device_filter
                sort=device_sort
                include_unmanaged
                selected=selected_id
                on_filter=Callback::new(move |f: DeviceFilter| change(false, &|s| s.device_filter = f.clone()))
                on_sort=Callback::new(move |k: DeviceSortKey| change(false, &|s| s.device_sort = s.device_sort.toggled(k)))
                on_include_unmanaged=Callback::new(move |on: bool| change(true, &|s| s.include_unmanaged = on))
                on_retry=Callback::new(move |()| devices.retry())
                link_for
            />
            {move || match device_ref.get() {
                None => view! {
                    <section class="panel kb-panel placeholder" data-testid="select-device"><p class="muted">{messages::SELECT_DEVICE}</p></section>
                }.into_any(),
                Some(Err(problem)) => view! {
                    <section class="panel kb-panel">
                        <div class="banner banner-error" role="alert" data-testid="error-banner"><p>{problem}</p></div>
                    </section>
                }.into_any(),
                Some(Ok(_)) => view! {
                    <KbPanel
                        data=kbs.state()
                        requested=requested
                        filter=kb_filter
                        sort=kb_sort
                        on_filter=Callback::new(move |f: KbFilter| change(false, &|s| s.kb_filter = f.clone()))
                        on_sort=Callback::new(move |k: KbSortKey| change(false, &|s| s.kb_sort = s.kb_sort.toggled(k)))
                        on_retry=Callback::new(move |()| kbs.retry())
                        cloud
                    />
                }.into_any(),
            }}
        </main>
        </Show>
    }
}

/// The device (from the list when already known, else by ID or computer name) and its KBs.
/// With a device ID, both requests start at once: the first KB table does not wait for the
/// device header's call.
async fn load_device_kbs(
    client: &ApiClient,
    device: &DeviceRef,
    known: Option<Device>,
) -> Result<DeviceKbs, kbwatch_core::ApiError> {
    match (known, device) {
        (Some(device), _) => {
            let kbs = client.missing_kbs(&device.id).await?;
            Ok(DeviceKbs { device, kbs })
        }
        (None, DeviceRef::Id(id)) => {
            let (device, kbs) = futures::join!(client.device(device), client.missing_kbs(id));
            Ok(DeviceKbs {
                device: device?,
                kbs: kbs?,
            })
        }
        (None, DeviceRef::ComputerName(_)) => {
            let device = client.device(device).await?;
            let kbs = client.missing_kbs(&device.id).await?;
            Ok(DeviceKbs { device, kbs })
        }
    }
}
