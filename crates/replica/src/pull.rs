//! The pull half of sync, without the network: one page of the team's changes applied in one
//! transaction, and the team's conflicts. The HTTP client (`client.rs`) only moves messages.
//!
//! Applying a page: versions are stored (content-addressed, so a version this replica made
//! itself is recognised); a flow's head follows the team's unless a local change of that flow
//! is still queued (the server merges it on push, and the merged head arrives on a later pull);
//! other devices' events join the session log once their session is complete up to them; and
//! the mark `pulled_seq` advances in the same transaction, so a page is applied once, whole.

use rf_core::received::EventDefect;
use rf_core::session::{EventKind, SessionEvent, SessionState};
use rf_core::sync::{FieldConflict, Keep, PullResponse, PulledConflict};
use rf_core::{Flow, VersionId};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ReplicaError, Result};
use crate::flows::{adopt_head, store_synced_version};
use crate::sessions::{add_to_path_statistics, load_events, write_projection};
use crate::{ConflictRecord, Replica, SyncAccount, now, timestamp};

/// What one applied page changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PullReport {
    pub versions: usize,
    pub heads: usize,
    pub events: usize,
    pub conflicts: usize,
    /// The user's pins that changed here because they changed on another of their devices.
    pub pins: usize,
    /// Team records (batches, target lists, schedules) that changed here.
    pub records: usize,
    /// Items this replica cannot use (malformed, or not matching their name), set aside with
    /// the reason instead of failing the page.
    pub set_aside: usize,
    /// The page held this device's own events that this replica does not have: another copy
    /// of it (restored from an older backup, or copied) wrote them, so this replica took a
    /// new device identity and applied them as that copy's.
    pub new_identity: Option<crate::IdentityChange>,
    /// Flow versions this replica published that a restored server lacked, queued again.
    pub republished: usize,
    /// Conflict resolutions made here that a restored server lost, queued again.
    pub resolved_again: usize,
    /// The page was not applied: it shows another copy of this device, and this replica must
    /// push first so the server says which of its events it already holds (then pull again).
    pub push_first: bool,
}

fn corrupt_column(
    index: usize,
    error: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(error))
}

fn uuid_at(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(&row.get::<_, String>(index)?).map_err(|error| corrupt_column(index, error))
}

fn version_at(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<VersionId> {
    row.get::<_, String>(index)?
        .parse()
        .map_err(|error| corrupt_column(index, error))
}

fn json_at(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    match row.get::<_, Option<String>>(index)? {
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| corrupt_column(index, error)),
        None => Ok(None),
    }
}

