//! Maintenance work in the replica: saved target lists, batches and their target sessions,
//! schedules and the runs they make due. The records sync through `records`; a batch's state
//! is derived from its sessions (`rf_core::batch::progress`), and due runs from the schedules
//! and the batches started for them (`rf_core::schedule::due_runs`), never stored.

use std::collections::{BTreeMap, BTreeSet};

use rf_app_api::views::{
    BatchSummary, BatchView, DueItem, DueWork, ScheduleView, SessionRecord, TargetListView,
};
use rf_core::FlowKind;
use rf_core::batch::{
    Batch, BatchNote, ScheduledRun, TargetList, TargetSession, check_targets, progress,
};
use rf_core::export::{ExportFormat, ExportOptions};
use rf_core::schedule::{DueState, Schedule, day_in, due_runs, normalise_rule};
use rf_core::session::{self, SessionState, StartRequest};
use rf_core::sync::{Record, RecordKind};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{ReplicaError, Result};
use crate::sessions::load_events;
use crate::{Replica, now, resolve_prefix, timestamp};

/// Where a new batch's targets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// Typed or pasted, in order.
    Given(Vec<String>),
    /// A saved list, by name (any case), of the batch's client unless another is named.
    List {
        name: String,
        client: Option<String>,
    },
}

/// What `rf batch start` and the app's "start a batch" give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBatch {
    pub flow_id: Uuid,
    pub targets: Targets,
    pub ticket: String,
    pub client: String,
    /// The values asked once for the whole batch.
    pub variables: BTreeMap<String, String>,
    /// The due run of a schedule this batch is started for.
    pub scheduled: Option<ScheduledRun>,
    pub engineer: String,
}

/// What `rf schedule add` and the app give for a new schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    pub flow_id: Uuid,
    pub client: String,
    /// An RFC 5545 `RRULE` value (`RRULE:` prefix allowed).
    pub rule: String,
    /// An IANA zone name.
    pub time_zone: String,
    /// The first day the rule may fall on; today in the zone when `None`.
    pub first_day: Option<time::Date>,
    /// A saved target list of the client, by name.
    pub target_list: Option<String>,
    pub engineer: String,
}

/// A target's session as `run_target` found or made it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRun {
    pub session: SessionRecord,
    /// True when the session was started by this call, false when an earlier one resumes.
    pub started: bool,
}

fn not_found(what: &'static str, given: &str) -> ReplicaError {
    ReplicaError::NotFound {
        what,
        given: given.to_owned(),
    }
}

impl Replica {
    // ----- target lists -----

    /// Saves a target list for a client (replacing the list of that name), synced to the team.
    /// Batches already started keep their own copy of the targets.
    pub fn set_target_list(
        &mut self,
        client: &str,
        name: &str,
        targets: Vec<String>,
    ) -> Result<TargetListView> {
        let list = TargetList::new(client, name, targets).map_err(ReplicaError::Invalid)?;
        let id = list.id();
        let transaction = self.write_transaction()?;
        crate::records::put(&transaction, id, &Record::TargetList(list.clone()))?;
        transaction.commit()?;
        Ok(list_view(id, list))
    }

    pub fn target_lists(&self) -> Result<Vec<TargetListView>> {
        let mut lists: Vec<TargetListView> =
            crate::records::all(&self.connection, RecordKind::TargetList)?
                .into_iter()
                .filter_map(|(id, record)| match record {
                    Record::TargetList(list) => Some(list_view(id, list)),
                    _ => None,
                })
                .collect();
        lists.sort_by(|a, b| {
            (a.client.to_lowercase(), a.name.to_lowercase())
                .cmp(&(b.client.to_lowercase(), b.name.to_lowercase()))
        });
        Ok(lists)
    }

