use leptos::prelude::*;

use crate::messages;

/// A labelled drop-down over facet values ("Windows11 (120)"); the empty choice means "any".
#[component]
pub fn SelectFilter(
    label: &'static str,
    test_id: &'static str,
    /// Raw values with their counts.
    #[prop(into)]
    options: Signal<Vec<(String, usize)>>,
    #[prop(into)] selected: Signal<Option<String>>,
    on_change: Callback<Option<String>>,
    /// Turns a raw value into its label (e.g. product names).
    #[prop(optional)]
    display: Option<fn(&str) -> String>,
) -> impl IntoView {
    let show = move |raw: &str| display.map_or_else(|| raw.to_owned(), |f| f(raw));
    view! {
        <label class="filter">
            <span class="filter-label">{label}</span>
            <select
                data-testid=test_id
                on:change=move |ev| {
                    let value = event_target_value(&ev);
                    on_change.run((!value.is_empty()).then_some(value));
                }
            >
                <option value="" selected=move || selected.get().is_none()>{messages::ANY}</option>
                {move || {
                    let current = selected.get();
                    let mut options = options.get();
                    // Keep a linked value visible even when no row has it (yet).
                    if let Some(c) = &current {
                        if !options.iter().any(|(v, _)| v == c) {
                            options.push((c.clone(), 0));
                        }
                    }
                    options
                        .into_iter()
                        .map(|(value, count)| {
                            let is_selected = current.as_deref() == Some(value.as_str());
                            let text = format!("{} ({count})", show(&value));
                            view! { <option value=value selected=is_selected>{text}</option> }
                        })
                        .collect_view()
                }}
            </select>
        </label>
    }
}
