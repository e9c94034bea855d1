//! The text and number inputs every filter row uses: one search box and one "at least N" box,
//! so the device, KB and fleet filters behave (and read) the same.

use leptos::prelude::*;

/// A labelled search box that reports every edit.
#[component]
pub fn SearchInput(
    label: &'static str,
    test_id: &'static str,
    #[prop(optional)] placeholder: Option<&'static str>,
    #[prop(into)] value: Signal<String>,
    on_input: Callback<String>,
) -> impl IntoView {
    view! {
        <label class="filter filter-grow">
            <span class="filter-label">{label}</span>
            <input
                type="search"
                data-testid=test_id
                placeholder=placeholder
                prop:value=move || value.get()
                on:input=move |ev| on_input.run(event_target_value(&ev))
            />
        </label>
    }
}

/// A labelled "at least N" box: empty, zero or unreadable means no minimum.
#[component]
pub fn MinimumInput(
    label: &'static str,
    test_id: &'static str,
    #[prop(into)] value: Signal<Option<u32>>,
    on_input: Callback<Option<u32>>,
) -> impl IntoView {
    view! {
        <label class="filter filter-narrow">
            <span class="filter-label">{label}</span>
            <input
                type="number"
                min="0"
                inputmode="numeric"
                data-testid=test_id
                prop:value=move || value.get().map(|n| n.to_string()).unwrap_or_default()
                on:input=move |ev| on_input.run(minimum(&event_target_value(&ev)))
            />
        </label>
    }
}

fn minimum(raw: &str) -> Option<u32> {
    raw.trim().parse::<u32>().ok().filter(|n| *n > 0)
}

/// The edit function of a filter row: applies a change to the current filter and reports the
/// result through `on_change`.
pub fn filter_editor<F: Clone + Send + Sync + 'static>(
    filter: Signal<F>,
    on_change: Callback<F>,
) -> impl Fn(&dyn Fn(&mut F)) + Copy {
    move |change: &dyn Fn(&mut F)| {
        let mut next = filter.get_untracked();
        change(&mut next);
        on_change.run(next);
    }
}
