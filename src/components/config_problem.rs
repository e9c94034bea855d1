//! The configuration error page: every wrong key, what was found, what is allowed.

use leptos::prelude::*;

use crate::messages;
use kbwatch_core::config::StartupProblem;

#[component]
pub fn ConfigProblem(problem: StartupProblem) -> impl IntoView {
    let lines: Vec<String> = match problem {
        StartupProblem::Unreachable { status, reason } => {
            vec![messages::config_unreachable(status, &reason)]
        }
        StartupProblem::Invalid(errors) => errors.iter().map(messages::config_error).collect(),
    };
    view! {
        <main class="config-problem" data-testid="config-error">
            <h1>{messages::CONFIG_INVALID_TITLE}</h1>
            <p>{messages::CONFIG_INVALID_HELP}</p>
            <ul>
                {lines.into_iter().map(|l| view! { <li data-testid="config-error-item">{l}</li> }).collect_view()}
            </ul>
        </main>
    }
}
