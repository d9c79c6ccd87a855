//! A device identity that is never shared silently.
//!
//! A replica's device id and its numbers (events' device sequence, outbox mutation numbers)
//! name its work on the sync server. A replica restored from an older backup, or its data
//! copied to a second machine, would hand out the same numbers again for other work. When the
//! server or a pull shows that another copy used them (an identity clash in a push answer,
//! numbers settled or stored that this replica never sent, this identity's events that this
//! replica does not have), the replica takes a new device id: what the server already holds
//! from it stays under the old id, and the rest is numbered again under the new one and sent,
//! so nothing is lost and nothing is taken twice. The old id's events the server holds and
//! this replica lacks then arrive through pull like any other device's.
//!
//! A session continued on both copies would have two different events at one place in its
//! log; this copy's continuation becomes a session of its own instead (a fork: the same start,
//! then this copy's steps), recorded in `session_forks`.

use rf_core::SessionState;
use rusqlite::{OptionalExtension, Transaction, params};
use uuid::Uuid;

use crate::error::{ReplicaError, Result};
use crate::sessions::{load_events, write_projection};
use crate::{now, timestamp};

/// What taking a new identity did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewIdentity {
    pub device_id: Uuid,
    /// Events numbered again under the new id (forked sessions' copied starts included).
    pub events: usize,
    /// Queued mutations numbered again under the new id.
    pub mutations: usize,
    /// Sessions continued here after the copy, each now a session of its own.
    pub forked_sessions: usize,
}

/// One event row as it moves.
struct Row {
    session_id: String,
    session_seq: i64,
    kind: String,
    at: String,
    payload: String,
}

/// Retires `old` and gives this replica a new device id, inside the caller's transaction.
/// This device's events up to `keep_through` stay under `old` (the server holds them as they
/// are); the later ones, and every queued mutation, are numbered again from 1 under the new id.
pub(crate) fn take_new_identity(
    transaction: &Transaction<'_>,
    old: Uuid,
    keep_through: i64,
    reason: &str,
) -> Result<NewIdentity> {
    let new = Uuid::new_v4();
    let stamp = timestamp(now());
    // The old id keeps what the server holds of it; should the server lose that (restored
    // from a backup), it goes up again under the old id (`next_push_within`).
    transaction.execute(
        "INSERT INTO retired_devices (device_id, last_event_seq, pushed_event_seq, reason, retired_at)
         VALUES (?1, ?2, ?2, ?3, ?4) ON CONFLICT (device_id) DO NOTHING",
        params![old.to_string(), keep_through, reason, stamp],
    )?;
    transaction.execute(
        "UPDATE device SET device_id = ?1, last_event_seq = 0, pushed_event_seq = 0,
                           sent_mutation_id = 0, token_account = COALESCE(token_account, ?2)",
        params![new.to_string(), old.to_string()],
    )?;
    let (events, forked_sessions) = move_events(transaction, old, keep_through)?;
    let mutations = renumber_outbox(transaction, 1)?;
    tracing::warn!(
        old = %old,
        new = %new,
        events,
        mutations,
        forked_sessions,
        reason,
        "this replica took a new device identity"
    );
    Ok(NewIdentity {
        device_id: new,
        events,
        mutations,
        forked_sessions,
    })
}

