//! The runner, where engineers live: the step, its answers with the team's statistics, the
//! note that saves as it is typed, the path so far, and finishing. Checklist flows
//! (procedural, maintenance) show every item, ticked in any order.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use rf_app_api::SessionView;
use rf_app_api::commands::{
    Act, ActArgs, AttachFile, AttachFileArgs, LoadFlowVersion, LoadSession, PickFiles, SaveDraft,
    SaveDraftArgs,
};
use rf_app_api::events::FilesDropped;
use rf_core::flow::{Flow, Node, NodeKind, VerifyKind};
use rf_core::session::{Command, EntryKind, FlowRef, StepView, substitute_node};
use rf_core::{FlowKind, Outcome};
use uuid::Uuid;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::bridge;
use crate::components::common::{Loading, Markdown, copy_text, open_link, outcome_label};
use crate::components::icons::{Icon, Svg};
use crate::components::shell::Banner;
use crate::hooks::{AppContext, use_app};
use crate::markdown::is_openable;
use crate::pages::pilot::PilotPanel;
use crate::state::app::{AppAction, Route, Tone};
use crate::state::runner::{Dialog, KeyCommand, NoteSave, RunnerAction, RunnerState, tick_command};
use crate::web;

/// The pause in typing after which the note's draft is saved.
const SAVE_AFTER_MS: u32 = 400;

#[derive(Debug, Properties, PartialEq)]
pub struct RunnerProps {
    pub id: Uuid,
}

/// Sends commands to the session: the note being typed is saved first (so nothing typed is
/// lost), then the commands go in one `act`.
#[derive(Clone)]
struct Sender {
    app: AppContext,
    session: Uuid,
    state: UseReducerHandle<RunnerState>,
    timer: Rc<RefCell<Option<Timeout>>>,
}

impl Sender {
    /// Queues commands; the reducer drops them while others are on their way.
    fn send(&self, commands: Vec<Command>) {
        self.state.dispatch(RunnerAction::Submit(commands));
    }

    /// Sends a batch the reducer accepted (see the effect on `submitted`).
    fn perform(&self, commands: Vec<Command>) {
        let dirty = matches!(
            self.state.note.save,
            NoteSave::Unsaved | NoteSave::Failed(_)
        );
        let text = self.state.note.text.clone();
        self.timer.borrow_mut().take();
        let dispatcher = self.state.dispatcher();
        let (app, session) = (self.app.clone(), self.session);
        web::spawn(async move {
            if dirty {
                let args = SaveDraftArgs {
                    session_id: session,
                    text,
                };
                if let Err(error) = bridge::call::<SaveDraft>(&args).await {
                    dispatcher.dispatch(RunnerAction::ActFailed(format!(
                        "The note could not be saved, so nothing was recorded: {}",
                        error.message
                    )));
                    return;
                }
            }
            let args = ActArgs {
                session_id: session,
                commands,
            };
            match bridge::call::<Act>(&args).await {
                Ok(view) if view.state.is_finished() => {
                    app.navigate(Route::SessionDetail(view.id));
                }
                Ok(view) => dispatcher.dispatch(RunnerAction::Loaded(Box::new(view))),
                Err(error) => {
                    dispatcher.dispatch(RunnerAction::ActFailed(error.message.clone()));
                    if error.kind == rf_app_api::ErrorKind::NewerSchema {
                        app.failed(error);
                    }
                }
            }
        });
    }

    /// Attaches files to the current step one by one, each in its own transaction: one that
    /// is refused (too large, unreadable) says why, and the others still go in.
    fn attach(&self, paths: Vec<String>) {
        let dispatcher = self.state.dispatcher();
        let (app, session) = (self.app.clone(), self.session);
        web::spawn(async move {
            for path in paths {
                let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
                let args = AttachFileArgs {
                    session_id: session,
                    path: path.clone(),
                };
                match bridge::call::<AttachFile>(&args).await {
                    Ok(view) => {
                        dispatcher.dispatch(RunnerAction::Attached(Box::new(view)));
                        app.toast(format!("Attached {name} to this step"), Tone::Success);
                    }
                    Err(error) => app.toast(
                        format!("{name} was not attached: {}", error.message),
                        Tone::Error,
                    ),
                }
            }
        });
    }

    /// The note changed: remember it, and save it once typing pauses.
    fn note_edited(&self, text: String) {
        let dispatcher = self.state.dispatcher();
        let revision = self.state.note.revision + 1;
        dispatcher.dispatch(RunnerAction::NoteEdited(text.clone()));
        let session = self.session;
        let timeout = Timeout::new(SAVE_AFTER_MS, move || {
            dispatcher.dispatch(RunnerAction::SaveStarted(revision));
            web::spawn(async move {
                let args = SaveDraftArgs {
                    session_id: session,
                    text,
                };
                let result = bridge::call::<SaveDraft>(&args)
                    .await
                    .map_err(|error| error.message);
                dispatcher.dispatch(RunnerAction::SaveFinished(revision, result));
            });
        });
        // Replacing the timer cancels the save of the text typed over.
        *self.timer.borrow_mut() = Some(timeout);
    }
}

