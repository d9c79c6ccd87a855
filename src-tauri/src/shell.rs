//! The shell's state: the replica the commands use, the background sync, where sync stands,
//! links waiting for the page, and the effects the shell has on the desktop (events, the tray,
//! the clipboard), behind [`Effects`] so commands stay testable with Tauri's mock runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rf_app_api::events::{Changed, SyncStatus};
use rf_app_api::links::Link;
use rf_app_api::{CommandError, ErrorKind, FlowFolder, InvalidFlowFile};
use rf_replica::background::{Background, Nudge};
use rf_replica::environment::TokenStoreKind;
use rf_replica::flow_files::FolderImport;
use rf_replica::folder::FolderWatch;
use rf_replica::{Replica, ReplicaError};

/// What the shell does to the desktop. Implemented over Tauri's `AppHandle` in `lib.rs`.
pub trait Effects: Send + Sync {
    /// Watches the flows folder from now on (`None`: watches none).
    fn watch_folder(&self, dir: Option<&std::path::Path>);
    /// Tells the page (and the tray) where sync stands.
    fn status_changed(&self, status: &SyncStatus);
    /// Tells the page its data changed under it.
    fn data_changed(&self, changed: Changed);
    /// Sends the page somewhere.
    fn navigate(&self, link: &Link);
    /// A toast, and a desktop notification when the window is hidden.
    fn notice(&self, text: &str);
    /// The page has rendered its first screen (once per start): the window can be shown.
    fn painted(&self);
    /// Whether the app starts at login; `None` when this desktop cannot tell.
    fn start_at_login(&self) -> Option<bool>;
    fn set_start_at_login(&self, on: bool) -> Result<(), String>;
    /// Registers the quick launcher's global shortcut in place of the last one (empty: none).
    fn set_shortcut(&self, shortcut: &str) -> Result<(), String>;
    /// Why the shortcut last given does not work, if it does not.
    fn shortcut_problem(&self) -> Option<String>;
    /// Asks for files in the system's file dialog (blocking until it closes): their paths,
    /// none when cancelled.
    fn pick_files(&self, title: &str) -> Vec<std::path::PathBuf>;
    fn copy_text(&self, text: &str) -> Result<(), String>;
    fn open_link(&self, url: &str) -> Result<(), String>;
    /// A piece of FlowPilot's answer about `session`, as it streams.
    fn pilot_text(&self, session: uuid::Uuid, text: &str);
}

/// Managed state: one per app.
pub struct Shell {
    /// The replica, or why it could not be opened (a newer schema, a damaged file, a bad
    /// `RF_TOKEN_STORE`): every command then answers that, and the page shows it.
    replica: Result<Arc<Mutex<Replica>>, CommandError>,
    /// Where the login's tokens are kept (`RF_TOKEN_STORE`).
    tokens: TokenStoreKind,
    background: Mutex<Option<Background>>,
    link: Arc<SyncLink>,
    /// Links that arrived before the page listened; `None` once it does.
    waiting: Mutex<Option<Vec<Link>>>,
    effects: Arc<dyn Effects>,
    folder: Mutex<FlowFolder>,
    folder_watch: Mutex<Option<FolderWatch>>,
    /// Whether the page has rendered its first screen.
    painted: AtomicBool,
}

/// What the shell knows of the sync server, beyond what the replica records.
#[derive(Debug, Default)]
pub struct SyncLink {
    /// Whether the server answered the last round (`None`: not known, or not logged in).
    online: Mutex<Option<bool>>,
    syncing: AtomicBool,
    /// Why the saved login cannot be used, from the last round or a log-out.
    login_problem: Mutex<Option<String>>,
    /// Why the last round stopped although the server answered (a refusal retrying cannot
    /// fix, such as an app older than the server accepts).
    sync_problem: Mutex<Option<String>>,
}

/// What a slot of the link holds (`None` if a panic poisoned it: nothing known).
fn read<T: Clone>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().map_or(None, |known| known.clone())
}

fn write<T>(slot: &Mutex<Option<T>>, value: Option<T>) {
    if let Ok(mut known) = slot.lock() {
        *known = value;
    }
}

impl SyncLink {
    pub fn set_online(&self, online: Option<bool>) {
        write(&self.online, online);
    }

    pub fn online(&self) -> Option<bool> {
        read(&self.online)
    }

    pub fn set_syncing(&self, syncing: bool) {
        self.syncing.store(syncing, Ordering::SeqCst);
    }

