//! Sessions in the replica: commands become events appended to the device's numbered log, in
//! one transaction with the session's projection row.

use rf_core::session::{self, Command, FlowRef, FlowSet, SessionEvent, SessionState, StartRequest};
use rf_core::stats::{FlowStats, contributions};
use rusqlite::{OptionalExtension, Transaction, params};
use uuid::Uuid;

use crate::error::{ReplicaError, Result};
use crate::{Replica, SessionRecord, SessionSummary, now, resolve_prefix, timestamp};

pub(crate) fn load_events(
    connection: &rusqlite::Connection,
    id: Uuid,
) -> Result<Vec<SessionEvent>> {
    let mut statement = connection.prepare_cached(
        "SELECT kind, payload FROM session_events WHERE session_id = ?1 ORDER BY session_seq",
    )?;
    let rows: Vec<(String, String)> = statement
        .query_map([id.to_string()], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    rows.iter()
        // Kinds a newer client wrote are kept in the log and skipped here.
        .filter(|(kind, _)| rf_core::received::EVENT_KINDS.contains(&kind.as_str()))
        .map(|(_, payload)| {
            serde_json::from_str(payload).or_else(|error| {
                // Before schema 5 an event named its flow version by this replica's ordinal;
                // migration hooks that replay sessions before 5's rewrite read them this way.
                let mut value: serde_json::Value = serde_json::from_str(payload)
                    .map_err(ReplicaError::corrupt(format!("an event of session {id}")))?;
                if !crate::flows::upgrade_event_payload(connection, &mut value)? {
                    return Err(ReplicaError::Corrupt {
                        context: format!("an event of session {id}"),
                        source: error,
                    });
                }
                serde_json::from_value(value)
                    .map_err(ReplicaError::corrupt(format!("an event of session {id}")))
            })
        })
        .collect()
}

/// Rewrites a session's projection row from its state, inside the caller's transaction.
pub(crate) fn write_projection(
    transaction: &Transaction<'_>,
    id: Uuid,
    state: &SessionState,
) -> Result<()> {
    transaction.execute(
        "INSERT INTO sessions (id, flow_id, flow_version, flow_title, ticket, client, engineer, status,
                               outcome, started_at, finished_at, updated_at, event_count,
                               batch_id, target)
         VALUES (?1, ?2,
                 (SELECT version FROM flow_versions WHERE flow_id = ?2 AND content_hash = ?3
                  ORDER BY version LIMIT 1),
                 ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, outcome = excluded.outcome,
             finished_at = excluded.finished_at, updated_at = excluded.updated_at,
             event_count = excluded.event_count",
        params![
            id.to_string(),
            state.flow.flow_id.to_string(),
            state.flow.version.to_string(),
            state.flow_title,
            state.ticket,
            state.client,
            state.engineer,
            state.status.as_str(),
            state.outcome.map(|outcome| outcome.as_str()),
            timestamp(state.started_at),
            state.finished_at.map(timestamp),
            timestamp(state.last_event_at),
            state.event_count as i64,
            state.batch.as_ref().map(|link| link.batch_id.to_string()),
            state.batch.as_ref().map(|link| link.target.as_str()),
        ],
    )?;
    Ok(())
}

/// Rewrites the projection and appends events to the log, inside the caller's transaction
/// (projection first: the events refer to it).
fn append(
    transaction: &Transaction<'_>,
    device_id: Uuid,
    id: Uuid,
    state: &SessionState,
    events: &[SessionEvent],
) -> Result<()> {
    // Refused at the door by the rules every peer applies (the server before storing, a
    // teammate's replica before using), so nothing recorded here can fail to sync.
    for event in events {
        rf_core::received::check_own_event(event).map_err(|reason| {
            ReplicaError::Invalid(format!("this cannot be recorded: {reason}"))
        })?;
    }
    let count = events.len() as i64;
    let last_seq: i64 = transaction.query_row(
        "UPDATE device SET last_event_seq = last_event_seq + ?1 RETURNING last_event_seq",
        [count],
        |row| row.get(0),
    )?;
    write_projection(transaction, id, state)?;
    let first_session_seq = state.event_count as i64 - count;
    let mut insert = transaction.prepare_cached(
        "INSERT INTO session_events (device_id, device_seq, session_id, session_seq, kind, at, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (offset, event) in events.iter().enumerate() {
        let offset = offset as i64;
        let payload = serde_json::to_string(event).map_err(ReplicaError::corrupt("a new event"))?;
        insert.execute(params![
            device_id.to_string(),
            last_seq - count + 1 + offset,
            id.to_string(),
            first_session_seq + offset,
            event.kind.name(),
            timestamp(event.at),
            payload,
        ])?;
    }
    // The engine accepts `finished` once per session, so each session is counted once.
    if events
        .iter()
        .any(|event| matches!(event.kind, session::EventKind::Finished { .. }))
    {
        add_to_path_statistics(transaction, state)?;
    }
    Ok(())
}

/// Adds a finished session to the running path statistics of every flow it ran.
pub(crate) fn add_to_path_statistics(
    transaction: &Transaction<'_>,
    state: &SessionState,
) -> Result<()> {
    for (flow_id, contribution) in contributions(state) {
        let flow = flow_id.to_string();
        let resolved = i64::from(contribution.resolved);
        transaction.execute(
            "INSERT INTO path_stats_flows (flow_id, sessions, resolved) VALUES (?1, 1, ?2)
             ON CONFLICT (flow_id) DO UPDATE SET sessions = sessions + 1, resolved = resolved + ?2",
            params![flow, resolved],
        )?;
        let mut node = transaction.prepare_cached(
            "INSERT INTO path_stats_nodes (flow_id, node_id, reached, answered, resolved)
             VALUES (?1, ?2, 1, ?3, ?4)
             ON CONFLICT (flow_id, node_id) DO UPDATE SET reached = reached + 1,
                 answered = answered + ?3, resolved = resolved + ?4",
        )?;
        for node_id in &contribution.reached {
            let answered = i64::from(contribution.answered.contains(node_id));
            node.execute(params![flow, node_id, answered, resolved])?;
        }
        let mut answer = transaction.prepare_cached(
            "INSERT INTO path_stats_answers (flow_id, node_id, label, chosen, resolved)
             VALUES (?1, ?2, ?3, 1, ?4)
             ON CONFLICT (flow_id, node_id, label) DO UPDATE SET chosen = chosen + 1,
                 resolved = resolved + ?4",
        )?;
        for (node_id, label) in &contribution.chosen {
            answer.execute(params![flow, node_id, label, resolved])?;
        }
    }
    Ok(())
}

/// Fills the running totals from every finished session (migration 4's backfill).
pub(crate) fn rebuild_path_statistics(transaction: &Transaction<'_>) -> Result<()> {
    for table in ["path_stats_flows", "path_stats_nodes", "path_stats_answers"] {
        transaction.execute(&format!("DELETE FROM {table}"), [])?;
    }
    let mut statement = transaction.prepare("SELECT id FROM sessions WHERE status = 'finished'")?;
    let ids: Vec<String> = statement
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        let id = Uuid::parse_str(&id).map_err(|error| ReplicaError::Invalid(error.to_string()))?;
        let state = SessionState::replay(&load_events(transaction, id)?)?;
        add_to_path_statistics(transaction, &state)?;
    }
    Ok(())
}

