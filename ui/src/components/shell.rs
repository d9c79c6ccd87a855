//! The frame around every screen: the left rail, the status bar, toasts, the banner and the
//! shortcuts overlay.

use std::cell::Cell;
use std::rc::Rc;

use gloo_timers::callback::{Interval, Timeout};
use rf_app_api::commands::{Status, SyncNow};
use rf_app_api::events::{StatusChanged, SyncStatus};
use yew::prelude::*;

use crate::bridge;
use crate::components::icons::{Icon, Svg};
use crate::hooks::use_app;
use crate::state::app::{AppAction, Route, Section, Toast, Tone};
use crate::state::status::{Connection, status_line};
use crate::web;

#[derive(Debug, Properties, PartialEq)]
pub struct RailProps {
    pub section: Section,
}

#[function_component]
pub fn Rail(props: &RailProps) -> Html {
    let app = use_app();
    let item = |section: Section, route: Route, icon: Icon, label: &'static str| {
        let app = app.clone();
        let current = props.section == section;
        html! {
            <button class={classes!("rail-item", current.then_some("current"))}
                aria-label={label} title={label}
                aria-current={current.then_some("page")}
                onclick={Callback::from(move |_| app.navigate(route.clone()))}>
                <Svg icon={icon} size={22} />
                <span class="rail-label">{ label }</span>
            </button>
        }
    };
    html! {
        <nav class="rail" aria-label="Main">
            <div class="rail-mark" aria-hidden="true">{ "RF" }</div>
            { item(Section::Home, Route::Home, Icon::Home, "Home") }
            { item(Section::Library, Route::Library(String::new()), Icon::Library, "Library") }
            { item(Section::Sessions, Route::Sessions, Icon::Sessions, "Sessions") }
            <div class="rail-spacer" />
            { item(Section::Settings, Route::Settings, Icon::Settings, "Settings") }
            <button class="rail-item" aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)"
                onclick={let app = app.clone(); Callback::from(move |_| app.dispatch.emit(AppAction::ToggleShortcuts))}>
                <Svg icon={Icon::Keyboard} size={22} />
            </button>
        </nav>
    }
}

/// The bar at the bottom: connection, last sync, pending changes, conflicts, "Sync now".
#[function_component]
pub fn StatusBar() -> Html {
    let app = use_app();
    let status = use_state(|| None::<SyncStatus>);
    let now = use_state(web::now);
    {
        let status = status.clone();
        use_effect_with((), move |_| {
            // Subscribe first, then ask: an event that lands meanwhile is newer than the answer.
            let heard = Rc::new(Cell::new(false));
            let subscription = {
                let (status, heard) = (status.clone(), heard.clone());
                bridge::listen::<StatusChanged>(move |update| {
                    heard.set(true);
                    status.set(Some(update));
                })
            };
            if bridge::in_app() {
                web::spawn(async move {
                    if let Ok(now) = bridge::call::<Status>(&()).await
                        && !heard.get()
                    {
                        status.set(Some(now));
                    }
                });
            }
            move || drop(subscription)
        });
    }
    {
        let now = now.clone();
        use_effect_with((), move |_| {
            let ticker = Interval::new(30_000, move || now.set(web::now()));
            move || drop(ticker)
        });
    }
    let sync_now = {
        let app = app.clone();
        Callback::from(move |_| {
            let app = app.clone();
            web::spawn(async move {
                if let Err(error) = bridge::call::<SyncNow>(&()).await {
                    app.failed(error);
                }
            });
        })
    };
    let line = status.as_ref().map(|status| status_line(status, *now));
    let connection = line
        .as_ref()
        .map(|line| line.connection)
        .unwrap_or(Connection::Offline);
    let title =
        line.as_ref()
            .and_then(|line| line.last_error.clone())
            .map(|error| match connection {
                Connection::SignInNeeded | Connection::Stopped => error,
                _ => format!("Last sync failed: {error}"),
            });
    html! {
        <footer id="status-bar" data-state={connection.attribute()} role="status" title={title}>
            <span class="status-dot" aria-hidden="true" />
            <span class="status-connection">{ connection.label() }</span>
            if let Some(synced) = line.as_ref().and_then(|line| line.synced.clone()) {
                <span class="status-sep" aria-hidden="true">{ "·" }</span>
                <span class="status-synced">{ synced }</span>
            }
            if let Some(pending) = line.as_ref().and_then(|line| line.pending.clone()) {
                <span class="status-sep" aria-hidden="true">{ "·" }</span>
                <span class="status-pending">{ pending }</span>
            }
            if let Some(conflicts) = line.as_ref().and_then(|line| line.conflicts.clone()) {
                <span class="status-sep" aria-hidden="true">{ "·" }</span>
                <button class="status-conflicts link-button" id="status-conflicts" title="Open the conflicts"
                    onclick={let app = app.clone(); Callback::from(move |_| app.navigate(Route::Conflicts))}>
                    { conflicts }
                </button>
            }
            if let Some(problem) = line.as_ref().and_then(|line| line.problem.clone()) {
                <span class="status-sep" aria-hidden="true">{ "·" }</span>
                <span class="status-problem" id="status-problem">{ problem }</span>
            }
            <span class="status-spacer" />
            if connection == Connection::SignInNeeded {
                <button class="status-sync" id="status-sign-in"
                    onclick={let app = app.clone(); Callback::from(move |_| app.navigate(Route::Settings))}>
                    { "Sign in…" }
                </button>
            }
            <button class="status-sync" onclick={sync_now}
                disabled={connection == Connection::Syncing}
                aria-label="Sync now">
                <Svg icon={Icon::Sync} size={14} />
                { "Sync now" }
            </button>
        </footer>
    }
}

