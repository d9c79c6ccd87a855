//! Maintenance batches: one checklist run across a list of targets, one session per target.
//!
//! A [`Batch`] is written once, when it is started, and never changed: the flow version, the
//! targets (a copy, so editing a saved [`TargetList`] later changes no started batch), the
//! values asked once for the whole batch. Everything else is derived from the sessions that
//! name the batch in their `started` event ([`BatchLink`]): [`progress`] reads each target's
//! sessions into its state, so nothing is stored twice and two engineers working different
//! targets on two devices converge once their sessions sync. A target started on two devices
//! while both were offline has two sessions; it is shown as started twice, never merged.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::export::{
    ExportFormat, ExportOptions, FieldCleaner, TicketNote, date_time, human_duration,
    markdown_inline, one_line, push_escaped,
};
use crate::flow::{FlowKind, Outcome};
use crate::session::{
    EngineError, EventKind, FlowRef, FlowSet, MAX_TEXT_BYTES, SessionState, SessionStatus,
    StartRequest,
};
use crate::text::is_hidden;
use crate::validate::is_valid_variable_name;

/// Most targets in one batch or target list.
pub const MAX_TARGETS: usize = 1000;
/// Longest target name, in bytes.
pub const MAX_TARGET_BYTES: usize = 200;
/// Longest target list name or client name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// Most values asked once for a whole batch.
pub const MAX_BATCH_VARIABLES: usize = 200;

/// What a batch session's `started` event names: its batch and its target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BatchLink {
    pub batch_id: Uuid,
    pub target: String,
}

/// A batch started for one occurrence of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ScheduledRun {
    pub schedule_id: Uuid,
    /// The occurrence's day in the schedule's time zone.
    #[serde(with = "iso_date")]
    pub occurrence: time::Date,
}

/// A batch as it is synced: written once when started, never changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The flow version every target runs.
    pub flow: FlowRef,
    pub flow_title: String,
    pub flow_kind: FlowKind,
    /// The intake variable each target fills.
    pub target_variable: String,
    pub targets: Vec<String>,
    /// The values asked once for the whole batch (never the target variable).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub ticket: String,
    #[serde(default)]
    pub client: String,
    /// Who started the batch, as sessions record their engineer.
    pub started_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The saved target list the targets were copied from, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<ScheduledRun>,
}

/// A saved list of targets for a client, synced to the team. Its id follows from the client
/// and the name (any case), so a list saved under one name on two devices is one list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetList {
    pub client: String,
    pub name: String,
    pub targets: Vec<String>,
}

/// The namespace of target list ids (a UUID v5 of the client and the name).
const TARGET_LIST_NAMESPACE: Uuid = Uuid::from_u128(0x5f0e_6c1a_93d4_4b7e_a2c8_7d11_0b6e_4a21);

impl TargetList {
    /// The list's id: the same for the same client and name in any case, on every device.
    pub fn id_of(client: &str, name: &str) -> Uuid {
        let key = format!(
            "{}\u{0}{}",
            client.trim().to_lowercase(),
            name.trim().to_lowercase()
        );
        Uuid::new_v5(&TARGET_LIST_NAMESPACE, key.as_bytes())
    }

    pub fn id(&self) -> Uuid {
        TargetList::id_of(&self.client, &self.name)
    }

    /// A list checked as every peer checks it.
    pub fn new(client: &str, name: &str, targets: Vec<String>) -> Result<TargetList, String> {
        let list = TargetList {
            client: checked_name("the client", client)?,
            name: checked_name("the list's name", name)?,
            targets: check_targets(targets)?,
        };
        Ok(list)
    }

    /// Checks a list from elsewhere (a peer, the server) as [`TargetList::new`] does.
    pub fn check(&self, id: Uuid) -> Result<(), String> {
        let checked = TargetList::new(&self.client, &self.name, self.targets.clone())?;
        if &checked != self {
            return Err("the list is not in its checked form (names trimmed)".to_owned());
        }
        if id != self.id() {
            return Err(format!(
                "the list's id {id} does not follow from its client and name"
            ));
        }
        Ok(())
    }
}