#[function_component]
pub fn RunnerPage(props: &RunnerProps) -> Html {
    let app = use_app();
    let state = use_reducer(RunnerState::default);
    let timer = use_mut_ref(|| None::<Timeout>);
    let checklist = use_state(|| None::<(FlowRef, Flow)>);
    let sender = Sender {
        app: app.clone(),
        session: props.id,
        state: state.clone(),
        timer: timer.clone(),
    };

    // Load the session; a finished one shows as its detail.
    {
        let (app, dispatcher) = (app.clone(), state.dispatcher());
        use_effect_with(props.id, move |id| {
            let id = *id;
            web::spawn(async move {
                match bridge::call::<LoadSession>(&id).await {
                    Ok(view) if view.state.is_finished() => app.navigate(Route::SessionDetail(id)),
                    Ok(view) => dispatcher.dispatch(RunnerAction::Loaded(Box::new(view))),
                    Err(error) => dispatcher.dispatch(RunnerAction::LoadFailed(error.message)),
                }
            });
        });
    }

    // Files dropped on the window are attached to the step on screen (unless finished).
    {
        let sender = sender.clone();
        use_effect_with(props.id, move |_| {
            let subscription = bridge::listen::<FilesDropped>(move |paths| {
                let finished = sender.state.is_finished();
                if finished {
                    sender.app.toast(
                        "The session is finished; start a new one to attach files",
                        Tone::Error,
                    );
                } else if !paths.is_empty() {
                    sender.attach(paths);
                }
            });
            move || drop(subscription)
        });
    }

    // Send each batch of commands the reducer accepted, once.
    {
        let sender = sender.clone();
        use_effect_with(state.submitted, move |submitted| {
            if *submitted > 0 {
                sender.perform(sender.state.outbox.clone());
            }
        });
    }

    // Checklists show every item: fetched once per flow version the session is in (the version
    // it runs, not the library's latest), not with every tick.
    let step_flow = state
        .view
        .as_ref()
        .and_then(|view| view.current.as_ref())
        .filter(|step| step.flow_kind.is_checklist())
        .map(|step| step.flow);
    {
        let (app, checklist) = (app.clone(), checklist.clone());
        use_effect_with(step_flow, move |step_flow| {
            if let Some(reference) = *step_flow
                && checklist
                    .as_ref()
                    .is_none_or(|(loaded, _)| *loaded != reference)
            {
                web::spawn(async move {
                    match bridge::call::<LoadFlowVersion>(&reference).await {
                        Ok(flow) => checklist.set(Some((reference, flow))),
                        Err(error) => app.failed(error),
                    }
                });
            }
        });
    }

    // Each new step takes the focus, so the number keys answer it at once.
    let step_key = state
        .view
        .as_ref()
        .map(|view| view.state.event_count)
        .unwrap_or(0);
    use_effect_with(step_key, |_| web::focus("step-title"));

    // Keys: registered afresh each render so they see the state as shown.
    {
        let (state, sender, app) = (state.clone(), sender.clone(), app.clone());
        use_effect(move || {
            let listener = web::on_keydown(move |event| {
                let in_field = web::is_text_field(event.target());
                let modified = event.ctrl_key() || event.meta_key() || event.alt_key();
                let Some(command) = state.key(&event.key(), in_field, modified) else {
                    return;
                };
                match command {
                    KeyCommand::Answer(index) => {
                        if let Some(command) = state.answer_command(index) {
                            event.prevent_default();
                            sender.send(vec![command]);
                        }
                    }
                    KeyCommand::FocusNote => {
                        event.prevent_default();
                        web::focus("note");
                    }
                    KeyCommand::Back => sender.send(vec![Command::Back]),
                    KeyCommand::CustomStep => {
                        event.prevent_default();
                        state.dispatch(RunnerAction::Open(Dialog::Custom(String::new())));
                    }
                    KeyCommand::Finish => {
                        event.prevent_default();
                        state.dispatch(RunnerAction::Open(state.finish_dialog()));
                    }
                    KeyCommand::Shortcuts => {
                        event.prevent_default();
                        app.dispatch.emit(AppAction::ToggleShortcuts);
                    }
                    KeyCommand::Escape => {
                        if state.dialog.is_some() {
                            event.prevent_default();
                            state.dispatch(RunnerAction::CloseDialog);
                            web::focus("step-title");
                        } else if in_field {
                            web::blur_active();
                            web::focus("step-title");
                        }
                    }
                }
            });
            move || drop(listener)
        });
    }
    // A dialog takes the focus when it opens.
    {
        let opened = state.dialog.as_ref().map(std::mem::discriminant);
        use_effect_with(opened, |_| {
            web::focus_selector(".dialog [data-autofocus], #custom-title");
        });
    }

    if let Some(error) = &state.error {
        return html! {
            <section id="runner" class="page">
                <Banner text={format!("This session could not be opened: {error}")}>
                    <p class="banner-hint">{ "Go back to the sessions list and try again; if it persists, run " }<code>{ "rf status" }</code>{ "." }</p>
                </Banner>
            </section>
        };
    }
    let Some(view) = state.view.clone() else {
        return html! { <section id="runner" class="page"><Loading /></section> };
    };
    let kind = state.flow_kind().unwrap_or(FlowKind::Troubleshooting);
    let step = view.current.clone();
    html! {
        <section id="runner" class={classes!("runner", kind.as_str())} data-kind={kind.as_str()}
            data-session-id={view.id.to_string()}>
            <div class="runner-main">
                <RunnerHeader view={view.clone()} />
                if let Some(problem) = &view.problem {
                    <Banner text={problem.clone()}>
                        <p class="banner-hint">{ "Sync or import the missing flow, then open this session again — or finish it now with what you have." }</p>
                    </Banner>
                }
                if let Some(step) = &step {
                    if let Some((total_done, total)) = step.progress {
                        <Progress done={total_done} total={total} />
                    }
                    { render_step(&app, &state, &sender, &view, step) }
                    // FlowPilot at a troubleshooting step with answers; a new step, a new panel.
                    if kind == FlowKind::Troubleshooting && !step.choices.is_empty() {
                        <PilotPanel key={step.node.as_ref().map(|node| node.id.clone()).unwrap_or_default()}
                            session={view.id} />
                    }
                    // Every item, from the version the session runs.
                    if let Some((_, flow)) = checklist.as_ref().filter(|(loaded, _)| *loaded == step.flow) {
                        { render_checklist(&state, &sender, &view, step, flow) }
                    }
                } else if view.problem.is_none() {
                    <p class="muted">{ "Nothing to show at this step." }</p>
                }
                { render_note(&state, &sender) }
                { render_toolbar(&state, &sender, step.as_ref()) }
            </div>
            { render_timeline(&state, &sender) }
            { render_dialog(&state, &sender) }
        </section>
    }
}