impl Replica {
    /// The sync account, if this replica has logged in.
    pub fn sync_account(&self) -> Result<Option<SyncAccount>> {
        Ok(self
            .connection
            .query_row(
                "SELECT server_url, team_id, user_id, email, pulled_seq, last_sync_at, last_error
                 FROM sync_state",
                [],
                |row| {
                    Ok(SyncAccount {
                        server_url: row.get(0)?,
                        team_id: uuid_at(row, 1)?,
                        user_id: uuid_at(row, 2)?,
                        email: row.get(3)?,
                        pulled_seq: row.get(4)?,
                        last_sync_at: row.get(5)?,
                        last_error: row.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records the account after a login. Another team's server would mix two teams' data in
    /// one library, so switching team is refused; the same team on a new address is allowed.
    pub fn set_sync_account(
        &mut self,
        server_url: &str,
        team_id: Uuid,
        user_id: Uuid,
        email: &str,
    ) -> Result<()> {
        if let Some(existing) = self.sync_account()?
            && existing.team_id != team_id
        {
            return Err(ReplicaError::Invalid(format!(
                "this library syncs with another team ({}); use a separate data directory (--data-dir) for this team",
                existing.server_url
            )));
        }
        self.connection.execute(
            "INSERT INTO sync_state (singleton, server_url, team_id, user_id, email) VALUES (1, ?1, ?2, ?3, ?4)
             ON CONFLICT (singleton) DO UPDATE SET server_url = excluded.server_url,
                 user_id = excluded.user_id, email = excluded.email",
            params![server_url, team_id.to_string(), user_id.to_string(), email],
        )?;
        Ok(())
    }

    /// Records how the last sync round ended (`None`: everything went through).
    pub fn record_sync_result(&mut self, error: Option<&str>) -> Result<()> {
        match error {
            None => self.connection.execute(
                "UPDATE sync_state SET last_sync_at = ?1, last_error = NULL",
                [timestamp(now())],
            )?,
            Some(error) => self
                .connection
                .execute("UPDATE sync_state SET last_error = ?1", [error])?,
        };
        Ok(())
    }

    /// Applies one page of the team's changes in one transaction. A page that does not follow
    /// this replica's mark is refused whole and changes nothing. An item in it that this
    /// replica cannot use (a malformed event, a document not matching its version id) is set
    /// aside with its reason (`set_aside`), and the rest of the page applies.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(since = page.since, until = page.until))]
    pub fn apply_pull(&mut self, page: &PullResponse) -> Result<PullReport> {
        let mut own = self.device_id.to_string();
        let old_device = self.device_id;
        let data_dir = self.data_dir().to_owned();
        let transaction = self.write_transaction()?;
        let mark: i64 = transaction
            .query_row("SELECT pulled_seq FROM sync_state", [], |row| row.get(0))
            .optional()?
            .ok_or_else(|| {
                ReplicaError::Invalid("log in first: rf login --server URL --email E".into())
            })?;
        if page.since > mark || page.until < page.since || page.latest < page.until {
            return Err(ReplicaError::Invalid(format!(
                "the sync server sent changes {}..{} but this replica has applied up to {mark}; nothing was changed, sync again",
                page.since, page.until
            )));
        }
        match (&crate::push::known_epoch(&transaction)?, &page.epoch) {
            (Some(known), Some(epoch)) if known != epoch => {
                return Err(ReplicaError::Invalid(
                    "the sync server was restored from a backup since this replica last synced (its epoch changed); nothing was changed, sync again to pull everything again".into(),
                ));
            }
            (None, Some(epoch)) => {
                transaction.execute("UPDATE sync_state SET server_epoch = ?1", [epoch])?;
            }
            _ => {}
        }
        let mut report = PullReport::default();
        // Rows at or below the mark were applied with an earlier page (a retried or stale
        // answer): skipping them keeps a late copy from rolling a head back.
        let fresh = |team_seq: i64| team_seq > mark;
        for version in page.versions.iter().filter(|row| fresh(row.team_seq)) {
            let flow = match Flow::deserialize(&version.document) {
                Ok(flow) if VersionId::of(&flow) == version.version => flow,
                outcome => {
                    let reason = match outcome {
                        Ok(_) => "its document does not match its version id (altered or damaged)"
                            .to_owned(),
                        Err(error) => format!("its document is not a flow: {error}"),
                    };
                    set_aside(
                        &transaction,
                        "flow_version",
                        &format!("{}/{}", version.flow_id, version.version),
                        Some(version.team_seq),
                        &reason,
                        &version.document.to_string(),
                    )?;
                    report.set_aside += 1;
                    continue;
                }
            };
            let stored =
                store_synced_version(&transaction, version.flow_id, version.version, &flow)?;
            report.versions += usize::from(stored);
            // The server holds what this replica published (checked after a restore).
            transaction
                .prepare_cached(
                    "UPDATE published_versions SET confirmed = 1
                     WHERE flow_id = ?1 AND version = ?2 AND confirmed = 0",
                )?
                .execute(params![
                    version.flow_id.to_string(),
                    version.version.to_string()
                ])?;
        }
        for flow in page.flows.iter().filter(|row| fresh(row.team_seq)) {
            record_team_head(&transaction, flow)?;
            if follow_team_head(&transaction, flow.flow_id)? {
                report.heads += 1;
            }
        }
        // This device's own events first: they confirm what the server holds, or show that
        // another copy of this device is in use (then its work moves to a new identity and the
        // old id's events below are taken as another device's).
        let own_events: Vec<&rf_core::sync::PulledEvent> = page
            .events
            .iter()
            .filter(|row| fresh(row.team_seq) && row.device_id == old_device)
            .collect();
        match crate::identity::check_own_events(&transaction, old_device, &own_events)? {
            crate::identity::OwnEvents::Mine => {}
            crate::identity::OwnEvents::Moved(identity) => {
                own = identity.device_id.to_string();
                report.new_identity = Some(identity.into());
            }
            crate::identity::OwnEvents::PushFirst => {
                // Nothing of the page is applied (the transaction rolls back).
                return Ok(PullReport {
                    push_first: true,
                    ..PullReport::default()
                });
            }
        }
        // Other devices' events, by session, in the page's order.
        let mut by_session: std::collections::BTreeMap<Uuid, Vec<Pulled>> =
            std::collections::BTreeMap::new();
        for event in page.events.iter().filter(|row| fresh(row.team_seq)) {
            let device = event.device_id.to_string();
            if device == own {
                continue;
            }
            let parsed = match rf_core::received::read_event(&event.payload) {
                Ok(parsed) => Some(parsed),
                // A newer client's kind: kept in the session's log, skipped when replaying.
                Err(EventDefect::NewerKind(_)) => None,
                Err(defect) => {
                    set_aside(
                        &transaction,
                        "event",
                        &format!("{}/{}", event.device_id, event.device_seq),
                        Some(event.team_seq),
                        &defect.to_string(),
                        &serde_json::to_string(event)
                            .map_err(ReplicaError::corrupt("a pulled event"))?,
                    )?;
                    report.set_aside += 1;
                    continue;
                }
            };
            if let Some(EventKind::AttachmentAdded { attachment }) =
                parsed.as_ref().map(|parsed| &parsed.kind)
                && !crate::attachments::attachment_file(&data_dir, &attachment.sha256).exists()
            {
                transaction.execute(
                    "INSERT OR IGNORE INTO attachment_downloads (sha256, name, size) VALUES (?1, ?2, ?3)",
                    params![
                        attachment.sha256,
                        attachment.name,
                        i64::try_from(attachment.size).unwrap_or(i64::MAX)
                    ],
                )?;
            }
            by_session
                .entry(event.session_id)
                .or_default()
                .push(Pulled {
                    device,
                    device_seq: event.device_seq,
                    session_seq: event.session_seq,
                    payload: event.payload.to_string(),
                    event: parsed,
                    stashed: false,
                });
        }
        for (session, events) in by_session {
            report.events += admit_pulled_events(&transaction, session, events)?;
        }
        for conflict in page.conflicts.iter().filter(|row| fresh(row.team_seq)) {
            store_conflict(&transaction, conflict)?;
            report.conflicts += 1;
        }
        for pin in page.pins.iter().filter(|row| fresh(row.team_seq)) {
            report.pins += apply_pulled_pin(&transaction, pin)?;
        }
        for record in page.records.iter().filter(|row| fresh(row.team_seq)) {
            let checked = match &record.body {
                Some(body) => rf_core::sync::read_record(record.kind, record.id, body).map(|_| ()),
                None if record.kind.deletable() => Ok(()),
                None => Err("a batch cannot be deleted".to_owned()),
            };
            match checked {
                Ok(()) => report.records += crate::records::apply_pulled(&transaction, record)?,
                Err(reason) => {
                    set_aside(
                        &transaction,
                        record.kind.as_str(),
                        &record.id.to_string(),
                        Some(record.team_seq),
                        &reason,
                        &serde_json::to_string(record).unwrap_or_default(),
                    )?;
                    report.set_aside += 1;
                }
            }
        }
        transaction.execute(
            "UPDATE sync_state SET pulled_seq = MAX(pulled_seq, ?1)",
            [page.until],
        )?;
        if page.until >= page.latest {
            // After a server restore, the first complete pull shows what the restored server
            // lacks of what this replica published: it goes up again.
            report.republished = republish_lost_versions(&transaction)?;
            report.resolved_again = resolve_again(&transaction)?;
            report.republished += crate::records::resend_lost(&transaction)?;
            // The round's last page: this replica has everything the team had a moment ago.
            transaction.execute(
                "UPDATE sync_state SET last_sync_at = ?1, last_error = NULL",
                [timestamp(now())],
            )?;
        }
        transaction.commit()?;
        if let Some(identity) = report.new_identity {
            self.device_id = identity.device_id;
        }
        Ok(report)
    }

    /// The team's conflicts; unresolved only unless `all`.
    pub fn conflicts(&self, all: bool) -> Result<Vec<ConflictRecord>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT c.id, c.flow_id, f.title, c.path, c.base, c.kept, c.other, c.kept_version,
                    c.other_version, c.raised_by, c.resolution
             FROM conflicts c LEFT JOIN flows f ON f.id = c.flow_id
             WHERE ?1 OR c.resolution IS NULL ORDER BY c.team_seq",
        )?;
        let rows = statement.query_map([all], |row| {
            let resolution: Option<String> = row.get(10)?;
            Ok(ConflictRecord {
                id: uuid_at(row, 0)?,
                flow_id: uuid_at(row, 1)?,
                flow_title: row.get(2)?,
                conflict: FieldConflict {
                    path: row.get(3)?,
                    base: json_at(row, 4)?,
                    kept: json_at(row, 5)?,
                    other: json_at(row, 6)?,
                },
                kept_version: version_at(row, 7)?,
                other_version: version_at(row, 8)?,
                raised_by: row.get(9)?,
                resolution: resolution.as_deref().and_then(Keep::parse),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Queues again, in the order they were first published and each from its own base, the flow
/// versions this replica published that a restored server no longer holds, once a complete
/// pull after the restore has shown which those are. Returns how many.
fn republish_lost_versions(transaction: &Transaction<'_>) -> Result<usize> {
    let pending: bool =
        transaction.query_row("SELECT republish_pending FROM sync_state", [], |row| {
            row.get(0)
        })?;
    if !pending {
        return Ok(0);
    }
    // Per flow, in the order they were published: when the restored server has no head for
    // the flow, the last (it becomes the head of a flow the server lost); when one of them is
    // its head, every later one (a version the server holds only because a session ran it is
    // not its head); when another's version is its head, those the server lacks altogether
    // (each merges with that head).
    let published: Vec<(i64, String, String, Option<String>, bool)> = transaction
        .prepare(
            "SELECT p.seq, p.flow_id, p.version, p.base, p.confirmed
             FROM published_versions p ORDER BY p.seq",
        )?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let heads: std::collections::HashMap<String, Option<String>> = transaction
        .prepare("SELECT id, team_head FROM flows")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut lost: Vec<(i64, String, String, Option<String>)> = Vec::new();
    let mut flows: Vec<&String> = published.iter().map(|row| &row.1).collect();
    flows.sort();
    flows.dedup();
    for flow in flows {
        let rows: Vec<&(i64, String, String, Option<String>, bool)> =
            published.iter().filter(|row| row.1 == *flow).collect();
        let head = heads.get(flow).cloned().flatten();
        let position = rows
            .iter()
            .rposition(|row| head.as_deref() == Some(row.2.as_str()));
        match position {
            _ if head.is_none() => lost.extend(
                rows.last()
                    .map(|row| (row.0, row.1.clone(), row.2.clone(), row.3.clone())),
            ),
            Some(at) => lost.extend(
                rows[at + 1..]
                    .iter()
                    .map(|row| (row.0, row.1.clone(), row.2.clone(), row.3.clone())),
            ),
            None => lost.extend(
                rows.iter()
                    .filter(|row| !row.4)
                    .map(|row| (row.0, row.1.clone(), row.2.clone(), row.3.clone())),
            ),
        }
    }
    lost.sort_by_key(|row| row.0);
    let mut queued = 0;
    for (seq, flow_id, version, base) in lost {
        // Recorded again when the server applies it.
        transaction.execute("DELETE FROM published_versions WHERE seq = ?1", [seq])?;
        let document: Option<String> = transaction
            .query_row(
                "SELECT document FROM flow_versions WHERE flow_id = ?1 AND content_hash = ?2 LIMIT 1",
                params![flow_id, version],
                |row| row.get(0),
            )
            .optional()?;
        let (Some(document), Ok(version_id), Ok(flow)) = (
            document,
            version.parse::<VersionId>(),
            Uuid::parse_str(&flow_id),
        ) else {
            continue;
        };
        let payload = rf_core::sync::PutFlowVersion {
            version: version_id,
            base: base.and_then(|base| base.parse().ok()),
            document: serde_json::from_str(&document)
                .map_err(ReplicaError::corrupt("a flow version"))?,
        };
        let payload =
            serde_json::to_value(&payload).map_err(ReplicaError::corrupt("a flow version"))?;
        crate::enqueue(
            transaction,
            "flow",
            &flow_id,
            rf_core::sync::PUT_FLOW_VERSION,
            None,
            &payload,
        )?;
        adopt_head(transaction, flow, version_id)?;
        queued += 1;
    }
    transaction.execute("UPDATE published_versions SET confirmed = 1", [])?;
    transaction.execute("UPDATE sync_state SET republish_pending = 0", [])?;
    if queued > 0 {
        tracing::warn!(
            queued,
            "the restored sync server lacked flow versions this replica had published; they go up again"
        );
    }
    Ok(queued)
}

/// Queues again the conflict resolutions made here that a restored server lost, once it
/// shows their conflict unresolved: the same conflict, or the one it raised afresh for the
/// same flow, field and clashing version as the lost versions went up again. The conflict
/// shows resolved here at once. Returns how many.
fn resolve_again(transaction: &Transaction<'_>) -> Result<usize> {
    let lost: Vec<(String, String, String)> = transaction
        .prepare_cached(
            "SELECT r.conflict_id, c.id, r.keep FROM resolved_here r
             JOIN conflicts c ON c.id = r.conflict_id
                 OR (c.flow_id = r.flow_id AND c.path = r.path AND c.other_version = r.other_version)
             WHERE r.lost AND c.resolution IS NULL
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.entity = ?1 AND o.entity_id = c.id)
             ORDER BY c.created_at, c.id",
        )?
        .query_map([rf_core::sync::CONFLICT_ENTITY], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut queued = 0;
    let mut handled = std::collections::HashSet::new();
    for (resolved, conflict_id, keep) in lost {
        let Some(keep) = Keep::parse(&keep) else {
            continue;
        };
        // One conflict per lost resolution and one resolution per conflict, however many
        // rows matched.
        if handled.contains(&conflict_id) {
            continue;
        }
        if transaction.execute(
            "UPDATE OR REPLACE resolved_here SET lost = 0, conflict_id = ?2 WHERE conflict_id = ?1 AND lost",
            params![resolved, conflict_id],
        )? == 0
        {
            continue;
        }
        handled.insert(conflict_id.clone());
        let payload = serde_json::to_value(rf_core::sync::ResolveConflict { keep })
            .map_err(ReplicaError::corrupt("a conflict resolution"))?;
        crate::enqueue(
            transaction,
            rf_core::sync::CONFLICT_ENTITY,
            &conflict_id,
            rf_core::sync::RESOLVE_CONFLICT,
            None,
            &payload,
        )?;
        transaction.execute(
            "UPDATE conflicts SET resolution = ?2 WHERE id = ?1",
            params![conflict_id, keep.as_str()],
        )?;
        queued += 1;
    }
    if queued > 0 {
        tracing::warn!(
            queued,
            "the restored sync server had lost conflict resolutions made here; they go up again"
        );
    }
    Ok(queued)
}

/// Remembers the team's head of a flow if it is newer than the one known.
pub(crate) fn record_team_head(
    transaction: &Transaction<'_>,
    flow: &rf_core::sync::PulledFlow,
) -> Result<()> {
    transaction.execute(
        "UPDATE flows SET team_head = ?2, team_head_seq = ?3 WHERE id = ?1 AND team_head_seq < ?3",
        params![
            flow.flow_id.to_string(),
            flow.head.to_string(),
            flow.team_seq
        ],
    )?;
    Ok(())
}

/// A flow with nothing of its own queued shows the team's head. A local edit still queued wins
/// locally until the server has it (the server merges it; the result comes back as a newer
/// head). Returns whether the head moved.
pub(crate) fn follow_team_head(transaction: &Transaction<'_>, flow_id: Uuid) -> Result<bool> {
    let team_head: Option<String> = transaction
        .query_row(
            "SELECT f.team_head FROM flows f
             JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.latest_version
             WHERE f.id = ?1 AND f.team_head IS NOT NULL AND f.team_head <> v.content_hash
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.entity = 'flow' AND o.entity_id = f.id)",
            [flow_id.to_string()],
            |row| row.get(0),
        )
        .optional()?;
    match team_head.map(|head| head.parse::<VersionId>()) {
        Some(Ok(head)) => adopt_head(transaction, flow_id, head),
        _ => Ok(false),
    }
}

/// The user pinned or unpinned a flow on another device: the same here, unless a pin change
/// of that flow is still queued here (it reaches the server later and wins there too). A pin
/// of a flow this replica does not hold is skipped. Returns 1 when a pin changed.
fn apply_pulled_pin(
    transaction: &Transaction<'_>,
    pin: &rf_core::sync::PulledPin,
) -> Result<usize> {
    let flow = pin.flow_id.to_string();
    if crate::records::queued_here(transaction, rf_core::sync::PIN_ENTITY, &flow)? {
        return Ok(0);
    }
    let changed = if pin.pinned {
        transaction.execute(
            "INSERT INTO pins (flow_id, position, pinned_at)
             SELECT ?1, COALESCE((SELECT MAX(position) FROM pins), 0) + 1, ?2
             WHERE EXISTS (SELECT 1 FROM flows WHERE id = ?1)
             ON CONFLICT (flow_id) DO NOTHING",
            params![flow, timestamp(now())],
        )?
    } else {
        transaction.execute("DELETE FROM pins WHERE flow_id = ?1", [&flow])?
    };
    Ok(changed)
}

fn store_conflict(transaction: &Transaction<'_>, conflict: &PulledConflict) -> Result<()> {
    let json = |value: &Option<serde_json::Value>| value.as_ref().map(serde_json::Value::to_string);
    transaction.execute(
        "INSERT INTO conflicts (id, flow_id, path, base, kept, other, kept_version, other_version,
                                raised_by, created_at, resolution, team_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (id) DO UPDATE SET resolution = excluded.resolution, team_seq = excluded.team_seq",
        params![
            conflict.id.to_string(),
            conflict.flow_id.to_string(),
            conflict.conflict.path,
            json(&conflict.conflict.base),
            json(&conflict.conflict.kept),
            json(&conflict.conflict.other),
            conflict.kept_version.to_string(),
            conflict.other_version.to_string(),
            conflict.raised_by,
            conflict.created_at,
            conflict.resolution.map(Keep::as_str),
            conflict.team_seq
        ],
    )?;
    Ok(())
}

/// An event of another device, from a page or from the stash. `event` is `None` for a kind
/// this build does not know (a newer client's): it joins the log and replays as nothing.
struct Pulled {
    device: String,
    device_seq: i64,
    session_seq: i64,
    payload: String,
    event: Option<SessionEvent>,
    stashed: bool,
}

impl Pulled {
    fn kind(&self) -> String {
        match &self.event {
            Some(event) => event.kind.name().to_owned(),
            None => serde_json::from_str::<serde_json::Value>(&self.payload)
                .ok()
                .and_then(|payload| payload.get("type")?.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }

    /// When it happened, as stored beside the payload.
    fn at(&self) -> String {
        match &self.event {
            Some(event) => timestamp(event.at),
            None => serde_json::from_str::<serde_json::Value>(&self.payload)
                .ok()
                .and_then(|payload| payload.get("at")?.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }
}

/// Keeps an item this replica cannot use, with the reason; a second copy changes nothing.
fn set_aside(
    transaction: &Transaction<'_>,
    kind: &str,
    item: &str,
    team_seq: Option<i64>,
    reason: &str,
    payload: &str,
) -> Result<()> {
    tracing::warn!(kind, item, reason, "set aside an item from the sync server");
    transaction.execute(
        "INSERT INTO set_aside (kind, item, team_seq, reason, payload, set_aside_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, item) DO NOTHING",
        params![kind, item, team_seq, reason, payload, timestamp(now())],
    )?;
    Ok(())
}

/// Adds a session's events to its log while they continue it without a gap, and rewrites its
/// projection; the rest wait in `pulled_events` for what comes before them (the server may
/// store a device's events out of order). Events that would not replay (a log this build
/// cannot read) wait too, so nothing is lost. Returns how many joined the log.
fn admit_pulled_events(
    transaction: &Transaction<'_>,
    session: Uuid,
    mut candidates: Vec<Pulled>,
) -> Result<usize> {
    let id = session.to_string();
    let next: i64 = transaction.query_row(
        "SELECT COALESCE(MAX(session_seq) + 1, 0) FROM session_events WHERE session_id = ?1",
        [&id],
        |row| row.get(0),
    )?;
    let stashed: Vec<(String, i64, i64, String)> = transaction
        .prepare_cached(
            "SELECT device_id, device_seq, session_seq, payload FROM pulled_events
             WHERE session_id = ?1 AND session_seq >= ?2",
        )?
        .query_map(params![id, next], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (device, device_seq, session_seq, payload) in stashed {
        let value: serde_json::Value = serde_json::from_str(&payload).map_err(
            ReplicaError::corrupt(format!("a pulled event of session {id}")),
        )?;
        let event = match rf_core::received::read_event(&value) {
            Ok(event) => Some(event),
            Err(EventDefect::NewerKind(_)) => None,
            // Stashed by an older build that did not check: it stays in the stash, unused.
            Err(EventDefect::Malformed(_)) => continue,
        };
        candidates.push(Pulled {
            device,
            device_seq,
            session_seq,
            payload,
            event,
            stashed: true,
        });
    }
    candidates.retain(|candidate| candidate.session_seq >= next);
    // A device number this replica already holds for another event (a laptop and the server
    // both restored from older backups, so the number was given out twice): set aside, never
    // an error that would stop every pull.
    let mut taken = Vec::new();
    {
        let mut held = transaction.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM session_events WHERE device_id = ?1 AND device_seq = ?2)",
        )?;
        for (index, candidate) in candidates.iter().enumerate() {
            if held.query_row(params![candidate.device, candidate.device_seq], |row| {
                row.get(0)
            })? {
                taken.push(index);
            }
        }
    }
    for index in taken.into_iter().rev() {
        let candidate = candidates.remove(index);
        set_aside(
            transaction,
            "event",
            &format!("{}/{}", candidate.device, candidate.device_seq),
            None,
            "this device number already names another event here (its device and the sync server were both restored from older backups)",
            &candidate.payload,
        )?;
        if candidate.stashed {
            transaction.execute(
                "DELETE FROM pulled_events WHERE device_id = ?1 AND device_seq = ?2",
                params![candidate.device, candidate.device_seq],
            )?;
        }
    }
    candidates.sort_by(|a, b| {
        (a.session_seq, !a.stashed, &a.device, a.device_seq).cmp(&(
            b.session_seq,
            !b.stashed,
            &b.device,
            b.device_seq,
        ))
    });
    candidates.dedup_by(|later, earlier| {
        later.device == earlier.device && later.device_seq == earlier.device_seq
    });
    let run = candidates
        .iter()
        .zip(next..)
        .take_while(|(candidate, expected)| candidate.session_seq == *expected)
        .count();
    let mut admitted = 0;
    if run > 0 {
        let mut events = if next == 0 {
            Vec::new()
        } else {
            load_events(transaction, session)?
        };
        events.extend(
            candidates[..run]
                .iter()
                .filter_map(|candidate| candidate.event.clone()),
        );
        // The session's flow version must be here for its projection row; the pushing replica
        // sends it with the session, so it arrives in the same or an earlier page.
        let admissible = match SessionState::replay(&events) {
            Ok(state) => {
                let version_here: bool = transaction.query_row(
                    "SELECT EXISTS (SELECT 1 FROM flow_versions WHERE flow_id = ?1 AND content_hash = ?2)",
                    params![state.flow.flow_id.to_string(), state.flow.version.to_string()],
                    |row| row.get(0),
                )?;
                version_here.then_some(state)
            }
            Err(_) => None,
        };
        if let Some(state) = admissible {
            write_projection(transaction, session, &state)?;
            let mut insert = transaction.prepare_cached(
                "INSERT INTO session_events (device_id, device_seq, session_id, session_seq, kind, at, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut finished = false;
            for candidate in &candidates[..run] {
                insert.execute(params![
                    candidate.device,
                    candidate.device_seq,
                    id,
                    candidate.session_seq,
                    candidate.kind(),
                    candidate.at(),
                    candidate.payload
                ])?;
                if candidate.stashed {
                    transaction.execute(
                        "DELETE FROM pulled_events WHERE device_id = ?1 AND device_seq = ?2",
                        params![candidate.device, candidate.device_seq],
                    )?;
                }
                finished |= matches!(
                    candidate.event.as_ref().map(|event| &event.kind),
                    Some(EventKind::Finished { .. })
                );
            }
            if finished {
                add_to_path_statistics(transaction, &state)?;
            }
            admitted = run;
        }
    }
    let mut stash = transaction.prepare_cached(
        "INSERT INTO pulled_events (device_id, device_seq, session_id, session_seq, payload)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device_id, device_seq) DO NOTHING",
    )?;
    for candidate in &candidates[admitted..] {
        if !candidate.stashed {
            stash.execute(params![
                candidate.device,
                candidate.device_seq,
                id,
                candidate.session_seq,
                candidate.payload
            ])?;
        }
    }
    Ok(admitted)
}

impl Replica {
    /// Resolves a conflict. `Keep::Mine` publishes the value that was not applied as a new
    /// version of the flow (made from the current head); `Keep::Theirs` keeps the head as it
    /// is. Either way the resolution is queued for the team, in the same transaction.
    pub fn resolve_conflict(&mut self, id: Uuid, keep: Keep) -> Result<ConflictRecord> {
        let conflict = self
            .conflicts(true)?
            .into_iter()
            .find(|conflict| conflict.id == id)
            .ok_or_else(|| ReplicaError::NotFound {
                what: "conflict",
                given: id.to_string(),
            })?;
        if conflict.resolution.is_some() {
            return Err(ReplicaError::Invalid(format!(
                "conflict {} is already resolved",
                &id.to_string()[..8]
            )));
        }
        let transaction = self.write_transaction()?;
        if keep == Keep::Mine {
            let head: String = transaction.query_row(
                "SELECT v.document FROM flows f
                 JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.latest_version
                 WHERE f.id = ?1",
                [conflict.flow_id.to_string()],
                |row| row.get(0),
            )?;
            let mut document: serde_json::Value = serde_json::from_str(&head)
                .map_err(ReplicaError::corrupt(format!("flow {}", conflict.flow_id)))?;
            let value = if conflict.conflict.path == "/" {
                let other: Option<String> = transaction
                    .query_row(
                        "SELECT document FROM flow_versions WHERE flow_id = ?1 AND content_hash = ?2 LIMIT 1",
                        params![conflict.flow_id.to_string(), conflict.other_version.to_string()],
                        |row| row.get(0),
                    )
                    .optional()?;
                let other = other.ok_or_else(|| {
                    ReplicaError::Invalid(
                        "the other version has not arrived yet: sync, then choose again".into(),
                    )
                })?;
                Some(
                    serde_json::from_str(&other)
                        .map_err(ReplicaError::corrupt(format!("flow {}", conflict.flow_id)))?,
                )
            } else {
                conflict.conflict.other.clone()
            };
            if !rf_core::sync::set_at_path(&mut document, &conflict.conflict.path, value) {
                return Err(ReplicaError::Invalid(format!(
                    "the field {} no longer exists in the flow; edit the flow instead",
                    conflict.conflict.path
                )));
            }
            let flow = Flow::parse(&document.to_string()).map_err(|error| {
                ReplicaError::Invalid(format!(
                    "keeping your value would make the flow invalid ({error}); edit the flow instead, or keep theirs"
                ))
            })?;
            crate::flows::import_in(&transaction, flow, crate::WriteSource::Editor)?;
        }
        let payload = serde_json::to_value(rf_core::sync::ResolveConflict { keep })
            .map_err(ReplicaError::corrupt("a conflict resolution"))?;
        crate::enqueue(
            &transaction,
            rf_core::sync::CONFLICT_ENTITY,
            &id.to_string(),
            rf_core::sync::RESOLVE_CONFLICT,
            None,
            &payload,
        )?;
        transaction.execute(
            "UPDATE conflicts SET resolution = ?2 WHERE id = ?1",
            params![id.to_string(), keep.as_str()],
        )?;
        transaction.commit()?;
        Ok(ConflictRecord {
            resolution: Some(keep),
            ..conflict
        })
    }

    /// Finds a conflict by id prefix.
    pub fn resolve_conflict_id(&self, given: &str) -> Result<Uuid> {
        crate::resolve_prefix(&self.connection, "conflicts", "conflict", given)?.ok_or_else(|| {
            ReplicaError::NotFound {
                what: "conflict",
                given: given.to_owned(),
            }
        })
    }
}