/// Targets as typed or pasted: one per line; blank lines and lines starting with `#` are
/// skipped.
pub fn targets_from_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The targets trimmed and checked: at least one, at most [`MAX_TARGETS`], each on one line
/// within [`MAX_TARGET_BYTES`] with no hidden characters, none listed twice (in any case).
pub fn check_targets(targets: Vec<String>) -> Result<Vec<String>, String> {
    let mut checked: Vec<String> = Vec::with_capacity(targets.len());
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for target in targets {
        let target = target.trim();
        if target.is_empty() {
            continue;
        }
        check_one_line("a target", target, MAX_TARGET_BYTES)?;
        if let Some(first) = seen.insert(target.to_lowercase(), target.to_owned()) {
            return Err(format!(
                "{target:?} is listed twice{}; list each target once",
                if first == target {
                    String::new()
                } else {
                    format!(" (also as {first:?})")
                }
            ));
        }
        checked.push(target.to_owned());
    }
    if checked.is_empty() {
        return Err("no targets given; list at least one (one per line)".to_owned());
    }
    if checked.len() > MAX_TARGETS {
        return Err(format!(
            "{} targets; a batch or list holds at most {MAX_TARGETS}: split it in two",
            checked.len()
        ));
    }
    Ok(checked)
}

/// A client or list name, trimmed and checked.
pub fn checked_name(what: &str, text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{what} is empty; give one"));
    }
    check_one_line(what, text, MAX_NAME_BYTES)?;
    Ok(text.to_owned())
}

fn check_one_line(what: &str, text: &str, limit: usize) -> Result<(), String> {
    if text.len() > limit {
        return Err(format!(
            "{what} is {} bytes long; the limit is {limit}",
            text.len()
        ));
    }
    if text.chars().any(|c| c.is_control() || is_hidden(c)) {
        return Err(format!(
            "{what} ({:?}) holds a control or invisible character; type it again",
            text.chars()
                .filter(|c| !c.is_control() && !is_hidden(*c))
                .collect::<String>()
        ));
    }
    Ok(())
}

impl Batch {
    /// Checks a batch from elsewhere (a peer, the server) with the rules its author applied.
    pub fn check(&self) -> Result<(), String> {
        if !self.flow_kind.is_checklist() {
            return Err(
                "a batch runs a maintenance or procedural flow, not a troubleshooting one"
                    .to_owned(),
            );
        }
        if !is_valid_variable_name(&self.target_variable) {
            return Err(format!(
                "the target variable {:?} is not a variable name",
                self.target_variable
            ));
        }
        let targets = check_targets(self.targets.clone())?;
        if targets != self.targets {
            return Err("the batch's targets are not in their checked form".to_owned());
        }
        if self.variables.len() > MAX_BATCH_VARIABLES {
            return Err(format!(
                "{} values; the limit is {MAX_BATCH_VARIABLES}",
                self.variables.len()
            ));
        }
        if self.variables.contains_key(&self.target_variable) {
            return Err(format!(
                "{:?} is filled by each target, not once for the batch",
                self.target_variable
            ));
        }
        for (name, value) in &self.variables {
            if !is_valid_variable_name(name) || value.len() > MAX_TEXT_BYTES {
                return Err(format!("the value of {name:?} is not one a session takes"));
            }
        }
        for (what, text) in [
            ("the flow's title", &self.flow_title),
            ("the ticket", &self.ticket),
            ("the client", &self.client),
            ("who started it", &self.started_by),
        ] {
            if text.len() > MAX_TEXT_BYTES {
                return Err(format!("{what} is longer than {MAX_TEXT_BYTES} bytes"));
            }
        }
        if let Some(list) = &self.target_list {
            check_one_line("the target list's name", list, MAX_NAME_BYTES)?;
        }
        Ok(())
    }

