//! ResolutionFlow Desktop's Tauri shell: adapters and wiring only. The commands
//! (`commands.rs`) are a few lines each over rf-replica's services; the tray menu is a pure
//! function of the app's state (`tray.rs`); background sync is rf-replica's `Background` on its
//! own threads, reporting here through events. No SQL, rules or HTTP live in this crate.

#![forbid(unsafe_code)]

pub mod commands;
pub mod shell;
pub mod tray;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rf_app_api::events::{
    Changed, DataChanged, Event, FilesDropped, Navigate, Notice, StatusChanged, SyncStatus,
};
use rf_app_api::links::{self, Link};
use rf_app_api::{CommandError, ErrorKind};
use rf_replica::Replica;
use rf_replica::background::{Background, Progress, Schedule, reached_server};
use rf_replica::client::SyncReport;
use rf_replica::environment::{self, TokenStoreKind};
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::shell::{Effects, Shell, SyncLink};

/// The window the app opens (and the tray, links and a second launch bring back).
pub const MAIN_WINDOW: &str = "main";

/// Every command handler, registered under the names rf-app-api declares.
pub fn handler<R: Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        commands::status,
        commands::load_home,
        commands::load_library,
        commands::load_flow,
        commands::load_flow_version,
        commands::find_flow,
        commands::set_pin,
        commands::list_sessions,
        commands::start_session,
        commands::load_session,
        commands::act,
        commands::save_draft,
        commands::sync_now,
        commands::open_link,
        commands::copy_text,
        commands::take_link,
        commands::painted,
        commands::load_settings,
        commands::list_conflicts,
        commands::set_start_at_login,
        commands::set_shortcut,
        commands::export_flow,
        commands::attach_file,
        commands::pick_files,
        commands::resolve_conflict,
        commands::load_theme,
        commands::set_theme,
        commands::log_in,
        commands::log_out,
        commands::set_flows_dir,
        commands::load_flow_folder,
        commands::lookup_ticket,
        commands::list_ticket_posts,
        commands::post_to_ticket,
        commands::ask_pilot,
        commands::list_batches,
        commands::load_batch,
        commands::start_batch,
        commands::run_target,
        commands::list_target_lists,
        commands::save_target_list,
        commands::load_due_work,
        commands::list_team_members,
        commands::hand_off,
        commands::handed_to_me,
    ]
}

/// Links and switches in a launch's arguments: `resolutionflow://…` URLs and
/// `--quick-launch` (the binding for desktops where global shortcuts do not fire).
pub fn links_in(args: &[String]) -> Vec<Result<Link, String>> {
    args.iter()
        .filter_map(|arg| {
            if arg == "--quick-launch" {
                Some(Ok(Link::QuickLaunch))
            } else if arg.starts_with(links::SCHEME) && arg[links::SCHEME.len()..].starts_with(':')
            {
                Some(links::parse(arg))
            } else {
                None
            }
        })
        .collect()
}

/// Started at login: the app waits in the tray, its window hidden until asked for.
pub const START_HIDDEN: &str = "--hidden";

/// Parses a shortcut as the global-shortcut plugin reads it (`Ctrl+Alt+Space`).
pub fn parse_shortcut(text: &str) -> Result<tauri_plugin_global_shortcut::Shortcut, String> {
    text.parse::<tauri_plugin_global_shortcut::Shortcut>()
        .map_err(|error| error.to_string())
}

/// How long the window may stay hidden waiting for the page's first screen before it is
/// shown anyway (a page that failed to load must still be seen, with its error).
const PAINT_PATIENCE: Duration = Duration::from_secs(5);