pub(crate) fn stamp(kinds: Vec<session::EventKind>) -> Vec<SessionEvent> {
    let at = now();
    kinds
        .into_iter()
        .map(|kind| SessionEvent { at, kind })
        .collect()
}

impl Replica {
    /// Starts a session on the latest version of `flow_id`.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(flow = %flow_id))]
    pub fn start_session(&mut self, flow_id: Uuid, request: StartRequest) -> Result<SessionRecord> {
        let reference = self.latest_flow_ref(flow_id)?;
        let flows = self.flow_set([reference])?;
        self.record_new_session(stamp(session::start(&flows, flow_id, request)?))
    }

    /// Records a new session's first events (from the engine's `start`) on this device.
    pub(crate) fn record_new_session(
        &mut self,
        events: Vec<SessionEvent>,
    ) -> Result<SessionRecord> {
        self.record_new_session_if(events, |_| Ok(()))
    }

    /// [`Replica::record_new_session`] once `check` passes inside the write transaction (what
    /// another process may have written a moment ago counts).
    pub(crate) fn record_new_session_if(
        &mut self,
        events: Vec<SessionEvent>,
        check: impl FnOnce(&Transaction<'_>) -> Result<()>,
    ) -> Result<SessionRecord> {
        let state = SessionState::replay(&events)?;
        let id = Uuid::now_v7();
        let device_id = self.device_id;
        let transaction = self.write_transaction()?;
        check(&transaction)?;
        append(&transaction, device_id, id, &state, &events)?;
        transaction.commit()?;
        Ok(SessionRecord { id, state })
    }

    /// Runs commands against a session, all in one transaction: either every command's events
    /// are stored, or (on the first refused command) none are.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(session = %id))]
    pub fn run_commands(&mut self, id: Uuid, commands: Vec<Command>) -> Result<SessionRecord> {
        self.run_commands_with(id, |_, _| Ok(commands), |_| Ok(()))
    }

    /// [`Replica::run_commands`] with the commands chosen inside the write transaction (from
    /// the session's state there), and extra writes that must commit in it too.
    pub(crate) fn run_commands_with(
        &mut self,
        id: Uuid,
        commands: impl FnOnce(&Transaction<'_>, &SessionState) -> Result<Vec<Command>>,
        also: impl FnOnce(&Transaction<'_>) -> Result<()>,
    ) -> Result<SessionRecord> {
        let device_id = self.device_id;
        // Flow documents are read before the write lock; versions are immutable, so they
        // cannot change underneath us.
        let events = load_events(&self.connection, id)?;
        if events.is_empty() {
            return Err(ReplicaError::NotFound {
                what: "session",
                given: id.to_string(),
            });
        }
        let state = SessionState::replay(&events)?;
        let flows = self.flow_set_for(&state)?;
        let transaction = self.write_transaction()?;
        // One writer per session: this device, or the one it was handed to (checked in the
        // write transaction, so a hand-off recorded by another process a moment ago counts).
        crate::handoff::check_may_append(&transaction, id)?;
        // Re-read inside the write transaction: another process may have appended meanwhile.
        let mut state = if load_count(&transaction, id)? == state.event_count {
            state
        } else {
            SessionState::replay(&load_events(&transaction, id)?)?
        };
        let mut new_events = Vec::new();
        for command in commands(&transaction, &state)? {
            let batch = stamp(session::decide(&state, &flows, command)?);
            for event in &batch {
                state.apply(event)?;
            }
            new_events.extend(batch);
        }
        if !new_events.is_empty() {
            append(&transaction, device_id, id, &state, &new_events)?;
        }
        also(&transaction)?;
        transaction.commit()?;
        Ok(SessionRecord { id, state })
    }

    pub fn run_command(&mut self, id: Uuid, command: Command) -> Result<SessionRecord> {
        self.run_commands(id, vec![command])
    }

    pub fn session(&self, id: Uuid) -> Result<SessionRecord> {
        let events = self.session_events(id)?;
        Ok(SessionRecord {
            id,
            state: SessionState::replay(&events)?,
        })
    }

    pub fn session_events(&self, id: Uuid) -> Result<Vec<SessionEvent>> {
        let events = load_events(&self.connection, id)?;
        if events.is_empty() {
            return Err(ReplicaError::NotFound {
                what: "session",
                given: id.to_string(),
            });
        }
        Ok(events)
    }

    /// Every flow version the session has used, plus what it may still enter.
    pub fn flow_set_for(&self, state: &SessionState) -> Result<FlowSet> {
        let mut references: Vec<FlowRef> = vec![state.flow];
        references.extend(state.path.iter().map(|entry| entry.flow));
        references.extend(state.position.iter().map(|cursor| cursor.flow));
        self.flow_set(references)
    }

    pub fn sessions(&self) -> Result<Vec<SessionSummary>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT s.id, s.flow_id, s.flow_version, s.flow_title, s.ticket, s.client, s.engineer,
                    s.status, s.outcome, s.started_at, s.finished_at, s.updated_at, s.event_count,
                    f.forked_from
             FROM sessions s LEFT JOIN session_forks f ON f.session_id = s.id
             ORDER BY s.started_at DESC, s.id DESC",
        )?;
        let rows = statement.query_map([], |row| {
            let parse = |index: usize| -> rusqlite::Result<Uuid> {
                let text: String = row.get(index)?;
                Uuid::parse_str(&text).map_err(|error| {
                    rusqlite::Error::FromSqlConversionFailure(
                        index,
                        rusqlite::types::Type::Text,
                        Box::new(error),
                    )
                })
            };
            Ok(SessionSummary {
                id: parse(0)?,
                flow_id: parse(1)?,
                flow_version: row.get(2)?,
                flow_title: row.get(3)?,
                ticket: row.get(4)?,
                client: row.get(5)?,
                engineer: row.get(6)?,
                status: row.get(7)?,
                outcome: row.get(8)?,
                started_at: row.get(9)?,
                finished_at: row.get(10)?,
                updated_at: row.get(11)?,
                event_count: row.get(12)?,
                forked_from: row
                    .get::<_, Option<String>>(13)?
                    .and_then(|text| Uuid::parse_str(&text).ok()),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn resolve_session(&self, given: &str) -> Result<Uuid> {
        resolve_prefix(&self.connection, "sessions", "session", given)?.ok_or_else(|| {
            ReplicaError::NotFound {
                what: "session",
                given: given.to_owned(),
            }
        })
    }

    /// "The path most traveled" for a flow, over this replica's finished sessions that ran it
    /// (read from the running totals kept as sessions finish).
    pub fn path_statistics(&self, flow_id: Uuid) -> Result<FlowStats> {
        let flow = flow_id.to_string();
        let mut stats = FlowStats {
            flow_id,
            ..FlowStats::default()
        };
        if let Some((sessions, resolved)) = self
            .connection
            .query_row(
                "SELECT sessions, resolved FROM path_stats_flows WHERE flow_id = ?1",
                [&flow],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
            )
            .optional()?
        {
            stats.sessions = count(sessions);
            stats.resolved = count(resolved);
        }
        let mut nodes = self.connection.prepare_cached(
            "SELECT node_id, reached, answered, resolved FROM path_stats_nodes WHERE flow_id = ?1",
        )?;
        let rows = nodes.query_map([&flow], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (node_id, reached, answered, resolved) = row?;
            let node = stats.nodes.entry(node_id).or_default();
            node.reached = count(reached);
            node.answered = count(answered);
            node.resolved = count(resolved);
        }
        let mut answers = self.connection.prepare_cached(
            "SELECT node_id, label, chosen, resolved FROM path_stats_answers WHERE flow_id = ?1",
        )?;
        let rows = answers.query_map([&flow], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (node_id, label, chosen, resolved) = row?;
            let answer = stats
                .nodes
                .entry(node_id)
                .or_default()
                .answers
                .entry(label)
                .or_default();
            answer.chosen = count(chosen);
            answer.resolved = count(resolved);
        }
        Ok(stats)
    }
}

/// Stored counters are never negative; a damaged value reads as zero rather than wrapping.
fn count(value: i64) -> usize {
    usize::try_from(value).unwrap_or(0)
}

fn load_count(transaction: &Transaction<'_>, id: Uuid) -> Result<usize> {
    let count: Option<i64> = transaction
        .query_row(
            "SELECT event_count FROM sessions WHERE id = ?1",
            [id.to_string()],
            |row| row.get(0),
        )
        .optional()?;
    Ok(count.unwrap_or(0) as usize)
}