    /// The batch's spelling of `given` (any case, trimmed), or why it is not one of its targets.
    pub fn target(&self, given: &str) -> Result<&str, String> {
        let given = given.trim();
        self.targets
            .iter()
            .find(|target| target.as_str() == given)
            .or_else(|| {
                self.targets
                    .iter()
                    .find(|target| target.to_lowercase() == given.to_lowercase())
            })
            .map(String::as_str)
            .ok_or_else(|| {
                let shown: Vec<&str> = self.targets.iter().take(10).map(String::as_str).collect();
                format!(
                    "{given:?} is not a target of this batch; its targets are {}{}",
                    shown.join(", "),
                    if self.targets.len() > shown.len() {
                        format!(" and {} more", self.targets.len() - shown.len())
                    } else {
                        String::new()
                    }
                )
            })
    }
}

/// The events that start `target`'s session of `batch` (see `session::start`): the batch's
/// flow version, its values with the target filled in, and the link to the batch. `flows`
/// must hold the batch's version as its flow's head, and the subflows it may run.
pub fn start_target(
    flows: &FlowSet,
    batch_id: Uuid,
    batch: &Batch,
    target: &str,
    engineer: &str,
) -> Result<Vec<EventKind>, EngineError> {
    let target = batch.target(target).map_err(EngineError::NotHere)?;
    match flows.latest(batch.flow.flow_id) {
        Some((reference, _)) if reference == batch.flow => {}
        _ => {
            return Err(EngineError::MissingFlowVersion {
                flow_id: batch.flow.flow_id,
                version: batch.flow.version,
            });
        }
    }
    let mut variables = batch.variables.clone();
    variables.insert(batch.target_variable.clone(), target.to_owned());
    let mut events = crate::session::start(
        flows,
        batch.flow.flow_id,
        StartRequest {
            ticket: batch.ticket.clone(),
            client: batch.client.clone(),
            engineer: engineer.to_owned(),
            variables,
        },
    )?;
    if let Some(EventKind::Started { batch: link, .. }) = events.first_mut() {
        *link = Some(BatchLink {
            batch_id,
            target: target.to_owned(),
        });
    }
    Ok(events)
}

/// What [`progress`] needs of one session of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSession {
    pub session_id: Uuid,
    pub target: String,
    pub engineer: String,
    pub status: SessionStatus,
    pub outcome: Option<Outcome>,
    /// Checklist items done and items in all, in the session's own flow.
    pub done: usize,
    pub total: usize,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_event_at: OffsetDateTime,
}

impl TargetSession {
    /// The facts of a batch session from its state; `None` when it is no batch's session.
    pub fn of(session_id: Uuid, state: &SessionState, flows: &FlowSet) -> Option<TargetSession> {
        let link = state.batch.as_ref()?;
        let (done, total) = flows
            .get(state.flow)
            .map(|flow| crate::session::checklist_progress(state, state.flow, flow))
            .unwrap_or((0, 0));
        Some(TargetSession {
            session_id,
            target: link.target.clone(),
            engineer: state.engineer.clone(),
            status: state.status,
            outcome: state.outcome,
            done,
            total,
            started_at: state.started_at,
            last_event_at: state.last_event_at,
        })
    }

    pub fn seconds(&self) -> i64 {
        (self.last_event_at - self.started_at)
            .whole_seconds()
            .max(0)
    }
}

/// Where one target of a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    NotStarted,
    InProgress,
    Finished,
    /// Started on two devices (or twice): every session is shown, none is picked.
    StartedTwice,
}

impl TargetStatus {
    pub fn label(self) -> &'static str {
        match self {
            TargetStatus::NotStarted => "not started",
            TargetStatus::InProgress => "in progress",
            TargetStatus::Finished => "finished",
            TargetStatus::StartedTwice => "started twice",
        }
    }
}

/// One target and its sessions (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetProgress {
    pub target: String,
    pub status: TargetStatus,
    /// The outcome of a finished target.
    pub outcome: Option<Outcome>,
    pub sessions: Vec<TargetSession>,
}