/// Runs the app until it quits.
pub fn run() -> ExitCode {
    let started = Instant::now();
    let start_hidden = std::env::args().any(|arg| arg == START_HIDDEN);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RF_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opened = open_replica();
    let data_dir = opened.as_ref().ok().map(|(dir, _, _)| dir.clone());
    let tokens = opened.as_ref().ok().map(|(_, _, tokens)| *tokens);
    let shortcut = match &opened {
        Ok((_, replica, _)) => replica.shortcut().unwrap_or_default(),
        Err(_) => String::new(),
    };
    // RF_FLOWS_DIR, else the folder chosen in the settings.
    let flows_dir = match &opened {
        Ok((_, replica, _)) => environment::flows_dir(replica).unwrap_or_else(|error| {
            tracing::warn!("the flows folder setting could not be read: {error}");
            None
        }),
        Err(_) => None,
    };
    let replica = opened.map(|(_, replica, _)| Arc::new(Mutex::new(replica)));
    if let Err(problem) = &replica {
        tracing::error!("{problem}");
    }

    let mut builder = tauri::Builder::default();
    if session_bus_available() {
        // First among plugins: a second launch hands its arguments to this one and exits.
        builder = builder.plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            show_main_window(app);
            route_args(app, &argv);
        }));
    } else {
        tracing::warn!("no D-Bus session bus: a second launch opens a second window");
    }
    let result = builder
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![START_HIDDEN]),
        ))
        .invoke_handler(handler())
        .setup(move |app| {
            let handle = app.handle().clone();
            let desktop = Arc::new(Desktop::new(
                handle.clone(),
                replica.as_ref().ok().cloned(),
                started,
                start_hidden,
            ));
            desktop.start_shortcuts(&shortcut);
            let shell = Shell::new(replica.clone(), tokens.unwrap_or_default(), desktop.clone());
            let link = shell.link();
            app.manage(shell);
            desktop.rebuild_tray(&link);
            route_args(&handle, &args);
            if !start_hidden {
                show_if_never_painted(&handle);
            }
            if let (Some(data_dir), Some(folder)) = (&data_dir, &flows_dir) {
                watch_folder(&handle, data_dir, folder);
            }
            if let (Some(dir), Some(tokens)) = (data_dir.clone(), tokens) {
                match start_background(dir, tokens, desktop, link) {
                    Ok(background) => app.state::<Shell>().set_background(background),
                    Err(error) => tracing::error!("background sync did not start: {error}"),
                }
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps the app in the tray; Quit is in the tray menu.
            match event {
                tauri::WindowEvent::CloseRequested { api, .. } => {
                    api.prevent_close();
                    let _ = window.hide();
                }
                // Files dropped on the window: the screen on show decides what to do (the
                // runner attaches them to the step).
                tauri::WindowEvent::DragDrop(tauri::DragDropEvent::Drop { paths, .. }) => {
                    let paths: Vec<String> = paths
                        .iter()
                        .map(|path| path.display().to_string())
                        .collect();
                    if let Err(error) = window.emit(FilesDropped::NAME, &paths) {
                        tracing::warn!("could not tell the page of dropped files: {error}");
                    }
                }
                _ => {}
            }
        })
        .run(tauri::generate_context!());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("resolutionflow: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The replica the CLI uses (`RF_DATA_DIR`, else the platform's data directory), with the
/// token store `RF_TOKEN_STORE` names.
fn open_replica() -> Result<(PathBuf, Replica, TokenStoreKind), CommandError> {
    let dir = environment::data_dir()?;
    let tokens = TokenStoreKind::from_env()?;
    let replica = Replica::open(&dir).map_err(|error| {
        let mut problem = CommandError::from(error);
        if problem.kind != ErrorKind::NewerSchema {
            problem.message = format!(
                "cannot open the data in {}: {}",
                dir.display(),
                problem.message
            );
        }
        problem
    })?;
    Ok((dir, replica, tokens))
}

/// Whether the single-instance plugin can reach a session bus: without one it fails (it has
/// been reported to panic), so the app then runs without it.
fn session_bus_available() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|address| !address.is_empty())
        || std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|dir| PathBuf::from(dir).join("bus").exists())
}

fn route_args<R: Runtime>(app: &AppHandle<R>, args: &[String]) {
    let Some(shell) = app.try_state::<Shell>() else {
        return;
    };
    for link in links_in(args) {
        match link {
            Ok(link) => {
                show_main_window(app);
                shell.route(link);
            }
            Err(problem) => shell
                .effects()
                .notice(&format!("That link cannot be opened: {problem}")),
        }
    }
}

