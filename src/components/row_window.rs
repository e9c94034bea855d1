//! The scroll state of a windowed table (see `kbwatch_core::row_window`): which rows to
//! render, the box's scroll handler, and the spacer rows that stand in for the others.

use kbwatch_core::row_window::visible_rows;
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct RowWindow {
    /// Rows in the whole (filtered) table.
    pub total: Memo<usize>,
    /// Whether the table is longer than its limit, so it scrolls in its own box.
    pub windowed: Memo<bool>,
    /// The rows rendered: all of them when not windowed.
    pub range: Memo<(usize, usize)>,
    scroll_top: RwSignal<f64>,
    viewport: RwSignal<f64>,
    row_height_px: usize,
}

impl RowWindow {
    /// `row_height_px` must match the stylesheet's row height for the windowed table.
    pub fn new(total: Memo<usize>, whole_max_rows: usize, row_height_px: usize) -> Self {
        let scroll_top = RwSignal::new(0.0_f64);
        // Until the box reports its size: 70 % of the window, the box's height in the CSS.
        let viewport = RwSignal::new(
            web_sys::window()
                .and_then(|w| w.inner_height().ok())
                .and_then(|h| h.as_f64())
                .unwrap_or(900.0)
                * 0.7,
        );
        let windowed = Memo::new(move |_| total.get() > whole_max_rows);
        let range = Memo::new(move |_| {
            let total = total.get();
            if !windowed.get() {
                return (0, total);
            }
            let rows = visible_rows(
                total,
                scroll_top.get(),
                viewport.get(),
                row_height_px as f64,
            );
            (rows.start, rows.end)
        });
        Self {
            total,
            windowed,
            range,
            scroll_top,
            viewport,
            row_height_px,
        }
    }

    /// For the scroll box's `on:scroll`.
    pub fn on_scroll(self) -> impl Fn(leptos::ev::Event) + Copy {
        move |ev| {
            let element = event_target::<web_sys::Element>(&ev);
            self.scroll_top.set(f64::from(element.scroll_top()));
            self.viewport.set(f64::from(element.client_height()));
        }
    }

    /// The box's `tabindex`: focusable when it scrolls, so the keyboard scrolls it.
    pub fn tab_index(self) -> impl Fn() -> Option<&'static str> + Copy {
        move || self.windowed.get().then_some("0")
    }

    /// The empty row standing in for the rows above the rendered ones.
    pub fn spacer_above(self) -> impl IntoView {
        self.spacer(move || self.range.get().0)
    }

    /// The empty row standing in for the rows below the rendered ones.
    pub fn spacer_below(self) -> impl IntoView {
        self.spacer(move || self.total.get() - self.range.get().1)
    }

    fn spacer(
        self,
        rows_hidden: impl Fn() -> usize + Copy + Send + Sync + 'static,
    ) -> impl IntoView {
        let height = self.row_height_px;
        view! {
            <Show when=move || rows_hidden() != 0>
                <tr class="spacer" aria-hidden="true" style:height=move || format!("{}px", rows_hidden() * height)></tr>
            </Show>
        }
    }
}
