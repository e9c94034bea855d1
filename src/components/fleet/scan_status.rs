//! The scan's progress bar, its controls, and where the data on screen came from.

use kbwatch_core::fleet::scan::ScanProgress;
use leptos::prelude::*;

use crate::messages;

/// Progress bar with done/failed/remaining, ETA and the scan controls.
#[component]
pub fn ScanStatus(
    #[prop(into)] progress: Signal<Option<ScanProgress>>,
    #[prop(into)] running: Signal<bool>,
    #[prop(into)] paused: Signal<bool>,
    /// Unix ms, for the time left in a 429 hold.
    #[prop(into)]
    now: Signal<u64>,
    on_pause: Callback<()>,
    on_resume: Callback<()>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    move || {
        let p = progress.get()?;
        let finished = p.done + p.failed + p.cancelled;
        let percent = (finished * 100).checked_div(p.total).unwrap_or(100);
        let now = now.get();
        let detail = if paused.get() {
            Some(messages::scan_paused().to_owned())
        } else if let Some(until) = p.throttled_until.filter(|u| *u > now) {
            Some(messages::scan_throttled_until((until - now).div_ceil(1000)))
        } else if running.get() {
            p.eta_ms.map(messages::scan_eta)
        } else {
            None
        };
        let controls = running.get().then(|| {
            view! {
                {if paused.get() {
                    view! { <button type="button" class="button" data-testid="scan-resume" on:click=move |_| on_resume.run(())>{messages::SCAN_RESUME}</button> }.into_any()
                } else {
                    view! { <button type="button" class="button button-quiet" data-testid="scan-pause" on:click=move |_| on_pause.run(())>{messages::SCAN_PAUSE}</button> }.into_any()
                }}
                <button type="button" class="button button-quiet" data-testid="scan-cancel" on:click=move |_| on_cancel.run(())>{messages::SCAN_CANCEL}</button>
            }
        });
        Some(view! {
            <div class="scan-status" data-testid="scan-status">
                <progress max="100" value=percent aria-label=messages::SCAN_PROGRESS_LABEL></progress>
                <p data-testid="scan-progress">{messages::scan_progress(p.done, p.failed, p.remaining + p.in_flight, p.cancelled, p.total)}</p>
                {detail.map(|d| view! { <p class="muted" data-testid="scan-detail">{d}</p> })}
                <div class="scan-controls">{controls}</div>
            </div>
        })
    }
}
