//! The view in the URL query: [`use_view_state`] parses it, shows an edit at once and writes it
//! to the URL just after, and builds every in-app link.
//!
//! Links and navigation targets are query-only (`?{query}`): the browser and the router resolve
//! them against the page's own path, so no path the page was opened at (`//other.host`, say)
//! can turn a link into one that leaves kbwatch.

use kbwatch_core::url_state::{IgnoredParam, Page};
use kbwatch_core::{DeviceId, ViewState};
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::NavigateOptions;

/// The router's navigate function.
type Navigate = Box<dyn Fn(&str, NavigateOptions)>;

/// The current view and the ways to change it; cheap to copy into closures.
#[derive(Clone, Copy)]
pub struct ViewHandle {
    state: Memo<ViewState>,
    ignored: Memo<Vec<IgnoredParam>>,
    /// The raw query, for settings parsed elsewhere (the wall's).
    query: Memo<String>,
    /// What the user typed and the URL does not say yet: shown at once, written just after.
    unwritten: RwSignal<Option<ViewState>>,
    navigate: StoredValue<Navigate, LocalStorage>,
}

/// The view state of the page's URL. Call once, inside the `<Router>`.
pub fn use_view_state() -> ViewHandle {
    let location = use_location();
    let navigate = use_navigate();
    let query = Memo::new(move |_| location.search.get());
    let parsed = Memo::new(move |_| ViewState::from_query(&query.get()));
    let unwritten = RwSignal::new(None::<ViewState>);
    let state = Memo::new(move |_| unwritten.get().unwrap_or_else(|| parsed.get().0));
    // Any navigation (a link, Back, the write itself) makes the URL the truth again.
    Effect::new(move |_| {
        parsed.track();
        if unwritten.with_untracked(Option::is_some) {
            unwritten.set(None);
        }
    });
    ViewHandle {
        state,
        ignored: Memo::new(move |_| parsed.get().1),
        query,
        unwritten,
        navigate: StoredValue::new_local(Box::new(navigate)),
    }
}

/// A query-only link to `state`.
fn href_of(state: &ViewState) -> String {
    format!("?{}", state.to_query())
}

impl ViewHandle {
    /// The view, with an unwritten edit applied.
    pub fn state(&self) -> Memo<ViewState> {
        self.state
    }

    /// URL parameters that were present but unusable.
    pub fn ignored(&self) -> Memo<Vec<IgnoredParam>> {
        self.ignored
    }

    /// The raw query string (`?a=b` or empty).
    pub fn query(&self) -> Memo<String> {
        self.query
    }

    /// One part of the view as its own memo: a keystroke in one filter re-runs only what
    /// reads that part.
    pub fn part<T: Clone + PartialEq + Send + Sync + 'static>(
        &self,
        pick: fn(&ViewState) -> T,
    ) -> Memo<T> {
        let state = self.state;
        Memo::new(move |_| state.with(pick))
    }

    /// Applies `edit`. A deliberate step (`push`: open a device, change page) navigates at
    /// once, so Back returns. Typing and sorting show the new view first and write the URL in
    /// a task of its own (the router's work, about 2 ms, stays out of the keystroke's frame);
    /// a later change supersedes an unwritten one.
    pub fn change(&self, push: bool, edit: impl FnOnce(&mut ViewState)) {
        let mut next = self.state.get_untracked();
        edit(&mut next);
        if next == self.state.get_untracked() {
            return;
        }
        if push {
            self.unwritten.set(None);
            self.go(&next, true);
            return;
        }
        self.unwritten.set(Some(next.clone()));
        let this = *self;
        set_timeout(
            move || {
                if this.unwritten.with_untracked(|u| u.as_ref() == Some(&next)) {
                    this.go(&next, false);
                    this.unwritten.set(None);
                }
            },
            std::time::Duration::ZERO,
        );
    }

    fn go(&self, next: &ViewState, push: bool) {
        let options = NavigateOptions {
            replace: !push,
            scroll: false,
            ..Default::default()
        };
        self.navigate.with_value(|nav| nav(&href_of(next), options));
    }

    /// A link to the current view changed by `edit` (reactive: re-runs when the view does).
    pub fn href(&self, edit: impl Fn(&mut ViewState)) -> String {
        let mut next = self.state.get();
        edit(&mut next);
        href_of(&next)
    }

    /// Links to one device's view (the current view otherwise kept), for tables and lists.
    pub fn device_link(&self) -> Callback<DeviceId, String> {
        let state = self.state;
        Callback::new(move |id: DeviceId| {
            let mut next = state.get_untracked();
            next.page = Page::Devices;
            next.device = Some(id.to_string());
            href_of(&next)
        })
    }
}
