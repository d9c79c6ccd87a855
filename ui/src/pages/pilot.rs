//! FlowPilot's panel at a troubleshooting step: ask, watch the answer stream in, then the
//! step's answers ranked (or a next action) with a one-line reason each. When FlowPilot cannot
//! help (offline, not set up, the team's allowance used) it says so calmly: the team's path
//! statistics beside each answer still show what usually works.

use rf_app_api::commands::{AskPilot, AskPilotArgs};
use rf_app_api::events::PilotText;
use rf_core::ai::Suggestion;
use uuid::Uuid;
use yew::prelude::*;

use crate::bridge;
use crate::state::pilot::{PilotAction, PilotPhase};
use crate::web;

#[derive(Debug, Properties, PartialEq)]
pub struct PilotProps {
    pub session: Uuid,
}

#[function_component]
pub fn PilotPanel(props: &PilotProps) -> Html {
    let phase = use_reducer(PilotPhase::default);
    {
        // Listening from the start, so no piece of the answer is missed.
        let dispatcher = phase.dispatcher();
        let session = props.session;
        use_effect_with(session, move |_| {
            let subscription = bridge::listen::<PilotText>(move |chunk| {
                if chunk.session_id == session {
                    dispatcher.dispatch(PilotAction::Text(chunk.text));
                }
            });
            move || drop(subscription)
        });
    }
    let ask = {
        let (phase, session) = (phase.clone(), props.session);
        Callback::from(move |_| {
            if phase.asking() {
                return;
            }
            phase.dispatch(PilotAction::Ask);
            let dispatcher = phase.dispatcher();
            web::spawn(async move {
                let args = AskPilotArgs {
                    session_id: session,
                    summarize: false,
                };
                match bridge::call::<AskPilot>(&args).await {
                    Ok(done) => dispatcher.dispatch(PilotAction::Done(done)),
                    Err(error) => dispatcher.dispatch(PilotAction::Failed(error)),
                }
            });
        })
    };
    let body = match &*phase {
        PilotPhase::Idle => html! {
            <p class="pilot-hint muted">{ "Ranks this step's answers from what your notes and outputs show. The session is redacted on your sync server before anything leaves it." }</p>
        },
        PilotPhase::Asking(text) => html! {
            <p class="pilot-text streaming" aria-live="polite">{ text }<span class="pilot-caret" aria-hidden="true" /></p>
        },
        PilotPhase::Done(done) if done.suggestions.is_empty() => html! {
            <p class="pilot-text">{ &done.text }</p>
        },
        PilotPhase::Done(done) => html! {
            <>
                <ol id="pilot-suggestions" class="pilot-suggestions">
                    { for done.suggestions.iter().map(|suggestion| match suggestion {
                        Suggestion::Answer { answer, reason } => html! {
                            <li class="pilot-suggestion ranked">
                                <span class="pilot-answer">{ answer }</span>
                                if !reason.is_empty() { <span class="pilot-reason">{ reason }</span> }
                            </li>
                        },
                        Suggestion::Action { action, reason } => html! {
                            <li class="pilot-suggestion try">
                                <span class="pilot-tag">{ "Try" }</span>
                                <span class="pilot-answer">{ action }</span>
                                if !reason.is_empty() { <span class="pilot-reason">{ reason }</span> }
                            </li>
                        },
                    }) }
                </ol>
                <p class="pilot-meta muted">
                    { format!(
                        "{} · {} value{} masked before the session left the sync server",
                        done.model,
                        done.redactions,
                        if done.redactions == 1 { "" } else { "s" }
                    ) }
                </p>
            </>
        },
        PilotPhase::Unavailable(why) => html! {
            <div id="pilot-unavailable" class="pilot-unavailable">
                <p>{ "FlowPilot can't help right now. The team's path statistics beside each answer still show what usually works." }</p>
                <p class="muted pilot-why">{ why }</p>
            </div>
        },
        PilotPhase::Failed(why) => html! {
            <div class="callout error" role="alert">{ why }</div>
        },
    };
    let label = match &*phase {
        PilotPhase::Idle => "Suggest next step",
        PilotPhase::Asking(_) => "Thinking…",
        _ => "Ask again",
    };
    html! {
        <section id="pilot" class="pilot" aria-label="FlowPilot">
            <header class="pilot-header">
                <span class="pilot-name">{ "FlowPilot" }</span>
                <button id="ask-pilot" class="button secondary small" disabled={phase.asking()} onclick={ask}>
                    { label }
                </button>
            </header>
            { body }
        </section>
    }
}
