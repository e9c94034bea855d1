//! The device page: the device list beside the selected device's missing KBs.

use kbwatch_core::{DeviceFilter, DeviceSortKey, KbFilter, KbSortKey, MissingKb};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::device_panel::DevicePanel;
use crate::components::kb_panel::{KbPanel, KbPanelPlaceholder};
use crate::context::AppContext;
use crate::data::DashboardData;
use crate::download::export_device_kbs;
use crate::view_state::ViewHandle;

#[component]
pub fn DevicesPage(
    view: ViewHandle,
    data: DashboardData,
    /// Kept in the page (with its scroll and focus) while another page is shown.
    #[prop(into)]
    hidden: Signal<bool>,
) -> impl IntoView {
    let context = expect_context::<AppContext>();
    let devices = data.devices;
    let kbs = data.kbs;
    let requested = data.requested;
    view! {
        <main class="layout" class:hidden=hidden>
            <DevicePanel
                data=devices.state()
                filter=view.part(|s| s.device_filter.clone())
                sort=view.part(|s| s.device_sort)
                include_unmanaged=view.part(|s| s.include_unmanaged)
                selected=data.selected_id()
                on_filter=Callback::new(move |f: DeviceFilter| view.change(false, |s| s.device_filter = f))
                on_sort=Callback::new(move |k: DeviceSortKey| view.change(false, |s| s.device_sort = s.device_sort.toggled(k)))
                on_include_unmanaged=Callback::new(move |on: bool| view.change(true, |s| s.include_unmanaged = on))
                on_retry=Callback::new(move |()| devices.retry())
                link_for=view.device_link()
            />
            {move || match requested.get() {
                None => view! { <KbPanelPlaceholder problem=None/> }.into_any(),
                Some(Err(problem)) => view! { <KbPanelPlaceholder problem=Some(problem)/> }.into_any(),
                Some(Ok(_)) => view! {
                    <KbPanel
                        data=kbs.state()
                        requested=view.part(|s| s.device.clone())
                        filter=view.part(|s| s.kb_filter.clone())
                        sort=view.part(|s| s.kb_sort)
                        on_filter=Callback::new(move |f: KbFilter| view.change(false, |s| s.kb_filter = f))
                        on_sort=Callback::new(move |k: KbSortKey| view.change(false, |s| s.kb_sort = s.kb_sort.toggled(k)))
                        on_retry=Callback::new(move |()| kbs.retry())
                        on_export=Callback::new(move |shown: Vec<MissingKb>| {
                            let device = kbs.state().with_untracked(|s| s.value.as_ref().map(|d| d.device.display_name().to_owned())).unwrap_or_default();
                            spawn_local(async move {
                                // A chunk that cannot be fetched now: the next click tries again.
                                let _ = export_device_kbs(device, shown).await;
                            });
                        })
                        cloud=context.config.cloud
                    />
                }.into_any(),
            }}
        </main>
    }
}
