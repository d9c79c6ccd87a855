//! The library: search as you type, kind/category/tag filters, pins, and rows that open the
//! flow's detail.

use gloo_timers::callback::Timeout;
use rf_app_api::commands::{LoadFlowFolder, LoadLibrary, SetPin, SetPinArgs};
use rf_app_api::{FlowFolder, LibraryEntry};
use rf_core::FlowKind;
use uuid::Uuid;
use yew::prelude::*;

use crate::bridge;
use crate::components::common::{Empty, Loading};
use crate::components::icons::{Icon, Svg};
use crate::components::shell::Banner;
use crate::hooks::{AppContext, use_app, use_data_changed};
use crate::state::app::Route;
use crate::state::library::{
    LibraryAction, LibraryState, flow_meta, kind_from_value, kind_label, snippet_parts,
};
use crate::web;

/// Tags shown on a row; the rest are counted.
const MAX_TAGS: usize = 4;

/// The pause in typing after which the library searches.
const DEBOUNCE_MS: u32 = 150;

#[derive(Debug, Properties, PartialEq)]
pub struct LibraryProps {
    /// What the search box starts with (typed on the home screen).
    #[prop_or_default]
    pub text: String,
    /// Keep the focus where it is (the library shown under another screen's banner).
    #[prop_or_default]
    pub embedded: bool,
}

