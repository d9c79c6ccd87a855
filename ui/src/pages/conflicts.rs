//! Conflicts: two edits of one field of a team flow, side by side, and which to keep.

use rf_app_api::commands::{ListConflicts, ResolveConflict, ResolveConflictArgs};
use rf_app_api::{CommandError, ConflictRecord};
use rf_core::sync::Keep;
use yew::prelude::*;

use crate::bridge;
use crate::components::common::{Empty, Loading};
use crate::hooks::{use_app, use_data_changed};
use crate::state::app::{Route, Tone};
use crate::state::conflicts::{describe_path, show_value};
use crate::web;

#[function_component]
pub fn ConflictsPage() -> Html {
    let app = use_app();
    let changed = use_data_changed(|changed| changed.conflicts || changed.flows);
    let conflicts = use_state(|| None::<Result<Vec<ConflictRecord>, CommandError>>);
    let busy = use_state(|| None::<uuid::Uuid>);
    {
        let conflicts = conflicts.clone();
        use_effect_with(changed, move |_| {
            web::spawn(async move {
                conflicts.set(Some(bridge::call::<ListConflicts>(&()).await));
            });
        });
    }
    let resolve = |id: uuid::Uuid, keep: Keep| {
        let (app, busy) = (app.clone(), busy.clone());
        Callback::from(move |_| {
            if busy.is_some() {
                return;
            }
            busy.set(Some(id));
            let (app, busy) = (app.clone(), busy.clone());
            web::spawn(async move {
                let answer =
                    bridge::call::<ResolveConflict>(&ResolveConflictArgs { id, keep }).await;
                busy.set(None);
                match answer {
                    Ok(_) => {
                        app.toast(
                            match keep {
                                Keep::Mine => "Kept the edit: it goes to the team as a new version",
                                Keep::Theirs => "Kept the team's version",
                            },
                            Tone::Success,
                        );
                        // The list refetches on the shell's data-changed (conflicts) event.
                    }
                    Err(error) => app.failed(error),
                }
            });
        })
    };
    let body = match &*conflicts {
        None => html! { <Loading /> },
        Some(Err(error)) => html! {
            <Empty title="The conflicts could not be read."><p>{ &error.message }</p></Empty>
        },
        Some(Ok(list)) if list.is_empty() => html! {
            <Empty title="No conflicts.">
                <p>{ "When two people change the same part of a flow before syncing, both edits show here and you choose which to keep." }</p>
            </Empty>
        },
        Some(Ok(list)) => html! {
            <ol class="conflict-list">
                { for list.iter().map(|conflict| {
                    let id = conflict.id;
                    let working = *busy == Some(id);
                    let flow_id = conflict.flow_id;
                    let open_flow = {
                        let app = app.clone();
                        Callback::from(move |_| app.navigate(Route::Flow(flow_id)))
                    };
                    html! {
                        <li class="conflict card" key={id.to_string()} data-conflict={id.to_string()}>
                            <header class="conflict-header">
                                <button class="link-button conflict-flow" onclick={open_flow}>
                                    { conflict.flow_title.clone().unwrap_or_else(|| "A flow not here yet".to_owned()) }
                                </button>
                                <span class="conflict-path">{ describe_path(&conflict.conflict.path) }</span>
                            </header>
                            <div class="conflict-sides">
                                <section class="conflict-side theirs" aria-label="Theirs">
                                    <h3>{ "Theirs" }<span class="conflict-side-note">{ "on the team now" }</span></h3>
                                    <pre class="conflict-value">{ show_value(conflict.conflict.kept.as_ref()) }</pre>
                                    <button class="button secondary keep-theirs" disabled={working}
                                        onclick={resolve(id, Keep::Theirs)}>{ "Keep theirs" }</button>
                                </section>
                                <section class="conflict-side mine" aria-label="Mine">
                                    <h3>{ "Mine" }<span class="conflict-side-note">{ format!("not applied · {}", conflict.raised_by) }</span></h3>
                                    <pre class="conflict-value">{ show_value(conflict.conflict.other.as_ref()) }</pre>
                                    <button class="button primary keep-mine" disabled={working}
                                        onclick={resolve(id, Keep::Mine)}>{ "Keep mine" }</button>
                                </section>
                            </div>
                            if conflict.conflict.base.is_some() {
                                <details class="conflict-base">
                                    <summary>{ "What it was before both edits" }</summary>
                                    <pre class="conflict-value">{ show_value(conflict.conflict.base.as_ref()) }</pre>
                                </details>
                            }
                        </li>
                    }
                }) }
            </ol>
        },
    };
    let count = match &*conflicts {
        Some(Ok(list)) if !list.is_empty() => Some(list.len()),
        _ => None,
    };
    html! {
        <section id="conflicts" class="page">
            <header class="page-header">
                <h1>{ "Conflicts" }</h1>
                if let Some(count) = count { <span class="page-count">{ count }</span> }
            </header>
            { body }
        </section>
    }
}
