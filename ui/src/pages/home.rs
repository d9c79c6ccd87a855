//! Home: the search box, sessions handed to the engineer, pinned and recent flows, and
//! sessions still in progress.

use rf_app_api::commands::{LoadHome, LoadLibrary};
use rf_app_api::{CommandError, FlowSummary, Home, LibraryFilter};
use yew::prelude::*;

use crate::bridge;
use crate::components::common::{Empty, FlowCard, Loading};
use crate::components::icons::{Icon, Svg};
use crate::hooks::{use_app, use_data_changed};
use crate::state::app::Route;
use crate::state::status::relative_text;
use crate::web;

/// How many library flows the home screen offers when little is pinned or recent.
const BROWSE: usize = 6;

#[derive(Debug, Clone, PartialEq)]
struct HomeData {
    home: Home,
    /// A few library flows not already shown, and the library's size.
    browse: Vec<FlowSummary>,
    total: usize,
}

#[function_component]
pub fn HomePage() -> Html {
    let app = use_app();
    let changed = use_data_changed(|changed| changed.flows || changed.sessions);
    let data = use_state(|| None::<Result<HomeData, CommandError>>);
    {
        let data = data.clone();
        use_effect_with(changed, move |_| {
            web::spawn(async move {
                let home = match bridge::call::<LoadHome>(&()).await {
                    Ok(home) => home,
                    Err(error) => return data.set(Some(Err(error))),
                };
                let library = bridge::call::<LoadLibrary>(&LibraryFilter::default())
                    .await
                    .unwrap_or_default();
                let shown = |id| {
                    home.pinned.iter().any(|flow| flow.id == id)
                        || home.recent.iter().any(|flow| flow.id == id)
                };
                let browse = library
                    .flows
                    .into_iter()
                    .map(|entry| entry.flow)
                    .filter(|flow| !shown(flow.id))
                    .take(BROWSE)
                    .collect();
                data.set(Some(Ok(HomeData {
                    home,
                    browse,
                    total: library.total,
                })));
            });
        });
    }

    let oninput = {
        let app = app.clone();
        Callback::from(move |event: InputEvent| {
            let text = web::target_value(event.target());
            app.navigate(Route::Library(text));
        })
    };
    let body = match &*data {
        None => html! { <Loading /> },
        Some(Err(error)) => html! {
            <Empty title="The home screen could not load.">
                <p>{ &error.message }</p>
            </Empty>
        },
        Some(Ok(data)) => render_home(&app, data),
    };
    html! {
        <section id="home" class="page">
            <header class="page-header">
                <h1>{ "Home" }</h1>
            </header>
            <label class="search-box big">
                <Svg icon={Icon::Search} size={18} />
                <input id="search" type="search" placeholder="Search flows, commands, tags…"
                    aria-label="Search flows" autocomplete="off" spellcheck="false" {oninput} />
                <kbd class="hint">{ "/" }</kbd>
            </label>
            { body }
        </section>
    }
}

/// Sessions to open in the runner, each with what opening it does ("Resume", "Take over").
fn session_list(
    app: &crate::hooks::AppContext,
    sessions: &[rf_app_api::SessionSummary],
    action: &'static str,
    now: time::OffsetDateTime,
) -> Html {
    html! {
        <ul class="session-list">
            { for sessions.iter().map(|session| {
                let app = app.clone();
                let id = session.id;
                html! {
                    <li key={id.to_string()}>
                        <button class="session-row resume" data-session-id={id.to_string()}
                            onclick={Callback::from(move |_| app.navigate(Route::Runner(id)))}>
                            <span class="session-main">
                                <span class="session-title">{ &session.flow_title }</span>
                                <span class="session-meta">
                                    if !session.ticket.is_empty() { <span class="mono">{ &session.ticket }</span>{ " · " } }
                                    if !session.client.is_empty() { { &session.client }{ " · " } }
                                    if action == "Take over" { { "from " }{ &session.engineer }{ " · " } }
                                    { relative_text(&session.updated_at, now) }
                                </span>
                            </span>
                            <span class="resume-label">{ action }<Svg icon={Icon::ChevronRight} size={16} /></span>
                        </button>
                    </li>
                }
            }) }
        </ul>
    }
}

fn render_home(app: &crate::hooks::AppContext, data: &HomeData) -> Html {
    let home = &data.home;
    if data.total == 0 && home.pinned.is_empty() && home.recent.is_empty() {
        return html! {
            <Empty title="No flows yet">
                <p>{ "Import a folder with " }<code>{ "rf flow import" }</code>{ " or sign in to your team." }</p>
            </Empty>
        };
    }
    let cards = |flows: &[FlowSummary]| {
        html! {
            <div class="card-grid">
                { for flows.iter().map(|flow| html! { <FlowCard key={flow.id.to_string()} flow={flow.clone()} /> }) }
            </div>
        }
    };
    let now = web::now();
    html! {
        <>
            if !home.handed_to_me.is_empty() {
                <section class="home-section handed" aria-labelledby="handed-title">
                    <h2 id="handed-title">{ "Handed to you" }</h2>
                    { session_list(app, &home.handed_to_me, "Take over", now) }
                </section>
            }
            if !home.in_progress.is_empty() {
                <section class="home-section" aria-labelledby="in-progress-title">
                    <h2 id="in-progress-title">{ "In progress" }</h2>
                    { session_list(app, &home.in_progress, "Resume", now) }
                </section>
            }
            if !home.pinned.is_empty() {
                <section class="home-section" aria-labelledby="pinned-title">
                    <h2 id="pinned-title">{ "Pinned" }</h2>
                    { cards(&home.pinned) }
                </section>
            }
            if !home.recent.is_empty() {
                <section class="home-section" aria-labelledby="recent-title">
                    <h2 id="recent-title">{ "Recent" }</h2>
                    { cards(&home.recent) }
                </section>
            }
            if !data.browse.is_empty() {
                <section class="home-section" aria-labelledby="browse-title">
                    <h2 id="browse-title">{ "From the library" }</h2>
                    { cards(&data.browse) }
                </section>
            }
        </>
    }
}
