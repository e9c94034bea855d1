//! Views whose code arrives on first use. With the `split` feature (the app as Trunk builds it)
//! the fleet and wall views are wasm chunks the browser fetches the first time one opens
//! (scripts/split-wasm.mjs). That fetch can fail — the network is gone, or the host already
//! serves a newer deployment — and then the view says so and tries again, instead of crashing.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

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

/// Where a lazily loaded view stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Loading,
    Ready,
    Unavailable,
}

type LoadFn = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<AnyView, ViewUnavailable>>>>>;
/// The view's loader and the owner the view is built under (the `lazy_view`'s own, whoever
/// starts the fetch: the first render, the retry button or the retry timer), kept by that
/// owner; closures copy the handle.
type Load = StoredValue<(LoadFn, Owner), LocalStorage>;

/// Shows `load`'s view once its code is there, "loading" until then, and the reason with a
/// retry (now, or by itself after [`RETRY_AFTER`]) when the code could not be fetched.
///
/// A plain task and a signal, not `<Suspense>`: the first visit's wasm then carries none of
/// the suspense machinery, which nothing else on that visit needs.
pub fn lazy_view<F>(loading: &'static str, load: impl Fn() -> F + 'static) -> impl IntoView
where
    F: Future<Output = Result<AnyView, ViewUnavailable>> + 'static,
{
    let load: LoadFn = Rc::new(move || Box::pin(load()) as Pin<Box<_>>);
    boxed_lazy_view(loading, load)
}

/// [`lazy_view`]'s body, not generic: its render closure is compiled once, not once per
/// lazily loaded view (a closure in a generic function is, even when it uses none of its
/// parameters), which keeps each new view's cost in the first visit's wasm small.
fn boxed_lazy_view(loading: &'static str, load: LoadFn) -> impl IntoView {
    let load: Load = StoredValue::new_local((load, Owner::current().unwrap_or_default()));
    let stage = RwSignal::new(Stage::Loading);
    let ready = StoredValue::new_local(None::<AnyView>);
    fetch(load, stage, ready);
    move || {
        match stage.get() {
        Stage::Loading => {
            view! { <p class="muted" data-testid="view-loading">{loading}</p> }.into_any()
        }
        Stage::Ready => ready
            .try_update_value(Option::take)
            .flatten()
            .unwrap_or_else(|| ().into_any()),
        Stage::Unavailable => {
            view! {
                <div class="banner banner-error" role="alert" data-testid="view-unavailable">
                    <p>{messages::VIEW_UNAVAILABLE}</p>
                    <button type="button" class="button" on:click=move |_| retry(load, stage, ready)>{messages::RETRY}</button>
                </div>
            }
            .into_any()
        }
    }
    }
}

/// Fetches the view's code; on failure tries again after [`RETRY_AFTER`] unless the view was
/// left (or a retry already ran) by then.
fn fetch(load: Load, stage: RwSignal<Stage>, ready: StoredValue<Option<AnyView>, LocalStorage>) {
    // The view is built when its code has arrived, inside this task: under the view's own
    // owner, so it finds the app's context and is disposed with the view.
    let Some(loading) = load.try_with_value(|(load, owner)| InOwner {
        owner: owner.clone(),
        alive: stage,
        inner: load(),
    }) else {
        return;
    };
    spawn_local(async move {
        match loading.await {
            Ok(view) => {
                if ready.try_set_value(Some(view)).is_none() {
                    stage.try_set(Stage::Ready);
                }
            }
            Err(ViewUnavailable) => {
                if stage.try_set(Stage::Unavailable).is_none() {
                    set_timeout(
                        move || {
                            if stage.try_get_untracked() == Some(Stage::Unavailable) {
                                retry(load, stage, ready);
                            }
                        },
                        RETRY_AFTER,
                    );
                }
            }
        }
    });
}

/// Polls `inner` with `owner` as the reactive owner, while the view it is for still exists:
/// once that view is gone (the user moved on while the code was on its way), `inner` is
/// dropped unpolled, so no view is built over disposed signals.
struct InOwner {
    owner: Owner,
    alive: RwSignal<Stage>,
    inner: Pin<Box<dyn Future<Output = Result<AnyView, ViewUnavailable>>>>,
}

impl Future for InOwner {
    type Output = Result<AnyView, ViewUnavailable>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.alive.try_get_untracked().is_none() {
            return Poll::Ready(Err(ViewUnavailable));
        }
        this.owner.with(|| this.inner.as_mut().poll(cx))
    }
}

fn retry(load: Load, stage: RwSignal<Stage>, ready: StoredValue<Option<AnyView>, LocalStorage>) {
    stage.set(Stage::Loading);
    fetch(load, stage, ready);
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
