use kbwatch_core::kb::humanize_product;
use kbwatch_core::KbFilter;
use leptos::prelude::*;

use super::inputs::{filter_editor, MinimumInput, SearchInput};
use super::select_filter::SelectFilter;
use crate::messages;

/// Text, product and minimum-CVE filters of the KB table.
#[component]
pub fn KbFilters(
    #[prop(into)] filter: Signal<KbFilter>,
    /// Product names with the number of updates for each.
    #[prop(into)]
    products: Signal<Vec<(String, usize)>>,
    on_change: Callback<KbFilter>,
) -> impl IntoView {
    let update = filter_editor(filter, on_change);
    view! {
        <div class="filters" role="search">
            <SearchInput label=messages::KB_SEARCH test_id="kb-search" placeholder=messages::KB_SEARCH_PLACEHOLDER
                value=Signal::derive(move || filter.get().text)
                on_input=Callback::new(move |text: String| update(&|f| f.text = text.clone()))/>
            <SelectFilter
                label=messages::KB_PRODUCT
                test_id="kb-product"
                options=products
                selected=Signal::derive(move || filter.get().product)
                on_change=Callback::new(move |product: Option<String>| update(&|f| f.product = product.clone()))
                display=|raw: &str| humanize_product(raw)
            />
            <MinimumInput label=messages::KB_MIN_CVES test_id="kb-min-cve"
                value=Signal::derive(move || filter.get().min_cves)
                on_input=Callback::new(move |min: Option<u32>| update(&|f| f.min_cves = min))/>
        </div>
    }
}
