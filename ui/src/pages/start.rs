//! The start screen: ticket, client and the flow's intake fields, then the first step.

use std::collections::BTreeMap;

use rf_app_api::commands::{FindFlow, LoadFlow, LookupTicket, StartSession};
use rf_app_api::{CommandError, FlowDetail};
use yew::prelude::*;

use crate::bridge;
use crate::components::common::{KindBadge, Loading};
use crate::components::icons::{Icon, Svg};
use crate::components::shell::Banner;
use crate::hooks::use_app;
use crate::pages::library::LibraryPage;
use crate::state::app::{FlowName, Route, StartTarget};
use crate::state::start::StartForm;
use crate::web;

#[derive(Debug, Properties, PartialEq)]
pub struct StartProps {
    pub target: StartTarget,
}

#[function_component]
pub fn StartPage(props: &StartProps) -> Html {
    let app = use_app();
    let detail = use_state(|| None::<Result<FlowDetail, CommandError>>);
    let form = use_state(StartForm::default);
    let problems = use_state(BTreeMap::<String, String>::new);
    let failure = use_state(|| None::<String>);
    let busy = use_state(|| false);
    // What ConnectWise said of the ticket, or why it could not be asked.
    let lookup = use_state(|| None::<Result<rf_core::psa::TicketSummary, String>>);
    {
        let (detail, form) = (detail.clone(), form.clone());
        let target = props.target.clone();
        use_effect_with((), move |_| {
            web::spawn(async move {
                let id = match &target.flow {
                    FlowName::Id(id) => Ok(*id),
                    FlowName::Named(name) => {
                        bridge::call::<FindFlow>(name).await.map(|flow| flow.id)
                    }
                };
                let loaded = match id {
                    Ok(id) => bridge::call::<LoadFlow>(&id).await,
                    Err(error) => Err(error),
                };
                if let Ok(loaded) = &loaded {
                    form.set(StartForm::prefilled(
                        &loaded.intake,
                        &target.ticket,
                        &target.client,
                        &target.variables,
                    ));
                }
                detail.set(Some(loaded));
            });
        });
    }
    // Once the form shows, the cursor goes to the first field still empty.
    {
        let intake = match &*detail {
            Some(Ok(loaded)) => Some(loaded.intake.clone()),
            _ => None,
        };
        let form = (*form).clone();
        use_effect_with(intake.is_some(), move |_| {
            if let Some(intake) = intake {
                web::focus(&form.first_to_fill(&intake));
            }
        });
    }

    let detail = match &*detail {
        None => return html! { <section id="start" class="page narrow"><Loading /></section> },
        Some(Err(error)) => {
            let named = match &props.target.flow {
                FlowName::Named(name) => format!("“{name}”"),
                FlowName::Id(id) => id.to_string(),
            };
            return html! {
                <section id="start" class="page">
                    <Banner text={format!("The flow {named} could not be started: {}", error.message)}>
                        <p class="banner-hint">{ "Pick the flow from the library below." }</p>
                    </Banner>
                    <LibraryPage embedded={true} />
                </section>
            };
        }
        Some(Ok(detail)) => detail.clone(),
    };
    let flow = detail.flow.summary.clone();
    let intake = detail.intake.clone();
    let onsubmit = {
        let (app, form, problems, failure, busy) = (
            app.clone(),
            form.clone(),
            problems.clone(),
            failure.clone(),
            busy.clone(),
        );
        let (flow_id, intake) = (flow.id, intake.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            if *busy {
                return;
            }
            match form.request(flow_id, &intake) {
                Err(found) => {
                    // The cursor goes to the first field in the form's order that needs work.
                    if let Some(first) = intake
                        .iter()
                        .find(|field| found.contains_key(&format!("var.{}", field.name)))
                    {
                        web::focus(&format!("var-{}", first.name));
                    }
                    problems.set(found);
                }
                Ok(request) => {
                    problems.set(BTreeMap::new());
                    failure.set(None);
                    busy.set(true);
                    let (app, failure, busy) = (app.clone(), failure.clone(), busy.clone());
                    web::spawn(async move {
                        match bridge::call::<StartSession>(&request).await {
                            Ok(view) => app.navigate(Route::Runner(view.id)),
                            Err(error) => {
                                busy.set(false);
                                failure.set(Some(error.message));
                            }
                        }
                    });
                }
            }
        })
    };
    let edit = |apply: fn(&mut StartForm, String)| {
        let form = form.clone();
        Callback::from(move |event: InputEvent| {
            let mut next = (*form).clone();
            apply(&mut next, web::target_value(event.target()));
            form.set(next);
        })
    };
    let back = {
        let app = app.clone();
        Callback::from(move |_| app.navigate(Route::Flow(flow.id)))
    };
    let look_up = {
        let (form, lookup) = (form.clone(), lookup.clone());
        Callback::from(move |_| {
            let Some(number) = crate::state::ticket_post::ticket_number(&form.ticket) else {
                return;
            };
            let (form, lookup) = (form.clone(), lookup.clone());
            web::spawn(async move {
                match bridge::call::<LookupTicket>(&number).await {
                    Ok(ticket) => {
                        let mut next = (*form).clone();
                        next.fill_from_ticket(&ticket);
                        form.set(next);
                        lookup.set(Some(Ok(ticket)));
                    }
                    Err(error) => lookup.set(Some(Err(format!(
                        "Not filled from ConnectWise: {}",
                        error.message
                    )))),
                }
            });
        })
    };
    html! {
        <section id="start" class="page narrow" data-flow-title={detail.flow.summary.title.clone()}>
            <button class="link-button back-link" onclick={back}>
                <Svg icon={Icon::Back} size={14} />{ "Flow details" }
            </button>
            <header class="start-header">
                <KindBadge kind={detail.flow.summary.kind} />
                <h1 id="start-title">{ &detail.flow.summary.title }</h1>
                if let Some(category) = &detail.flow.summary.category { <p class="detail-meta">{ category }</p> }
            </header>
            if !detail.missing_subflows.is_empty() {
                <div class="callout warning" role="note">
                    { format!("This flow uses subflows that are not here yet ({}); the session will stop there.", detail.missing_subflows.join(", ")) }
                </div>
            }
            <form class="start-form" {onsubmit} novalidate={true}>
                <div class="field-row">
                    <label class="field">
                        <span class="field-label">
                            { "Ticket" }
                            if crate::state::ticket_post::ticket_number(&form.ticket).is_some() {
                                <button id="lookup-ticket" type="button" class="link-button lookup-ticket" onclick={look_up}>
                                    { "Fill from ConnectWise" }
                                </button>
                            }
                        </span>
                        <input id="ticket" name="ticket" type="text" autocomplete="off" spellcheck="false"
                            placeholder="e.g. T-1042" value={form.ticket.clone()}
                            oninput={edit(|form, value| form.ticket = value)} />
                    </label>
                    <label class="field">
                        <span class="field-label">{ "Client" }</span>
                        <input id="client" name="client" type="text" autocomplete="off"
                            placeholder="e.g. Acme Dental" value={form.client.clone()}
                            oninput={edit(|form, value| form.client = value)} />
                    </label>
                </div>
                if let Some(found) = &*lookup {
                    <p id="ticket-found" class={classes!("hint-text", "ticket-found", found.is_err().then_some("error"))} role="status">
                        { match found {
                            Ok(ticket) => format!("#{} · {}{}{}", ticket.id, ticket.summary,
                                ticket.board.as_deref().map(|board| format!(" · {board}")).unwrap_or_default(),
                                ticket.status.as_deref().map(|status| format!(" · {status}")).unwrap_or_default()),
                            Err(why) => why.clone(),
                        } }
                    </p>
                }
                { for intake.iter().map(|field| {
                    let name = field.name.clone();
                    let key = format!("var.{name}");
                    let problem = problems.get(&key).cloned();
                    let form_handle = form.clone();
                    let field_name = name.clone();
                    let oninput = Callback::from(move |event: InputEvent| {
                        let mut next = (*form_handle).clone();
                        next.variables.insert(field_name.clone(), web::target_value(event.target()));
                        form_handle.set(next);
                    });
                    html! {
                        <label class={classes!("field", problem.is_some().then_some("invalid"))} key={key.clone()}>
                            <span class="field-label">
                                { &field.label }
                                if field.required { <span class="required" aria-label="required">{ " *" }</span> }
                            </span>
                            <input id={format!("var-{name}")} name={key.clone()} type="text" autocomplete="off"
                                spellcheck="false" required={field.required}
                                aria-invalid={problem.is_some().then_some("true")}
                                placeholder={field.default.clone().unwrap_or_default()}
                                value={form.variables.get(&name).cloned().unwrap_or_default()} {oninput} />
                            if let Some(problem) = problem { <span class="field-error" role="alert">{ problem }</span> }
                        </label>
                    }
                }) }
                if let Some(failure) = &*failure {
                    <div class="callout error" role="alert">{ failure }</div>
                }
                <div class="form-actions">
                    <button id="start-session" class="button primary big" type="submit" disabled={*busy}>
                        <Svg icon={Icon::Play} size={16} />{ if *busy { "Starting…" } else { "Start session" } }
                    </button>
                    <span class="hint-text"><kbd>{ "Enter" }</kbd>{ " in any field starts" }</span>
                </div>
            </form>
        </section>
    }
}
