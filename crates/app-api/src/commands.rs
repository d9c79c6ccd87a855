//! Every command the front end may invoke. Each is an uninhabited type naming its wire name,
//! its argument and its answer; [`ALL`] lists the names, which the shell's tests hold against
//! the handlers it registers.

use rf_core::session::Command as SessionCommand;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Command;
use crate::views::*;

macro_rules! commands {
    ($($(#[$doc:meta])* $command:ident = $name:literal ($args:ty) -> $output:ty;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub enum $command {}

            impl Command for $command {
                const NAME: &'static str = $name;
                type Args = $args;
                type Output = $output;
            }
        )*

        /// Every command's name, in declaration order.
        pub const ALL: &[&str] = &[$($name),*];
    };
}

commands! {
    /// Where the replica stands (the status bar and the tray).
    Status = "status" (()) -> crate::events::SyncStatus;
    /// The home screen: pinned and recent flows, sessions in progress.
    LoadHome = "load_home" (()) -> Home;
    /// The library under a filter (search as you type).
    LoadLibrary = "load_library" (LibraryFilter) -> Library;
    /// A flow's detail page.
    LoadFlow = "load_flow" (Uuid) -> FlowDetail;
    /// One version of a flow, as a session runs it (a checklist lists every item of the version
    /// the session started with, even after the flow was edited since).
    LoadFlowVersion = "load_flow_version" (rf_core::session::FlowRef) -> rf_core::Flow;
    /// Finds a flow by id, unique id prefix or exact title (deep links, the quick launcher).
    FindFlow = "find_flow" (String) -> FlowSummary;
    /// Pins or unpins a flow; answers whether anything changed.
    SetPin = "set_pin" (SetPinArgs) -> bool;
    /// Every session, newest first.
    ListSessions = "list_sessions" (()) -> Vec<SessionSummary>;
    /// Starts a session and answers it at its first step.
    StartSession = "start_session" (crate::views::StartSession) -> SessionView;
    /// A session as the runner shows it.
    LoadSession = "load_session" (Uuid) -> SessionView;
    /// Applies what the engineer did at the current step, in one transaction (a pending note
    /// draft goes in first), and answers the session as it now stands.
    Act = "act" (ActArgs) -> SessionView;
    /// Saves the note being typed at the current step, durably, without recording it yet.
    SaveDraft = "save_draft" (SaveDraftArgs) -> ();
    /// Asks the background sync to run now; its outcome arrives as events.
    SyncNow = "sync_now" (()) -> ();
    /// Opens a link from a flow in the system browser (http, https and mailto only).
    OpenLink = "open_link" (String) -> ();
    /// Copies text to the system clipboard (the ticket note, a command).
    CopyText = "copy_text" (String) -> ();
    /// The watched flows folder and the files in it that could not be imported.
    LoadFlowFolder = "load_flow_folder" (()) -> FlowFolder;
    /// Attaches a file (a dropped one) to the session's current step; answers the session.
    AttachFile = "attach_file" (AttachFileArgs) -> SessionView;
    /// Asks for files in the system's file dialog: their paths, none when it was cancelled.
    PickFiles = "pick_files" (()) -> Vec<String>;
    /// Writes a flow's latest version into the watched flows folder as a flow file; answers
    /// the file's path.
    ExportFlow = "export_flow" (Uuid) -> String;
    /// Open conflicts in the team's flows, oldest first.
    ListConflicts = "list_conflicts" (()) -> Vec<crate::views::ConflictRecord>;
    /// Keeps one side of a conflict; the choice syncs to the team.
    ResolveConflict = "resolve_conflict" (ResolveConflictArgs) -> crate::views::ConflictRecord;
    /// A ConnectWise ticket, through the sync server (a new session prefilled from it).
    LookupTicket = "lookup_ticket" (i64) -> rf_core::psa::TicketSummary;
    /// The notes posted or queued for tickets from a session, oldest first.
    ListTicketPosts = "list_ticket_posts" (Uuid) -> Vec<crate::views::TicketPost>;
    /// Queues a session's note for a ticket (posted once, by the background sync, now if the
    /// server can be reached); answers the post as queued.
    PostToTicket = "post_to_ticket" (PostToTicketArgs) -> crate::views::TicketPost;
    /// Asks FlowPilot about a session through the sync server: suggestions for its current
    /// step, or (with `summarize`) its ticket summary and next steps. The answer streams as
    /// `pilot-text` events; the command answers the whole of it.
    AskPilot = "ask_pilot" (AskPilotArgs) -> rf_core::ai::PilotDone;
    /// Every maintenance batch, newest first, with its progress.
    ListBatches = "list_batches" (()) -> Vec<BatchSummary>;
    /// A batch's hub: each target's state, derived from its sessions.
    LoadBatch = "load_batch" (Uuid) -> BatchView;
    /// Starts a batch (no session yet: each target's starts when someone starts that target);
    /// answers its hub.
    StartBatch = "start_batch" (StartBatchArgs) -> BatchView;
    /// Starts or resumes a target's session; answers it as the runner shows it.
    RunTarget = "run_target" (RunTargetArgs) -> SessionView;
    /// The saved target lists.
    ListTargetLists = "list_target_lists" (()) -> Vec<TargetListView>;
    /// Saves (or replaces) a client's target list.
    SaveTargetList = "save_target_list" (SaveTargetListArgs) -> TargetListView;
    /// Scheduled runs overdue, due today and coming up this week.
    LoadDueWork = "load_due_work" (()) -> DueWork;
    /// The team's members as the server last listed them (the hand-off dialog).
    ListTeamMembers = "list_team_members" (()) -> Vec<rf_core::sync::TeamMember>;
    /// Hands a session to a teammate with a note; answers the session, now read-only here.
    HandOff = "hand_off" (HandOffArgs) -> SessionView;
    /// Open sessions handed to this engineer and not yet taken up.
    HandedToMe = "handed_to_me" (()) -> Vec<SessionSummary>;
    /// The settings screen.
    LoadSettings = "load_settings" (()) -> crate::views::Settings;
    /// Logs this replica in to a sync server (the tokens go to the token store) and syncs.
    LogIn = "log_in" (LogInArgs) -> crate::views::Settings;
    /// Forgets the saved login; pending work stays and syncs after the next login.
    LogOut = "log_out" (()) -> crate::views::Settings;
    /// How the app looks (read before the first screen, so it never paints in the wrong one).
    LoadTheme = "load_theme" (()) -> crate::views::Theme;
    /// Sets how the app looks.
    SetTheme = "set_theme" (crate::views::Theme) -> crate::views::Settings;
    /// Starts the app at login (in the tray), or stops doing so.
    SetStartAtLogin = "set_start_at_login" (bool) -> crate::views::Settings;
    /// Sets the global shortcut for the quick launcher (empty: none), and registers it now.
    SetShortcut = "set_shortcut" (String) -> crate::views::Settings;
    /// Sets (or, with `None`, stops) the watched flows folder, and watches it at once.
    SetFlowsDir = "set_flows_dir" (Option<String>) -> crate::views::Settings;
    /// Called once the first screen is rendered: the shell shows its window then, so it never
    /// opens blank, and logs how long the start took.
    Painted = "painted" (()) -> ();
    /// Called once the front end listens for `navigate`: answers the link the app was started
    /// with (or that arrived before the page was ready), if any. Later links come as events.
    TakeLink = "take_link" (()) -> Option<crate::links::Link>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPinArgs {
    pub flow_id: Uuid,
    pub pinned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActArgs {
    pub session_id: Uuid,
    pub commands: Vec<SessionCommand>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachFileArgs {
    pub session_id: Uuid,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveConflictArgs {
    pub id: Uuid,
    pub keep: rf_core::sync::Keep,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogInArgs {
    pub server_url: String,
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for LogInArgs {
    /// Never prints the password.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LogInArgs")
            .field("server_url", &self.server_url)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Where a new batch's targets come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchTargets {
    /// Typed or pasted (one per line in the app).
    Given(Vec<String>),
    /// A saved list, by name, of the batch's client unless another is named.
    List {
        name: String,
        client: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartBatchArgs {
    pub flow_id: Uuid,
    pub targets: BatchTargets,
    pub ticket: String,
    pub client: String,
    /// The values asked once for the whole batch.
    pub variables: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTargetArgs {
    pub batch_id: Uuid,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveTargetListArgs {
    pub client: String,
    pub name: String,
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOffArgs {
    pub session_id: Uuid,
    pub to_email: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostToTicketArgs {
    pub session_id: Uuid,
    pub ticket_id: i64,
    pub flags: Vec<rf_core::psa::NoteFlag>,
    pub status: Option<String>,
    /// The note as previewed (and perhaps edited).
    pub text: String,
    /// Whether the preview was redacted.
    pub redacted: bool,
    /// Post even though this session's note is already posted or queued for this ticket.
    pub again: bool,
    /// Record the engineer's time as a time entry on the ticket.
    pub time: Option<rf_core::psa::PostTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskPilotArgs {
    pub session_id: Uuid,
    pub summarize: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveDraftArgs {
    pub session_id: Uuid,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for name in ALL {
            assert!(seen.insert(*name), "{name} twice");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
        }
        assert_eq!(Act::NAME, "act");
    }
}
