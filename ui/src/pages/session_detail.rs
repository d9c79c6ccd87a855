//! A finished session: the outcome card, "Copy for ticket", and the ticket note previewed in
//! Markdown, plain text or HTML, redacted by default. The note is rendered here by rf-core,
//! the same code the CLI uses.

use rf_app_api::commands::LoadSession;
use rf_app_api::{CommandError, SessionView};
use rf_core::Outcome;
use rf_core::export::{ExportFormat, ExportOptions, export, human_duration};
use uuid::Uuid;
use yew::prelude::*;

use crate::bridge;
use crate::components::common::{Empty, Loading, copy_text, outcome_label};
use crate::components::icons::{Icon, Svg};
use crate::hooks::{use_app, use_data_changed};
use crate::pages::ticket_post::TicketPostPanel;
use crate::state::app::Route;
use crate::web;

#[derive(Debug, Properties, PartialEq)]
pub struct SessionDetailProps {
    pub id: Uuid,
}

const FORMATS: [(ExportFormat, &str, &str); 3] = [
    (ExportFormat::Markdown, "markdown", "Markdown"),
    (ExportFormat::Text, "text", "Plain text"),
    (ExportFormat::Html, "html", "HTML"),
];

#[function_component]
pub fn SessionDetailPage(props: &SessionDetailProps) -> Html {
    let app = use_app();
    let changed = use_data_changed(|changed| changed.sessions);
    let session = use_state(|| None::<Result<SessionView, CommandError>>);
    let format = use_state(|| ExportFormat::Markdown);
    let redact = use_state(|| true);
    {
        let session = session.clone();
        use_effect_with((props.id, changed), move |(id, _)| {
            let id = *id;
            web::spawn(async move {
                session.set(Some(bridge::call::<LoadSession>(&id).await));
            });
        });
    }
    let loaded = matches!(&*session, Some(Ok(_)));
    use_effect_with(loaded, |loaded| {
        if *loaded {
            web::focus("copy-for-ticket");
        }
    });
    let view = match &*session {
        None => return html! { <section id="session-detail" class="page"><Loading /></section> },
        Some(Err(error)) => {
            return html! {
                <section id="session-detail" class="page">
                    <Empty title="This session could not be opened."><p>{ &error.message }</p></Empty>
                </section>
            };
        }
        Some(Ok(view)) => view.clone(),
    };
    let state = &view.state;
    let note = export(state, *format, ExportOptions { redact: *redact });
    let copy = {
        let (app, text) = (app.clone(), note.text.clone());
        Callback::from(move |_| copy_text(&app, text.clone(), "Copied — paste it into the ticket"))
    };
    let outcome = state.outcome;
    let outcome_class = outcome.map(Outcome::as_str).unwrap_or("in-progress");
    let back = {
        let app = app.clone();
        Callback::from(move |_| app.navigate(Route::Sessions))
    };
    let resume = {
        let (app, id) = (app.clone(), view.id);
        Callback::from(move |_| app.navigate(Route::Runner(id)))
    };
    let redactions = note.redactions.clone().unwrap_or_default();
    // What lands on the ticket: plain text, redacted as the toggle says.
    let ticket_text = export(state, ExportFormat::Text, ExportOptions { redact: *redact }).text;
    html! {
        <section id="session-detail" class="page" data-outcome={outcome_class}>
            <button class="link-button back-link" onclick={back}>
                <Svg icon={Icon::Back} size={14} />{ "Sessions" }
            </button>
            <article class={classes!("outcome-card", outcome_class)}>
                <div class="outcome-icon" aria-hidden="true">
                    <Svg icon={match outcome { Some(Outcome::Resolved) => Icon::Check, Some(Outcome::Workaround) => Icon::Flag, Some(_) => Icon::Alert, None => Icon::Sessions }} size={22} />
                </div>
                <div class="outcome-body">
                    <p class="outcome-heading">
                        <span class="outcome-name">{ outcome.map(outcome_label).unwrap_or("In progress") }</span>
                        <span class="muted">{ format!(" · {}", human_duration(state.duration())) }</span>
                    </p>
                    <h1>{ &state.flow_title }</h1>
                    <p class="detail-meta">
                        if !state.ticket.is_empty() { <span class="mono">{ &state.ticket }</span>{ " · " } }
                        if !state.client.is_empty() { { &state.client }{ " · " } }
                        { &state.engineer }
                    </p>
                    if let Some(summary) = &state.summary {
                        <div class="outcome-field"><h2>{ "Summary" }</h2><p>{ summary }</p></div>
                    }
                    if let Some(next) = &state.next_steps {
                        <div class="outcome-field"><h2>{ "Next steps" }</h2><p>{ next }</p></div>
                    }
                </div>
                <div class="outcome-actions">
                    <button id="copy-for-ticket" class="button primary big" onclick={copy}>
                        <Svg icon={Icon::Copy} size={16} />{ "Copy for ticket" }
                    </button>
                    if !state.is_finished() {
                        <button class="button secondary" onclick={resume}>{ "Resume" }</button>
                    }
                </div>
            </article>
            <section class="export" aria-label="Ticket note">
                <div class="export-bar">
                    <div class="tabs" role="tablist" aria-label="Format">
                        { for FORMATS.iter().map(|(value, name, label)| {
                            let (format_handle, value) = (format.clone(), *value);
                            let current = *format == value;
                            html! {
                                <button role="tab" class={classes!("tab", current.then_some("current"))}
                                    data-format={*name} aria-selected={current.to_string()}
                                    onclick={Callback::from(move |_| format_handle.set(value))}>{ *label }</button>
                            }
                        }) }
                    </div>
                    <label class="toggle">
                        <input id="redact" type="checkbox" checked={*redact}
                            onchange={let redact = redact.clone(); Callback::from(move |event: Event| redact.set(web::target_checked(event.target())))} />
                        <span>{ "Redact sensitive data" }</span>
                    </label>
                    <span id="redaction-count" class="muted">
                        { if *redact { redactions.to_string() } else { "nothing masked (redaction off)".to_owned() } }
                    </span>
                </div>
                <pre id="export-preview" class="export-preview" data-format={FORMATS.iter().find(|(value, _, _)| *value == *format).map(|(_, name, _)| *name).unwrap_or("markdown")}>
                    { &note.text }
                </pre>
            </section>
            <TicketPostPanel session={view.id} ticket={state.ticket.clone()} preview={ticket_text} redacted={*redact}
                time={rf_core::psa::PostTime::of_session(state)} duration={human_duration(state.duration())} />
        </section>
    }
}
