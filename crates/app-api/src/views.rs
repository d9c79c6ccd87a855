//! The shapes the app shows, produced by rf-replica's services and read by the front end and
//! the CLI alike.

use std::collections::BTreeMap;

use rf_core::flow::IntakeField;
use rf_core::session::{SessionState, StepView};
use rf_core::stats::FlowStats;
use rf_core::sync::{FieldConflict, Keep};
use rf_core::{Flow, FlowKind, VersionId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A flow of the library, as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSummary {
    pub id: Uuid,
    pub title: String,
    pub kind: FlowKind,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub status: String,
    /// This replica's ordinal of the head version (1, 2, …), for people; replicas may number
    /// the same version differently. `version_id` is its name everywhere.
    pub version: u32,
    pub version_id: VersionId,
    pub node_count: u32,
    pub updated_at: String,
    pub pinned: bool,
}

/// A flow with its latest document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFlow {
    #[serde(flatten)]
    pub summary: FlowSummary,
    /// The latest version's document, with its `id` filled in.
    pub document: Flow,
}

/// A full-text search match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub id: Uuid,
    pub title: String,
    pub kind: FlowKind,
    /// Words around the first match, matches in `[brackets]`.
    pub snippet: String,
    /// FTS5 bm25 rank: lower is better.
    pub rank: f64,
}

/// A session with its full computed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: Uuid,
    pub state: SessionState,
}

/// A session, as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub id: Uuid,
    pub flow_id: Uuid,
    pub flow_version: u32,
    pub flow_title: String,
    pub ticket: String,
    pub client: String,
    pub engineer: String,
    /// `active` or `finished`.
    pub status: String,
    pub outcome: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub updated_at: String,
    pub event_count: u32,
    /// This copy's continuation of a session that another copy of this replica (restored from
    /// a backup, or its data folder copied) also went on with: the shared session's id.
    pub forked_from: Option<Uuid>,
}

/// The server and account this replica syncs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAccount {
    pub server_url: String,
    pub team_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub pulled_seq: i64,
    pub last_sync_at: Option<String>,
    pub last_error: Option<String>,
}

/// What this replica holds that the sync server does not have yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncBacklog {
    /// Flow, pin and setting changes waiting in the outbox.
    pub mutations: u64,
    /// Session events not yet acknowledged by the server.
    pub events: u64,
    /// Mutations the server refused for good (kept for the engineer to act on).
    pub rejected: u64,
    /// This device's session events the server refused for good (kept here, with the reason).
    pub refused_events: u64,
    /// Items from the team this replica could not use (malformed or damaged), set aside.
    pub set_aside: u64,
    /// Session events written by a newer version of ResolutionFlow: kept, skipped here.
    pub needs_newer_version: u64,
}

impl SyncBacklog {
    /// Changes waiting to go up: mutations and events.
    pub fn pending(&self) -> u64 {
        self.mutations + self.events
    }
}

/// A conflict as this replica shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictRecord {
    pub id: Uuid,
    pub flow_id: Uuid,
    pub flow_title: Option<String>,
    #[serde(flatten)]
    pub conflict: FieldConflict,
    pub kept_version: VersionId,
    pub other_version: VersionId,
    pub raised_by: String,
    pub resolution: Option<Keep>,
}

/// Where the replica stands: what the status bar, the tray and `rf status` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub data_dir: String,
    pub device_id: Uuid,
    pub schema_version: i64,
    pub pending: SyncBacklog,
    /// Whether the server answered the last time anyone asked; `None` when not logged in or
    /// not asked yet.
    pub online: Option<bool>,
    pub sync: Option<SyncAccount>,
    /// Open conflicts.
    pub conflicts: usize,
}

/// The home screen: what an engineer reaches for first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Home {
    pub pinned: Vec<FlowSummary>,
    /// Flows by their latest session, newest first.
    pub recent: Vec<FlowSummary>,
    /// Sessions not finished yet that this device holds, most recently touched first
    /// (teammates' sessions are theirs; those handed here are below).
    pub in_progress: Vec<SessionSummary>,
    /// Open sessions handed to this engineer and not taken up yet.
    #[serde(default)]
    pub handed_to_me: Vec<SessionSummary>,
    /// Scheduled runs overdue, due today and coming up this week.
    #[serde(default)]
    pub due: DueWork,
}