#[derive(Debug, Properties, PartialEq)]
pub struct ToastsProps {
    pub toasts: Vec<Toast>,
}

#[function_component]
pub fn Toasts(props: &ToastsProps) -> Html {
    html! {
        <div id="toasts" aria-live="polite">
            { for props.toasts.iter().map(|toast| html! { <ToastItem key={toast.id} toast={toast.clone()} /> }) }
        </div>
    }
}

#[derive(Debug, Properties, PartialEq)]
struct ToastProps {
    toast: Toast,
}

#[function_component]
fn ToastItem(props: &ToastProps) -> Html {
    let app = use_app();
    let id = props.toast.id;
    {
        let app = app.clone();
        let linger = if props.toast.tone == Tone::Error {
            8_000
        } else {
            4_000
        };
        use_effect_with(id, move |_| {
            let timeout = Timeout::new(linger, move || {
                app.dispatch.emit(AppAction::DismissToast(id))
            });
            move || drop(timeout)
        });
    }
    let tone = match props.toast.tone {
        Tone::Info => "info",
        Tone::Success => "success",
        Tone::Error => "error",
    };
    html! {
        <div class={classes!("toast", tone)} role={(props.toast.tone == Tone::Error).then_some("alert")}>
            if props.toast.tone == Tone::Success { <Svg icon={Icon::Check} size={16} /> }
            if props.toast.tone == Tone::Error { <Svg icon={Icon::Alert} size={16} /> }
            <span>{ &props.toast.text }</span>
            <button class="icon-button" aria-label="Dismiss"
                onclick={Callback::from(move |_| app.dispatch.emit(AppAction::DismissToast(id)))}>
                <Svg icon={Icon::Close} size={14} />
            </button>
        </div>
    }
}

#[derive(Debug, Properties, PartialEq)]
pub struct BannerProps {
    pub text: AttrValue,
    #[prop_or_default]
    pub tone: Option<&'static str>,
    #[prop_or_default]
    pub on_dismiss: Option<Callback<()>>,
    #[prop_or_default]
    pub children: Html,
}

/// A lasting problem, with what to do about it.
#[function_component]
pub fn Banner(props: &BannerProps) -> Html {
    html! {
        <div class={classes!("banner", props.tone.unwrap_or("warning"))} role="alert">
            <Svg icon={Icon::Alert} size={18} />
            <div class="banner-text">
                <p>{ &props.text }</p>
                { props.children.clone() }
            </div>
            if let Some(dismiss) = props.on_dismiss.clone() {
                <button class="icon-button" aria-label="Dismiss" onclick={Callback::from(move |_| dismiss.emit(()))}>
                    <Svg icon={Icon::Close} size={14} />
                </button>
            }
        </div>
    }
}

const SHORTCUTS: [(&str, &str); 11] = [
    ("/", "Search flows"),
    ("Ctrl K", "Quick launcher"),
    ("1 – 9", "Choose an answer"),
    ("n", "Write a note"),
    ("b", "Go back a step"),
    ("c", "Add a custom step"),
    ("f", "Finish the session"),
    ("Ctrl Enter", "Confirm from a text box"),
    ("↑ ↓ Enter", "Move and open in lists"),
    ("Esc", "Close, or leave a text box"),
    ("?", "Show these shortcuts"),
];

#[function_component]
pub fn ShortcutsOverlay() -> Html {
    let app = use_app();
    let close = Callback::from(move |_| app.dispatch.emit(AppAction::ToggleShortcuts));
    html! {
        <div class="scrim" onclick={close.clone()}>
            <div id="shortcuts" class="dialog shortcuts" role="dialog" aria-modal="true"
                aria-labelledby="shortcuts-title" onclick={Callback::from(|event: MouseEvent| event.stop_propagation())}>
                <header class="dialog-header">
                    <h2 id="shortcuts-title">{ "Keyboard shortcuts" }</h2>
                    <button class="icon-button" aria-label="Close" onclick={close}>
                        <Svg icon={Icon::Close} size={16} />
                    </button>
                </header>
                <dl class="shortcut-list">
                    { for SHORTCUTS.iter().map(|(keys, what)| html! {
                        <div class="shortcut">
                            <dt>{ for keys.split(' ').map(|key| html! { <kbd>{ key }</kbd> }) }</dt>
                            <dd>{ *what }</dd>
                        </div>
                    }) }
                </dl>
            </div>
        </div>
    }
}