#[function_component]
pub fn LibraryPage(props: &LibraryProps) -> Html {
    let app = use_app();
    let changed = use_data_changed(|changed| changed.flows);
    let state = {
        let text = props.text.clone();
        use_reducer(move || LibraryState::new(text))
    };
    // A teammate's flow arrives: fetch again with the same filter, no click needed.
    {
        let dispatcher = state.dispatcher();
        use_effect_with(changed, move |changed| {
            if *changed > 0 {
                dispatcher.dispatch(LibraryAction::Refresh);
            }
        });
    }
    {
        let dispatcher = state.dispatcher();
        let filter = state.filter.clone();
        use_effect_with(state.request, move |request| {
            let request = *request;
            let delay = if request == 0 { 0 } else { DEBOUNCE_MS };
            let timeout = Timeout::new(delay, move || {
                web::spawn(async move {
                    match bridge::call::<LoadLibrary>(&filter).await {
                        Ok(library) => dispatcher.dispatch(LibraryAction::Loaded(request, library)),
                        Err(error) => {
                            dispatcher.dispatch(LibraryAction::Failed(request, error.message))
                        }
                    }
                });
            });
            move || drop(timeout)
        });
    }
    {
        let embedded = props.embedded;
        use_effect_with((), move |_| {
            if !embedded {
                web::focus_end("search");
            }
        });
    }

    let open = {
        let app = app.clone();
        Callback::from(move |id: Uuid| app.navigate(Route::Flow(id)))
    };
    let oninput = {
        let dispatcher = state.dispatcher();
        Callback::from(move |event: InputEvent| {
            dispatcher.dispatch(LibraryAction::Text(web::target_value(event.target())))
        })
    };
    let onkeydown = {
        let dispatcher = state.dispatcher();
        let state = state.clone();
        let open = open.clone();
        Callback::from(move |event: KeyboardEvent| match event.key().as_str() {
            "ArrowDown" => {
                event.prevent_default();
                dispatcher.dispatch(LibraryAction::Down);
            }
            "ArrowUp" => {
                event.prevent_default();
                dispatcher.dispatch(LibraryAction::Up);
            }
            "Enter" => {
                let chosen = state.selected_flow().or_else(|| {
                    state
                        .library
                        .as_ref()
                        .and_then(|library| library.flows.first())
                        .map(|entry| entry.flow.id)
                });
                if let Some(id) = chosen {
                    event.prevent_default();
                    open.emit(id);
                }
            }
            _ => {}
        })
    };
    let on_kind = {
        let dispatcher = state.dispatcher();
        Callback::from(move |event: Event| {
            dispatcher.dispatch(LibraryAction::Kind(kind_from_value(&web::target_value(
                event.target(),
            ))))
        })
    };
    let on_category = {
        let dispatcher = state.dispatcher();
        Callback::from(move |event: Event| {
            dispatcher.dispatch(LibraryAction::Category(Some(web::target_value(
                event.target(),
            ))))
        })
    };
    let on_tag = {
        let dispatcher = state.dispatcher();
        Callback::from(move |event: Event| {
            dispatcher.dispatch(LibraryAction::Tag(Some(web::target_value(event.target()))))
        })
    };
    let (categories, tags) = state
        .library
        .as_ref()
        .map(|library| (library.categories.clone(), library.tags.clone()))
        .unwrap_or_default();
    let count = state.library.as_ref().map(|library| {
        if library.flows.len() == library.total {
            format!("{} flows", library.total)
        } else {
            format!("{} of {} flows", library.flows.len(), library.total)
        }
    });
    let body = match (&state.library, &state.error) {
        (_, Some(error)) => html! {
            <Empty title="The library could not load."><p>{ error }</p></Empty>
        },
        (None, None) => html! { <Loading /> },
        (Some(library), None) if library.total == 0 => html! {
            <Empty title="No flows yet">
                <p>{ "Import a folder with " }<code>{ "rf flow import" }</code>{ " or sign in to your team." }</p>
            </Empty>
        },
        (Some(library), None) if library.flows.is_empty() => html! {
            <Empty title="Nothing matches">
                <p>{ "Try fewer words, or clear the filters." }</p>
            </Empty>
        },
        (Some(library), None) => html! {
            <ul class="flow-rows" role="list">
                { for library.flows.iter().enumerate().map(|(index, entry)| html! {
                    <FlowRow key={entry.flow.id.to_string()} entry={entry.clone()}
                        selected={state.selected == Some(index)} open={open.clone()}
                        on_pin={pin_callback(&app, &state)} />
                }) }
            </ul>
        },
    };
    let kind_value = state.filter.kind.map(FlowKind::as_str).unwrap_or("");
    let category_value = state.filter.category.clone().unwrap_or_default();
    let tag_value = state.filter.tag.clone().unwrap_or_default();
    html! {
        <section id="library" class="page">
            <header class="page-header">
                <h1>{ "Library" }</h1>
                if let Some(count) = count { <span class="page-count">{ count }</span> }
            </header>
            <div class="toolbar">
                <label class="search-box">
                    <Svg icon={Icon::Search} size={16} />
                    <input id={(!props.embedded).then_some("search")} type="search"
                        placeholder="Search titles, steps, commands, tags…" aria-label="Search the library"
                        autocomplete="off" spellcheck="false" value={state.filter.text.clone()}
                        {oninput} {onkeydown} />
                </label>
                <select aria-label="Kind" onchange={on_kind}>
                    <option value="" selected={kind_value.is_empty()}>{ "Any kind" }</option>
                    { for [FlowKind::Troubleshooting, FlowKind::Procedural, FlowKind::Maintenance].into_iter().map(|kind| html! {
                        <option value={kind.as_str()} selected={kind_value == kind.as_str()}>{ kind_label(kind) }</option>
                    }) }
                </select>
                <select aria-label="Category" onchange={on_category}>
                    <option value="" selected={category_value.is_empty()}>{ "Any category" }</option>
                    { for categories.iter().map(|category| html! {
                        <option value={category.clone()} selected={*category == category_value}>{ category }</option>
                    }) }
                </select>
                <select aria-label="Tag" onchange={on_tag}>
                    <option value="" selected={tag_value.is_empty()}>{ "Any tag" }</option>
                    { for tags.iter().map(|tag| html! {
                        <option value={tag.clone()} selected={*tag == tag_value}>{ tag }</option>
                    }) }
                </select>
            </div>
            <FolderProblems changed={changed} />
            { body }
        </section>
    }
}

#[derive(Debug, Properties, PartialEq)]
struct FolderProblemsProps {
    /// Bumped when flows changed, so the list is read again.
    changed: u64,
}

