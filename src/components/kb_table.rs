use kbwatch_core::sort::Sort;
use kbwatch_core::{KbSortKey, MissingKb};
use leptos::prelude::*;

use super::sort_header::SortHeader;
use crate::messages;

/// The missing-KB rows, already filtered and sorted by the caller.
#[component]
pub fn KbTable(
    #[prop(into)] rows: Signal<Vec<MissingKb>>,
    #[prop(into)] sort: Signal<Sort<KbSortKey>>,
    on_sort: Callback<KbSortKey>,
) -> impl IntoView {
    view! {
        <table class="table" data-testid="kb-table">
            <thead>
                <tr>
                    <SortHeader label=messages::COL_KB key=KbSortKey::Kb sort on_sort/>
                    <SortHeader label=messages::COL_UPDATE key=KbSortKey::Name sort on_sort/>
                    <SortHeader label=messages::COL_PRODUCTS key=KbSortKey::Products sort on_sort/>
                    <SortHeader label=messages::COL_CVES key=KbSortKey::Cves sort on_sort numeric=true/>
                </tr>
            </thead>
            <tbody>
                // Keyed rows: filtering removes rows and sorting moves them, instead of
                // rebuilding every row (2,000-KB devices exist). The key includes the data, so
                // a refreshed row with new content is rebuilt.
                <For each=move || keyed(rows.get()) key=|(key, kb)| (key.clone(), kb.clone()) let((_, kb))>
                    <KbRow kb/>
                </For>
            </tbody>
        </table>
    }
}

/// Unique keys even when (hostile) data repeats an id: "id", "id#2", ….
fn keyed(rows: Vec<MissingKb>) -> Vec<(String, MissingKb)> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    rows.into_iter()
        .map(|kb| {
            let n = seen.entry(kb.id.clone()).or_default();
            *n += 1;
            let key = if *n == 1 {
                kb.id.clone()
            } else {
                format!("{}#{n}", kb.id)
            };
            (key, kb)
        })
        .collect()
}

#[component]
fn KbRow(kb: MissingKb) -> impl IntoView {
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
    view! {
        <tr data-testid="kb-row" data-kb-id=kb.id.clone()>
            <td class="nowrap">{kb_link}" "{article}</td>
            <td class="update-name">{kb.name.clone().unwrap_or_else(|| messages::UNKNOWN.to_owned())}</td>
            <td>{products}</td>
            <td class="numeric">{kb.cves()}</td>
        </tr>
    }
}