impl TargetProgress {
    /// The one session of a target started once.
    pub fn session(&self) -> Option<&TargetSession> {
        match self.sessions.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// A target the batch note explains: not finished, finished other than resolved, or
    /// started twice.
    pub fn is_exception(&self) -> bool {
        self.outcome != Some(Outcome::Resolved)
    }
}

/// Counts over a batch's targets; each target counts once, in exactly one state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCounts {
    pub targets: usize,
    pub not_started: usize,
    pub in_progress: usize,
    pub finished: usize,
    pub started_twice: usize,
    /// Finished targets by outcome.
    pub outcomes: BTreeMap<Outcome, usize>,
}

/// A batch's state, derived from its sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchProgress {
    pub targets: Vec<TargetProgress>,
    pub counts: BatchCounts,
    /// Time spent on the batch's sessions, in seconds (each from its start to its last event).
    pub seconds: i64,
    /// Sessions naming this batch and a target it does not have (a damaged peer's), shown,
    /// never counted.
    pub strays: Vec<TargetSession>,
}

impl BatchProgress {
    /// Every target finished (a target started twice counts once all its sessions are).
    pub fn is_complete(&self) -> bool {
        self.targets.iter().all(|target| match target.status {
            TargetStatus::Finished => true,
            TargetStatus::StartedTwice => target
                .sessions
                .iter()
                .all(|session| session.status == SessionStatus::Finished),
            TargetStatus::NotStarted | TargetStatus::InProgress => false,
        })
    }

    /// "3 of 5 targets finished" and the like, for a person.
    pub fn headline(&self) -> String {
        let counts = &self.counts;
        let mut line = format!("{} of {} finished", counts.finished, counts.targets);
        for (count, label) in [
            (counts.in_progress, "in progress"),
            (counts.not_started, "not started"),
            (counts.started_twice, "started twice"),
        ] {
            if count > 0 {
                let _ = write!(line, ", {count} {label}");
            }
        }
        line
    }
}

/// Adds `session` to `list`, or, when the list holds another copy of it (a replica behind
/// another), keeps the later copy: more recent, or as recent and further on, so the choice
/// never depends on the order copies come in.
fn keep_latest(list: &mut Vec<TargetSession>, session: &TargetSession) {
    let key = |session: &TargetSession| {
        (
            session.last_event_at,
            session.status == SessionStatus::Finished,
            session.done,
            session.outcome,
            session.total,
            session.engineer.clone(),
            session.target.clone(),
            session.started_at,
        )
    };
    match list
        .iter_mut()
        .find(|known| known.session_id == session.session_id)
    {
        Some(known) => {
            if key(session) > key(known) {
                *known = session.clone();
            }
        }
        None => list.push(session.clone()),
    }
}

/// Each target's state from the sessions naming the batch, in any order: every target is
/// counted once, in one state; sessions are ordered by start (then id), so any two replicas
/// holding the same sessions derive the same progress.
pub fn progress(batch: &Batch, sessions: &[TargetSession]) -> BatchProgress {
    let mut by_target: BTreeMap<&str, Vec<TargetSession>> = batch
        .targets
        .iter()
        .map(|target| (target.as_str(), Vec::new()))
        .collect();
    let mut strays = Vec::new();
    for session in sessions {
        match by_target.get_mut(session.target.as_str()) {
            Some(list) => keep_latest(list, session),
            None => keep_latest(&mut strays, session),
        }
    }
    let mut counts = BatchCounts {
        targets: batch.targets.len(),
        ..BatchCounts::default()
    };
    let mut seconds = 0;
    let targets = batch
        .targets
        .iter()
        .map(|target| {
            let mut sessions = by_target.remove(target.as_str()).unwrap_or_default();
            sessions.sort_by_key(|session| (session.started_at, session.session_id));
            seconds += sessions.iter().map(TargetSession::seconds).sum::<i64>();
            let (status, outcome) = match sessions.as_slice() {
                [] => (TargetStatus::NotStarted, None),
                [only] if only.status == SessionStatus::Finished => {
                    (TargetStatus::Finished, only.outcome)
                }
                [_] => (TargetStatus::InProgress, None),
                _ => (TargetStatus::StartedTwice, None),
            };
            match status {
                TargetStatus::NotStarted => counts.not_started += 1,
                TargetStatus::InProgress => counts.in_progress += 1,
                TargetStatus::Finished => {
                    counts.finished += 1;
                    if let Some(outcome) = outcome {
                        *counts.outcomes.entry(outcome).or_default() += 1;
                    }
                }
                TargetStatus::StartedTwice => counts.started_twice += 1,
            }
            TargetProgress {
                target: target.clone(),
                status,
                outcome,
                sessions,
            }
        })
        .collect();
    strays.sort_by_key(|session| (session.started_at, session.session_id));
    BatchProgress {
        targets,
        counts,
        seconds,
        strays,
    }
}