/// The window starts hidden and is shown when the page has rendered (`painted`); should the
/// page never say so, it is shown after [`PAINT_PATIENCE`] all the same.
fn show_if_never_painted<R: Runtime>(app: &AppHandle<R>) {
    let waiting = app.clone();
    let spawned = std::thread::Builder::new()
        .name("paint-patience".into())
        .spawn(move || {
            std::thread::sleep(PAINT_PATIENCE);
            let painted = waiting
                .try_state::<Shell>()
                .is_some_and(|shell| shell.has_painted());
            if !painted {
                tracing::warn!(
                    "the page did not render within {PAINT_PATIENCE:?}; showing the window anyway"
                );
                show_main_window(&waiting);
            }
        });
    if let Err(error) = spawned {
        tracing::warn!("showing the window at once ({error})");
        show_main_window(app);
    }
}

fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// Watches the flows folder; each pass reaches the shell (and through it the page).
fn watch_folder<R: Runtime>(
    app: &AppHandle<R>,
    data_dir: &std::path::Path,
    folder: &std::path::Path,
) {
    let Some(shell) = app.try_state::<Shell>() else {
        return;
    };
    shell.folder_is(folder);
    let handle = app.clone();
    let watch = rf_replica::folder::FolderWatch::spawn(data_dir, folder, move |pass| {
        if let Some(shell) = handle.try_state::<Shell>() {
            shell.folder_read(pass);
        }
    });
    shell.watching(folder, watch);
}

fn start_background<R: Runtime>(
    dir: PathBuf,
    tokens: TokenStoreKind,
    desktop: Arc<Desktop<R>>,
    link: Arc<SyncLink>,
) -> rf_replica::Result<Background> {
    Background::spawn(
        dir,
        tokens,
        environment::client_options(),
        Schedule::default(),
        move |progress| {
            match progress {
                Progress::Started => link.set_syncing(true),
                Progress::Finished(result) => {
                    link.set_syncing(false);
                    if let Some(online) = reached_server(result) {
                        link.set_online(Some(online));
                    }
                    link.round_finished(result);
                    match result {
                        Ok(report) => desktop.synced(report),
                        Err(error) => tracing::info!("sync round failed: {error}"),
                    }
                }
                Progress::NotLoggedIn => {
                    link.set_syncing(false);
                    link.set_online(None);
                }
            }
            desktop.rebuild_tray(&link);
        },
    )
}

/// Notices held at most while the page has not painted.
const HELD_NOTICES: usize = 20;

/// The effects over a real desktop: events to the page, the tray, the clipboard, the browser.
struct Desktop<R: Runtime> {
    app: AppHandle<R>,
    replica: Option<Arc<Mutex<Replica>>>,
    /// The tray as last built, so it is rebuilt only when it would differ.
    tray: Mutex<Option<tray::TrayModel>>,
    /// When the process started (the start-up time it logs).
    started: Instant,
    /// Started at login: the window stays hidden until the tray, a link or a shortcut asks.
    start_hidden: bool,
    /// Why the global shortcut does not work, if it does not.
    shortcut_problem: Mutex<Option<String>>,
    /// Notices that came before the page listened (the first sync round often ends first),
    /// told once it has painted; `None` from then on.
    held_notices: Mutex<Option<Vec<String>>>,
    /// Sessions handed to this engineer already told of in this run (each is told once).
    handed_told: Mutex<std::collections::BTreeSet<uuid::Uuid>>,
}

impl<R: Runtime> Desktop<R> {
    fn new(
        app: AppHandle<R>,
        replica: Option<Arc<Mutex<Replica>>>,
        started: Instant,
        start_hidden: bool,
    ) -> Desktop<R> {
        Desktop {
            app,
            replica,
            tray: Mutex::new(None),
            started,
            start_hidden,
            shortcut_problem: Mutex::new(None),
            held_notices: Mutex::new(Some(Vec::new())),
            handed_told: Mutex::new(std::collections::BTreeSet::new()),
        }
    }