#[derive(Debug, Properties, PartialEq)]
struct HeaderProps {
    view: SessionView,
}

#[function_component]
fn RunnerHeader(props: &HeaderProps) -> Html {
    let view = &props.view;
    let crumbs = if view.breadcrumb.is_empty() {
        vec![view.state.flow_title.clone()]
    } else {
        view.breadcrumb.clone()
    };
    let last = crumbs.len().saturating_sub(1);
    html! {
        <header class="runner-header">
            if view.state.flow_kind == FlowKind::Maintenance {
                <div class="maintenance-strip"><Svg icon={Icon::Wrench} size={14} />{ "Maintenance" }</div>
            }
            <nav class="breadcrumb" aria-label="Flows">
                { for crumbs.iter().enumerate().map(|(index, crumb)| html! {
                    <>
                        <span class={classes!("crumb", (index == last).then_some("current"))}>{ crumb }</span>
                        if index < last { <span class="crumb-sep" aria-hidden="true"><Svg icon={Icon::ChevronRight} size={12} /></span> }
                    </>
                }) }
            </nav>
            <div class="session-chips">
                if !view.state.ticket.is_empty() { <span class="chip mono" title="Ticket">{ &view.state.ticket }</span> }
                if !view.state.client.is_empty() { <span class="chip" title="Client">{ &view.state.client }</span> }
            </div>
        </header>
    }
}

#[derive(Debug, Properties, PartialEq)]
struct ProgressProps {
    done: usize,
    total: usize,
}

#[function_component]
fn Progress(props: &ProgressProps) -> Html {
    let percent = (props.done * 100).checked_div(props.total).unwrap_or(0);
    html! {
        <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax={props.total.to_string()}
            aria-valuenow={props.done.to_string()} aria-label="Checklist progress">
            <div class="progress-track"><div class="progress-fill" style={format!("width: {percent}%")} /></div>
            <span class="progress-text">{ format!("{} of {} done", props.done, props.total) }</span>
        </div>
    }
}

fn node_kind_label(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Question => "Question",
        NodeKind::Action => "Action",
        NodeKind::Resolution => "Resolution",
        NodeKind::Subflow => "Subflow",
        NodeKind::Section => "Section",
        NodeKind::Step => "Step",
    }
}

