use kbwatch_core::kb_list::WHOLE_TABLE_MAX_ROWS;
use kbwatch_core::sort::Sort;
use kbwatch_core::{KbSortKey, MissingKb};
use leptos::prelude::*;

use super::row_window::WindowedTable;
use super::sort_header::SortHeader;
use crate::messages;

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
    view! {
        <WindowedTable
            box_class="kb-table-box"
            table_class="table"
            testid="kb-table"
            total
            whole_max_rows=WHOLE_TABLE_MAX_ROWS
            items=Callback::new(move |(first, last): (usize, usize)| rows.with(|r| r[first..last].to_vec()))
            // Keyed by position in the device's list: filtering removes rows and sorting moves
            // them; only rows that come into view are built.
            key=|position: &usize| *position
            row=move |position: usize, row_index| {
                let kb = kbs.with_untracked(|k| k[position].clone());
                view! { <KbRow kb row_index/> }
            }
        >
            <SortHeader label=messages::COL_KB key=KbSortKey::Kb sort on_sort/>
            <SortHeader label=messages::COL_UPDATE key=KbSortKey::Name sort on_sort/>
            <SortHeader label=messages::COL_PRODUCTS key=KbSortKey::Products sort on_sort/>
            <SortHeader label=messages::COL_CVES key=KbSortKey::Cves sort on_sort numeric=true/>
        </WindowedTable>
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