    /// Adds the global-shortcut plugin where it can work (an X11 display; the plugin fails to
    /// start without one) and registers the quick launcher's shortcut.
    fn start_shortcuts(&self, shortcut: &str) {
        use tauri_plugin_global_shortcut::ShortcutState;
        if std::env::var_os("DISPLAY").is_none_or(|display| display.is_empty()) {
            self.note_shortcut_problem(Some(format!(
                "{shortcut} cannot work without an X11 display; bind `resolutionflow --quick-launch` to a key in your desktop's keyboard settings instead"
            )));
            return;
        }
        let plugin = tauri_plugin_global_shortcut::Builder::new()
            .with_handler(|app, _shortcut, event| {
                if event.state() == ShortcutState::Pressed {
                    show_main_window(app);
                    if let Some(shell) = app.try_state::<Shell>() {
                        shell.route(Link::QuickLaunch);
                    }
                }
            })
            .build();
        if let Err(error) = self.app.plugin(plugin) {
            self.note_shortcut_problem(Some(format!(
                "global shortcuts are not available here ({error}); bind `resolutionflow --quick-launch` to a key in your desktop's keyboard settings instead"
            )));
            return;
        }
        let _ = self.set_shortcut(shortcut);
    }

    fn note_shortcut_problem(&self, problem: Option<String>) {
        if let Some(problem) = &problem {
            tracing::warn!("{problem}");
        }
        if let Ok(mut slot) = self.shortcut_problem.lock() {
            *slot = problem;
        }
    }

    fn emit<E: Event>(&self, payload: &E::Payload) {
        if let Err(error) = self.app.emit(E::NAME, payload) {
            tracing::warn!("could not tell the page {}: {error}", E::NAME);
        }
    }

    /// Tells the page where sync stands and brings the tray up to date.
    fn rebuild_tray(&self, link: &SyncLink) {
        let Some(replica) = &self.replica else {
            return;
        };
        let (status, home) = {
            let Ok(replica) = shell::lock(replica) else {
                return;
            };
            match (shell::status_of(&replica, link), replica.home()) {
                (Ok(status), Ok(home)) => (status, home),
                _ => return,
            }
        };
        self.emit::<StatusChanged>(&status);
        self.update_tray(&status, &home);
    }

    fn update_tray(&self, status: &SyncStatus, home: &rf_app_api::Home) {
        let model = tray::model(status, home);
        let Ok(mut last) = self.tray.lock() else {
            return;
        };
        if last.as_ref() == Some(&model) {
            return;
        }
        let menu = match tray::menu(&self.app, &model) {
            Ok(menu) => menu,
            Err(error) => {
                tracing::warn!("could not build the tray menu: {error}");
                return;
            }
        };
        let built = match self.app.tray_by_id("main") {
            Some(icon) => icon.set_menu(Some(menu)).map(drop),
            None => self.build_tray(menu),
        };
        match built {
            Ok(()) => *last = Some(model),
            Err(error) => tracing::warn!("no tray icon: {error}"),
        }
    }

    fn build_tray(&self, menu: tauri::menu::Menu<R>) -> tauri::Result<()> {
        let mut icon = tauri::tray::TrayIconBuilder::with_id("main")
            .tooltip("ResolutionFlow")
            .menu(&menu)
            .show_menu_on_left_click(true)
            .on_menu_event(|app, event| on_tray_menu(app, event.id().as_ref()));
        if let Some(image) = self.app.default_window_icon() {
            icon = icon.icon(image.clone());
        }
        icon.build(&self.app).map(drop)
    }

    fn show_first_screen(&self) {
        if self.start_hidden {
            tracing::info!(
                "first screen ready {} ms after start, in the tray",
                self.started.elapsed().as_millis()
            );
            return;
        }
        show_main_window(&self.app);
        tracing::info!(
            "first screen shown {} ms after start",
            self.started.elapsed().as_millis()
        );
    }