fn render_step(
    app: &AppContext,
    state: &RunnerState,
    sender: &Sender,
    view: &SessionView,
    step: &StepView,
) -> Html {
    let Some(node) = &step.node else {
        return html! {
            <article class="step">
                <p class="step-kind">{ "Checklist" }</p>
                <h1 id="step-title" tabindex="-1">{ "Every item is done" }</h1>
                <p class="muted">{ "Finish the session to write the ticket note." }</p>
                { render_answers(state, sender, view, step, None) }
            </article>
        };
    };
    html! {
        <article class="step" data-node={node.id.clone()}>
            <p class="step-kind">
                { node_kind_label(node.kind) }
                if let Some(minutes) = node.estimated_minutes { <span class="muted">{ format!(" · about {minutes} min") }</span> }
            </p>
            <h1 id="step-title" tabindex="-1">{ &node.title }</h1>
            { render_node_content(app, node) }
            if node.kind == NodeKind::Resolution {
                if let Some(outcome) = node.outcome {
                    <p class="suggested-outcome">{ "Suggested outcome: " }
                        <span class={classes!("outcome-text", outcome.as_str())}>{ outcome_label(outcome) }</span></p>
                }
            }
            { render_answers(state, sender, view, step, Some(node)) }
            if let Some(error) = &state.action_error {
                <div class="callout error" role="alert">{ error }</div>
            }
        </article>
    }
}

/// Body, commands, links, expected and warning: what any node may carry.
fn render_node_content(app: &AppContext, node: &Node) -> Html {
    html! {
        <>
            if let Some(body) = &node.body {
                <Markdown text={body.clone()} class="step-body" />
            }
            { for node.commands.iter().map(|command| {
                let (app, code) = (app.clone(), command.code.clone());
                html! {
                    <figure class="command">
                        <figcaption class="command-head">
                            <span class="command-language">{ &command.language }</span>
                            <span class="command-label">{ &command.label }</span>
                            <button class="copy-button" aria-label={format!("Copy {}", command.label)}
                                onclick={Callback::from(move |_| copy_text(&app, code.clone(), "Command copied"))}>
                                <Svg icon={Icon::Copy} size={14} />{ "Copy" }
                            </button>
                        </figcaption>
                        <pre><code>{ &command.code }</code></pre>
                    </figure>
                }
            }) }
            if !node.links.is_empty() {
                <div class="link-chips">
                    { for node.links.iter().map(|link| {
                        let (app, url) = (app.clone(), link.url.clone());
                        let openable = is_openable(&link.url);
                        html! {
                            <button class="chip link-chip" data-href={link.url.clone()} title={link.url.clone()}
                                disabled={!openable}
                                onclick={Callback::from(move |_| open_link(&app, url.clone()))}>
                                <Svg icon={Icon::Link} size={14} />{ &link.title }
                            </button>
                        }
                    }) }
                </div>
            }
            if let Some(expected) = &node.expected {
                <div class="callout expected" role="note">
                    <span class="callout-title">{ "Expected" }</span>
                    <Markdown text={expected.clone()} />
                </div>
            }
            if let Some(warning) = &node.warning {
                <div class="callout warning" role="note">
                    <span class="callout-title"><Svg icon={Icon::Alert} size={14} />{ "Warning" }</span>
                    <Markdown text={warning.clone()} />
                </div>
            }
        </>
    }
}

fn render_answers(
    state: &RunnerState,
    sender: &Sender,
    view: &SessionView,
    step: &StepView,
    node: Option<&Node>,
) -> Html {
    if step.choices.is_empty() {
        let needs_value = node.is_some_and(|node| {
            node.verify
                .as_ref()
                .is_some_and(|verify| verify.kind == VerifyKind::Text)
        });
        if let (true, Some(node)) = (needs_value, node) {
            // A step asking for a value is ticked with it.
            let sender = sender.clone();
            return html! {
                <VerifyForm node={node.clone()} busy={state.busy}
                    send={Callback::from(move |command: Command| sender.send(vec![command]))} />
            };
        }
        return html! {
            <div class="end-of-path">
                <p>{ "This is where the flow ends. Finish the session to write the ticket note." }</p>
                <button class="button primary" onclick={
                    let (dialog, dispatcher) = (state.finish_dialog(), sender.state.dispatcher());
                    Callback::from(move |_| dispatcher.dispatch(RunnerAction::Open(dialog.clone())))
                }>
                    <Svg icon={Icon::Flag} size={16} />{ "Finish…" }<kbd>{ "f" }</kbd>
                </button>
            </div>
        };
    }
    let node_stats = node.and_then(|node| {
        view.stats
            .as_ref()
            .and_then(|stats| stats.nodes.get(&node.id))
    });
    html! {
        <div class="answers" role="group" aria-label="Answers">
            { for step.choices.iter().enumerate().map(|(index, choice)| {
                // The label as shown (variables filled in), and the label the statistics know.
                let shown = node
                    .and_then(|node| node.answers().get(index))
                    .map(|answer| answer.label.clone())
                    .unwrap_or_else(|| choice.clone());
                let share = node_stats.and_then(|stats| stats.shares(&shown).or_else(|| stats.shares(choice)));
                let sender = sender.clone();
                let onclick = Callback::from(move |_| {
                    if let Some(command) = sender.state.answer_command(index) {
                        sender.send(vec![command]);
                    }
                });
                html! {
                    <button class="answer" data-index={index.to_string()} disabled={state.busy} {onclick}>
                        if index < 9 { <kbd class="answer-key">{ index + 1 }</kbd> }
                        <span class="answer-label">{ shown }</span>
                        if let Some(share) = share {
                            <span class="answer-stats" title={share.to_string()}>
                                <span class="stat-bar" aria-hidden="true"><span style={format!("width: {}%", share.chosen_percent)} /></span>
                                <span class="stat-text">{ format!("{}% · {}% resolved", share.chosen_percent, share.resolved_percent) }</span>
                            </span>
                        }
                    </button>
                }
            }) }
        </div>
    }
}

