//! What the app's screens and the CLI ask of a replica, assembled once here so both call the
//! same functions: the status report, the home screen, the library under a filter, a flow's
//! detail page, a session as the runner shows it, and the runner's acts with the note being
//! typed (saved as a draft as it is typed, recorded when the engineer acts at the step).

use std::collections::BTreeSet;

use rf_core::session::{self, Command, SessionState, StartRequest};
use rusqlite::{OptionalExtension, Transaction, params};
use uuid::Uuid;

use crate::error::{ReplicaError, Result};
use crate::tokens::TokenStore;
use crate::{
    FlowDetail, FlowSummary, Home, Library, LibraryEntry, LibraryFilter, Replica, SessionView,
    Settings, StatusReport, Theme, now, timestamp,
};

/// The preference naming the theme ([`Theme::as_str`]).
pub const THEME: &str = "theme";
/// The preference naming the watched flows folder (an absolute path).
pub const FLOWS_DIR: &str = "flows_dir";
/// The preference holding the quick launcher's global shortcut (empty: none).
pub const SHORTCUT: &str = "shortcut";
/// A preference's value at most: a path, a name.
const MAX_PREFERENCE_BYTES: usize = 4096;

/// Recent flows the home screen and the tray show.
pub const RECENT_FLOWS: usize = 8;
/// Search matches the library shows at most (a library has hundreds of flows, not more).
const LIBRARY_MATCHES: usize = 500;

/// A draft as stored: the step it was typed at, and the text.
struct Draft {
    step: String,
    step_title: String,
    text: String,
}

/// Names the step in front of the engineer: its node and how far the session had come, so a
/// draft typed at a step is recognised only there (the same node reached again later is
/// another step).
fn step_key(state: &SessionState) -> String {
    let node = state
        .current_cursor()
        .and_then(|cursor| cursor.node.as_deref())
        .unwrap_or("");
    format!("{node}@{}", state.path.len())
}

fn read_draft(connection: &rusqlite::Connection, id: Uuid) -> Result<Option<Draft>> {
    Ok(connection
        .query_row(
            "SELECT step, step_title, text FROM note_drafts WHERE session_id = ?1",
            [id.to_string()],
            |row| {
                Ok(Draft {
                    step: row.get(0)?,
                    step_title: row.get(1)?,
                    text: row.get(2)?,
                })
            },
        )
        .optional()?)
}

/// The note a draft becomes when the engineer acts: as typed at its own step, or saying where
/// it was typed when the session has moved on since (nothing typed is dropped, and nothing is
/// recorded as if written somewhere it was not).
fn draft_note(draft: Draft, state: &SessionState) -> Option<Command> {
    if draft.text.trim().is_empty() {
        return None;
    }
    let text = if draft.step == step_key(state) {
        draft.text
    } else {
        format!("(typed at “{}”) {}", draft.step_title, draft.text)
    };
    Some(Command::Note { text })
}

