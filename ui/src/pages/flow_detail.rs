//! A flow's detail: what it is, its steps, the team's path statistics, and "Start session".

use rf_app_api::commands::{ExportFlow, LoadFlow, SetPin, SetPinArgs};
use rf_app_api::{CommandError, FlowDetail};
use rf_core::flow::{Node, NodeKind};
use rf_core::stats::FlowStats;
use uuid::Uuid;
use yew::prelude::*;

use crate::bridge;
use crate::components::common::{Empty, KindBadge, Loading, Markdown, outcome_label};
use crate::components::icons::{Icon, Svg};
use crate::hooks::{use_app, use_data_changed};
use crate::state::app::{Route, StartTarget, Tone};
use crate::web;

#[derive(Debug, Properties, PartialEq)]
pub struct FlowDetailProps {
    pub id: Uuid,
}

#[function_component]
pub fn FlowDetailPage(props: &FlowDetailProps) -> Html {
    let app = use_app();
    let changed = use_data_changed(|changed| changed.flows || changed.sessions);
    let detail = use_state(|| None::<Result<FlowDetail, CommandError>>);
    let reload = use_state(|| 0u32);
    {
        let detail = detail.clone();
        use_effect_with((props.id, changed, *reload), move |(id, _, _)| {
            let id = *id;
            web::spawn(async move {
                detail.set(Some(bridge::call::<LoadFlow>(&id).await));
            });
        });
    }
    use_effect_with((), |_| web::focus("start-from-detail"));
    let detail = match &*detail {
        None => return html! { <section id="flow-detail" class="page"><Loading /></section> },
        Some(Err(error)) => {
            return html! {
                <section id="flow-detail" class="page">
                    <Empty title="This flow could not be opened."><p>{ &error.message }</p></Empty>
                </section>
            };
        }
        Some(Ok(detail)) => detail.clone(),
    };
    let summary = detail.flow.summary.clone();
    let document = &detail.flow.document;
    let id = summary.id;
    let start = {
        let app = app.clone();
        Callback::from(move |_| app.navigate(Route::Start(StartTarget::flow(id))))
    };
    let pin = {
        let (app, pinned, reload) = (app.clone(), summary.pinned, reload.clone());
        let detail_id = id;
        Callback::from(move |_| {
            let (app, reload) = (app.clone(), reload.clone());
            web::spawn(async move {
                let args = SetPinArgs {
                    flow_id: detail_id,
                    pinned: !pinned,
                };
                match bridge::call::<SetPin>(&args).await {
                    Ok(_) => reload.set(*reload + 1),
                    Err(error) => app.failed(error),
                }
            });
        })
    };
    let export = {
        let app = app.clone();
        Callback::from(move |_| {
            let app = app.clone();
            web::spawn(async move {
                match bridge::call::<ExportFlow>(&id).await {
                    Ok(path) => app.toast(format!("Exported to {path}"), Tone::Success),
                    Err(error) => app.toast(error.message, Tone::Error),
                }
            });
        })
    };
    let back = {
        let app = app.clone();
        Callback::from(move |_| app.navigate(Route::Library(String::new())))
    };
    let stats = &detail.stats;
    html! {
        <section id="flow-detail" class="page" data-flow-title={summary.title.clone()}>
            <button class="link-button back-link" onclick={back}>
                <Svg icon={Icon::Back} size={14} />{ "Library" }
            </button>
            <header class="detail-header">
                <div class="detail-heading">
                    <KindBadge kind={summary.kind} />
                    <h1>{ &summary.title }</h1>
                    <p class="detail-meta">
                        if let Some(category) = &summary.category { <span>{ category }</span>{ " · " } }
                        { format!("{} steps · version {}", summary.node_count, summary.version) }
                        { for summary.tags.iter().map(|tag| html! { <span class="tag">{ tag }</span> }) }
                    </p>
                </div>
                <div class="detail-actions">
                    <button id="export-flow" class="button secondary" onclick={export}
                        title="Write this flow as a file into the watched flows folder">
                        { "Export to folder" }
                    </button>
                    <button class={classes!("button", "secondary", summary.pinned.then_some("pinned"))}
                        aria-pressed={summary.pinned.to_string()} onclick={pin}>
                        <Svg icon={Icon::Pin} size={16} />
                        { if summary.pinned { "Pinned" } else { "Pin" } }
                    </button>
                    <button id="start-from-detail" class="button primary" onclick={start}>
                        <Svg icon={Icon::Play} size={16} />{ "Start session" }
                    </button>
                </div>
            </header>
            if !detail.missing_subflows.is_empty() {
                <div class="callout warning" role="note">
                    <strong>{ "Missing subflows: " }</strong>
                    { detail.missing_subflows.join(", ") }
                    { ". A session stops where it needs one; import or sync them first." }
                </div>
            }
            if let Some(description) = &document.description {
                <Markdown text={description.clone()} class="detail-description" />
            }
            <section class="detail-stats" aria-label="Team statistics">
                <div class="stat"><span class="stat-value">{ stats.sessions }</span><span class="stat-label">{ "finished sessions" }</span></div>
                <div class="stat"><span class="stat-value">{ percent(stats.resolved, stats.sessions) }</span><span class="stat-label">{ "resolved" }</span></div>
                <div class="stat"><span class="stat-value">{ detail.intake.len() }</span><span class="stat-label">{ "intake fields" }</span></div>
            </section>
            <h2>{ "Steps" }</h2>
            <ol class="step-outline">
                { for document.nodes.iter().map(|node| outline_node(node, stats)) }
            </ol>
        </section>
    }
}

fn percent(part: usize, whole: usize) -> String {
    (part * 100 + whole / 2)
        .checked_div(whole)
        .map(|percent| format!("{percent}%"))
        .unwrap_or_else(|| "—".to_owned())
}

fn outline_node(node: &Node, stats: &FlowStats) -> Html {
    let node_stats = stats.nodes.get(&node.id);
    let reached = node_stats.map(|stats| stats.reached).unwrap_or(0);
    html! {
        <li class={classes!("outline-node", node.kind.as_str())} key={node.id.clone()}>
            <div class="outline-head">
                <span class="node-kind">{ node.kind.as_str() }</span>
                <span class="outline-title">{ &node.title }</span>
                if reached > 0 { <span class="outline-reached">{ format!("reached {reached}×") }</span> }
                if node.kind == NodeKind::Resolution {
                    if let Some(outcome) = node.outcome {
                        <span class={classes!("outcome-text", outcome.as_str())}>{ outcome_label(outcome) }</span>
                    }
                }
            </div>
            if !node.answers().is_empty() {
                <ul class="outline-answers">
                    { for node.answers().iter().map(|answer| {
                        let share = node_stats.and_then(|stats| stats.shares(&answer.label));
                        html! {
                            <li>
                                <span>{ &answer.label }</span>
                                <span class="outline-next">{ "→ " }{ &answer.next }</span>
                                if let Some(share) = share {
                                    <span class="answer-share">{ format!("{}% · {}% resolved", share.chosen_percent, share.resolved_percent) }</span>
                                }
                            </li>
                        }
                    }) }
                </ul>
            }
        </li>
    }
}