/// One row of a batch note's results table, cleaned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchNoteRow {
    pub target: String,
    pub state: String,
    pub engineer: String,
    pub time: String,
}

/// A target the note explains, with the notes of its sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchException {
    pub target: String,
    pub state: String,
    pub sessions: Vec<TicketNote>,
}

/// The batch's ticket note: a results table per target, then the exceptions in detail. Every
/// text is cleaned as a session's note is (redacted when asked, one redactor for the whole
/// note so its counts cover every session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchNote {
    pub flow_title: String,
    pub flow_version: String,
    pub ticket: String,
    pub client: String,
    pub started_by: String,
    pub started: String,
    pub summary: String,
    pub time_spent: String,
    pub rows: Vec<BatchNoteRow>,
    /// Targets nobody started yet, listed once rather than one section each.
    pub not_started: Vec<String>,
    /// Targets with sessions whose result is not `resolved`, in detail.
    pub exceptions: Vec<BatchException>,
    pub redactions: Option<crate::redact::RedactionCounts>,
}

fn state_words(target: &TargetProgress) -> String {
    match (target.status, target.outcome, target.session()) {
        (TargetStatus::Finished, Some(outcome), _) => outcome.as_str().to_owned(),
        (TargetStatus::InProgress, _, Some(session)) if session.total > 0 => format!(
            "in progress, step {} of {}",
            (session.done + 1).min(session.total),
            session.total
        ),
        (TargetStatus::StartedTwice, _, _) => {
            format!("started twice ({} sessions)", target.sessions.len())
        }
        (status, _, _) => status.label().to_owned(),
    }
}

impl BatchNote {
    /// The note of `batch` as `progress` shows it; `states` holds the sessions' states (an
    /// exception whose session is missing is listed without its steps).
    pub fn build(
        batch: &Batch,
        progress: &BatchProgress,
        states: &BTreeMap<Uuid, SessionState>,
        options: ExportOptions,
    ) -> BatchNote {
        let mut clean = FieldCleaner::new(options.redact);
        let rows = progress
            .targets
            .iter()
            .map(|target| {
                let engineers: Vec<String> = {
                    let mut names: Vec<&str> = target
                        .sessions
                        .iter()
                        .map(|session| session.engineer.as_str())
                        .collect();
                    names.dedup();
                    names.into_iter().map(|name| clean.line(name)).collect()
                };
                BatchNoteRow {
                    target: clean.line(&target.target),
                    state: state_words(target),
                    engineer: engineers.join(", "),
                    time: if target.sessions.is_empty() {
                        String::new()
                    } else {
                        human_duration(time::Duration::seconds(
                            target.sessions.iter().map(TargetSession::seconds).sum(),
                        ))
                    },
                }
            })
            .collect();
        let not_started = progress
            .targets
            .iter()
            .filter(|target| target.status == TargetStatus::NotStarted)
            .map(|target| clean.line(&target.target))
            .collect();
        let exceptions = progress
            .targets
            .iter()
            .filter(|target| target.is_exception() && target.status != TargetStatus::NotStarted)
            .map(|target| BatchException {
                target: clean.line(&target.target),
                state: state_words(target),
                sessions: target
                    .sessions
                    .iter()
                    .filter_map(|session| states.get(&session.session_id))
                    .map(|state| TicketNote::build_with(state, &mut clean))
                    .collect(),
            })
            .collect();
        let counts = &progress.counts;
        let mut summary = progress.headline();
        if !counts.outcomes.is_empty() {
            let outcomes: Vec<String> = counts
                .outcomes
                .iter()
                .map(|(outcome, count)| format!("{count} {}", outcome.as_str()))
                .collect();
            let _ = write!(summary, " ({})", outcomes.join(", "));
        }
        BatchNote {
            flow_title: clean.line(&batch.flow_title),
            flow_version: batch.flow.version.short(),
            ticket: clean.line(&batch.ticket),
            client: clean.line(&batch.client),
            started_by: clean.line(&batch.started_by),
            started: date_time(batch.created_at),
            summary,
            time_spent: human_duration(time::Duration::seconds(progress.seconds)),
            rows,
            not_started,
            exceptions,
            redactions: clean.into_counts(),
        }
    }

