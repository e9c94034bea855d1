//! The connection check's body: where the calls go, what the token carries, one row per probe
//! with its diagnosis, and the plain-text report with its copy button.

use kbwatch_core::connection::{CheckReport, Diagnosis, TokenView};
use leptos::prelude::*;

use crate::messages;

/// Renders `report` (see `kbwatch_core::connection`); the page runs the probes and copies.
#[component]
pub fn ConnectionCheckPanel(
    #[prop(into)] report: Signal<CheckReport>,
    /// A check is under way (the run button is disabled).
    #[prop(into)]
    running: Signal<bool>,
    /// While the rate budget has no room for the check: when it has (a clock time).
    #[prop(into)]
    budget_wait: Signal<Option<String>>,
    /// The last copy: `Some(true)` copied, `Some(false)` the clipboard refused.
    #[prop(into)]
    copied: Signal<Option<bool>>,
    on_run: Callback<()>,
    /// Receives the report's text to put on the clipboard.
    on_copy: Callback<String>,
) -> impl IntoView {
    let text = Memo::new(move |_| report.with(messages::check_report));
    let fact = |label: &'static str, value: String, test_id: &'static str| {
        view! { <dt>{label}</dt><dd data-testid=test_id>{value}</dd> }
    };
    let setup = move || {
        report.with(|r| {
            let list = |l: &[String]| l.join(" ");
            let token = match &r.token {
                TokenView::Read(t) => Some(view! {
                    {fact(messages::LABEL_TENANT, t.tenant_id.clone().unwrap_or_default(), "check-tenant")}
                    {fact(messages::LABEL_AUDIENCE, t.audience.clone().unwrap_or_default(), "check-audience")}
                    {fact(messages::LABEL_SCOPES, list(&t.scopes), "check-scopes")}
                    {fact(messages::LABEL_ROLES, list(&t.roles), "check-roles")}
                    {fact(messages::LABEL_EXPIRES, t.expires_at.map(kbwatch_core::connection::utc_text).unwrap_or_default(), "check-expires")}
                }),
                TokenView::Demo | TokenView::Unreadable => None,
            };
            view! {
                <dl class="banner-meta">
                    {fact(messages::LABEL_API_BASE, r.setup.api_base.clone(), "check-api-base")}
                    {fact(messages::LABEL_PROXY, messages::yes_no(r.setup.proxy).to_owned(), "check-proxy")}
                    {fact(messages::LABEL_MODE, r.setup.auth_mode.to_owned(), "check-mode")}
                    {token}
                </dl>
                {r.token.problems().into_iter().map(|p| view! {
                    <p class="banner banner-warning" data-testid="check-token-problem">{messages::token_problem(p)}</p>
                }).collect_view()}
            }
        })
    };
    let rows = move || {
        report.with(|r| {
            r.probes
                .iter()
                .map(|line| {
                    let class = match &line.diagnosis {
                        Some(Diagnosis::Works | Diagnosis::Empty) => "check-ok",
                        Some(Diagnosis::Skipped(_)) | None => "",
                        Some(_) => "check-problem",
                    };
                    view! {
                        <tr data-testid="check-row" data-probe=line.need.probe class=class>
                            <td>{messages::feature(line.need.feature)}</td>
                            <td class="check-request">{line.request.clone()}</td>
                            <td>{messages::endpoint_needs(line.need)}</td>
                            <td data-testid="check-grant">{messages::grant(&line.grant)}</td>
                            <td data-testid="check-result">{messages::probe_result(line)}</td>
                            <td data-testid="check-diagnosis">{messages::diagnosis(line)}</td>
                        </tr>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <section class="panel" data-testid="connection-check">
            <h2 class="panel-title">{messages::CHECK_TITLE}</h2>
            <p class="muted">{messages::CHECK_HELP}</p>
            {setup}
            <div class="export-row">
                <button type="button" class="button" data-testid="check-run" disabled=move || running.get()
                    on:click=move |_| on_run.run(())>
                    {move || if running.get() { messages::CHECK_RUNNING } else { messages::CHECK_RUN }}
                </button>
                <button type="button" class="button" data-testid="check-copy" on:click=move |_| on_copy.run(text.get_untracked())>
                    {messages::CHECK_COPY}
                </button>
                {move || copied.get().map(|ok| view! {
                    <span role="status" data-testid="check-copied">
                        {if ok { messages::CHECK_COPIED } else { messages::CHECK_COPY_FAILED }}
                    </span>
                })}
            </div>
            {move || budget_wait.get().map(|at| view! {
                <p class="banner banner-warning" role="status" data-testid="check-budget-wait">{messages::check_budget_wait(&at)}</p>
            })}
            <div class="table-scroll">
                <table class="table">
                    <thead><tr>
                        <th>{messages::COL_FEATURE}</th><th>{messages::COL_REQUEST}</th><th>{messages::COL_NEEDS}</th>
                        <th>{messages::COL_TOKEN}</th><th>{messages::COL_RESULT}</th><th></th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <label class="filter">
                <span class="filter-label">{messages::CHECK_REPORT_LABEL}</span>
                <textarea class="check-report" data-testid="check-report" readonly rows="12" prop:value=move || text.get()></textarea>
            </label>
        </section>
    }
}
