//! Small pieces several screens use: Markdown, flow cards, kind and outcome badges.

use rf_app_api::FlowSummary;
use rf_app_api::commands::{CopyText, OpenLink};
use rf_core::{FlowKind, Outcome};
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::bridge;
use crate::components::icons::{Icon, Svg};
use crate::hooks::use_app;
use crate::markdown;
use crate::state::app::{Route, StartTarget, Tone};
use crate::state::library::{flow_meta, kind_label};
use crate::web;

#[derive(Debug, Properties, PartialEq)]
pub struct MarkdownProps {
    pub text: AttrValue,
    #[prop_or_default]
    pub class: Classes,
}

/// Flow text rendered safely; its links open in the system browser.
#[function_component]
pub fn Markdown(props: &MarkdownProps) -> Html {
    let app = use_app();
    let html = use_memo(props.text.clone(), |text| markdown::render(text));
    let onclick = Callback::from(move |event: MouseEvent| {
        let href = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
            .and_then(|element| element.closest("[data-href]").ok().flatten())
            .and_then(|element| element.get_attribute("data-href"));
        if let Some(href) = href {
            event.prevent_default();
            open_link(&app, href);
        }
    });
    html! {
        <div class={classes!("markdown", props.class.clone())} {onclick}>
            { Html::from_html_unchecked(AttrValue::from((*html).clone())) }
        </div>
    }
}

/// Opens a link in the system browser, never in this window.
pub fn open_link(app: &crate::hooks::AppContext, url: String) {
    let app = app.clone();
    web::spawn(async move {
        if let Err(error) = bridge::call::<OpenLink>(&url).await {
            app.failed(error);
        }
    });
}

/// Copies text to the clipboard through the shell and says so.
pub fn copy_text(app: &crate::hooks::AppContext, text: String, done: &'static str) {
    let app = app.clone();
    web::spawn(async move {
        match bridge::call::<CopyText>(&text).await {
            Ok(()) => app.toast(done, Tone::Success),
            Err(error) => app.failed(error),
        }
    });
}

#[derive(Debug, Properties, PartialEq)]
pub struct KindProps {
    pub kind: FlowKind,
}

#[function_component]
pub fn KindBadge(props: &KindProps) -> Html {
    html! {
        <span class={classes!("kind", props.kind.as_str())}>
            <Svg icon={Icon::of_kind(props.kind)} size={14} />
            { kind_label(props.kind) }
        </span>
    }
}

pub fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Resolved => "Resolved",
        Outcome::Workaround => "Workaround",
        Outcome::Escalated => "Escalated",
        Outcome::Unresolved => "Unresolved",
    }
}

#[derive(Debug, Properties, PartialEq)]
pub struct OutcomeProps {
    pub outcome: AttrValue,
}

#[function_component]
pub fn OutcomeBadge(props: &OutcomeProps) -> Html {
    let label = Outcome::parse(&props.outcome)
        .map(outcome_label)
        .unwrap_or("—");
    html! {
        <span class={classes!("outcome-badge", props.outcome.to_string())}>
            <span class="outcome-dot" aria-hidden="true" />
            { label }
        </span>
    }
}

#[derive(Debug, Properties, PartialEq)]
pub struct FlowCardProps {
    pub flow: FlowSummary,
}

/// A flow on the home screen: click or Enter opens its start screen.
#[function_component]
pub fn FlowCard(props: &FlowCardProps) -> Html {
    let app = use_app();
    let flow = &props.flow;
    let id = flow.id;
    let onclick = Callback::from(move |_| app.navigate(Route::Start(StartTarget::flow(id))));
    html! {
        <button class={classes!("flow-card", flow.kind.as_str())} data-flow-title={flow.title.clone()} {onclick}>
            <span class="flow-card-icon" aria-hidden="true"><Svg icon={Icon::of_kind(flow.kind)} size={18} /></span>
            <span class="flow-card-body">
                <span class="flow-card-title">
                    { &flow.title }
                    if flow.pinned { <span class="pinned-mark" aria-label="Pinned" title="Pinned"><Svg icon={Icon::Pin} size={12} /></span> }
                </span>
                <span class="flow-card-meta">{ flow_meta(flow) }</span>
            </span>
        </button>
    }
}

#[derive(Debug, Properties, PartialEq)]
pub struct EmptyProps {
    pub title: AttrValue,
    #[prop_or_default]
    pub children: Html,
}

#[function_component]
pub fn Empty(props: &EmptyProps) -> Html {
    html! {
        <div class="empty">
            <p class="empty-title">{ &props.title }</p>
            { props.children.clone() }
        </div>
    }
}

#[function_component]
pub fn Loading() -> Html {
    html! { <div class="loading" aria-busy="true"><span class="skeleton" /><span class="skeleton short" /><span class="skeleton" /></div> }
}
