//! "Post to ticket" on a session: the note as it will land on the ConnectWise ticket (the
//! redacted plain-text preview, editable), the ticket number, the flags and a status, and
//! every post of the session with where it stands (queued until the sync server can be
//! reached, posted at …, or not posted and why). Posting queues the note; the background sync
//! posts it, exactly once, through the team's sync server.

use rf_app_api::commands::{ListTicketPosts, PostToTicket};
use rf_app_api::{PostState, TicketPost};
use uuid::Uuid;
use yew::prelude::*;

use crate::bridge;
use crate::components::icons::{Icon, Svg};
use crate::hooks::{use_app, use_data_changed};
use crate::state::app::Tone;
use crate::state::ticket_post::PostForm;
use crate::web;

#[derive(Debug, Properties, PartialEq)]
pub struct TicketPostProps {
    pub session: Uuid,
    /// The session's ticket, to prefill the number.
    pub ticket: String,
    /// The plain-text note, redacted when `redacted`.
    pub preview: String,
    pub redacted: bool,
    /// The session's time, from its start to its end, and how long that is in words.
    pub time: rf_core::psa::PostTime,
    pub duration: String,
}

fn flag_names(post: &TicketPost) -> String {
    post.flags
        .iter()
        .map(|flag| match flag {
            rf_core::psa::NoteFlag::Internal => "internal",
            rf_core::psa::NoteFlag::Discussion => "discussion",
            rf_core::psa::NoteFlag::Resolution => "resolution",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// When, as the engineer reads it: the date and minute of an RFC 3339 time.
fn when(at: &str) -> String {
    at.get(..16)
        .map(|at| at.replace('T', " "))
        .unwrap_or_else(|| at.to_owned())
        + " UTC"
}

fn post_line(post: &TicketPost) -> Html {
    let (class, icon, headline) = match post.state {
        PostState::Posted => (
            "posted",
            Icon::Check,
            format!(
                "Posted to #{} at {} · note {}",
                post.ticket_id,
                post.posted_at.as_deref().map(when).unwrap_or_default(),
                post.note_id.unwrap_or_default()
            ),
        ),
        PostState::Queued => (
            "queued",
            Icon::Sync,
            format!(
                "Queued for #{} — posts once, as soon as the sync server can be reached",
                post.ticket_id
            ),
        ),
        PostState::Failed => (
            "failed",
            Icon::Alert,
            format!("Not posted to #{}", post.ticket_id),
        ),
    };
    let detail = match (post.state, &post.status_set, &post.error) {
        (PostState::Posted, Some(status), None) => Some(format!(
            "Status set to {status}{}",
            post.time_entry_id
                .map(|entry| format!(" · time entry {entry}"))
                .unwrap_or_default()
        )),
        (PostState::Posted, None, None) if post.time_entry_id.is_some() => Some(format!(
            "Time entry {}",
            post.time_entry_id.unwrap_or_default()
        )),
        (_, _, Some(error)) => Some(error.clone()),
        _ => None,
    };
    html! {
        <li class={classes!("post", class)} data-state={class} data-ticket={post.ticket_id.to_string()}>
            <span class="post-icon" aria-hidden="true"><Svg icon={icon} size={15} /></span>
            <div>
                <p class="post-headline">{ headline }<span class="muted">{ format!(" · {}", flag_names(post)) }</span></p>
                if let Some(detail) = detail { <p class="post-detail muted">{ detail }</p> }
            </div>
        </li>
    }
}

#[function_component]
pub fn TicketPostPanel(props: &TicketPostProps) -> Html {
    let app = use_app();
    let changed = use_data_changed(|changed| changed.sessions);
    let posts = use_state(Vec::<TicketPost>::new);
    let form = use_state(|| PostForm::new(&props.ticket));
    let problem = use_state(|| None::<String>);
    let busy = use_state(|| false);
    // The ticket the engineer confirmed posting to again (its note is already there or queued).
    let again = use_state(|| None::<i64>);
    {
        let posts = posts.clone();
        use_effect_with((props.session, changed), move |(session, _)| {
            let session = *session;
            web::spawn(async move {
                if let Ok(listed) = bridge::call::<ListTicketPosts>(&session).await {
                    posts.set(listed);
                }
            });
        });
    }
    let update = |change: fn(&mut PostForm, String)| {
        let form = form.clone();
        Callback::from(move |event: InputEvent| {
            let mut next = (*form).clone();
            change(&mut next, web::target_value(event.target()));
            form.set(next);
        })
    };
    let toggle = |change: fn(&mut PostForm, bool)| {
        let form = form.clone();
        Callback::from(move |event: Event| {
            let mut next = (*form).clone();
            change(&mut next, web::target_checked(event.target()));
            form.set(next);
        })
    };
    let submit = {
        let (form, problem, busy, again, posts, app) = (
            form.clone(),
            problem.clone(),
            busy.clone(),
            again.clone(),
            posts.clone(),
            app.clone(),
        );
        let (session, preview, redacted, time) = (
            props.session,
            props.preview.clone(),
            props.redacted,
            props.time.clone(),
        );
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            if *busy {
                return;
            }
            let ticket = crate::state::ticket_post::ticket_number(&form.ticket);
            let confirmed = ticket.is_some() && *again == ticket;
            let request =
                match form.request(session, &preview, redacted, confirmed, Some(time.clone())) {
                    Ok(request) => request,
                    Err(why) => {
                        problem.set(Some(why));
                        return;
                    }
                };
            // A second note on a client's ticket is asked for twice, never sent by a stray click.
            if !confirmed
                && let Some(earlier) = posts.iter().find(|post| {
                    post.ticket_id == request.ticket_id && post.state != PostState::Failed
                })
            {
                problem.set(Some(format!(
                    "{}. Post it again only if the ticket should have it twice: press the button once more.",
                    rf_app_api::already_posted_words(earlier)
                )));
                again.set(Some(request.ticket_id));
                return;
            }
            problem.set(None);
            again.set(None);
            busy.set(true);
            let (busy, posts, app, form) = (busy.clone(), posts.clone(), app.clone(), form.clone());
            web::spawn(async move {
                match bridge::call::<PostToTicket>(&request).await {
                    Ok(post) => {
                        app.toast(
                            format!(
                                "Queued for ticket #{}: it posts once, through your sync server",
                                post.ticket_id
                            ),
                            Tone::Success,
                        );
                        let mut listed = (*posts).clone();
                        listed.push(post);
                        posts.set(listed);
                        let mut next = (*form).clone();
                        next.edited = None;
                        form.set(next);
                    }
                    Err(error) => app.failed(error),
                }
                busy.set(false);
            });
        })
    };
    let text = form.text(&props.preview).to_owned();
    let edited = form.edited.is_some();
    let reset = {
        let form = form.clone();
        Callback::from(move |_| {
            let mut next = (*form).clone();
            next.edited = None;
            form.set(next);
        })
    };
    html! {
        <section id="ticket-post" class="ticket-post" aria-label="Post to ticket">
            <header class="ticket-post-header">
                <h2>{ "Post to ConnectWise" }</h2>
                <p class="muted">{ "Posted once through your team's sync server, which holds the ConnectWise keys. Offline, it waits and posts when the connection returns." }</p>
            </header>
            <form class="ticket-post-form" onsubmit={submit} novalidate={true}>
                <div class="ticket-post-fields">
                    <label class="field ticket-field">
                        <span class="field-label">{ "Ticket" }</span>
                        <input id="post-ticket" type="text" inputmode="numeric" placeholder="48213"
                            value={form.ticket.clone()} oninput={update(|form, value| form.ticket = value)} />
                    </label>
                    <fieldset class="flags">
                        <legend class="field-label">{ "Shows as" }</legend>
                        <label class="toggle"><input id="flag-internal" type="checkbox" checked={form.internal}
                            onchange={toggle(|form, on| form.internal = on)} /><span>{ "Internal analysis" }</span></label>
                        <label class="toggle"><input id="flag-discussion" type="checkbox" checked={form.discussion}
                            onchange={toggle(|form, on| form.discussion = on)} /><span>{ "Discussion" }</span></label>
                        <label class="toggle"><input id="flag-resolution" type="checkbox" checked={form.resolution}
                            onchange={toggle(|form, on| form.resolution = on)} /><span>{ "Resolution" }</span></label>
                        <label class="toggle record-time"><input id="record-time" type="checkbox" checked={form.record_time}
                            onchange={toggle(|form, on| form.record_time = on)} />
                            <span>{ format!("Record my time ({})", props.duration) }</span></label>
                    </fieldset>
                    <label class="field status-field">
                        <span class="field-label">{ "Set status" }</span>
                        <input id="post-status" type="text" placeholder="Leave as it is"
                            value={form.status.clone()} oninput={update(|form, value| form.status = value)} />
                    </label>
                </div>
                <label class="field">
                    <span class="field-label">
                        { if edited { "The note (edited)" } else if props.redacted { "The note, redacted" } else { "The note (redaction off)" } }
                        if edited {
                            <button type="button" class="link-button" onclick={reset}>{ "Back to the preview" }</button>
                        }
                    </span>
                    <textarea id="post-text" class="post-text" rows="12" value={text}
                        oninput={update(|form, value| form.edited = Some(value))} />
                </label>
                if let Some(problem) = &*problem {
                    <div class="callout error" role="alert">{ problem }</div>
                }
                <div class="form-actions">
                    <button id="post-to-ticket" class="button primary" type="submit" disabled={*busy}>
                        <Svg icon={Icon::Flag} size={15} />
                        { if again.is_some() && *again == crate::state::ticket_post::ticket_number(&form.ticket) { "Post again" } else { "Post to ticket" } }
                    </button>
                </div>
            </form>
            if !posts.is_empty() {
                <ul id="ticket-posts" class="post-list">
                    { for posts.iter().rev().map(post_line) }
                </ul>
            }
        </section>
    }
}