fn render_checklist(
    state: &RunnerState,
    sender: &Sender,
    view: &SessionView,
    step: &StepView,
    flow: &Flow,
) -> Html {
    let ticked = view.state.ticked.get(&step.flow);
    let current = step.node.as_ref().map(|node| node.id.clone());
    html! {
        <section class="checklist" aria-label="Checklist">
            <h2 class="checklist-heading">{ "All items" }<span class="muted">{ " — tick them in any order" }</span></h2>
            <ul>
                { for flow.nodes.iter().map(|raw| {
                    let node = substitute_node(raw, &view.state.variables);
                    if node.kind == NodeKind::Section {
                        return html! { <li class="checklist-section" key={node.id.clone()}><h3>{ &node.title }</h3></li> };
                    }
                    let done = ticked.and_then(|ticked| ticked.get(&node.id));
                    html! {
                        <ChecklistItem key={node.id.clone()} node={node.clone()}
                            done={done.is_some()} value={done.cloned().flatten()}
                            current={current.as_deref() == Some(node.id.as_str())}
                            busy={state.busy} send={Callback::from({
                                let sender = sender.clone();
                                move |command: Command| sender.send(vec![command])
                            })} />
                    }
                }) }
            </ul>
        </section>
    }
}

#[derive(Debug, Properties, PartialEq)]
struct ChecklistItemProps {
    node: Node,
    done: bool,
    value: Option<String>,
    current: bool,
    busy: bool,
    send: Callback<Command>,
}

#[function_component]
fn ChecklistItem(props: &ChecklistItemProps) -> Html {
    let node = &props.node;
    let needs_text = node
        .verify
        .as_ref()
        .is_some_and(|verify| verify.kind == VerifyKind::Text);
    let branch = !node.answers().is_empty();
    let subflow = node.kind == NodeKind::Subflow;
    let prompt = node
        .verify
        .as_ref()
        .map(|verify| verify.prompt.clone())
        .filter(|prompt| !prompt.is_empty());
    let checkbox_id = format!("check-{}", node.id);
    let on_check = {
        let (send, node) = (props.send.clone(), node.clone());
        Callback::from(move |_: Event| {
            if let Some(command) = tick_command(&node, None) {
                send.emit(command);
            }
        })
    };
    html! {
        <li class={classes!("check-item", props.done.then_some("done"), props.current.then_some("current"))}
            data-node={node.id.clone()}>
            <div class="check-row">
                <input type="checkbox" id={checkbox_id.clone()} checked={props.done}
                    disabled={props.done || props.busy || needs_text || branch || subflow}
                    onchange={on_check} />
                <label for={checkbox_id} class="check-title">
                    { &node.title }
                    if subflow { <span class="muted">{ " · runs a subflow when reached" }</span> }
                </label>
                if let Some(value) = &props.value { <span class="check-value mono">{ value }</span> }
            </div>
            if !props.done {
                if needs_text {
                    <VerifyForm node={node.clone()} busy={props.busy} send={props.send.clone()} />
                } else if let Some(prompt) = &prompt {
                    <p class="verify-prompt">{ prompt }</p>
                }
                if branch && !props.current {
                    <div class="branch-choices">
                        { for node.answers().iter().map(|answer| {
                            let (send, node, label) = (props.send.clone(), node.clone(), answer.label.clone());
                            html! {
                                <button class="chip" disabled={props.busy}
                                    onclick={Callback::from(move |_| {
                                        if let Some(command) = tick_command(&node, Some(&label)) { send.emit(command); }
                                    })}>{ &answer.label }</button>
                            }
                        }) }
                    </div>
                }
            }
        </li>
    }
}

#[derive(Debug, Properties, PartialEq)]
struct VerifyFormProps {
    node: Node,
    busy: bool,
    send: Callback<Command>,
}