/// Moves the events of `from` (this replica's current or an earlier device id) numbered after
/// `after` to the end of the current device's log, numbered on from its last. A session whose
/// moved events follow earlier ones (on the server already, so another copy may have gone on
/// with it too) forks: the moved events go to a new session that repeats the earlier ones.
/// Returns how many events were written under the current id and how many sessions forked.
pub(crate) fn move_events(
    transaction: &Transaction<'_>,
    from: Uuid,
    after: i64,
) -> Result<(usize, usize)> {
    let stamp = timestamp(now());
    let from_text = from.to_string();
    let (to_text, last): (String, i64) =
        transaction.query_row("SELECT device_id, last_event_seq FROM device", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    let moving: Vec<Row> = transaction
        .prepare(
            "SELECT session_id, session_seq, kind, at, payload FROM session_events
             WHERE device_id = ?1 AND device_seq > ?2 ORDER BY device_seq",
        )?
        .query_map(params![from_text, after], |row| {
            Ok(Row {
                session_id: row.get(0)?,
                session_seq: row.get(1)?,
                kind: row.get(2)?,
                at: row.get(3)?,
                payload: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;

    // A session whose moving events follow earlier ones (this device's, already on the server,
    // or another device's) may have been continued by the other copy too: this copy's
    // continuation becomes a new session that repeats the start it shares.
    let mut forks: Vec<(String, String, i64)> = Vec::new(); // (from, to, first moving seq)
    for row in &moving {
        if forks.iter().any(|(from, _, _)| *from == row.session_id) {
            continue;
        }
        let first_moving = moving
            .iter()
            .filter(|other| other.session_id == row.session_id)
            .map(|other| other.session_seq)
            .min()
            .unwrap_or(row.session_seq);
        let has_earlier: bool = transaction.query_row(
            "SELECT EXISTS (SELECT 1 FROM session_events WHERE session_id = ?1 AND session_seq < ?2)",
            params![row.session_id, first_moving],
            |row| row.get(0),
        )?;
        if has_earlier {
            forks.push((
                row.session_id.clone(),
                Uuid::new_v4().to_string(),
                first_moving,
            ));
        }
    }
    let mut renumbered: Vec<Row> = Vec::new();
    for (from, to, first_moving) in &forks {
        let start: Vec<Row> = transaction
            .prepare(
                "SELECT session_seq, kind, at, payload FROM session_events
                 WHERE session_id = ?1 AND session_seq < ?2 ORDER BY session_seq",
            )?
            .query_map(params![from, first_moving], |row| {
                Ok(Row {
                    session_id: to.clone(),
                    session_seq: row.get(0)?,
                    kind: row.get(1)?,
                    at: row.get(2)?,
                    payload: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        renumbered.extend(start);
    }
    for mut row in moving {
        if let Some((_, to, _)) = forks.iter().find(|(from, _, _)| *from == row.session_id) {
            row.session_id = to.clone();
        }
        renumbered.push(row);
    }

    // The moved events leave the old identity (deleted, then written again: the log is
    // append-only for updates), and its refusals of them with them.
    transaction.execute(
        "DELETE FROM session_events WHERE device_id = ?1 AND device_seq > ?2",
        params![from_text, after],
    )?;
    transaction.execute(
        "DELETE FROM refused_events WHERE device_id = ?1 AND device_seq > ?2",
        params![from_text, after],
    )?;
    for (from, to, _) in &forks {
        // The fork's projection row first: its events refer to it.
        transaction.execute(
            "INSERT INTO sessions (id, flow_id, flow_version, flow_title, ticket, client, engineer,
                                   status, outcome, started_at, finished_at, updated_at, event_count,
                                   batch_id, target)
             SELECT ?2, flow_id, flow_version, flow_title, ticket, client, engineer,
                    status, outcome, started_at, finished_at, updated_at, event_count,
                    batch_id, target
             FROM sessions WHERE id = ?1",
            params![from, to],
        )?;
        transaction.execute(
            "INSERT INTO session_forks (session_id, forked_from, forked_at) VALUES (?1, ?2, ?3)",
            params![to, from, stamp],
        )?;
    }
    {
        let mut insert = transaction.prepare(
            "INSERT INTO session_events (device_id, device_seq, session_id, session_seq, kind, at, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (row, device_seq) in renumbered.iter().zip(last + 1..) {
            insert.execute(params![
                to_text,
                device_seq,
                row.session_id,
                row.session_seq,
                row.kind,
                row.at,
                row.payload
            ])?;
        }
    }
    // Each forked session's row shows its own log again: the original up to where this copy
    // went on, the fork with this copy's steps.
    for (from, to, _) in &forks {
        for session in [from, to] {
            let id = Uuid::parse_str(session).map_err(|error| {
                ReplicaError::Invalid(format!("stored session id {session:?}: {error}"))
            })?;
            if let Ok(state) = SessionState::replay(&load_events(transaction, id)?) {
                write_projection(transaction, id, &state)?;
            }
        }
    }

    transaction.execute(
        "UPDATE device SET last_event_seq = ?1",
        [last + renumbered.len() as i64],
    )?;
    Ok((renumbered.len(), forks.len()))
}

/// Numbers every queued mutation again from `first`, in order: a new identity's numbers start
/// at 1, and a server that lost numbers it had settled expects the one after its last.
pub(crate) fn renumber_outbox(transaction: &Transaction<'_>, first: i64) -> Result<usize> {
    let rows: Vec<(String, String, String, Option<i64>, String, String)> = transaction
        .prepare(
            "SELECT entity, entity_id, operation, base_version, payload, created_at
             FROM outbox ORDER BY mutation_id",
        )?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    transaction.execute("DELETE FROM outbox", [])?;
    // AUTOINCREMENT keeps the highest number ever used; the numbering starts again below it.
    transaction.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'", [])?;
    transaction.execute(
        "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?1)",
        [first - 1],
    )?;
    let mut insert = transaction.prepare(
        "INSERT INTO outbox (mutation_id, entity, entity_id, operation, base_version, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for ((entity, entity_id, operation, base_version, payload, created_at), number) in
        rows.iter().zip(first..)
    {
        insert.execute(params![
            number,
            entity,
            entity_id,
            operation,
            base_version,
            payload,
            created_at
        ])?;
    }
    Ok(rows.len())
}

/// What this device's own events in a pulled page show.
#[derive(Debug)]
pub(crate) enum OwnEvents {
    /// Nothing but this replica's own work (what matched confirms the acknowledged prefix).
    Mine,
    /// Another copy of this device wrote some: this replica took a new identity, and the old
    /// id's events are now another device's.
    Moved(NewIdentity),
    /// Another copy wrote some, and this replica holds events the server has not compared
    /// yet: it pushes first (the answer says which the server holds), then pulls the page
    /// again, so nothing the server already has goes up twice.
    PushFirst,
}

/// Reads this device's own events in a pulled page against this replica's log. One held here
/// as pulled confirms that the server has it, so the acknowledged prefix may grow over it. One
/// this replica does not have, or has as another event, was written by another copy of this
/// device: once every earlier event of this replica's is confirmed, what the server holds of
/// it stays and the rest moves to a new identity; until then, [`OwnEvents::PushFirst`].
pub(crate) fn check_own_events(
    transaction: &Transaction<'_>,
    own: Uuid,
    pulled: &[&rf_core::sync::PulledEvent],
) -> Result<OwnEvents> {
    if pulled.is_empty() {
        return Ok(OwnEvents::Mine);
    }
    let own_text = own.to_string();
    let mut confirmed = std::collections::BTreeSet::new();
    let mut first_other: Option<i64> = None;
    {
        let mut local = transaction.prepare_cached(
            "SELECT session_id, session_seq, payload FROM session_events
             WHERE device_id = ?1 AND device_seq = ?2",
        )?;
        for event in pulled {
            let held: Option<(String, i64, String)> = local
                .query_row(params![own_text, event.device_seq], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()?;
            let same = match held {
                None => false,
                Some((session_id, session_seq, payload)) => {
                    let held = rf_core::sync::HeldEvent {
                        session_id: Uuid::parse_str(&session_id).map_err(|error| {
                            ReplicaError::Invalid(format!(
                                "stored session id {session_id:?}: {error}"
                            ))
                        })?,
                        session_seq: Some(session_seq),
                        payload: serde_json::from_str(&payload)
                            .map_err(ReplicaError::corrupt("an event payload"))?,
                    };
                    held.is(event.session_id, event.session_seq, &event.payload)
                }
            };
            if same {
                confirmed.insert(event.device_seq);
            } else {
                first_other =
                    Some(first_other.map_or(event.device_seq, |seq| seq.min(event.device_seq)));
            }
        }
    }
    let (mut acknowledged, written): (i64, i64) = transaction.query_row(
        "SELECT pushed_event_seq, last_event_seq FROM device",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let before = acknowledged;
    while confirmed.contains(&(acknowledged + 1)) {
        acknowledged += 1;
    }
    if acknowledged > before {
        transaction.execute("UPDATE device SET pushed_event_seq = ?1", [acknowledged])?;
    }
    let Some(first_other) = first_other else {
        return Ok(OwnEvents::Mine);
    };
    // Every event of this replica's below the other copy's first must be known to be on the
    // server as written here; the rest are this replica's own work and move.
    let keep_through = (first_other - 1).min(written);
    if acknowledged < keep_through {
        return Ok(OwnEvents::PushFirst);
    }
    Ok(OwnEvents::Moved(take_new_identity(
        transaction,
        own,
        keep_through,
        "the team's changes hold events of this device that this replica never wrote: another copy of it (restored from an older backup, or its data copied to another machine) is in use",
    )?))
}
