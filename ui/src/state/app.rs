//! The application's own state: which screen shows, the toasts, the lasting banner and the
//! quick launcher. Screens keep their own state; this is what lives above them.

use std::collections::BTreeMap;
use std::rc::Rc;

use rf_app_api::links::Link;
use rf_app_api::{CommandError, ErrorKind};
use uuid::Uuid;
use yew::Reducible;

/// The screens of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Home,
    /// The library, its search box holding this text.
    Library(String),
    Flow(Uuid),
    Start(StartTarget),
    /// The runner (a finished session is shown as its detail).
    Runner(Uuid),
    SessionDetail(Uuid),
    Sessions,
    Settings,
    Conflicts,
}

impl Route {
    /// The rail item this screen belongs to.
    pub fn section(&self) -> Section {
        match self {
            Route::Home | Route::Start(_) => Section::Home,
            Route::Library(_) | Route::Flow(_) => Section::Library,
            Route::Runner(_) | Route::SessionDetail(_) | Route::Sessions => Section::Sessions,
            Route::Settings => Section::Settings,
            Route::Conflicts => Section::Library,
        }
    }

    /// A key that changes whenever a different screen (or a different item) shows, so the
    /// screen component is mounted afresh.
    pub fn key(&self) -> String {
        match self {
            Route::Home => "home".into(),
            Route::Library(_) => "library".into(),
            Route::Flow(id) => format!("flow-{id}"),
            Route::Start(target) => format!("start-{:?}", target.flow),
            Route::Runner(id) => format!("runner-{id}"),
            Route::SessionDetail(id) => format!("detail-{id}"),
            Route::Sessions => "sessions".into(),
            Route::Settings => "settings".into(),
            Route::Conflicts => "conflicts".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Library,
    Sessions,
    Settings,
}

/// The flow the start screen is for, and what to prefill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartTarget {
    pub flow: FlowName,
    pub ticket: String,
    pub client: String,
    pub variables: BTreeMap<String, String>,
}

impl StartTarget {
    pub fn flow(id: Uuid) -> StartTarget {
        StartTarget {
            flow: FlowName::Id(id),
            ..StartTarget::default()
        }
    }
}

/// A flow known by id, or named by a link (id, unique id prefix or exact title).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowName {
    Id(Uuid),
    Named(String),
}

impl Default for FlowName {
    fn default() -> Self {
        FlowName::Named(String::new())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub id: u64,
    pub text: String,
    pub tone: Tone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Success,
    Error,
}

/// The most toasts shown at once; older ones leave first.
pub const MAX_TOASTS: usize = 4;

pub const NEWER_SCHEMA_BANNER: &str =
    "This data was written by a newer ResolutionFlow — update the app to keep working with it.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppState {
    pub route: Route,
    pub toasts: Vec<Toast>,
    next_toast: u64,
    /// A problem that lasts until it is fixed (shown above every screen).
    pub banner: Option<String>,
    pub launcher_open: bool,
    pub shortcuts_open: bool,
}

