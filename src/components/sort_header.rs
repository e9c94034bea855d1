use kbwatch_core::sort::{Sort, SortDirection, SortKey};
use leptos::prelude::*;

use crate::messages;

/// A sortable column header: a button announcing its order through `aria-sort`.
#[component]
pub fn SortHeader<K>(
    label: &'static str,
    key: K,
    #[prop(into)] sort: Signal<Sort<K>>,
    on_sort: Callback<K>,
    #[prop(optional)] numeric: bool,
) -> impl IntoView
where
    K: SortKey + Send + Sync,
{
    let state = move || {
        let s = sort.get();
        (s.key == key).then_some(s.direction)
    };
    let aria = move || match state() {
        Some(SortDirection::Ascending) => "ascending",
        Some(SortDirection::Descending) => "descending",
        None => "none",
    };
    let arrow = move || match state() {
        Some(SortDirection::Ascending) => "▲",
        Some(SortDirection::Descending) => "▼",
        None => "",
    };
    let hint = move || match state() {
        Some(SortDirection::Ascending) => messages::SORT_ASCENDING,
        Some(SortDirection::Descending) => messages::SORT_DESCENDING,
        None => "",
    };
    view! {
        <th scope="col" aria-sort=aria class:numeric=numeric data-sort-key=key.url_name()>
            <button type="button" class="sort-button" on:click=move |_| on_sort.run(key)>
                {label}
                <span class="sort-arrow" aria-hidden="true">{arrow}</span>
                <span class="visually-hidden">{hint}</span>
            </button>
        </th>
    }
}
