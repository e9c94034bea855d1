//! The top-KB chart: devices affected per KB.

use kbwatch_core::fleet::aggregate::FleetKb;
use leptos::prelude::*;

use crate::messages;

/// Horizontal SVG bars: devices affected per KB (no canvas, no chart library).
#[component]
pub fn TopKbChart(
    #[prop(into)] rows: Signal<Vec<FleetKb>>,
    on_select: Callback<String>,
) -> impl IntoView {
    // Whole SVG units: formatting a float attribute would ship Rust's float printer.
    const BAR_HEIGHT: usize = 22;
    const LABEL_WIDTH: usize = 90;
    const WIDTH: usize = 520;
    move || {
        let rows = rows.get();
        if rows.is_empty() {
            return None;
        }
        let max = rows
            .iter()
            .map(FleetKb::device_count)
            .max()
            .unwrap_or(1)
            .max(1);
        let height = rows.len() * BAR_HEIGHT;
        let bars = rows
            .into_iter()
            .enumerate()
            .map(|(i, kb)| {
                let y = i * BAR_HEIGHT;
                let count = kb.device_count();
                let width = (WIDTH - LABEL_WIDTH - 50) * count / max;
                let id = kb.id.clone();
                let title = format!("{} — {}", kb.label, kb.name.clone().unwrap_or_default());
                view! {
                    <g class="bar" data-testid="chart-bar" on:click=move |_| on_select.run(id.clone())>
                        <title>{title}</title>
                        <text x="0" y=y + 15 class="bar-label">{kb.label.clone()}</text>
                        <rect x=LABEL_WIDTH y=y + 3 width=width.max(1) height=BAR_HEIGHT - 6 rx="3"></rect>
                        <text x=LABEL_WIDTH + width + 6 y=y + 15 class="bar-value">{count}</text>
                    </g>
                }
            })
            .collect_view();
        Some(view! {
            <figure class="chart">
                <figcaption>{messages::CHART_TITLE}</figcaption>
                <svg viewBox=format!("0 0 {WIDTH} {height}") width="100%" role="img" aria-label=messages::CHART_TITLE>
                    {bars}
                </svg>
            </figure>
        })
    }
}
