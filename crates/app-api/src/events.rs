//! Every event the shell emits to the front end. A screen subscribes before it fetches, so a
//! change that lands between the two is never missed (at worst it fetches twice).

use serde::{Deserialize, Serialize};

use crate::links::Link;
use crate::views::StatusReport;

/// One event: its name and what it carries.
pub trait Event {
    const NAME: &'static str;
    type Payload: Serialize + for<'de> Deserialize<'de>;
}

/// Where the replica and its sync stand: after every sync attempt and every local change.
#[derive(Debug)]
pub enum StatusChanged {}

impl Event for StatusChanged {
    const NAME: &'static str = "status-changed";
    type Payload = SyncStatus;
}

/// The replica's data changed under the screens (a sync brought a teammate's work, a file
/// in the watched folder was imported): screens showing it fetch again.
#[derive(Debug)]
pub enum DataChanged {}

impl Event for DataChanged {
    const NAME: &'static str = "data-changed";
    type Payload = Changed;
}

/// The app was asked to show something: a `resolutionflow://` link, a second launch's
/// arguments, the tray's quick-launch menu or the global shortcut.
#[derive(Debug)]
pub enum Navigate {}

impl Event for Navigate {
    const NAME: &'static str = "navigate";
    type Payload = Link;
}

/// Something the engineer should see that no screen asked for (a link naming no flow, a
/// conflict or refusal brought by background sync): shown as a toast.
#[derive(Debug)]
pub enum Notice {}

impl Event for Notice {
    const NAME: &'static str = "notice";
    type Payload = String;
}

/// A piece of FlowPilot's answer as it streams, for the session it is about.
#[derive(Debug)]
pub enum PilotText {}

impl Event for PilotText {
    const NAME: &'static str = "pilot-text";
    type Payload = PilotChunk;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PilotChunk {
    pub session_id: uuid::Uuid,
    pub text: String,
}

/// Files were dropped on the window: their paths, for the screen to attach.
#[derive(Debug)]
pub enum FilesDropped {}

impl Event for FilesDropped {
    const NAME: &'static str = "files-dropped";
    type Payload = Vec<String>;
}

/// The status bar's whole state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub report: StatusReport,
    /// A sync is running now.
    pub syncing: bool,
    /// Why the saved login cannot be used (logged out, expired or revoked, the keyring locked),
    /// in words to act on; `None` while it works or before sync has tried it.
    #[serde(default)]
    pub login_problem: Option<String>,
    /// Why sync stopped although the server answered (this app older than the server accepts,
    /// a refusal retrying cannot fix), in words to act on; `None` while sync works.
    #[serde(default)]
    pub sync_problem: Option<String>,
}

/// What changed, so screens that do not show it need not fetch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub flows: bool,
    pub sessions: bool,
    pub conflicts: bool,
}

impl Changed {
    pub fn any(self) -> bool {
        self.flows || self.sessions || self.conflicts
    }
}