    pub fn syncing(&self) -> bool {
        self.syncing.load(Ordering::SeqCst)
    }

    pub fn set_login_problem(&self, problem: Option<String>) {
        write(&self.login_problem, problem);
    }

    pub fn login_problem(&self) -> Option<String> {
        read(&self.login_problem)
    }

    pub fn sync_problem(&self) -> Option<String> {
        read(&self.sync_problem)
    }

    pub fn set_sync_problem(&self, problem: Option<String>) {
        write(&self.sync_problem, problem);
    }

    /// What a finished sync round says: a round that went through clears every problem; one
    /// refused for the login records that; one the server refused otherwise records why sync
    /// stopped; being offline says nothing new of the login (and is a state, not a problem).
    pub fn round_finished<T>(&self, result: &rf_replica::Result<T>) {
        match result {
            Ok(_) => {
                self.set_login_problem(None);
                self.set_sync_problem(None);
            }
            Err(ReplicaError::Offline(_)) => self.set_sync_problem(None),
            Err(error) => match login_problem_of(error) {
                Some(problem) => self.set_login_problem(Some(problem)),
                None => self.set_sync_problem(Some(error.in_the_apps_words())),
            },
        }
    }
}

/// In the app's words, why a login cannot be used, or `None` when `error` is not about the
/// login.
pub fn login_problem_of(error: &ReplicaError) -> Option<String> {
    match error {
        ReplicaError::LoginRequired(_)
        | ReplicaError::KeyringUnavailable { .. }
        | ReplicaError::Keyring { .. } => Some(error.in_the_apps_words()),
        _ => None,
    }
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Shell")
            .field("replica", &self.replica.as_ref().map(|_| "open"))
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl Shell {
    pub fn new(
        replica: Result<Arc<Mutex<Replica>>, CommandError>,
        tokens: TokenStoreKind,
        effects: Arc<dyn Effects>,
    ) -> Shell {
        Shell {
            replica,
            tokens,
            background: Mutex::new(None),
            link: Arc::new(SyncLink::default()),
            waiting: Mutex::new(Some(Vec::new())),
            effects,
            folder: Mutex::new(FlowFolder::default()),
            folder_watch: Mutex::new(None),
            painted: AtomicBool::new(false),
        }
    }

    /// The page rendered a screen: the first time, the window is shown.
    pub fn painted(&self) {
        if !self.painted.swap(true, Ordering::SeqCst) {
            self.effects.painted();
        }
    }

    /// Whether the page has rendered its first screen yet.
    pub fn has_painted(&self) -> bool {
        self.painted.load(Ordering::SeqCst)
    }

    pub fn replica(&self) -> Result<Arc<Mutex<Replica>>, CommandError> {
        self.replica.clone()
    }

    pub fn tokens(&self) -> TokenStoreKind {
        self.tokens
    }

    /// The replica's folder.
    pub fn data_dir(&self) -> Result<std::path::PathBuf, CommandError> {
        let replica = self.replica()?;
        let replica = lock(&replica)?;
        Ok(replica.data_dir().to_path_buf())
    }

    /// The login changed: `problem` is `None` after logging in (the status bar hears at once,
    /// and sync runs), or why sync cannot run now (logged out).
    pub fn login_changed(&self, problem: Option<String>) {
        let logged_in = problem.is_none();
        self.link.set_login_problem(problem);
        self.link.set_sync_problem(None);
        if !logged_in {
            self.link.set_online(None);
        }
        if let Ok(status) = self.status() {
            self.effects.status_changed(&status);
        }
        if logged_in {
            self.nudge(Nudge::SyncNow);
        }
    }

    /// Stops watching the flows folder.
    pub fn stop_watching(&self) {
        if let Ok(mut slot) = self.folder_watch.lock() {
            *slot = None;
        }
        self.set_folder(FlowFolder::default());
    }

    pub fn link(&self) -> Arc<SyncLink> {
        self.link.clone()
    }

    pub fn effects(&self) -> &dyn Effects {
        self.effects.as_ref()
    }

    /// The effects, to take to another thread (the file dialog blocks).
    pub fn effects_handle(&self) -> Arc<dyn Effects> {
        self.effects.clone()
    }

    pub fn set_background(&self, background: Background) {
        if let Ok(mut slot) = self.background.lock() {
            *slot = Some(background);
        }
    }

    /// Asks the background sync for a round; nothing when it is not running (tests).
    pub fn nudge(&self, why: Nudge) {
        if let Ok(slot) = self.background.lock()
            && let Some(background) = slot.as_ref()
        {
            background.nudge(why);
        }
    }

    /// A link for the page: sent now if it listens, else kept until it asks.
    pub fn route(&self, link: Link) {
        let Ok(mut waiting) = self.waiting.lock() else {
            return;
        };
        match waiting.as_mut() {
            Some(queue) => queue.push(link),
            None => self.effects.navigate(&link),
        }
    }

    /// The page listens now: the last link that waited, and later ones go as events.
    pub fn take_link(&self) -> Option<Link> {
        let mut waiting = self.waiting.lock().ok()?;
        waiting.take().and_then(|mut queue| queue.pop())
    }

    /// The watched folder as last read.
    pub fn flow_folder(&self) -> FlowFolder {
        self.folder
            .lock()
            .map(|folder| folder.clone())
            .unwrap_or_default()
    }

    /// The folder watched from now on (or why it cannot be).
    pub fn watching(&self, dir: &std::path::Path, watch: rf_replica::Result<FolderWatch>) {
        let dir = Some(dir.display().to_string());
        match watch {
            Ok(watch) => {
                if let Ok(mut slot) = self.folder_watch.lock() {
                    *slot = Some(watch);
                }
            }
            Err(error) => self.set_folder(FlowFolder {
                dir,
                invalid: Vec::new(),
                problem: Some(error.to_string()),
            }),
        }
    }

    /// Records the folder being read (before the first pass reports).
    pub fn folder_is(&self, dir: &std::path::Path) {
        self.set_folder(FlowFolder {
            dir: Some(dir.display().to_string()),
            ..FlowFolder::default()
        });
    }

    fn set_folder(&self, folder: FlowFolder) {
        if let Ok(mut slot) = self.folder.lock() {
            *slot = folder;
        }
    }

    /// A pass over the folder: recorded for the page, which hears of new flows, and of files
    /// newly found invalid as a notice.
    pub fn folder_read(&self, pass: rf_replica::Result<FolderImport>) {
        let before = self.flow_folder();
        let mut now = FlowFolder {
            dir: before.dir.clone(),
            ..FlowFolder::default()
        };
        let mut changed = false;
        match pass {
            Ok(pass) => {
                changed = pass.changed_anything();
                now.invalid = pass
                    .invalid
                    .into_iter()
                    .map(|file| InvalidFlowFile {
                        path: file.path.display().to_string(),
                        problems: file.problems,
                    })
                    .collect();
            }
            Err(error) => {
                now.problem = Some(format!("the flows folder could not be read: {error}"))
            }
        }
        let newly_invalid: Vec<&InvalidFlowFile> = now
            .invalid
            .iter()
            .filter(|file| !before.invalid.contains(file))
            .collect();
        for file in &newly_invalid {
            self.effects.notice(&format!(
                "{} was not imported: it has {} problem{} (the Library lists them)",
                file.path,
                file.problems.len(),
                if file.problems.len() == 1 { "" } else { "s" }
            ));
        }
        let folder_changed = now != before;
        self.set_folder(now);
        if changed || folder_changed {
            self.effects.data_changed(Changed {
                flows: true,
                ..Changed::default()
            });
        }
        if changed {
            self.nudge(Nudge::LocalChange);
            if let Ok(status) = self.status() {
                self.effects.status_changed(&status);
            }
        }
    }

    /// Where sync stands, from the replica's own records and the last round.
    pub fn status(&self) -> Result<SyncStatus, CommandError> {
        let replica = self.replica()?;
        let replica = lock(&replica)?;
        status_of(&replica, &self.link)
    }
}

pub fn status_of(replica: &Replica, link: &SyncLink) -> Result<SyncStatus, CommandError> {
    // Not logged in means nothing to be on- or offline with.
    let logged_in = replica.sync_account()?.is_some();
    Ok(SyncStatus {
        report: replica.status_report(link.online().filter(|_| logged_in))?,
        syncing: link.syncing(),
        login_problem: link.login_problem().filter(|_| logged_in),
        sync_problem: link.sync_problem().filter(|_| logged_in),
    })
}

/// The replica, or why it cannot be had: a command that panicked while holding it leaves it
/// poisoned, and SQLite rolled back whatever that command had not committed.
pub fn lock(replica: &Mutex<Replica>) -> Result<MutexGuard<'_, Replica>, CommandError> {
    replica.lock().map_err(|_| {
        CommandError::new(
            ErrorKind::Storage,
            "an earlier action failed part way (nothing half-written was kept); restart ResolutionFlow",
        )
    })
}