/// What the library shows: every field is a filter, empty means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryFilter {
    /// Words to search for (titles, bodies, commands, tags), as typed.
    pub text: String,
    pub kind: Option<FlowKind>,
    pub category: Option<String>,
    pub tag: Option<String>,
}

/// The library under a filter, with the choices its filters offer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    /// Matching flows: by relevance when searching, else by title.
    pub flows: Vec<LibraryEntry>,
    /// Every category and tag in the library, sorted, for the filter menus.
    pub categories: Vec<String>,
    pub tags: Vec<String>,
    /// Flows in the library, before filtering.
    pub total: usize,
}

/// One flow in the library, with the words that matched the search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryEntry {
    #[serde(flatten)]
    pub flow: FlowSummary,
    /// Words around the first match, matches in `[brackets]`; empty when not searching.
    pub snippet: String,
}

/// A flow's detail page: the document, what starting it asks for, and the team's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowDetail {
    pub flow: StoredFlow,
    /// The intake fields a session of it asks for (its subflows' included).
    pub intake: Vec<IntakeField>,
    /// Subflow targets that are not in the library (a session would stop there).
    pub missing_subflows: Vec<String>,
    pub stats: FlowStats,
}

/// A session as the runner shows it: its state, the step in front of the engineer, the
/// breadcrumb and the team's statistics for the flow the step belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: Uuid,
    pub state: SessionState,
    /// `None` once the session is finished (or a flow it needs is missing: see `problem`).
    pub current: Option<StepView>,
    /// Titles of the flows the engineer is inside, outermost first.
    pub breadcrumb: Vec<String>,
    /// Statistics of the current step's flow.
    pub stats: Option<FlowStats>,
    /// Why the current step cannot be shown, in words to act on.
    pub problem: Option<String>,
    /// The note being typed at the current step, saved as typed, not yet part of the record.
    pub draft: Option<String>,
}

/// What starting a session takes besides the flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartSession {
    pub flow_id: Uuid,
    pub ticket: String,
    pub client: String,
    pub variables: BTreeMap<String, String>,
}

/// The watched flows folder: where it is and the files in it that could not be imported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowFolder {
    /// `None` when no folder is watched (set `RF_FLOWS_DIR`).
    pub dir: Option<String>,
    /// Files with problems: nothing of them was imported.
    pub invalid: Vec<InvalidFlowFile>,
    /// Why the folder cannot be watched or read, in words to act on.
    pub problem: Option<String>,
}

/// A flow file of the watched folder that could not be imported, with every problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidFlowFile {
    pub path: String,
    pub problems: Vec<String>,
}

/// How the app looks: as the system is set, or always light or always dark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

impl Theme {
    pub const ALL: [Theme; 3] = [Theme::System, Theme::Light, Theme::Dark];

    pub fn as_str(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    /// A stored name; `None` for anything else.
    pub fn parse(text: &str) -> Option<Theme> {
        Theme::ALL.into_iter().find(|theme| theme.as_str() == text)
    }
}

/// The settings screen: this device's preferences and its sync login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub theme: Theme,
    /// The server and account this replica syncs with, once it has logged in.
    pub account: Option<SyncAccount>,
    /// Whether a login is saved (the account stays recorded after logging out).
    pub logged_in: bool,
    /// Why the saved login could not be read (a locked keyring), in words to act on.
    pub login_problem: Option<String>,
    /// Where the login's tokens are kept, in words ("the OS keyring", a file's path).
    pub token_store: String,
    /// The watched flows folder chosen here.
    pub flows_dir: Option<String>,
    /// `RF_FLOWS_DIR`, which overrides the choice while it is set.
    pub flows_dir_override: Option<String>,
    /// The replica's folder (`RF_DATA_DIR`).
    pub data_dir: String,
    /// Whether the app starts, in the tray, when the user logs in to the desktop; `None` when
    /// this desktop cannot tell.
    #[serde(default)]
    pub start_at_login: Option<bool>,
    /// The global shortcut that opens the quick launcher (e.g. `Ctrl+Alt+Space`); empty for
    /// none.
    #[serde(default)]
    pub shortcut: String,
    /// Why the shortcut does not work here, with what to do instead.
    #[serde(default)]
    pub shortcut_problem: Option<String>,
}

