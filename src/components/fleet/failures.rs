//! Devices whose scan failed, each with its reason and a link to its device view.

use kbwatch_core::fleet::scan::ScanFailure;
use kbwatch_core::DeviceId;
use leptos::prelude::*;

use crate::components::error_banner::CheckLinkFor;
use crate::messages;

#[component]
pub fn ScanFailures(
    #[prop(into)] failures: Signal<Vec<(DeviceId, ScanFailure)>>,
    link_for: Callback<DeviceId, String>,
    on_retry: Callback<()>,
) -> impl IntoView {
    move || {
        let failures = failures.get();
        // One link to the connection check when some failure is one it explains.
        let check = failures
            .iter()
            .filter_map(|(_, why)| why.api_error())
            .find(|e| kbwatch_core::connection::explains(e))
            .cloned();
        (!failures.is_empty()).then(|| view! {
            <details class="banner banner-error" data-testid="scan-failures" open>
                <summary>{messages::FAILED_DEVICES}" ("{failures.len()}")"</summary>
                <ul>
                    {failures.into_iter().map(|(id, why)| {
                        let href = link_for.run(id.clone());
                        view! { <li data-testid="scan-failure"><a href=href>{id.to_string()}</a>": "{messages::scan_failure(&why)}</li> }
                    }).collect_view()}
                </ul>
                {check.map(|error| view! { <CheckLinkFor error/> })}
                <button type="button" class="button" data-testid="scan-retry-failed" on:click=move |_| on_retry.run(())>
                    {messages::SCAN_RETRY_FAILED}
                </button>
            </details>
        })
    }
}