/// The value a step asks for ("Snapshot name"), recorded as its tick.
#[function_component]
fn VerifyForm(props: &VerifyFormProps) -> Html {
    let text = use_state(String::new);
    let prompt = props
        .node
        .verify
        .as_ref()
        .map(|verify| verify.prompt.clone())
        .filter(|prompt| !prompt.is_empty())
        .unwrap_or_else(|| "Value".to_owned());
    let record = {
        let (send, node, text) = (props.send.clone(), props.node.clone(), text.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            if let Some(command) = tick_command(&node, Some(&text)) {
                send.emit(command);
            }
        })
    };
    let input_id = format!("verify-{}", props.node.id);
    html! {
        <form class="verify-form" onsubmit={record}>
            <label class="verify-prompt" for={input_id.clone()}>{ &prompt }</label>
            <div class="verify-row">
                <input id={input_id} type="text" class="verify-input" value={(*text).clone()} disabled={props.busy}
                    autocomplete="off" spellcheck="false"
                    oninput={let text = text.clone(); Callback::from(move |event: InputEvent| text.set(web::target_value(event.target())))} />
                <button class="button secondary small" type="submit" disabled={props.busy || text.trim().is_empty()}>{ "Record" }</button>
            </div>
        </form>
    }
}

fn render_note(state: &RunnerState, sender: &Sender) -> Html {
    let oninput = {
        let sender = sender.clone();
        Callback::from(move |event: InputEvent| {
            sender.note_edited(web::target_value(event.target()))
        })
    };
    let save = &state.note.save;
    html! {
        <section class="note">
            <div class="note-head">
                <label for="note" class="note-label">{ "Note" }<kbd>{ "n" }</kbd></label>
                <span id="note-state" class={classes!("note-state", save.attribute())} data-state={save.attribute()}
                    aria-live="polite">{ save.label() }</span>
            </div>
            <textarea id="note" rows="3" placeholder="What you saw and did at this step — saved as you type"
                value={state.note.text.clone()} disabled={state.busy || state.is_finished()} {oninput} />
        </section>
    }
}

fn render_toolbar(state: &RunnerState, sender: &Sender, step: Option<&StepView>) -> Html {
    let can_go_back = step.is_some_and(|step| step.can_go_back);
    let open = |dialog: Dialog| {
        let dispatcher = sender.state.dispatcher();
        Callback::from(move |_| dispatcher.dispatch(RunnerAction::Open(dialog.clone())))
    };
    let back = {
        let sender = sender.clone();
        Callback::from(move |_| sender.send(vec![Command::Back]))
    };
    html! {
        <div class="runner-toolbar" role="toolbar" aria-label="Session">
            <button id="back" class="button ghost" disabled={!can_go_back || state.busy} onclick={back}>
                <Svg icon={Icon::Back} size={16} />{ "Back" }<kbd>{ "b" }</kbd>
            </button>
            <button id="paste-output" class="button ghost" disabled={state.busy} onclick={open(Dialog::Paste(String::new()))}>
                <Svg icon={Icon::Terminal} size={16} />{ "Paste output" }
            </button>
            <button id="attach" class="button ghost" disabled={state.busy} title="Attach files (or drop them on the window)"
                onclick={let sender = sender.clone(); Callback::from(move |_| {
                    let sender = sender.clone();
                    web::spawn(async move {
                        match bridge::call::<PickFiles>(&()).await {
                            Ok(paths) if !paths.is_empty() => sender.attach(paths),
                            Ok(_) => {}
                            Err(error) => sender.app.failed(error),
                        }
                    });
                })}>
                <Svg icon={Icon::Paperclip} size={16} />{ "Attach" }
            </button>
            <button id="custom-step" class="button ghost" disabled={state.busy} onclick={open(Dialog::Custom(String::new()))}>
                <Svg icon={Icon::Plus} size={16} />{ "Custom step" }<kbd>{ "c" }</kbd>
            </button>
            <span class="toolbar-spacer" />
            <button id="finish" class="button secondary" disabled={state.busy} onclick={open(state.finish_dialog())}>
                <Svg icon={Icon::Flag} size={16} />{ "Finish" }<kbd>{ "f" }</kbd>
            </button>
        </div>
    }
}

fn render_timeline(state: &RunnerState, sender: &Sender) -> Html {
    let Some(view) = &state.view else {
        return html! {};
    };
    let collapsed = state.timeline_collapsed;
    let toggle = {
        let dispatcher = sender.state.dispatcher();
        Callback::from(move |_| dispatcher.dispatch(RunnerAction::ToggleTimeline))
    };
    html! {
        <aside class={classes!("timeline", collapsed.then_some("collapsed"))} aria-label="Path so far">
            <button class="timeline-toggle" aria-expanded={(!collapsed).to_string()} onclick={toggle}
                title={if collapsed { "Show the path so far" } else { "Hide the path" }}>
                <Svg icon={Icon::Sessions} size={16} />
                <span class="timeline-toggle-label">{ "Path so far" }</span>
                <span class="timeline-count">{ view.state.path.len() }</span>
            </button>
            if !collapsed {
                <ol class="timeline-list">
                    { for view.state.path.iter().rev().map(|entry| {
                        let kind = entry.kind.class_name();
                        let title = match entry.kind {
                            EntryKind::WentBack => format!("Back to {}", entry.title),
                            EntryKind::SubflowEntered => format!("Into {}", entry.title),
                            EntryKind::SubflowLeft => format!("Back from {}", entry.title),
                            EntryKind::HandedOff => format!("Handed to {}", entry.title),
                            _ => entry.title.clone(),
                        };
                        html! {
                            <li class={classes!("timeline-entry", kind)} style={format!("--depth: {}", entry.depth.min(4))}>
                                <span class="timeline-dot" aria-hidden="true" />
                                <div class="timeline-text">
                                    <span class="timeline-title">
                                        { title }
                                        if entry.kind == EntryKind::Custom { <span class="custom-tag">{ "custom" }</span> }
                                    </span>
                                    if let Some(answer) = &entry.answer { <span class="timeline-answer">{ "→ " }{ answer }</span> }
                                    if let Some(value) = &entry.value { <span class="timeline-answer mono">{ value }</span> }
                                    { for entry.notes.iter().map(|note| html! { <span class="timeline-note">{ &note.text }</span> }) }
                                    { for entry.outputs.iter().map(|output| html! { <pre class="timeline-output">{ &output.text }</pre> }) }
                                </div>
                                <time class="timeline-time">{ web::local_clock(entry.at) }</time>
                            </li>
                        }
                    }) }
                </ol>
            }
        </aside>
    }
}