    /// A toast, and a desktop notification when the window is hidden.
    fn tell(&self, text: &str) {
        self.emit::<Notice>(&text.to_string());
        let hidden = self
            .app
            .get_webview_window(MAIN_WINDOW)
            .is_none_or(|window| !window.is_visible().unwrap_or(false));
        if hidden {
            use tauri_plugin_notification::NotificationExt;
            let shown = self
                .app
                .notification()
                .builder()
                .title("ResolutionFlow")
                .body(text)
                .show();
            if let Err(error) = shown {
                tracing::info!("no desktop notification: {error}");
            }
        }
    }

    /// Sessions handed to this engineer that this run of the app has not told of yet.
    fn newly_handed(&self) -> Vec<rf_app_api::SessionSummary> {
        let Some(replica) = &self.replica else {
            return Vec::new();
        };
        let handed = match shell::lock(replica).map(|replica| replica.handed_to_me()) {
            Ok(Ok(handed)) => handed,
            _ => return Vec::new(),
        };
        let Ok(mut told) = self.handed_told.lock() else {
            return Vec::new();
        };
        handed
            .into_iter()
            .filter(|session| told.insert(session.id))
            .collect()
    }

    /// A round ended well: screens refetch what it brought, and the engineer hears of what
    /// needs them.
    fn synced(&self, report: &SyncReport) {
        let pulled = &report.pulled;
        let changed = Changed {
            flows: pulled.versions + pulled.heads + pulled.pins + pulled.republished > 0,
            // A note posted to (or refused by) a ticket shows on its session.
            sessions: pulled.events > 0 || report.posts_posted + report.posts_failed > 0,
            conflicts: pulled.conflicts > 0,
        };
        if changed.any() {
            self.emit::<DataChanged>(&changed);
        }
        if pulled.conflicts > 0 {
            self.notice(&format!(
                "Sync brought {} new conflict{} in your team's flows: open Conflicts to choose which version to keep",
                pulled.conflicts,
                if pulled.conflicts == 1 { "" } else { "s" }
            ));
        }
        for session in self.newly_handed() {
            self.notice(&format!(
                "\u{201c}{}\u{201d}{} was handed to you: open it from Home to take it over",
                session.flow_title,
                if session.ticket.is_empty() {
                    String::new()
                } else {
                    format!(" (ticket {})", session.ticket)
                }
            ));
        }
        if report.posts_failed > 0 {
            self.notice(&format!(
                "{} note{} could not be posted to {} ticket: open the session to see why",
                report.posts_failed,
                if report.posts_failed == 1 { "" } else { "s" },
                if report.posts_failed == 1 {
                    "its"
                } else {
                    "their"
                }
            ));
        }
        if report.mutations_rejected > 0 {
            self.notice(&format!(
                "The sync server refused {} of your changes; they are kept on this device with the reason",
                report.mutations_rejected
            ));
        }
    }
}

impl<R: Runtime> Effects for Desktop<R> {
    fn watch_folder(&self, dir: Option<&std::path::Path>) {
        let Some(shell) = self.app.try_state::<Shell>() else {
            return;
        };
        match (dir, shell.data_dir()) {
            (Some(dir), Ok(data_dir)) => watch_folder(&self.app, &data_dir, dir),
            _ => shell.stop_watching(),
        }
        self.emit::<DataChanged>(&Changed {
            flows: true,
            ..Changed::default()
        });
    }

    fn status_changed(&self, status: &SyncStatus) {
        self.emit::<StatusChanged>(status);
        if let Some(replica) = &self.replica
            && let Ok(home) = shell::lock(replica).and_then(|replica| Ok(replica.home()?))
        {
            self.update_tray(status, &home);
        }
    }

    fn data_changed(&self, changed: Changed) {
        self.emit::<DataChanged>(&changed);
    }

    fn navigate(&self, link: &Link) {
        self.emit::<Navigate>(link);
    }

    fn notice(&self, text: &str) {
        if let Ok(mut held) = self.held_notices.lock()
            && let Some(held) = held.as_mut()
        {
            // A page that never paints must not make this grow for ever: the latest few.
            if held.len() == HELD_NOTICES {
                held.remove(0);
            }
            held.push(text.to_owned());
            return;
        }
        self.tell(text);
    }

