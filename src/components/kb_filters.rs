use kbwatch_core::kb::humanize_product;
use kbwatch_core::KbFilter;
use leptos::prelude::*;

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
    let update = move |change: &dyn Fn(&mut KbFilter)| {
        let mut next = filter.get_untracked();
        change(&mut next);
        on_change.run(next);
    };
    view! {
        <div class="filters" role="search">
            <label class="filter filter-grow">
                <span class="filter-label">{messages::KB_SEARCH}</span>
                <input
                    type="search"
                    data-testid="kb-search"
                    placeholder=messages::KB_SEARCH_PLACEHOLDER
                    prop:value=move || filter.get().text
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        update(&|f| f.text = text.clone());
                    }
                />
            </label>
            <SelectFilter
                label=messages::KB_PRODUCT
                test_id="kb-product"
                options=products
                selected=Signal::derive(move || filter.get().product)
                on_change=Callback::new(move |product: Option<String>| update(&|f| f.product = product.clone()))
                display=|raw: &str| humanize_product(raw)
            />
            <label class="filter filter-narrow">
                <span class="filter-label">{messages::KB_MIN_CVES}</span>
                <input
                    type="number"
                    min="0"
                    inputmode="numeric"
                    data-testid="kb-min-cve"
                    prop:value=move || filter.get().min_cves.map(|n| n.to_string()).unwrap_or_default()
                    on:input=move |ev| {
                        let raw = event_target_value(&ev);
                        let min = raw.trim().parse::<u32>().ok().filter(|n| *n > 0);
                        update(&|f| f.min_cves = min);
                    }
                />
            </label>
        </div>
    }
}
