//! The app shell: start-up, the sign-in gate, and the switch over pages. Nothing else.

use kbwatch_core::url_state::Page;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::Router;

use crate::components::config_problem::ConfigProblem;
use crate::context::{AppContext, StartupProblem};
use crate::data::DashboardData;
use crate::messages;
use crate::pages::{connection::ConnectionRoute, sign_in::SignInRoute, wall::WallRoute};
use crate::pages::{devices::DevicesPage, fleet::FleetRoute, frame::Frame};
use crate::view_state::use_view_state;

#[component]
pub fn App() -> impl IntoView {
    let startup = RwSignal::new(None::<Result<AppContext, StartupProblem>>);
    spawn_local(async move { startup.set(Some(AppContext::load().await)) });
    move || match startup.get() {
        None => view! { <p class="muted startup">{messages::LOADING_CONFIG}</p> }.into_any(),
        Some(Err(problem)) => view! { <ConfigProblem problem/> }.into_any(),
        Some(Ok(context)) => {
            let tokens = context.client.tokens();
            provide_context(context);
            let ready = Memo::new(move |_| tokens.is_ready());
            let gate = move || match ready.get() {
                true => view! { <Router><Shell/></Router> }.into_any(),
                false => view! { <SignInRoute/> }.into_any(),
            };
            gate.into_any()
        }
    }
}

/// The device, fleet and connection pages share the frame (and the device page stays
/// mounted, hidden, while another shows); the wall has the screen to itself.
#[component]
fn Shell() -> impl IntoView {
    let view = use_view_state();
    let data = DashboardData::new(&expect_context::<AppContext>(), view);
    let page = view.part(|s| s.page);
    let wall = Memo::new(move |_| page.get() == Page::Wall);
    let fleet = move || (page.get() == Page::Fleet).then(|| view! { <FleetRoute view data/> });
    let check = move || (page.get() == Page::Connection).then(|| view! { <ConnectionRoute data/> });
    move || match wall.get() {
        true => view! { <WallRoute view data/> }.into_any(),
        false => view! {
            <Frame view data/>
            {fleet}
            {check}
            <DevicesPage view data hidden=Signal::derive(move || page.get() != Page::Devices)/>
        }
        .into_any(),
    }
}