impl Replica {
    /// A preference of this device, as stored.
    pub fn preference(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .connection
            .query_row(
                "SELECT value FROM preferences WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Sets a preference of this device (`None` forgets it). Never synced.
    pub fn set_preference(&mut self, name: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(value) if value.len() > MAX_PREFERENCE_BYTES => {
                return Err(ReplicaError::Invalid(format!(
                    "a setting holds at most {MAX_PREFERENCE_BYTES} bytes"
                )));
            }
            Some(value) => self.connection.execute(
                "INSERT INTO preferences (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )?,
            None => self
                .connection
                .execute("DELETE FROM preferences WHERE name = ?1", [name])?,
        };
        Ok(())
    }

    /// The theme chosen here; one this version does not know reads as the system's.
    pub fn theme(&self) -> Result<Theme> {
        Ok(self
            .preference(THEME)?
            .as_deref()
            .and_then(Theme::parse)
            .unwrap_or_default())
    }

    /// The quick launcher's global shortcut: the one chosen here, else the default.
    pub fn shortcut(&self) -> Result<String> {
        Ok(self
            .preference(SHORTCUT)?
            .unwrap_or_else(|| rf_app_api::DEFAULT_SHORTCUT.to_owned()))
    }

    /// The settings screen. `tokens` is the login's store; `flows_dir_override` is
    /// `RF_FLOWS_DIR` when set. A token store that cannot be read (a locked keyring) is not an
    /// error here: the screen says so, and offers to log in again.
    pub fn settings(
        &self,
        tokens: &dyn TokenStore,
        flows_dir_override: Option<String>,
    ) -> Result<Settings> {
        let (logged_in, login_problem) = match tokens.load() {
            Ok(credentials) => (credentials.is_some(), None),
            Err(error) => (false, Some(error.to_string())),
        };
        Ok(Settings {
            theme: self.theme()?,
            account: self.sync_account()?,
            logged_in,
            login_problem,
            token_store: tokens.describe(),
            flows_dir: self.preference(FLOWS_DIR)?,
            flows_dir_override,
            data_dir: self.data_dir().display().to_string(),
            // What only the desktop knows is filled in by the app.
            start_at_login: None,
            shortcut: self.shortcut()?,
            shortcut_problem: None,
        })
    }

    /// Where the replica stands. `online` is what the caller knows of the server (a probe, or
    /// the background sync's last attempt).
    pub fn status_report(&self, online: Option<bool>) -> Result<StatusReport> {
        let sync = self.sync_account()?;
        Ok(StatusReport {
            data_dir: self.data_dir().display().to_string(),
            device_id: self.device_id(),
            schema_version: self.schema_version()?,
            pending: self.sync_backlog()?,
            online: sync.as_ref().and(online),
            sync,
            conflicts: self.conflicts(false)?.len(),
        })
    }

    /// The home screen: pinned flows, recent flows and the sessions still in progress.
    pub fn home(&self) -> Result<Home> {
        let sessions = self.sessions()?;
        let handed_to_me = self.handed_to_me_among(sessions.clone())?;
        let mut in_progress = Vec::new();
        for session in sessions {
            if session.status == session::SessionStatus::Active.as_str()
                && !handed_to_me.iter().any(|handed| handed.id == session.id)
                && self.may_write(session.id)?
            {
                in_progress.push(session);
            }
        }
        in_progress.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
        Ok(Home {
            pinned: self.pinned_flows()?,
            recent: self.recent_flows(RECENT_FLOWS)?,
            in_progress,
            handed_to_me,
            due: self.due_work_now()?,
        })
    }

    /// The library under a filter. Text is searched as typed (full text, best matches first);
    /// text with no words in it shows every flow rather than an error, since it is typed a
    /// key at a time.
    pub fn library(&self, filter: &LibraryFilter) -> Result<Library> {
        let all = self.flows()?;
        let mut categories = BTreeSet::new();
        let mut tags = BTreeSet::new();
        for flow in &all {
            categories.extend(flow.category.iter().cloned());
            tags.extend(flow.tags.iter().cloned());
        }
        let searching = filter.text.chars().any(char::is_alphanumeric);
        let matches: Vec<LibraryEntry> = if searching {
            let by_id: std::collections::HashMap<Uuid, &FlowSummary> =
                all.iter().map(|flow| (flow.id, flow)).collect();
            self.search_flows(&filter.text, LIBRARY_MATCHES)?
                .into_iter()
                .filter_map(|hit| {
                    by_id.get(&hit.id).map(|flow| LibraryEntry {
                        flow: (*flow).clone(),
                        snippet: hit.snippet,
                    })
                })
                .collect()
        } else {
            all.iter()
                .map(|flow| LibraryEntry {
                    flow: flow.clone(),
                    snippet: String::new(),
                })
                .collect()
        };
        let flows = matches
            .into_iter()
            .filter(|entry| filter.kind.is_none_or(|kind| entry.flow.kind == kind))
            .filter(|entry| {
                filter
                    .category
                    .as_ref()
                    .is_none_or(|category| entry.flow.category.as_ref() == Some(category))
            })
            .filter(|entry| {
                filter
                    .tag
                    .as_ref()
                    .is_none_or(|tag| entry.flow.tags.contains(tag))
            })
            .collect();
        Ok(Library {
            flows,
            categories: categories.into_iter().collect(),
            tags: tags.into_iter().collect(),
            total: all.len(),
        })
    }

    /// A flow's detail page: its latest document, what a session of it asks for, the subflows
    /// the library lacks, and the team's path statistics.
    pub fn flow_detail(&self, id: Uuid) -> Result<FlowDetail> {
        let flow = self.flow(id)?;
        let flows = self.flow_set([self.latest_flow_ref(id)?])?;
        let intake = session::intake_fields(&flows, &flow.document)
            .into_iter()
            .cloned()
            .collect();
        Ok(FlowDetail {
            intake,
            missing_subflows: self.missing_subflows(id)?,
            stats: self.path_statistics(id)?,
            flow,
        })
    }

    /// Starts a session on the latest version of a flow and answers it as the runner shows it.
    pub fn start_session_view(
        &mut self,
        start: rf_app_api::StartSession,
        engineer: String,
    ) -> Result<SessionView> {
        let record = self.start_session(
            start.flow_id,
            StartRequest {
                ticket: start.ticket,
                client: start.client,
                engineer,
                variables: start.variables,
            },
        )?;
        self.session_view(record.id)
    }

    /// A session as the runner shows it. A flow version the session needs that is missing
    /// here (not synced yet) is a `problem` to show, not a failure: the record still shows.
    /// Who is at the keyboard, as a new session records them: the name given, else the account
    /// signed in to the team, else the OS user (`USER`, `USERNAME`), else "engineer".
    pub fn engineer(&self, given: Option<String>) -> Result<String> {
        let account =
            || -> Result<Option<String>> { Ok(self.sync_account()?.map(|account| account.email)) };
        let named = |name: &String| !name.trim().is_empty();
        if let Some(given) = given.filter(named) {
            return Ok(given);
        }
        if let Some(email) = account()?.filter(named) {
            return Ok(email);
        }
        Ok(["USER", "USERNAME"]
            .into_iter()
            .find_map(|variable| std::env::var(variable).ok().filter(named))
            .unwrap_or_else(|| "engineer".into()))
    }

    pub fn session_view(&self, id: Uuid) -> Result<SessionView> {
        let state = self.session(id)?.state;
        let draft = read_draft(&self.connection, id)?.map(|draft| draft.text);
        let flows = self.flow_set_for(&state)?;
        let breadcrumb = state
            .position
            .iter()
            .map(|cursor| {
                flows.get(cursor.flow).map_or_else(
                    || "(a flow not on this device yet)".to_owned(),
                    |flow| rf_core::flow::substitute(&flow.title, &state.variables),
                )
            })
            .collect();
        let (current, problem) = if state.is_finished() {
            (None, None)
        } else {
            match session::current_step(&state, &flows) {
                Ok(view) => (Some(view), None),
                Err(error) => (
                    None,
                    Some(format!(
                        "{error}. Sync to fetch it, or finish the session as it stands."
                    )),
                ),
            }
        };
        let stats = match &current {
            Some(view) => Some(self.path_statistics(view.flow.flow_id)?),
            None => None,
        };
        Ok(SessionView {
            id,
            state,
            current,
            breadcrumb,
            stats,
            problem,
            draft,
        })
    }

    /// What the engineer did at the current step, in one transaction: the note being typed
    /// there goes in first (unless the commands begin with a note of their own, which stands
    /// for it) and its draft is deleted, so a note is either a draft or recorded, never both
    /// and never neither. Either every command's events are stored or none are.
    pub fn act(&mut self, id: Uuid, commands: Vec<Command>) -> Result<SessionView> {
        let explicit_note = matches!(commands.first(), Some(Command::Note { .. }));
        self.run_commands_with(
            id,
            |transaction, state| {
                let mut all = Vec::with_capacity(commands.len() + 1);
                if !explicit_note
                    && let Some(draft) = read_draft(transaction, id)?
                    && let Some(note) = draft_note(draft, state)
                {
                    all.push(note);
                }
                all.extend(commands);
                Ok(all)
            },
            |transaction| {
                transaction.execute(
                    "DELETE FROM note_drafts WHERE session_id = ?1",
                    [id.to_string()],
                )?;
                Ok(())
            },
        )?;
        self.session_view(id)
    }

    /// Saves the note being typed at the session's current step, durably (it survives the app
    /// being killed), without recording it: [`Replica::act`] records it. Empty text deletes
    /// the draft.
    pub fn save_draft(&mut self, id: Uuid, text: &str) -> Result<()> {
        if text.len() > session::MAX_TEXT_BYTES {
            return Err(ReplicaError::Invalid(format!(
                "a note holds at most {} KiB; attach longer output as a file",
                session::MAX_TEXT_BYTES / 1024
            )));
        }
        let state = self.session(id)?.state;
        if state.is_finished() {
            return Err(ReplicaError::Invalid(
                "the session is finished; start a new one to add notes".into(),
            ));
        }
        let title = self.current_step_title(&state)?;
        let transaction = self.write_transaction()?;
        write_draft(&transaction, id, &step_key(&state), &title, text)?;
        transaction.commit()?;
        Ok(())
    }

    fn current_step_title(&self, state: &SessionState) -> Result<String> {
        let flows = self.flow_set_for(state)?;
        Ok(session::current_step(state, &flows)
            .ok()
            .and_then(|view| view.node.map(|node| node.title))
            .unwrap_or_else(|| "the end of the checklist".to_owned()))
    }
}

fn write_draft(
    transaction: &Transaction<'_>,
    id: Uuid,
    step: &str,
    title: &str,
    text: &str,
) -> Result<()> {
    if text.is_empty() {
        transaction.execute(
            "DELETE FROM note_drafts WHERE session_id = ?1",
            [id.to_string()],
        )?;
    } else {
        transaction.execute(
            "INSERT INTO note_drafts (session_id, step, step_title, text, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (session_id) DO UPDATE SET step = excluded.step,
                 step_title = excluded.step_title, text = excluded.text,
                 updated_at = excluded.updated_at",
            params![id.to_string(), step, title, text, timestamp(now())],
        )?;
    }
    Ok(())
}