    pub fn render(&self, format: ExportFormat) -> String {
        match format {
            ExportFormat::Markdown => self.to_markdown(),
            ExportFormat::Text => self.to_text(),
            ExportFormat::Html => self.to_html(),
        }
    }

    fn header_rows(&self) -> [(&'static str, String); 7] {
        [
            (
                "Flow",
                format!("{} (version {})", self.flow_title, self.flow_version),
            ),
            ("Ticket", self.ticket.clone()),
            ("Client", self.client.clone()),
            ("Started by", self.started_by.clone()),
            ("Started", self.started.clone()),
            ("Results", self.summary.clone()),
            ("Time spent", self.time_spent.clone()),
        ]
    }

    fn redaction_line(&self) -> Option<String> {
        crate::export::redaction_line(self.redactions.as_ref())
    }

    fn session_line(note: &TicketNote) -> String {
        format!(
            "{}, started {}, {}, {}",
            note.engineer, note.started, note.duration, note.outcome
        )
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## Batch: {}\n", markdown_inline(&self.flow_title));
        for (label, value) in self.header_rows() {
            let _ = writeln!(out, "- **{label}:** {}", markdown_inline(&value));
        }
        out.push_str("\n### Results\n\n| Target | Result | Engineer | Time |\n|---|---|---|---|\n");
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                markdown_inline(&row.target),
                markdown_inline(&row.state),
                markdown_inline(&row.engineer),
                markdown_inline(&row.time)
            );
        }
        out.push_str("\n### Exceptions\n");
        if self.exceptions.is_empty() && self.not_started.is_empty() {
            out.push_str("\n_None: every target finished resolved._\n");
        }
        if !self.not_started.is_empty() {
            out.push_str("\n**Not started:**\n\n");
            for name in &self.not_started {
                let _ = writeln!(out, "- {}", markdown_inline(name));
            }
        }
        for exception in &self.exceptions {
            let _ = writeln!(
                out,
                "\n#### {} — {}",
                markdown_inline(&exception.target),
                markdown_inline(&exception.state)
            );
            for note in &exception.sessions {
                let _ = writeln!(out, "\n_{}_\n", markdown_inline(&Self::session_line(note)));
                note.write_markdown_body(&mut out, "#####");
            }
        }
        if let Some(line) = self.redaction_line() {
            let _ = write!(out, "\n_{line}_\n");
        }
        out
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let title = format!("Batch: {}", one_line(&self.flow_title));
        let _ = writeln!(out, "{title}");
        let _ = writeln!(out, "{}", "=".repeat(title.chars().count().clamp(3, 72)));
        for (label, value) in self.header_rows() {
            let _ = writeln!(out, "{:<12}{}", format!("{label}:"), one_line(&value));
        }
        out.push_str("\nResults\n-------\n");
        let width = self
            .rows
            .iter()
            .map(|row| row.target.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(6, 40);
        for row in &self.rows {
            let mut line = format!("{:<width$}  {}", one_line(&row.target), row.state);
            if !row.engineer.is_empty() {
                let _ = write!(line, " ({}, {})", one_line(&row.engineer), row.time);
            }
            let _ = writeln!(out, "{line}");
        }
        out.push_str("\nExceptions\n----------\n");
        if self.exceptions.is_empty() && self.not_started.is_empty() {
            out.push_str("None: every target finished resolved.\n");
        }
        if !self.not_started.is_empty() {
            out.push_str("Not started:\n");
            for name in &self.not_started {
                let _ = writeln!(out, "  - {}", one_line(name));
            }
        }
        for exception in &self.exceptions {
            let _ = writeln!(
                out,
                "\n* {} - {}",
                one_line(&exception.target),
                exception.state
            );
            for note in &exception.sessions {
                let _ = writeln!(out, "  {}", one_line(&Self::session_line(note)));
                let mut body = String::new();
                note.write_text_body(&mut body);
                for line in body.lines() {
                    if line.trim().is_empty() {
                        out.push('\n');
                    } else {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
        }
        if let Some(line) = self.redaction_line() {
            let _ = write!(out, "\n{line}\n");
        }
        out
    }

    /// An HTML fragment (no `<html>` wrapper) for pasting into a PSA or e-mail.
    pub fn to_html(&self) -> String {
        let mut out = String::from("<article class=\"rf-batch-note\">\n<h2>Batch: ");
        push_escaped(&mut out, &self.flow_title);
        out.push_str("</h2>\n<table>\n");
        for (label, value) in self.header_rows() {
            crate::export::push_header_row(&mut out, label, &value);
        }
        out.push_str("</table>\n<h3>Results</h3>\n<table class=\"rf-results\">\n<tr><th>Target</th><th>Result</th><th>Engineer</th><th>Time</th></tr>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for cell in [&row.target, &row.state, &row.engineer, &row.time] {
                out.push_str("<td>");
                push_escaped(&mut out, cell);
                out.push_str("</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n<h3>Exceptions</h3>\n");
        if self.exceptions.is_empty() && self.not_started.is_empty() {
            out.push_str("<p><em>None: every target finished resolved.</em></p>\n");
        }
        if !self.not_started.is_empty() {
            out.push_str("<p><strong>Not started:</strong></p>\n<ul class=\"rf-not-started\">\n");
            for name in &self.not_started {
                out.push_str("<li>");
                push_escaped(&mut out, name);
                out.push_str("</li>\n");
            }
            out.push_str("</ul>\n");
        }
        for exception in &self.exceptions {
            out.push_str("<section class=\"rf-exception\"><h4>");
            push_escaped(&mut out, &exception.target);
            out.push_str(" — ");
            push_escaped(&mut out, &exception.state);
            out.push_str("</h4>\n");
            for note in &exception.sessions {
                out.push_str("<p><em>");
                push_escaped(&mut out, &Self::session_line(note));
                out.push_str("</em></p>\n");
                note.write_html_body(&mut out, "h5");
            }
            out.push_str("</section>\n");
        }
        if let Some(line) = self.redaction_line() {
            out.push_str("<p class=\"rf-redaction\"><em>");
            push_escaped(&mut out, &line);
            out.push_str("</em></p>\n");
        }
        out.push_str("</article>\n");
        out
    }
}

/// `YYYY-MM-DD` in JSON.
pub(crate) mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use time::macros::format_description;

    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]");

    pub fn parse(text: &str) -> Result<time::Date, String> {
        time::Date::parse(text.trim(), FORMAT)
            .map_err(|_| format!("{text:?} is not a date written YYYY-MM-DD"))
    }

    pub fn format(date: time::Date) -> String {
        date.format(FORMAT).unwrap_or_default()
    }

    pub fn serialize<S: Serializer>(date: &time::Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*date))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<time::Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(D::Error::custom)
    }
}

pub use iso_date::{format as format_date, parse as parse_date};
