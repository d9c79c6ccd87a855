//! The root component: the frame, the screen for the route, the app-wide events (`navigate`,
//! `notice`) and the app-wide keys (`/`, Ctrl+K, `?`, Esc).

use rf_app_api::commands::{LoadTheme, Painted, TakeLink};
use rf_app_api::events::{Navigate, Notice};
use yew::prelude::*;

use crate::bridge;
use crate::components::launcher::QuickLauncher;
use crate::components::shell::{Banner, Rail, ShortcutsOverlay, StatusBar, Toasts};
use crate::hooks::AppContext;
use crate::pages::conflicts::ConflictsPage;
use crate::pages::flow_detail::FlowDetailPage;
use crate::pages::home::HomePage;
use crate::pages::library::LibraryPage;
use crate::pages::runner::RunnerPage;
use crate::pages::session_detail::SessionDetailPage;
use crate::pages::sessions::SessionsPage;
use crate::pages::settings::SettingsPage;
use crate::pages::start::StartPage;
use crate::state::app::{AppAction, AppState, Route, Tone};
use crate::web;

#[function_component]
pub fn App() -> Html {
    let state = use_reducer(AppState::default);
    let dispatch = {
        let dispatcher = state.dispatcher();
        use_callback((), move |action: AppAction, _| dispatcher.dispatch(action))
    };
    let context = AppContext {
        dispatch: dispatch.clone(),
    };

    // Events for the whole app: links and the tray ask to show something; notices are toasts.
    {
        let dispatch = dispatch.clone();
        use_effect_with((), move |_| {
            let navigate = {
                let dispatch = dispatch.clone();
                bridge::listen::<Navigate>(move |link| dispatch.emit(AppAction::Follow(link)))
            };
            let notice = {
                let dispatch = dispatch.clone();
                bridge::listen::<Notice>(move |text| {
                    dispatch.emit(AppAction::Toast(text, Tone::Info))
                })
            };
            if bridge::in_app() {
                // Listening now: the link the app was started with (or that came before the
                // page was ready) is handed over once; later ones arrive as `navigate`.
                let dispatch = dispatch.clone();
                web::spawn(async move {
                    // The chosen theme first, so the window never shows in the wrong one.
                    match bridge::call::<LoadTheme>(&()).await {
                        Ok(theme) => web::set_theme(theme),
                        Err(error) => {
                            web::log(&format!("the theme could not be read: {}", error.message))
                        }
                    }
                    // Rendered: the shell shows the window it kept hidden (no blank flash).
                    if let Err(error) = bridge::call::<Painted>(&()).await {
                        web::log(&format!(
                            "could not tell the app the page is up: {}",
                            error.message
                        ));
                    }
                    match bridge::call::<TakeLink>(&()).await {
                        Ok(Some(link)) => dispatch.emit(AppAction::Follow(link)),
                        Ok(None) => {}
                        Err(error) => dispatch.emit(AppAction::Toast(error.message, Tone::Error)),
                    }
                });
            } else {
                dispatch.emit(AppAction::Banner(
                    "Open this page in the ResolutionFlow app: it reads your flows and sessions through the app, so a browser shows nothing here."
                        .to_owned(),
                ));
            }
            move || drop((navigate, notice))
        });
    }

    // App-wide keys. The runner handles its own (and `?` there).
    {
        let (dispatch, route) = (dispatch.clone(), state.route.clone());
        let overlay_open = state.launcher_open || state.shortcuts_open;
        use_effect_with((route, overlay_open), move |(route, overlay_open)| {
            let (route, overlay_open) = (route.clone(), *overlay_open);
            let listener = web::on_keydown(move |event| {
                let key = event.key();
                let control = event.ctrl_key() || event.meta_key();
                if control && key.eq_ignore_ascii_case("k") {
                    event.prevent_default();
                    dispatch.emit(AppAction::OpenLauncher);
                    return;
                }
                if key == "Escape" {
                    if overlay_open {
                        event.prevent_default();
                        dispatch.emit(AppAction::Escape);
                    } else if !matches!(route, Route::Runner(_))
                        && web::is_text_field(event.target())
                    {
                        web::blur_active();
                    }
                    return;
                }
                if control || event.alt_key() || web::is_text_field(event.target()) {
                    return;
                }
                match key.as_str() {
                    "/" => {
                        event.prevent_default();
                        if web::exists("search") {
                            web::focus_end("search");
                        } else {
                            dispatch.emit(AppAction::Navigate(Route::Library(String::new())));
                        }
                    }
                    "?" if !matches!(route, Route::Runner(_)) => {
                        event.prevent_default();
                        dispatch.emit(AppAction::ToggleShortcuts);
                    }
                    _ => {}
                }
            });
            move || drop(listener)
        });
    }

    let page = match &state.route {
        Route::Home => html! { <HomePage /> },
        Route::Library(text) => html! { <LibraryPage text={text.clone()} /> },
        Route::Flow(id) => html! { <FlowDetailPage id={*id} /> },
        Route::Start(target) => html! { <StartPage target={target.clone()} /> },
        Route::Runner(id) => html! { <RunnerPage id={*id} /> },
        Route::SessionDetail(id) => html! { <SessionDetailPage id={*id} /> },
        Route::Sessions => html! { <SessionsPage /> },
        Route::Settings => html! { <SettingsPage /> },
        Route::Conflicts => html! { <ConflictsPage /> },
    };
    let dismiss_banner = {
        let dispatch = dispatch.clone();
        Callback::from(move |_| dispatch.emit(AppAction::DismissBanner))
    };
    html! {
        <ContextProvider<AppContext> context={context}>
            <div class="shell">
                <Rail section={state.route.section()} />
                <main class="main" id="main">
                    if let Some(banner) = &state.banner {
                        <Banner text={banner.clone()} on_dismiss={dismiss_banner} />
                    }
                    <div class="screen" key={state.route.key()}>{ page }</div>
                </main>
                <StatusBar />
                <Toasts toasts={state.toasts.clone()} />
                if state.launcher_open { <QuickLauncher /> }
                if state.shortcuts_open { <ShortcutsOverlay /> }
            </div>
        </ContextProvider<AppContext>>
    }
}
