//! Views whose code arrives on first use. With the `split` feature (the app as Trunk builds it)
//! the fleet and wall views are wasm chunks the browser fetches the first time one opens
//! (scripts/split-wasm.mjs). That fetch can fail — the network is gone, or the host already
//! serves a newer deployment — and then the view says so and tries again, instead of crashing.

use std::time::Duration;

use leptos::prelude::*;

use crate::messages;

/// How long a view whose code could not be fetched waits before trying again by itself (an
/// unattended wall display must get there without anyone pressing a button).
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// The code of a view could not be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewUnavailable;

#[cfg(feature = "split")]
impl From<leptos::wasm_split::SplitLoaderError> for ViewUnavailable {
    fn from(_: leptos::wasm_split::SplitLoaderError) -> Self {
        Self
    }
}

/// Shows `load`'s view once its code is there, "loading" until then, and the reason with a
/// retry (now, or by itself after [`RETRY_AFTER`]) when the code could not be fetched.
pub fn lazy_view<F>(
    loading: &'static str,
    load: impl Fn() -> F + Send + Sync + 'static,
) -> impl IntoView
where
    F: std::future::Future<Output = Result<AnyView, ViewUnavailable>> + Send + 'static,
{
    let attempt = RwSignal::new(0_u32);
    let retry = move || attempt.update(|n| *n += 1);
    view! {
        <Suspense fallback=move || view! { <p class="muted" data-testid="view-loading">{loading}</p> }>
            {move || {
                attempt.track();
                let loading = load();
                Suspend::new(async move {
                    match loading.await {
                        Ok(view) => view,
                        Err(ViewUnavailable) => {
                            set_timeout(retry, RETRY_AFTER);
                            view! {
                                <div class="banner banner-error" role="alert" data-testid="view-unavailable">
                                    <p>{messages::VIEW_UNAVAILABLE}</p>
                                    <button type="button" class="button" on:click=move |_| retry()>{messages::RETRY}</button>
                                </div>
                            }
                            .into_any()
                        }
                    }
                })
            }}
        </Suspense>
    }
}

/// Declares `fn $name(props) -> Result<AnyView, ViewUnavailable>` showing `$component`. With the
/// `split` feature it is a `wasm_split` function named `$chunk`: the component and the code
/// only it reaches become a wasm chunk fetched on first use. Without it (browser tests) the
/// code is already here and the function just renders.
macro_rules! lazy_page {
    ($(#[$doc:meta])* $vis:vis fn $name:ident() as $chunk:ident => $component:ident) => {
        $(#[$doc])*
        #[cfg(feature = "split")]
        #[leptos::wasm_split::wasm_split($chunk, wasm_split_path = ::leptos::wasm_split, fallible)]
        $vis fn $name() -> Result<leptos::prelude::AnyView, $crate::lazy_view::ViewUnavailable> {
            use leptos::prelude::IntoAny;
            Ok($component().into_any())
        }

        $(#[$doc])*
        #[cfg(not(feature = "split"))]
        $vis async fn $name() -> Result<leptos::prelude::AnyView, $crate::lazy_view::ViewUnavailable> {
            use leptos::prelude::IntoAny;
            Ok($component().into_any())
        }
    };
    ($(#[$doc:meta])* $vis:vis fn $name:ident($props:ty) as $chunk:ident => $component:ident) => {
        $(#[$doc])*
        #[cfg(feature = "split")]
        #[leptos::wasm_split::wasm_split($chunk, wasm_split_path = ::leptos::wasm_split, fallible)]
        $vis fn $name(
            props: $props,
        ) -> Result<leptos::prelude::AnyView, $crate::lazy_view::ViewUnavailable> {
            use leptos::prelude::IntoAny;
            Ok($component(props).into_any())
        }

        $(#[$doc])*
        #[cfg(not(feature = "split"))]
        $vis async fn $name(
            props: $props,
        ) -> Result<leptos::prelude::AnyView, $crate::lazy_view::ViewUnavailable> {
            use leptos::prelude::IntoAny;
            Ok($component(props).into_any())
        }
    };
}
pub(crate) use lazy_page;
