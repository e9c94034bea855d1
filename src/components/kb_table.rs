use kbwatch_core::kb_list::WHOLE_TABLE_MAX_ROWS;
use kbwatch_core::sort::Sort;
use kbwatch_core::{KbSortKey, MissingKb};
use leptos::prelude::*;

use super::row_window::RowWindow;
use super::sort_header::SortHeader;
use crate::messages;

/// Row height in windowed mode (fixed by `.table-windowed` in the stylesheet).
const ROW_HEIGHT_PX: usize = 44;

/// The missing-KB table. `rows` are positions into `kbs`, already filtered and sorted by the
/// caller. Large tables scroll in their own box and render only what is visible;
/// `aria-rowcount`/`aria-rowindex` keep the full size known to screen readers, and the box is
/// focusable so the keyboard scrolls it. The caller rebuilds the table when `kbs` changes.
#[component]
pub fn KbTable(
    #[prop(into)] kbs: Signal<Vec<MissingKb>>,
    #[prop(into)] rows: Signal<Vec<usize>>,
    #[prop(into)] sort: Signal<Sort<KbSortKey>>,
    on_sort: Callback<KbSortKey>,
) -> impl IntoView {
    let total = Memo::new(move |_| rows.with(Vec::len));
    let window = RowWindow::new(total, WHOLE_TABLE_MAX_ROWS, ROW_HEIGHT_PX);
    let range = window.range;

    view! {
        <div class="kb-table-box" class:table-windowed=window.windowed tabindex=window.tab_index() on:scroll=window.on_scroll()>
            <table class="table" data-testid="kb-table" aria-rowcount=move || total.get() + 1>
                <thead>
                    <tr aria-rowindex="1">
                        <SortHeader label=messages::COL_KB key=KbSortKey::Kb sort on_sort/>
                        <SortHeader label=messages::COL_UPDATE key=KbSortKey::Name sort on_sort/>
                        <SortHeader label=messages::COL_PRODUCTS key=KbSortKey::Products sort on_sort/>
                        <SortHeader label=messages::COL_CVES key=KbSortKey::Cves sort on_sort numeric=true/>
                    </tr>
                </thead>
                <tbody>
                    {window.spacer_above()}
                    // Keyed by position in the device's list: filtering removes rows and sorting
                    // moves them; only rows that come into view are built.
                    <ForEnumerate
                        each=move || {
                            let (first, last) = range.get();
                            rows.with(|r| r[first..last].to_vec())
                        }
                        key=|position| *position
                        children=move |index, position| {
                            let kb = kbs.with_untracked(|k| k[position].clone());
                            let row_index = Signal::derive(move || range.with(|r| r.0) + index.get() + 2);
                            view! { <KbRow kb row_index/> }
                        }
                    />
                    {window.spacer_below()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn KbRow(kb: MissingKb, row_index: Signal<usize>) -> impl IntoView {
    let label = kb.label();
    let kb_link = match kb.catalog_url() {
        Some(href) => view! {
            <a href=href data-testid="kb-link" target="_blank" rel="noopener noreferrer" title=messages::CATALOG_LINK_TITLE>
                {label}
            </a>
        }
        .into_any(),
        None => view! { <span data-testid="kb-label">{label}</span> }.into_any(),
    };
    let article = kb.support_url().map(|href| {
        view! {
            <a class="article-link" href=href target="_blank" rel="noopener noreferrer" title=messages::KB_ARTICLE_TITLE>
                {messages::KB_ARTICLE}
            </a>
        }
    });
    let products = kb
        .product_labels()
        .into_iter()
        .map(|p| view! { <span class="chip">{p}</span> })
        .collect_view();
    let name = kb
        .name
        .clone()
        .unwrap_or_else(|| messages::UNKNOWN.to_owned());
    let title = name.clone();
    view! {
        <tr data-testid="kb-row" data-kb-id=kb.id.clone() aria-rowindex=row_index>
            <td class="nowrap">{kb_link}" "{article}</td>
            <td class="update-name" title=title>{name}</td>
            <td>{products}</td>
            <td class="numeric">{kb.cves()}</td>
        </tr>
    }
}