/// Files in the watched flows folder that could not be imported, each with every problem.
#[function_component]
fn FolderProblems(props: &FolderProblemsProps) -> Html {
    let folder = use_state(FlowFolder::default);
    {
        let folder = folder.clone();
        use_effect_with(props.changed, move |_| {
            web::spawn(async move {
                if let Ok(now) = bridge::call::<LoadFlowFolder>(&()).await {
                    folder.set(now);
                }
            });
        });
    }
    let dir = folder.dir.clone().unwrap_or_default();
    html! {
        <>
            if let Some(problem) = folder.problem.clone() {
                <Banner text={problem} />
            }
            if !folder.invalid.is_empty() {
                <div id="folder-problems" class="banner warning" role="alert">
                    <Svg icon={Icon::Alert} size={18} />
                    <div class="banner-text">
                        <p>{ format!(
                            "{} in the flows folder {} could not be imported; fix {} and save again:",
                            if folder.invalid.len() == 1 { "One file".to_owned() } else { format!("{} files", folder.invalid.len()) },
                            dir,
                            if folder.invalid.len() == 1 { "it" } else { "them" },
                        ) }</p>
                        { for folder.invalid.iter().map(|file| html! {
                            <div class="folder-file" data-path={file.path.clone()}>
                                <code>{ &file.path }</code>
                                <ul>
                                    { for file.problems.iter().map(|problem| html! { <li>{ problem }</li> }) }
                                </ul>
                            </div>
                        }) }
                    </div>
                </div>
            }
        </>
    }
}

fn pin_callback(
    app: &AppContext,
    state: &UseReducerHandle<LibraryState>,
) -> Callback<(Uuid, bool)> {
    let app = app.clone();
    let dispatcher = state.dispatcher();
    Callback::from(move |(flow_id, pinned): (Uuid, bool)| {
        dispatcher.dispatch(LibraryAction::Pinned(flow_id, pinned));
        let (app, dispatcher) = (app.clone(), dispatcher.clone());
        web::spawn(async move {
            if let Err(error) = bridge::call::<SetPin>(&SetPinArgs { flow_id, pinned }).await {
                dispatcher.dispatch(LibraryAction::Pinned(flow_id, !pinned));
                app.failed(error);
            }
        });
    })
}

#[derive(Debug, Properties, PartialEq)]
struct FlowRowProps {
    entry: LibraryEntry,
    selected: bool,
    open: Callback<Uuid>,
    on_pin: Callback<(Uuid, bool)>,
}

#[function_component]
fn FlowRow(props: &FlowRowProps) -> Html {
    let flow = &props.entry.flow;
    let id = flow.id;
    let pinned = flow.pinned;
    let open = {
        let open = props.open.clone();
        Callback::from(move |_| open.emit(id))
    };
    let pin = {
        let on_pin = props.on_pin.clone();
        Callback::from(move |_| on_pin.emit((id, !pinned)))
    };
    let pin_label = if pinned {
        format!("Unpin {}", flow.title)
    } else {
        format!("Pin {}", flow.title)
    };
    html! {
        <li class={classes!("flow-row", props.selected.then_some("selected"))} data-flow-title={flow.title.clone()}
            aria-selected={props.selected.then_some("true")}>
            <button class="flow-row-main" onclick={open}>
                <span class={classes!("flow-row-icon", flow.kind.as_str())} aria-hidden="true"><Svg icon={Icon::of_kind(flow.kind)} size={18} /></span>
                <span class="flow-row-text">
                    <span class="flow-row-title">{ &flow.title }</span>
                    <span class="flow-row-meta">
                        { flow_meta(flow) }
                        { for flow.tags.iter().take(MAX_TAGS).map(|tag| html! { <span class="tag">{ tag }</span> }) }
                        if flow.tags.len() > MAX_TAGS { <span class="tag">{ format!("+{}", flow.tags.len() - MAX_TAGS) }</span> }
                    </span>
                    if !props.entry.snippet.is_empty() {
                        <span class="snippet">
                            { for snippet_parts(&props.entry.snippet).into_iter().map(|(text, matched)| {
                                if matched { html! { <mark>{ text }</mark> } } else { html! { { text } } }
                            }) }
                        </span>
                    }
                </span>
            </button>
            <button class={classes!("pin", pinned.then_some("pinned"))} aria-pressed={pinned.to_string()}
                aria-label={pin_label.clone()} title={pin_label} onclick={pin}>
                <Svg icon={Icon::Pin} size={16} />
            </button>
        </li>
    }
}
