//! The scroll state of a windowed table (see `kbwatch_core::row_window`): which rows to
//! render, the box's scroll handler, and the spacer rows that stand in for the others.

use kbwatch_core::row_window::visible_rows;
use leptos::prelude::*;

/// Row height in windowed mode: `.table-windowed tbody tr` in the stylesheet, the same for
/// every windowed table.
const ROW_HEIGHT_PX: usize = 44;

/// The `items` of a [`WindowedTable`] whose rows are the items of `rows` themselves.
pub fn slice_of<T: Clone + Send + Sync + 'static>(
    rows: Signal<Vec<T>>,
) -> Callback<(usize, usize), Vec<T>> {
    Callback::new(move |(first, last): (usize, usize)| rows.with(|r| r[first..last].to_vec()))
}

#[derive(Clone, Copy)]
struct RowWindow {
    /// Rows in the whole (filtered) table.
    total: Memo<usize>,
    /// Whether the table is longer than its limit, so it scrolls in its own box.
    windowed: Memo<bool>,
    /// The rows rendered: all of them when not windowed.
    range: Memo<(usize, usize)>,
    scroll_top: RwSignal<f64>,
    viewport: RwSignal<f64>,
}

impl RowWindow {
    fn new(total: Memo<usize>, whole_max_rows: usize) -> Self {
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
                ROW_HEIGHT_PX as f64,
            );
            (rows.start, rows.end)
        });
        Self {
            total,
            windowed,
            range,
            scroll_top,
            viewport,
        }
    }

    /// For the scroll box's `on:scroll`.
    fn on_scroll(self) -> impl Fn(leptos::ev::Event) + Copy {
        move |ev| {
            let element = event_target::<web_sys::Element>(&ev);
            self.scroll_top.set(f64::from(element.scroll_top()));
            self.viewport.set(f64::from(element.client_height()));
        }
    }

    /// The box's `tabindex`: focusable when it scrolls, so the keyboard scrolls it.
    fn tab_index(self) -> impl Fn() -> Option<&'static str> + Copy {
        move || self.windowed.get().then_some("0")
    }

    /// The empty row standing in for the rows above the rendered ones.
    fn spacer_above(self) -> impl IntoView {
        self.spacer(move || self.range.get().0)
    }

    /// The empty row standing in for the rows below the rendered ones.
    fn spacer_below(self) -> impl IntoView {
        self.spacer(move || self.total.get() - self.range.get().1)
    }

    fn spacer(
        self,
        rows_hidden: impl Fn() -> usize + Copy + Send + Sync + 'static,
    ) -> impl IntoView {
        view! {
            <Show when=move || rows_hidden() != 0>
                <tr class="spacer" aria-hidden="true" style:height=move || format!("{}px", rows_hidden() * ROW_HEIGHT_PX)></tr>
            </Show>
        }
    }
}

/// A table that windows itself above `whole_max_rows` rows: the scroll box, the table with its
/// whole size for screen readers (`aria-rowcount`, `aria-rowindex`), the header row (the
/// children), the spacers, and the rows in the window, keyed by `key` so that filtering and
/// sorting move and keep rows instead of rebuilding them.
#[component]
pub fn WindowedTable<T, K, KF, R, V>(
    /// Class of the scroll box.
    box_class: &'static str,
    /// Class of the table.
    table_class: &'static str,
    /// `data-testid` of the table.
    testid: &'static str,
    /// Rows in the whole table.
    total: Memo<usize>,
    whole_max_rows: usize,
    /// The items of the rows `first..last` of the table.
    items: Callback<(usize, usize), Vec<T>>,
    key: KF,
    /// A row, given its item and its row number in the whole table (the header is row 1).
    row: R,
    children: Children,
) -> impl IntoView
where
    T: Send + Sync + 'static,
    K: Eq + std::hash::Hash + 'static,
    KF: Fn(&T) -> K + Send + Clone + 'static,
    R: Fn(T, Signal<usize>) -> V + Send + Sync + Clone + 'static,
    V: IntoView + 'static,
{
    let window = RowWindow::new(total, whole_max_rows);
    let range = window.range;
    view! {
        <div class=box_class class:table-windowed=window.windowed tabindex=window.tab_index() on:scroll=window.on_scroll()>
            <table class=table_class data-testid=testid aria-rowcount=move || total.get() + 1>
                <thead>
                    <tr aria-rowindex="1">{children()}</tr>
                </thead>
                <tbody>
                    {window.spacer_above()}
                    <ForEnumerate
                        each=move || items.run(range.get())
                        key=key
                        children=move |index, item| {
                            let row_index = Signal::derive(move || range.with(|r| r.0) + index.get() + 2);
                            row(item, row_index)
                        }
                    />
                    {window.spacer_below()}
                </tbody>
            </table>
        </div>
    }
}
