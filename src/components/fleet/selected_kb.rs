//! The devices missing the KB picked in the chart or the table.

use kbwatch_core::fleet::aggregate::FleetDevice;
use kbwatch_core::DeviceId;
use leptos::prelude::*;

use crate::messages;

#[component]
pub fn SelectedKbDevices(
    /// The KB's label and the devices missing it; `None` when no KB is picked.
    #[prop(into)]
    selected: Signal<Option<(String, Vec<FleetDevice>)>>,
    link_for: Callback<DeviceId, String>,
    on_close: Callback<()>,
) -> impl IntoView {
    move || {
        selected.get().map(|(label, devices)| view! {
            <div class="selected-kb" data-testid="selected-kb">
                <h3>{messages::selected_kb_devices(&label, devices.len())}</h3>
                <ul class="device-chips">
                    {devices.into_iter().map(|d| {
                        let href = link_for.run(d.id.clone());
                        view! { <li><a href=href data-testid="selected-kb-device">{d.name.clone()}</a></li> }
                    }).collect_view()}
                </ul>
                <button type="button" class="button button-quiet" on:click=move |_| on_close.run(())>{messages::CLOSE}</button>
            </div>
        })
    }
}