fn render_dialog(state: &RunnerState, sender: &Sender) -> Html {
    let Some(dialog) = &state.dialog else {
        return html! {};
    };
    let dispatcher = sender.state.dispatcher();
    let close = {
        let dispatcher = dispatcher.clone();
        Callback::from(move |_| {
            dispatcher.dispatch(RunnerAction::CloseDialog);
            web::focus("step-title");
        })
    };
    match dialog {
        Dialog::Custom(title) => {
            let submit = {
                let dispatcher = dispatcher.clone();
                Callback::from(move |event: SubmitEvent| {
                    event.prevent_default();
                    dispatcher.dispatch(RunnerAction::ConfirmDialog);
                })
            };
            let dispatcher = dispatcher.clone();
            html! {
                <div class="scrim" onclick={close.clone()}>
                    <form class="dialog small custom-dialog" role="dialog" aria-modal="true" aria-labelledby="custom-heading"
                        onsubmit={submit} onclick={Callback::from(|event: MouseEvent| event.stop_propagation())}>
                        <h2 id="custom-heading">{ "Add a custom step" }</h2>
                        <p class="muted">{ "Something you did that the flow does not describe. It is marked as custom in the note." }</p>
                        <input id="custom-title" type="text" data-autofocus="true" placeholder="e.g. Restarted the print spooler"
                            value={title.clone()} autocomplete="off"
                            oninput={Callback::from(move |event: InputEvent| dispatcher.dispatch(RunnerAction::DialogText(web::target_value(event.target()))))} />
                        <div class="dialog-actions">
                            <button type="button" class="button ghost" onclick={close}>{ "Cancel" }</button>
                            <button id="custom-confirm" type="submit" class="button primary" disabled={title.trim().is_empty() || state.busy}>{ "Add step" }</button>
                        </div>
                        if let Some(error) = &state.action_error { <div class="callout error" role="alert">{ error }</div> }
                    </form>
                </div>
            }
        }
        Dialog::Paste(text) => {
            let confirm = {
                let dispatcher = dispatcher.clone();
                Callback::from(move |_| dispatcher.dispatch(RunnerAction::ConfirmDialog))
            };
            let onkeydown = {
                let confirm = confirm.clone();
                Callback::from(move |event: KeyboardEvent| {
                    if event.key() == "Enter" && (event.ctrl_key() || event.meta_key()) {
                        event.prevent_default();
                        confirm.emit(());
                    }
                })
            };
            let dispatcher = dispatcher.clone();
            html! {
                <div class="scrim" onclick={close.clone()}>
                    <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="paste-heading"
                        onclick={Callback::from(|event: MouseEvent| event.stop_propagation())}>
                        <h2 id="paste-heading">{ "Paste command output" }</h2>
                        <textarea id="paste-text" class="mono" rows="12" data-autofocus="true" spellcheck="false"
                            placeholder="Paste what the command printed" value={text.clone()} {onkeydown}
                            oninput={Callback::from(move |event: InputEvent| dispatcher.dispatch(RunnerAction::DialogText(web::target_value(event.target()))))} />
                        if let Some(error) = &state.action_error { <div class="callout error" role="alert">{ error }</div> }
                        <div class="dialog-actions">
                            <span class="hint-text"><kbd>{ "Ctrl" }</kbd><kbd>{ "Enter" }</kbd>{ " adds it" }</span>
                            <button type="button" class="button ghost" onclick={close}>{ "Cancel" }</button>
                            <button id="paste-confirm" type="button" class="button primary" disabled={text.trim().is_empty() || state.busy}
                                onclick={Callback::from(move |_| confirm.emit(()))}>{ "Add output" }</button>
                        </div>
                    </div>
                </div>
            }
        }
        Dialog::Finish(form) => {
            let confirm = {
                let dispatcher = dispatcher.clone();
                Callback::from(move |_: ()| dispatcher.dispatch(RunnerAction::ConfirmDialog))
            };
            let onkeydown = {
                let confirm = confirm.clone();
                Callback::from(move |event: KeyboardEvent| {
                    if event.key() != "Enter" {
                        return;
                    }
                    let in_textarea = event
                        .target()
                        .and_then(|target| target.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
                        .is_some();
                    let is_button = event
                        .target()
                        .and_then(|target| target.dyn_into::<web_sys::HtmlButtonElement>().ok())
                        .is_some();
                    if is_button {
                        return;
                    }
                    if !in_textarea || event.ctrl_key() || event.meta_key() {
                        event.prevent_default();
                        confirm.emit(());
                    }
                })
            };
            let summary_input = {
                let dispatcher = dispatcher.clone();
                Callback::from(move |event: InputEvent| {
                    dispatcher.dispatch(RunnerAction::FinishSummary(web::target_value(
                        event.target(),
                    )))
                })
            };
            let next_input = {
                let dispatcher = dispatcher.clone();
                Callback::from(move |event: InputEvent| {
                    dispatcher.dispatch(RunnerAction::FinishNextSteps(web::target_value(
                        event.target(),
                    )))
                })
            };
            let draft = {
                let dispatcher = dispatcher.clone();
                let session = state.view.as_ref().map(|view| view.id);
                Callback::from(move |_| {
                    let Some(session) = session else {
                        return;
                    };
                    dispatcher.dispatch(RunnerAction::FinishDrafting);
                    let dispatcher = dispatcher.clone();
                    web::spawn(async move {
                        let args = rf_app_api::commands::AskPilotArgs {
                            session_id: session,
                            summarize: true,
                        };
                        match bridge::call::<rf_app_api::commands::AskPilot>(&args).await {
                            Ok(done) => dispatcher.dispatch(RunnerAction::FinishDraft {
                                summary: done.summary.unwrap_or(done.text),
                                next_steps: done.next_steps,
                            }),
                            Err(error) => {
                                dispatcher.dispatch(RunnerAction::FinishDraftFailed(error.message))
                            }
                        }
                    });
                })
            };
            let first = form.outcome.unwrap_or(Outcome::Resolved);
            html! {
                <div class="scrim" onclick={close.clone()}>
                    <div id="finish-dialog" class="dialog" role="dialog" aria-modal="true" aria-labelledby="finish-heading"
                        onclick={Callback::from(|event: MouseEvent| event.stop_propagation())} {onkeydown}>
                        <h2 id="finish-heading">{ "Finish the session" }</h2>
                        <fieldset class="outcomes">
                            <legend>{ "How did it end?" }</legend>
                            { for Outcome::ALL.into_iter().map(|outcome| {
                                let dispatcher = dispatcher.clone();
                                let id = format!("outcome-{}", outcome.as_str());
                                html! {
                                    <label class={classes!("outcome-option", outcome.as_str())} for={id.clone()}>
                                        <input type="radio" name="outcome" id={id} value={outcome.as_str()}
                                            checked={form.outcome == Some(outcome)}
                                            data-autofocus={(outcome == first).then_some("true")}
                                            onchange={Callback::from(move |_| dispatcher.dispatch(RunnerAction::FinishOutcome(outcome)))} />
                                        <span class="outcome-dot" aria-hidden="true" />
                                        <span>{ outcome_label(outcome) }</span>
                                    </label>
                                }
                            }) }
                        </fieldset>
                        <label class="field">
                            <span class="field-label">
                                { "Summary" }
                                <button id="draft-summary" type="button" class="link-button draft-summary"
                                    disabled={form.drafting} onclick={draft}>
                                    { if form.drafting { "Drafting…" } else { "Draft with FlowPilot" } }
                                </button>
                            </span>
                            <textarea id="summary" rows="3" placeholder="What was wrong and what fixed it"
                                value={form.summary.clone()} oninput={summary_input} />
                        </label>
                        <label class="field">
                            <span class="field-label">{ "Next steps" }</span>
                            <textarea id="next-steps" rows="2" placeholder="Anything left for the client or the next engineer"
                                value={form.next_steps.clone()} oninput={next_input} />
                        </label>
                        if let Some(error) = &form.error { <div class="callout error" role="alert">{ error }</div> }
                        <div class="dialog-actions">
                            <span class="hint-text"><kbd>{ "Enter" }</kbd>{ " finishes · " }<kbd>{ "Ctrl" }</kbd><kbd>{ "Enter" }</kbd>{ " from a text box" }</span>
                            <button type="button" class="button ghost" onclick={close}>{ "Cancel" }</button>
                            <button id="finish-confirm" type="button" class="button primary" disabled={state.busy}
                                onclick={Callback::from(move |_| confirm.emit(()))}>{ "Finish session" }</button>
                        </div>
                    </div>
                </div>
            }
        }
        Dialog::Shortcuts => html! {},
    }
}