    fn painted(&self) {
        self.show_first_screen();
        let held = self
            .held_notices
            .lock()
            .map_or(None, |mut held| held.take());
        for text in held.unwrap_or_default() {
            self.tell(text.as_str());
        }
    }

    fn start_at_login(&self) -> Option<bool> {
        use tauri_plugin_autostart::ManagerExt;
        self.app.autolaunch().is_enabled().ok()
    }

    fn set_start_at_login(&self, on: bool) -> Result<(), String> {
        use tauri_plugin_autostart::ManagerExt;
        let manager = self.app.autolaunch();
        let done = if on {
            manager.enable()
        } else {
            manager.disable()
        };
        done.map_err(|error| error.to_string())
    }

    fn set_shortcut(&self, shortcut: &str) -> Result<(), String> {
        use tauri_plugin_global_shortcut::GlobalShortcut;
        let Some(manager) = self.app.try_state::<GlobalShortcut<R>>() else {
            return Err(self.shortcut_problem().unwrap_or_default());
        };
        let result = manager
            .unregister_all()
            .and_then(|()| match shortcut {
                "" => Ok(()),
                shortcut => manager.register(shortcut),
            })
            .map_err(|error| error.to_string());
        let wayland = std::env::var("XDG_SESSION_TYPE").is_ok_and(|kind| kind == "wayland");
        let problem = match &result {
            Err(error) => Some(format!(
                "{shortcut} could not be registered ({error}); choose another, or bind `resolutionflow --quick-launch` to a key in your desktop's keyboard settings"
            )),
            Ok(()) if wayland && !shortcut.is_empty() => Some(
                "global shortcuts do not fire under Wayland; bind `resolutionflow --quick-launch` to a key in your desktop's keyboard settings"
                    .to_owned(),
            ),
            Ok(()) => None,
        };
        self.note_shortcut_problem(problem);
        result
    }

    fn shortcut_problem(&self) -> Option<String> {
        self.shortcut_problem
            .lock()
            .map_or(None, |problem| problem.clone())
    }

    fn pick_files(&self, title: &str) -> Vec<std::path::PathBuf> {
        use tauri_plugin_dialog::DialogExt;
        let mut dialog = self.app.dialog().file().set_title(title);
        if let Some(window) = self.app.get_webview_window(MAIN_WINDOW) {
            dialog = dialog.set_parent(&window);
        }
        dialog
            .blocking_pick_files()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|file| file.into_path().ok())
            .collect()
    }

    fn copy_text(&self, text: &str) -> Result<(), String> {
        use tauri_plugin_clipboard_manager::ClipboardExt;
        self.app
            .clipboard()
            .write_text(text.to_string())
            .map_err(|error| error.to_string())
    }

    fn pilot_text(&self, session: uuid::Uuid, text: &str) {
        self.emit::<rf_app_api::events::PilotText>(&rf_app_api::events::PilotChunk {
            session_id: session,
            text: text.to_owned(),
        });
    }

    fn open_link(&self, url: &str) -> Result<(), String> {
        use tauri_plugin_opener::OpenerExt;
        self.app
            .opener()
            .open_url(url, None::<&str>)
            .map_err(|error| error.to_string())
    }
}

fn on_tray_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let Some(action) = tray::action(id) else {
        return;
    };
    let shell = app.try_state::<Shell>();
    match action {
        tray::Action::Run(flow) => {
            show_main_window(app);
            if let Some(shell) = shell {
                shell.route(Link::Run {
                    flow: flow.to_string(),
                    ticket: String::new(),
                    client: String::new(),
                    variables: Default::default(),
                });
            }
        }
        tray::Action::NewSession => {
            show_main_window(app);
            if let Some(shell) = shell {
                shell.route(Link::QuickLaunch);
            }
        }
        tray::Action::SyncNow => {
            if let Some(shell) = shell {
                shell.nudge(rf_replica::background::Nudge::SyncNow);
            }
        }
        tray::Action::Open => show_main_window(app),
        tray::Action::Quit => app.exit(0),
    }
}

#[cfg(test)]
mod tests;
