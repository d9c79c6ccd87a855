//! The quick launcher: one input over pinned, recent and library flows; Enter opens the start
//! screen (ticket and client next), Esc closes.

use rf_app_api::LibraryFilter;
use rf_app_api::commands::{LoadHome, LoadLibrary};
use yew::prelude::*;

use crate::bridge;
use crate::components::icons::{Icon, Svg};
use crate::hooks::use_app;
use crate::state::app::{AppAction, Route, StartTarget};
use crate::state::launcher::{LauncherAction, LauncherState};
use crate::state::library::kind_label;
use crate::web;

#[function_component]
pub fn QuickLauncher() -> Html {
    let app = use_app();
    let state = use_reducer(LauncherState::default);
    {
        let dispatcher = state.dispatcher();
        use_effect_with((), move |_| {
            web::focus("quick-input");
            web::spawn(async move {
                let home = bridge::call::<LoadHome>(&()).await.unwrap_or_default();
                let library = bridge::call::<LoadLibrary>(&LibraryFilter::default())
                    .await
                    .unwrap_or_default();
                let flows = home
                    .pinned
                    .into_iter()
                    .chain(home.recent)
                    .chain(library.flows.into_iter().map(|entry| entry.flow))
                    .collect();
                dispatcher.dispatch(LauncherAction::Flows(flows));
            });
        });
    }
    let open = {
        let app = app.clone();
        Callback::from(move |id| app.navigate(Route::Start(StartTarget::flow(id))))
    };
    let close = {
        let app = app.clone();
        Callback::from(move |_| app.dispatch.emit(AppAction::CloseLauncher))
    };
    let onkeydown = {
        let (state, open) = (state.clone(), open.clone());
        Callback::from(move |event: KeyboardEvent| match event.key().as_str() {
            "ArrowDown" => {
                event.prevent_default();
                state.dispatch(LauncherAction::Down);
            }
            "ArrowUp" => {
                event.prevent_default();
                state.dispatch(LauncherAction::Up);
            }
            "Enter" => {
                event.prevent_default();
                if let Some(id) = state.chosen() {
                    open.emit(id);
                }
            }
            _ => {}
        })
    };
    let oninput = {
        let dispatcher = state.dispatcher();
        Callback::from(move |event: InputEvent| {
            dispatcher.dispatch(LauncherAction::Query(web::target_value(event.target())))
        })
    };
    let active = state
        .results
        .get(state.selected)
        .map(|flow| format!("launch-{}", flow.id));
    html! {
        <div class="scrim launcher-scrim" onclick={close}>
            <div id="quick-launcher" class="launcher" role="dialog" aria-modal="true" aria-label="Quick launcher"
                onclick={Callback::from(|event: MouseEvent| event.stop_propagation())}>
                <div class="launcher-input">
                    <Svg icon={Icon::Search} size={18} />
                    <input id="quick-input" type="text" placeholder="Start a flow…" autocomplete="off" spellcheck="false"
                        role="combobox" aria-expanded="true" aria-controls="quick-results"
                        aria-activedescendant={active}
                        value={state.query.clone()} {oninput} {onkeydown} />
                    <kbd>{ "Esc" }</kbd>
                </div>
                <ul id="quick-results" class="launcher-results" role="listbox">
                    { for state.results.iter().enumerate().map(|(index, flow)| {
                        let (open, id) = (open.clone(), flow.id);
                        let selected = index == state.selected;
                        html! {
                            <li id={format!("launch-{id}")} key={id.to_string()} role="option"
                                class={classes!("launcher-result", selected.then_some("selected"))}
                                aria-selected={selected.to_string()} data-flow-title={flow.title.clone()}
                                onclick={Callback::from(move |_| open.emit(id))}>
                                <span class={classes!("flow-row-icon", flow.kind.as_str())} aria-hidden="true"><Svg icon={Icon::of_kind(flow.kind)} size={16} /></span>
                                <span class="launcher-title">{ &flow.title }</span>
                                if flow.pinned { <span class="pinned-mark" title="Pinned"><Svg icon={Icon::Pin} size={12} /></span> }
                                <span class="launcher-kind">{ kind_label(flow.kind) }</span>
                            </li>
                        }
                    }) }
                    if state.results.is_empty() && !state.flows.is_empty() {
                        <li class="launcher-empty">{ "No flow matches. Try fewer letters." }</li>
                    }
                </ul>
            </div>
        </div>
    }
}
