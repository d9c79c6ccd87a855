//! Team records in the replica (batches, saved target lists, schedules; replica migration
//! 17): a change made here is written at once and queued in the outbox as a `put` or `delete`
//! of its kind; a body pulled from the server replaces the one held unless a change of that
//! record is still queued here (it reaches the server later and wins there too, as pins do).
//! Every body is read with rf-core's `read_record`, here as on the server.

use rf_core::sync::{DELETE_RECORD, PUT_RECORD, PulledRecord, Record, RecordKind, read_record};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;

use crate::error::{ReplicaError, Result};
use crate::{enqueue, now, timestamp};

/// Whether a change of `entity` `id` is still queued here: what is pulled of it then waits,
/// since the queued change reaches the server later and wins there too.
pub(crate) fn queued_here(transaction: &Transaction<'_>, entity: &str, id: &str) -> Result<bool> {
    Ok(transaction.query_row(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE entity = ?1 AND entity_id = ?2)",
        params![entity, id],
        |row| row.get(0),
    )?)
}

/// Writes `record` under `id` and queues it for the team.
pub(crate) fn put(transaction: &Transaction<'_>, id: Uuid, record: &Record) -> Result<()> {
    let kind = record.kind();
    let body = record.to_value();
    // The rules every peer applies, so nothing written here is refused later.
    read_record(kind, id, &body).map_err(ReplicaError::Invalid)?;
    transaction.execute(
        "INSERT INTO team_records (kind, id, body, author_id, team_seq, updated_at)
         VALUES (?1, ?2, ?3, NULL, NULL, ?4)
         ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, author_id = NULL,
             team_seq = NULL, updated_at = excluded.updated_at",
        params![
            kind.as_str(),
            id.to_string(),
            body.to_string(),
            timestamp(now())
        ],
    )?;
    enqueue(
        transaction,
        kind.as_str(),
        &id.to_string(),
        PUT_RECORD,
        None,
        &body,
    )?;
    Ok(())
}

/// Deletes a record and queues the deletion; false when there was none.
pub(crate) fn delete(transaction: &Transaction<'_>, kind: RecordKind, id: Uuid) -> Result<bool> {
    let changed = transaction.execute(
        "UPDATE team_records SET body = NULL, team_seq = NULL, updated_at = ?3
         WHERE kind = ?1 AND id = ?2 AND body IS NOT NULL",
        params![kind.as_str(), id.to_string(), timestamp(now())],
    )?;
    if changed > 0 {
        enqueue(
            transaction,
            kind.as_str(),
            &id.to_string(),
            DELETE_RECORD,
            None,
            &serde_json::json!({}),
        )?;
    }
    Ok(changed > 0)
}

fn parse(kind: RecordKind, id: &str, body: &str) -> Result<(Uuid, Record)> {
    let context = || format!("the stored {} {id}", kind.as_str());
    let id = Uuid::parse_str(id)
        .map_err(|error| ReplicaError::Damaged(format!("{}: {error}", context())))?;
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(ReplicaError::corrupt(context()))?;
    // Checked before it was stored; a body that no longer reads is damage, said as such.
    let record = read_record(kind, id, &value)
        .map_err(|reason| ReplicaError::Damaged(format!("{}: {reason}", context())))?;
    Ok((id, record))
}

/// Every live record of `kind`.
pub(crate) fn all(connection: &Connection, kind: RecordKind) -> Result<Vec<(Uuid, Record)>> {
    let mut statement = connection.prepare_cached(
        "SELECT id, body FROM team_records WHERE kind = ?1 AND body IS NOT NULL ORDER BY updated_at, id",
    )?;
    let rows: Vec<(String, String)> = statement
        .query_map([kind.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    rows.iter()
        .map(|(id, body)| parse(kind, id, body))
        .collect()
}

/// One live record of `kind`.
pub(crate) fn one(connection: &Connection, kind: RecordKind, id: Uuid) -> Result<Option<Record>> {
    let body: Option<String> = connection
        .query_row(
            "SELECT body FROM team_records WHERE kind = ?1 AND id = ?2 AND body IS NOT NULL",
            params![kind.as_str(), id.to_string()],
            |row| row.get(0),
        )
        .optional()?;
    body.map(|body| parse(kind, &id.to_string(), &body).map(|(_, record)| record))
        .transpose()
}

/// The number a record held from a server that was then restored carries until the restored
/// server sends it again: any number the server gives is above it.
const HELD_BEFORE_RESTORE: i64 = -1;

/// The server was restored from a backup: every record it had sent is marked, so the full
/// pull that follows shows which it still holds (their bodies come back and replace the mark).
pub(crate) fn server_restored(transaction: &Transaction<'_>) -> Result<()> {
    // Every record but those still queued here (they go up anyway): sent back, or taken as
    // sent and not yet seen in a pull.
    transaction.execute(
        "UPDATE team_records SET team_seq = ?1
         WHERE NOT EXISTS (SELECT 1 FROM outbox o
                           WHERE o.entity = team_records.kind AND o.entity_id = team_records.id)",
        [HELD_BEFORE_RESTORE],
    )?;
    Ok(())
}

/// After the first complete pull from a restored server: records it did not send back were
/// lost with it (made after its backup); each live one goes up again (a batch is taken as it
/// was, a list or schedule is written again). A change to a record the server still holds in
/// an older version is not resent: the server's version stands (docs/SYNC.md). Returns how
/// many were queued.
pub(crate) fn resend_lost(transaction: &Transaction<'_>) -> Result<usize> {
    let lost: Vec<(String, String, Option<String>)> = transaction
        .prepare_cached("SELECT kind, id, body FROM team_records WHERE team_seq = ?1")?
        .query_map([HELD_BEFORE_RESTORE], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut queued = 0;
    for (kind, id, body) in lost {
        transaction.execute(
            "UPDATE team_records SET team_seq = NULL WHERE kind = ?1 AND id = ?2",
            params![kind, id],
        )?;
        if let Some(body) = body {
            let body: serde_json::Value = serde_json::from_str(&body)
                .map_err(ReplicaError::corrupt(format!("the stored {kind} {id}")))?;
            enqueue(transaction, &kind, &id, PUT_RECORD, None, &body)?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// Applies a pulled record (already read with `read_record` by the caller); 1 when it changed
/// what this replica holds.
pub(crate) fn apply_pulled(transaction: &Transaction<'_>, pulled: &PulledRecord) -> Result<usize> {
    let (kind, id) = (pulled.kind.as_str(), pulled.id.to_string());
    if queued_here(transaction, kind, &id)? {
        return Ok(0);
    }
    let body = pulled.body.as_ref().map(serde_json::Value::to_string);
    let changed = transaction.execute(
        "INSERT INTO team_records (kind, id, body, author_id, team_seq, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, author_id = excluded.author_id,
             team_seq = excluded.team_seq, updated_at = excluded.updated_at
         WHERE team_records.team_seq IS NULL OR team_records.team_seq < excluded.team_seq",
        params![
            kind,
            id,
            body,
            pulled.author_id.to_string(),
            pulled.team_seq,
            timestamp(now())
        ],
    )?;
    Ok(changed)
}