/// The global shortcut until one is chosen.
pub const DEFAULT_SHORTCUT: &str = "Ctrl+Alt+Space";

/// Where a note for a ticket stands on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostState {
    /// Waiting to reach the sync server (offline, or the team's ConnectWise not ready).
    Queued,
    /// On the ticket.
    Posted,
    /// Refused for good (no such ticket, a note ConnectWise will not take); post it again
    /// once fixed.
    Failed,
}

/// A note to post to a ConnectWise ticket, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketPost {
    /// The key the sync server posts it under, exactly once.
    pub key: Uuid,
    pub session_id: Uuid,
    pub ticket_id: i64,
    pub flags: Vec<rf_core::psa::NoteFlag>,
    pub status: Option<String>,
    pub text: String,
    pub redacted: bool,
    pub queued_at: String,
    pub state: PostState,
    pub note_id: Option<i64>,
    pub posted_at: Option<String>,
    pub status_set: Option<String>,
    /// Failed: why. Queued: what stopped the last attempt. Posted: why the status was not
    /// set or the time not recorded.
    pub error: Option<String>,
    pub attempts: i64,
    /// The engineer's time, recorded as a time entry with the note.
    pub time: Option<rf_core::psa::PostTime>,
    pub time_entry_id: Option<i64>,
}

/// Why a post is not queued again: this session's note is already on (or on its way to) the
/// ticket. The replica refuses with these words, and the page asks with them.
pub fn already_posted_words(post: &TicketPost) -> String {
    match post.state {
        PostState::Posted => format!(
            "This session's note is already posted to ticket #{} (note {}, at {})",
            post.ticket_id,
            post.note_id.unwrap_or_default(),
            post.posted_at.as_deref().unwrap_or("?")
        ),
        PostState::Queued | PostState::Failed => format!(
            "This session's note is already queued for ticket #{}; it posts once when the sync server can be reached",
            post.ticket_id
        ),
    }
}

/// A maintenance batch as its hub shows it: the batch, each target's state derived from its
/// sessions, and which target sessions this device works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchView {
    pub id: Uuid,
    pub batch: rf_core::batch::Batch,
    pub progress: rf_core::batch::BatchProgress,
    /// Sessions of the batch this device may write (it started them, or they were handed to
    /// its engineer): it may resume them.
    pub own_sessions: Vec<Uuid>,
    /// Whether this device holds the flow version the batch runs (it can start a target).
    pub has_flow: bool,
}

/// A batch in a list: what it runs, for whom, and how far it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    pub id: Uuid,
    pub flow_title: String,
    pub client: String,
    pub ticket: String,
    pub started_by: String,
    /// RFC 3339.
    pub created_at: String,
    pub headline: String,
    pub counts: rf_core::batch::BatchCounts,
    pub complete: bool,
}

/// A saved target list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetListView {
    pub id: Uuid,
    pub client: String,
    pub name: String,
    pub targets: Vec<String>,
}

/// A schedule and its next occurrences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleView {
    pub id: Uuid,
    pub schedule: rf_core::schedule::Schedule,
    /// The next few occurrence days (YYYY-MM-DD), from today in the schedule's zone.
    pub next: Vec<String>,
}

/// A run of a schedule that needs doing, or soon will.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueItem {
    pub schedule_id: Uuid,
    pub flow_id: Uuid,
    pub flow_title: String,
    pub client: String,
    pub target_list: Option<String>,
    /// YYYY-MM-DD in the schedule's time zone.
    pub occurrence: String,
    pub state: rf_core::schedule::DueState,
}

/// The due work across every schedule: overdue first, then due today, then upcoming.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueWork {
    pub items: Vec<DueItem>,
    /// Older overdue runs not listed (beyond the most recent per schedule).
    pub more_overdue: usize,
    /// Schedules whose rule this build cannot read (said, never dropped silently).
    pub unreadable: Vec<String>,
}