impl Default for AppState {
    fn default() -> Self {
        AppState {
            route: Route::Home,
            toasts: Vec::new(),
            next_toast: 1,
            banner: None,
            launcher_open: false,
            shortcuts_open: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AppAction {
    Navigate(Route),
    /// A `navigate` event from the shell.
    Follow(Link),
    Toast(String, Tone),
    /// A failed command nobody handled inline.
    Failed(CommandError),
    DismissToast(u64),
    Banner(String),
    DismissBanner,
    OpenLauncher,
    CloseLauncher,
    ToggleShortcuts,
    /// Esc pressed with nothing else to close.
    Escape,
}

impl AppState {
    pub fn apply(mut self, action: AppAction) -> AppState {
        match action {
            AppAction::Navigate(route) => {
                self.route = route;
                self.launcher_open = false;
                self.shortcuts_open = false;
            }
            AppAction::Follow(link) => match link {
                Link::Run {
                    flow,
                    ticket,
                    client,
                    variables,
                } => {
                    let flow = match Uuid::parse_str(flow.trim()) {
                        Ok(id) => FlowName::Id(id),
                        Err(_) => FlowName::Named(flow),
                    };
                    self.route = Route::Start(StartTarget {
                        flow,
                        ticket,
                        client,
                        variables,
                    });
                    self.launcher_open = false;
                }
                Link::Session { id } => {
                    self.route = Route::Runner(id);
                    self.launcher_open = false;
                }
                Link::QuickLaunch => self.launcher_open = true,
            },
            AppAction::Toast(text, tone) => self.push_toast(text, tone),
            AppAction::Failed(error) => match error.kind {
                ErrorKind::NewerSchema => self.banner = Some(NEWER_SCHEMA_BANNER.to_owned()),
                _ => self.push_toast(error.message, Tone::Error),
            },
            AppAction::DismissToast(id) => self.toasts.retain(|toast| toast.id != id),
            AppAction::Banner(text) => self.banner = Some(text),
            AppAction::DismissBanner => self.banner = None,
            AppAction::OpenLauncher => {
                self.launcher_open = true;
                self.shortcuts_open = false;
            }
            AppAction::CloseLauncher => self.launcher_open = false,
            AppAction::ToggleShortcuts => self.shortcuts_open = !self.shortcuts_open,
            AppAction::Escape => {
                self.launcher_open = false;
                self.shortcuts_open = false;
            }
        }
        self
    }

    fn push_toast(&mut self, text: String, tone: Tone) {
        // The same words twice in a row (a retry failing again) show once.
        if self.toasts.last().is_some_and(|last| last.text == text) {
            return;
        }
        self.toasts.push(Toast {
            id: self.next_toast,
            text,
            tone,
        });
        self.next_toast += 1;
        if self.toasts.len() > MAX_TOASTS {
            let excess = self.toasts.len() - MAX_TOASTS;
            self.toasts.drain(..excess);
        }
    }
}

impl Reducible for AppState {
    type Action = AppAction;

    fn reduce(self: Rc<Self>, action: AppAction) -> Rc<Self> {
        Rc::new((*self).clone().apply(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_link_opens_the_start_screen_prefilled() {
        let state = AppState {
            launcher_open: true,
            ..AppState::default()
        }
        .apply(AppAction::Follow(Link::Run {
            flow: "File share access".into(),
            ticket: "T-1".into(),
            client: "Acme".into(),
            variables: [("share".to_string(), "x".to_string())].into(),
        }));
        let Route::Start(target) = &state.route else {
            panic!("not the start screen: {:?}", state.route);
        };
        assert_eq!(target.flow, FlowName::Named("File share access".into()));
        assert_eq!(target.ticket, "T-1");
        assert_eq!(target.variables.get("share").map(String::as_str), Some("x"));
        assert!(!state.launcher_open);

        let id = Uuid::from_u128(7);
        let state = state.apply(AppAction::Follow(Link::Run {
            flow: id.to_string(),
            ticket: String::new(),
            client: String::new(),
            variables: BTreeMap::new(),
        }));
        assert_eq!(state.route, Route::Start(StartTarget::flow(id)));
    }

    #[test]
    fn quick_launch_and_session_links() {
        let state = AppState::default().apply(AppAction::Follow(Link::QuickLaunch));
        assert!(state.launcher_open);
        assert_eq!(state.route, Route::Home);
        let state = state.apply(AppAction::Escape);
        assert!(!state.launcher_open);
        let id = Uuid::from_u128(9);
        let state = state.apply(AppAction::Follow(Link::Session { id }));
        assert_eq!(state.route, Route::Runner(id));
        assert_eq!(state.route.section(), Section::Sessions);
    }

    #[test]
    fn newer_schema_is_a_banner_and_other_failures_are_toasts() {
        let state = AppState::default().apply(AppAction::Failed(CommandError::new(
            ErrorKind::NewerSchema,
            "schema 9 > 4",
        )));
        assert_eq!(state.banner.as_deref(), Some(NEWER_SCHEMA_BANNER));
        assert!(state.toasts.is_empty());
        let state = state.apply(AppAction::Failed(CommandError::new(
            ErrorKind::NotFound,
            "no such flow",
        )));
        assert_eq!(state.toasts.len(), 1);
        assert_eq!(state.toasts[0].tone, Tone::Error);
    }

    #[test]
    fn toasts_are_capped_and_repeats_collapse() {
        let mut state = AppState::default();
        for index in 0..6 {
            state = state.apply(AppAction::Toast(format!("notice {index}"), Tone::Info));
        }
        state = state.apply(AppAction::Toast("notice 5".into(), Tone::Info));
        let texts: Vec<&str> = state
            .toasts
            .iter()
            .map(|toast| toast.text.as_str())
            .collect();
        assert_eq!(texts, ["notice 2", "notice 3", "notice 4", "notice 5"]);
        let first = state.toasts[0].id;
        state = state.apply(AppAction::DismissToast(first));
        assert_eq!(state.toasts.len(), 3);
    }
}
