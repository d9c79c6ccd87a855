//! Every session, newest first, filtered by status, outcome, client and ticket. Active ones
//! open in the runner, finished ones as their detail.

use rf_app_api::commands::ListSessions;
use rf_core::Outcome;
use yew::prelude::*;

use crate::bridge;
use crate::components::common::{Empty, Loading, OutcomeBadge, outcome_label};
use crate::components::icons::{Icon, Svg};
use crate::hooks::{use_app, use_data_changed};
use crate::state::app::Route;
use crate::state::sessions::{SessionsAction, SessionsState};
use crate::state::status::relative_text;
use crate::web;

#[function_component]
pub fn SessionsPage() -> Html {
    let app = use_app();
    let changed = use_data_changed(|changed| changed.sessions);
    let state = use_reducer(SessionsState::default);
    {
        let dispatcher = state.dispatcher();
        use_effect_with(changed, move |_| {
            web::spawn(async move {
                match bridge::call::<ListSessions>(&()).await {
                    Ok(sessions) => dispatcher.dispatch(SessionsAction::Loaded(sessions)),
                    Err(error) => dispatcher.dispatch(SessionsAction::Failed(error.message)),
                }
            });
        });
    }
    let on = |make: fn(String) -> SessionsAction| {
        let dispatcher = state.dispatcher();
        Callback::from(move |event: Event| {
            dispatcher.dispatch(make(web::target_value(event.target())))
        })
    };
    let typed = |make: fn(String) -> SessionsAction| {
        let dispatcher = state.dispatcher();
        Callback::from(move |event: InputEvent| {
            dispatcher.dispatch(make(web::target_value(event.target())))
        })
    };
    let clear = {
        let dispatcher = state.dispatcher();
        Callback::from(move |_| dispatcher.dispatch(SessionsAction::Clear))
    };
    let now = web::now();
    let visible = state.visible();
    let body = match (&state.sessions, &state.error) {
        (_, Some(error)) => {
            html! { <Empty title="The sessions could not load."><p>{ error }</p></Empty> }
        }
        (None, None) => html! { <Loading /> },
        (Some(all), None) if all.is_empty() => html! {
            <Empty title="No sessions yet">
                <p>{ "Start one from a flow on the home screen or in the library." }</p>
            </Empty>
        },
        (Some(_), None) if visible.is_empty() => html! {
            <Empty title="No session matches these filters">
                <button class="button secondary" onclick={clear.clone()}>{ "Clear the filters" }</button>
            </Empty>
        },
        (Some(_), None) => html! {
            <table class="session-table">
                <thead>
                    <tr><th>{ "Flow" }</th><th>{ "Ticket" }</th><th>{ "Client" }</th><th>{ "Outcome" }</th><th>{ "Updated" }</th></tr>
                </thead>
                <tbody>
                    { for visible.iter().map(|session| {
                        let (app, id, active) = (app.clone(), session.id, session.status == "active");
                        let open = Callback::from(move |_| app.navigate(if active { Route::Runner(id) } else { Route::SessionDetail(id) }));
                        html! {
                            <tr key={id.to_string()} class="session-item" data-session-id={id.to_string()} data-status={session.status.clone()}>
                                <td>
                                    <button class="row-link" onclick={open}>
                                        { &session.flow_title }
                                        if active { <span class="active-tag">{ "in progress" }</span> }
                                    </button>
                                </td>
                                <td class="mono">{ &session.ticket }</td>
                                <td>{ &session.client }</td>
                                <td>
                                    if let Some(outcome) = &session.outcome { <OutcomeBadge outcome={outcome.clone()} /> }
                                    else { <span class="muted">{ "—" }</span> }
                                </td>
                                <td class="muted">{ relative_text(&session.updated_at, now) }</td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
        },
    };
    let filter = &state.filter;
    html! {
        <section id="sessions" class="page">
            <header class="page-header">
                <h1>{ "Sessions" }</h1>
                if let Some(all) = &state.sessions { <span class="page-count">{ format!("{} of {}", visible.len(), all.len()) }</span> }
            </header>
            <div class="toolbar">
                <select id="filter-status" aria-label="Status" onchange={on(SessionsAction::Status)}>
                    <option value="" selected={filter.status.is_empty()}>{ "Any status" }</option>
                    <option value="active" selected={filter.status == "active"}>{ "In progress" }</option>
                    <option value="finished" selected={filter.status == "finished"}>{ "Finished" }</option>
                </select>
                <select id="filter-outcome" aria-label="Outcome" onchange={on(SessionsAction::Outcome)}>
                    <option value="" selected={filter.outcome.is_empty()}>{ "Any outcome" }</option>
                    { for Outcome::ALL.into_iter().map(|outcome| html! {
                        <option value={outcome.as_str()} selected={filter.outcome == outcome.as_str()}>{ outcome_label(outcome) }</option>
                    }) }
                </select>
                <label class="search-box">
                    <Svg icon={Icon::Search} size={14} />
                    <input id="filter-client" type="search" placeholder="Client" aria-label="Client"
                        value={filter.client.clone()} oninput={typed(SessionsAction::Client)} />
                </label>
                <label class="search-box">
                    <Svg icon={Icon::Search} size={14} />
                    <input id="filter-ticket" type="search" placeholder="Ticket" aria-label="Ticket"
                        value={filter.ticket.clone()} oninput={typed(SessionsAction::Ticket)} />
                </label>
                if !filter.is_empty() {
                    <button class="button ghost" onclick={clear}>{ "Clear" }</button>
                }
            </div>
            { body }
        </section>
    }
}