    /// The list called `name` (any case); of `client` when given, else the only one so named.
    pub fn target_list(&self, name: &str, client: Option<&str>) -> Result<TargetListView> {
        if let Some(client) = client.filter(|client| !client.trim().is_empty()) {
            let id = TargetList::id_of(client, name);
            return match crate::records::one(&self.connection, RecordKind::TargetList, id)? {
                Some(Record::TargetList(list)) => Ok(list_view(id, list)),
                _ => Err(ReplicaError::Invalid(format!(
                    "there is no target list {name:?} for {client:?}; `rf targets list` shows the saved lists, `rf targets set` saves one"
                ))),
            };
        }
        let matching: Vec<TargetListView> = self
            .target_lists()?
            .into_iter()
            .filter(|list| list.name.to_lowercase() == name.trim().to_lowercase())
            .collect();
        match matching.len() {
            1 => Ok(matching
                .into_iter()
                .next()
                .ok_or_else(|| not_found("target list", name))?),
            0 => Err(ReplicaError::Invalid(format!(
                "there is no target list {name:?}; `rf targets list` shows the saved lists, `rf targets set` saves one"
            ))),
            _ => Err(ReplicaError::Invalid(format!(
                "{} clients have a target list {name:?} ({}); name the client with --client",
                matching.len(),
                matching
                    .iter()
                    .map(|list| list.client.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    // ----- batches -----

    /// Starts a batch: checks the flow, the targets and the values once for the whole batch
    /// (by starting the first target's session in memory, so every refusal comes before
    /// anything is written), then writes the batch and queues it for the team. No session is
    /// started: each target's begins when someone starts that target.
    pub fn start_batch(&mut self, new: NewBatch) -> Result<(Uuid, Batch)> {
        let reference = self.latest_flow_ref(new.flow_id)?;
        let flow = self.flow_version(reference)?;
        if flow.kind == FlowKind::Troubleshooting {
            return Err(ReplicaError::Invalid(format!(
                "{:?} is a troubleshooting flow; a batch runs a maintenance or procedural checklist",
                flow.title
            )));
        }
        let target_variable = flow.target_variable().to_owned();
        let flows = self.flow_set([reference])?;
        let declared = session::intake_fields(&flows, &flow)
            .iter()
            .any(|field| field.name == target_variable);
        if !declared {
            return Err(ReplicaError::Invalid(format!(
                "{:?} has no intake variable {target_variable:?} for each target to fill; add one to the flow, or name an intake variable with its `target` field",
                flow.title
            )));
        }
        if new.variables.contains_key(&target_variable) {
            return Err(ReplicaError::Invalid(format!(
                "{target_variable:?} is filled by each target; do not give it with --var"
            )));
        }
        let (client, targets, target_list) = match new.targets {
            Targets::Given(targets) => (
                new.client.trim().to_owned(),
                check_targets(targets).map_err(ReplicaError::Invalid)?,
                None,
            ),
            Targets::List { name, client } => {
                let client = client.unwrap_or_else(|| new.client.clone());
                let list = self.target_list(
                    &name,
                    Some(&client)
                        .filter(|c| !c.trim().is_empty())
                        .map(String::as_str),
                )?;
                let batch_client = if new.client.trim().is_empty() {
                    list.client.clone()
                } else {
                    new.client.trim().to_owned()
                };
                (batch_client, list.targets, Some(list.name))
            }
        };
        // The values as the engine takes them, checked with the first target filled in.
        let mut probe = new.variables.clone();
        probe.insert(target_variable.clone(), targets[0].clone());
        let started = session::start(
            &flows,
            new.flow_id,
            StartRequest {
                ticket: new.ticket.clone(),
                client: client.clone(),
                engineer: new.engineer.clone(),
                variables: probe,
            },
        )?;
        let variables = match started.first() {
            Some(rf_core::EventKind::Started { variables, .. }) => {
                let mut variables = variables.clone();
                variables.remove(&target_variable);
                variables
            }
            _ => new.variables,
        };
        let batch = Batch {
            flow: reference,
            flow_title: flow.title.clone(),
            flow_kind: flow.kind,
            target_variable,
            targets,
            variables,
            ticket: new.ticket.trim().to_owned(),
            client,
            started_by: new.engineer.trim().to_owned(),
            created_at: now(),
            target_list,
            scheduled: new.scheduled,
        };
        batch.check().map_err(ReplicaError::Invalid)?;
        let id = Uuid::now_v7();
        let transaction = self.write_transaction()?;
        crate::records::put(&transaction, id, &Record::Batch(batch.clone()))?;
        transaction.commit()?;
        Ok((id, batch))
    }

    /// A batch by id or unique id prefix.
    pub fn batch(&self, given: &str) -> Result<(Uuid, Batch)> {
        let id = resolve_prefix(&self.connection, "batches", "batch", given)?
            .ok_or_else(|| not_found("batch", given))?;
        match crate::records::one(&self.connection, RecordKind::Batch, id)? {
            Some(Record::Batch(batch)) => Ok((id, batch)),
            _ => Err(not_found("batch", given)),
        }
    }

    /// The facts of every session of a batch that this replica holds.
    fn target_sessions(&self, batch_id: Uuid) -> Result<Vec<(TargetSession, SessionState)>> {
        let ids: Vec<String> = self
            .connection
            .prepare_cached("SELECT id FROM sessions WHERE batch_id = ?1 ORDER BY started_at, id")?
            .query_map([batch_id.to_string()], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut sessions = Vec::with_capacity(ids.len());
        for id in ids {
            let id = Uuid::parse_str(&id)
                .map_err(|error| ReplicaError::Damaged(format!("session id {id:?}: {error}")))?;
            let state = SessionState::replay(&load_events(&self.connection, id)?)?;
            // The version a session runs is always held here (it came with its events).
            let flows = self.flow_set([state.flow])?;
            if let Some(facts) = TargetSession::of(id, &state, &flows) {
                sessions.push((facts, state));
            }
        }
        Ok(sessions)
    }

    /// A batch with each target's state, for its hub and `rf batch show`.
    pub fn batch_view(&self, given: &str) -> Result<BatchView> {
        let (id, batch) = self.batch(given)?;
        let sessions = self.target_sessions(id)?;
        let facts: Vec<TargetSession> = sessions.iter().map(|(facts, _)| facts.clone()).collect();
        let mut own_sessions = Vec::new();
        for (facts, _) in &sessions {
            if self.may_write(facts.session_id)? {
                own_sessions.push(facts.session_id);
            }
        }
        Ok(BatchView {
            id,
            progress: progress(&batch, &facts),
            has_flow: self.flow_version(batch.flow).is_ok(),
            batch,
            own_sessions,
        })
    }

    /// Every batch, newest first, with its progress.
    pub fn batches(&self) -> Result<Vec<BatchSummary>> {
        let mut batches = crate::records::all(&self.connection, RecordKind::Batch)?;
        batches.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
        let mut summaries = Vec::with_capacity(batches.len());
        for (id, record) in batches {
            let Record::Batch(batch) = record else {
                continue;
            };
            let facts: Vec<TargetSession> = self
                .target_sessions(id)?
                .into_iter()
                .map(|(facts, _)| facts)
                .collect();
            let progress = progress(&batch, &facts);
            summaries.push(BatchSummary {
                id,
                flow_title: batch.flow_title.clone(),
                client: batch.client.clone(),
                ticket: batch.ticket.clone(),
                started_by: batch.started_by.clone(),
                created_at: timestamp(batch.created_at),
                headline: progress.headline(),
                complete: progress.is_complete(),
                counts: progress.counts,
            });
        }
        Ok(summaries)
    }

    /// Starts or resumes `target`'s session of a batch. A target nobody started gets a new
    /// session on this device; a target whose one session was started here resumes it; a
    /// target worked on another device, or started twice, is said as such and nothing is
    /// written.
    pub fn run_target(&mut self, batch: &str, target: &str, engineer: &str) -> Result<TargetRun> {
        let (batch_id, batch) = self.batch(batch)?;
        let target = batch
            .target(target)
            .map_err(ReplicaError::Invalid)?
            .to_owned();
        let sessions: Vec<(TargetSession, SessionState)> = self
            .target_sessions(batch_id)?
            .into_iter()
            .filter(|(facts, _)| facts.target == target)
            .collect();
        let mut own = Vec::new();
        for (facts, state) in &sessions {
            if self.may_write(facts.session_id)? {
                own.push((facts.session_id, state.clone()));
            }
        }
        match (sessions.len(), own.len()) {
            (0, _) => {}
            (1, 1) => {
                let (id, state) = own.remove(0);
                return Ok(TargetRun {
                    session: SessionRecord { id, state },
                    started: false,
                });
            }
            (1, _) => {
                let (facts, _) = &sessions[0];
                // Handed to someone: say who has it now, as every other refusal does.
                if let Some(rf_core::session::Holder::HandedTo(_)) =
                    crate::handoff::holder(&self.connection, facts.session_id)?
                {
                    crate::handoff::check_may_append(&self.connection, facts.session_id).map_err(
                        |error| match error {
                            ReplicaError::Invalid(reason) => {
                                ReplicaError::Invalid(format!("{target:?}: {reason}"))
                            }
                            other => other,
                        },
                    )?;
                }
                return Err(ReplicaError::Invalid(format!(
                    "{target:?} is {} by {} on another device (session {}); it is theirs to continue, or to hand off",
                    if facts.status == rf_core::session::SessionStatus::Finished {
                        "finished"
                    } else {
                        "being worked"
                    },
                    facts.engineer,
                    short(facts.session_id)
                )));
            }
            (count, _) => {
                return Err(ReplicaError::Invalid(format!(
                    "{target:?} was started {count} times (sessions {}), on devices that were offline at the time; open each with `rf session show`",
                    sessions
                        .iter()
                        .map(|(facts, _)| short(facts.session_id))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let flows = self.flow_set([batch.flow]).map_err(|error| match error {
            ReplicaError::NotFound { .. } => ReplicaError::Invalid(format!(
                "this device does not hold the version of {:?} the batch runs yet; sync (`rf sync`) and try again",
                batch.flow_title
            )),
            other => other,
        })?;
        let events = crate::sessions::stamp(rf_core::batch::start_target(
            &flows, batch_id, &batch, &target, engineer,
        )?);
        // Started once: another window or process starting this target a moment ago wins.
        let record = self.record_new_session_if(events, |transaction| {
            let started: i64 = transaction.query_row(
                "SELECT COUNT(*) FROM sessions WHERE batch_id = ?1 AND target = ?2",
                rusqlite::params![batch_id.to_string(), target],
                |row| row.get(0),
            )?;
            if started > 0 {
                return Err(ReplicaError::Invalid(format!(
                    "{target:?} was started a moment ago (in another window); run it again to resume it"
                )));
            }
            Ok(())
        })?;
        Ok(TargetRun {
            session: record,
            started: true,
        })
    }

    /// The batch's ticket note.
    pub fn batch_note(&self, given: &str, format: ExportFormat, redact: bool) -> Result<String> {
        let (id, batch) = self.batch(given)?;
        let sessions = self.target_sessions(id)?;
        let facts: Vec<TargetSession> = sessions.iter().map(|(facts, _)| facts.clone()).collect();
        let states: BTreeMap<Uuid, SessionState> = sessions
            .into_iter()
            .map(|(facts, state)| (facts.session_id, state))
            .collect();
        let progress = progress(&batch, &facts);
        Ok(BatchNote::build(&batch, &progress, &states, ExportOptions { redact }).render(format))
    }

    /// Whether this device may append to the session now (it holds it, or it was handed to
    /// this account and nobody has continued it yet).
    pub fn may_write(&self, id: Uuid) -> Result<bool> {
        match crate::handoff::check_may_append(&self.connection, id) {
            Ok(()) => Ok(true),
            Err(ReplicaError::Invalid(_)) => Ok(false),
            Err(error) => Err(error),
        }
    }

    // ----- schedules -----

    /// Adds a schedule: `flow` recurs for `client` by `rule` in `time_zone`, from `first_day`
    /// (today in the zone when not given).
    pub fn add_schedule(&mut self, new: NewSchedule) -> Result<ScheduleView> {
        let NewSchedule {
            flow_id,
            client,
            rule,
            time_zone,
            first_day,
            target_list,
            engineer,
        } = new;
        let (client, rule, time_zone) = (client.as_str(), rule.as_str(), time_zone.as_str());
        let reference = self.latest_flow_ref(flow_id)?;
        let flow = self.flow_version(reference)?;
        if !flow.kind.is_checklist() {
            return Err(ReplicaError::Invalid(format!(
                "{:?} is a troubleshooting flow; schedules run maintenance and procedural checklists",
                flow.title
            )));
        }
        let rule = normalise_rule(rule).map_err(ReplicaError::Invalid)?;
        let first_day = match first_day {
            Some(day) => day,
            None => day_in(time_zone, now()).map_err(ReplicaError::Invalid)?,
        };
        let target_list = match target_list {
            Some(name) => Some(self.target_list(&name, Some(client))?.name),
            None => None,
        };
        let schedule = Schedule {
            flow_id,
            flow_title: flow.title.clone(),
            client: rf_core::batch::checked_name("the client", client)
                .map_err(ReplicaError::Invalid)?,
            rule,
            time_zone: time_zone.trim().to_owned(),
            first_day,
            target_list,
            created_by: engineer.trim().to_owned(),
        };
        let today = day_in(&schedule.time_zone, now()).map_err(ReplicaError::Invalid)?;
        Schedule::check_first_day(schedule.first_day, today).map_err(ReplicaError::Invalid)?;
        schedule.check().map_err(ReplicaError::Invalid)?;
        let id = Uuid::now_v7();
        let transaction = self.write_transaction()?;
        crate::records::put(&transaction, id, &Record::Schedule(schedule.clone()))?;
        transaction.commit()?;
        schedule_view(id, schedule, now())
    }

    pub fn schedules(&self) -> Result<Vec<ScheduleView>> {
        let at = now();
        crate::records::all(&self.connection, RecordKind::Schedule)?
            .into_iter()
            .filter_map(|(id, record)| match record {
                Record::Schedule(schedule) => Some(schedule_view(id, schedule, at)),
                _ => None,
            })
            .collect()
    }

    /// A schedule by id or unique id prefix.
    pub fn schedule(&self, given: &str) -> Result<(Uuid, Schedule)> {
        let id = resolve_prefix(&self.connection, "schedules", "schedule", given)?
            .ok_or_else(|| not_found("schedule", given))?;
        match crate::records::one(&self.connection, RecordKind::Schedule, id)? {
            Some(Record::Schedule(schedule)) => Ok((id, schedule)),
            _ => Err(not_found("schedule", given)),
        }
    }

    /// Removes a schedule (its batches stay).
    pub fn remove_schedule(&mut self, given: &str) -> Result<()> {
        let (id, _) = self.schedule(given)?;
        let transaction = self.write_transaction()?;
        crate::records::delete(&transaction, RecordKind::Schedule, id)?;
        transaction.commit()?;
        Ok(())
    }

    /// The runs every schedule makes due now (this replica's clock).
    pub fn due_work_now(&self) -> Result<DueWork> {
        self.due_work(now())
    }

    /// The runs every schedule makes due at `at`: overdue, due today, then upcoming.
    pub fn due_work(&self, at: OffsetDateTime) -> Result<DueWork> {
        let mut started: BTreeMap<Uuid, BTreeSet<time::Date>> = BTreeMap::new();
        for (_, record) in crate::records::all(&self.connection, RecordKind::Batch)? {
            if let Record::Batch(Batch {
                scheduled: Some(run),
                ..
            }) = record
            {
                started
                    .entry(run.schedule_id)
                    .or_default()
                    .insert(run.occurrence);
            }
        }
        let mut work = DueWork::default();
        for (id, record) in crate::records::all(&self.connection, RecordKind::Schedule)? {
            let Record::Schedule(schedule) = record else {
                continue;
            };
            let empty = BTreeSet::new();
            match due_runs(id, &schedule, started.get(&id).unwrap_or(&empty), at) {
                Ok((runs, dropped)) => {
                    work.more_overdue += dropped;
                    work.items.extend(runs.into_iter().map(|run| DueItem {
                        schedule_id: id,
                        flow_id: schedule.flow_id,
                        flow_title: schedule.flow_title.clone(),
                        client: schedule.client.clone(),
                        target_list: schedule.target_list.clone(),
                        occurrence: rf_core::batch::format_date(run.occurrence),
                        state: run.state,
                    }));
                }
                Err(reason) => work.unreadable.push(format!(
                    "{} for {}: {reason}",
                    schedule.flow_title, schedule.client
                )),
            }
        }
        work.items.sort_by(|a, b| {
            (a.state, &a.occurrence, &a.client).cmp(&(b.state, &b.occurrence, &b.client))
        });
        Ok(work)
    }

    /// Starts the batch of a schedule's due run (the oldest waiting one unless `occurrence`
    /// names one), over the schedule's target list unless targets are given.
    pub fn start_due(
        &mut self,
        schedule: &str,
        occurrence: Option<time::Date>,
        targets: Option<Targets>,
        ticket: &str,
        variables: BTreeMap<String, String>,
        engineer: &str,
    ) -> Result<(Uuid, Batch)> {
        let (schedule_id, found) = self.schedule(schedule)?;
        let waiting: Vec<DueItem> = self
            .due_work(now())?
            .items
            .into_iter()
            .filter(|item| item.schedule_id == schedule_id && item.state != DueState::Upcoming)
            .collect();
        let occurrence = match occurrence {
            Some(day) => {
                let text = rf_core::batch::format_date(day);
                if !waiting.iter().any(|item| item.occurrence == text) {
                    return Err(ReplicaError::Invalid(format!(
                        "{text} is not a run of this schedule waiting to start (a batch was started for it, or the rule does not fall on it); `rf due` lists the waiting runs"
                    )));
                }
                day
            }
            None => {
                let first = waiting.first().ok_or_else(|| {
                    ReplicaError::Invalid(
                        "no run of this schedule is due; `rf due` lists what is".into(),
                    )
                })?;
                rf_core::batch::parse_date(&first.occurrence).map_err(ReplicaError::Invalid)?
            }
        };
        let targets = match (targets, &found.target_list) {
            (Some(targets), _) => targets,
            (None, Some(name)) => Targets::List {
                name: name.clone(),
                client: Some(found.client.clone()),
            },
            (None, None) => {
                return Err(ReplicaError::Invalid(
                    "the schedule names no target list; give the targets (--targets, --targets-file or --target-list)".into(),
                ));
            }
        };
        self.start_batch(NewBatch {
            flow_id: found.flow_id,
            targets,
            ticket: ticket.to_owned(),
            client: found.client.clone(),
            variables,
            scheduled: Some(ScheduledRun {
                schedule_id,
                occurrence,
            }),
            engineer: engineer.to_owned(),
        })
    }
}

fn short(id: Uuid) -> String {
    id.to_string()[..13].to_owned()
}

fn list_view(id: Uuid, list: TargetList) -> TargetListView {
    TargetListView {
        id,
        client: list.client,
        name: list.name,
        targets: list.targets,
    }
}

fn schedule_view(id: Uuid, schedule: Schedule, at: OffsetDateTime) -> Result<ScheduleView> {
    let today = day_in(&schedule.time_zone, at).map_err(ReplicaError::Invalid)?;
    let next = schedule
        .next_days(today, 3)
        .map_err(ReplicaError::Invalid)?
        .into_iter()
        .map(rf_core::batch::format_date)
        .collect();
    Ok(ScheduleView { id, schedule, next })
}
