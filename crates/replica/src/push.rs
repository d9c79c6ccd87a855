//! The push half of sync, without the network: the next batch from the outbox and the event
//! log, and the server's answer applied in one transaction. The HTTP client (issue 3) only
//! moves these messages.
//!
//! A response is checked before anything changes: a server that claims to have settled a
//! mutation or stored an event this replica never sent is refused, so no answer can make the
//! replica drop work it still holds.

use rf_core::FlowRef;
use rf_core::sync::{
    Mutation, PROTOCOL_VERSION, PushRequest, PushResponse, PushedEvent, PushedFlowVersion,
};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ReplicaError, Result};
use crate::{Replica, SyncBacklog, migrate, now, timestamp};

/// What applying one push response changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushReport {
    /// Mutations the server applied (removed from the outbox).
    pub applied: usize,
    /// Mutations the server refused for good (moved to `outbox_rejected`, kept visible).
    pub rejected: usize,
    /// Events newly acknowledged.
    pub events_acknowledged: usize,
    /// Events the server had acknowledged and no longer holds (it was restored from an older
    /// backup): queued again, to be sent again.
    pub events_to_resend: usize,
    /// This replica took a new device identity (another copy of it used its numbers); its
    /// unsent work goes up under the new one.
    pub new_identity: Option<IdentityChange>,
    /// Queued mutations numbered again after the server's last, because the server lost
    /// numbers it had settled (restored from an older backup).
    pub mutations_renumbered: usize,
    /// The answer carried a new store epoch: the server was restored from a backup, and this
    /// replica pulls the team's changes again from the start.
    pub server_restored: bool,
}

/// A new device identity this replica took, and what moved to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdentityChange {
    pub device_id: Uuid,
    /// Events numbered again under it (forked sessions' copied starts included).
    pub events: usize,
    /// Queued changes numbered again under it.
    pub mutations: usize,
    /// Sessions this copy continued after the copy was made, each now a session of its own.
    pub forked_sessions: usize,
}

impl From<crate::identity::NewIdentity> for IdentityChange {
    fn from(identity: crate::identity::NewIdentity) -> IdentityChange {
        IdentityChange {
            device_id: identity.device_id,
            events: identity.events,
            mutations: identity.mutations,
            forked_sessions: identity.forked_sessions,
        }
    }
}

/// A mutation the server refused, with its reason, kept for the engineer to act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedMutation {
    pub mutation_id: i64,
    pub entity: String,
    pub entity_id: String,
    pub operation: String,
    pub reason: String,
    pub rejected_at: String,
}

impl Replica {
    /// The next batch to push (oldest first), or `None` when nothing is pending, within
    /// [`PUSH_BATCH_BYTES`](rf_core::sync::PUSH_BATCH_BYTES).
    pub fn next_push(
        &mut self,
        max_mutations: usize,
        max_events: usize,
    ) -> Result<Option<PushRequest>> {
        self.next_push_within(max_mutations, max_events, rf_core::sync::PUSH_BATCH_BYTES)
    }

    /// The next batch to push: the oldest mutations, then the oldest unacknowledged events (each
    /// with the flow documents it runs), as many as fit in `max_bytes` of JSON and the counts.
    /// The first item always goes, however large: nothing the replica accepts is larger than
    /// the server's body limit ([`MAX_PUSH_ITEM_BYTES`](rf_core::sync::MAX_PUSH_ITEM_BYTES)),
    /// so a batch of one always fits.
    pub fn next_push_within(
        &mut self,
        max_mutations: usize,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Option<PushRequest>> {
        // Events of an earlier device id that a restored server no longer holds go first,
        // under that id (its numbers are the server's record of them).
        let retired: Option<(String, i64)> = self
            .connection
            .query_row(
                "SELECT device_id, pushed_event_seq FROM retired_devices
                 WHERE pushed_event_seq < last_event_seq ORDER BY retired_at, rowid LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((device, after)) = retired {
            let device = Uuid::parse_str(&device).map_err(|error| {
                ReplicaError::Invalid(format!("stored device id {device:?}: {error}"))
            })?;
            let mut budget = Budget::new(max_bytes);
            let events = self.events_after(device, after, max_events, &mut budget)?;
            let flow_versions = self.documents_for(&events)?;
            return Ok(Some(PushRequest {
                protocol: PROTOCOL_VERSION,
                schema: migrate::latest_version(),
                client_id: device,
                mutations: Vec::new(),
                events,
                flow_versions,
            }));
        }
        let mut statement = self.connection.prepare_cached(
            "SELECT mutation_id, entity, entity_id, operation, base_version, payload
             FROM outbox ORDER BY mutation_id LIMIT ?1",
        )?;
        let rows: Vec<(i64, String, String, String, Option<i64>, String)> = statement
            .query_map([max_mutations as i64], |row| {
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
        let mut budget = Budget::new(max_bytes);
        let mut mutations = Vec::new();
        for (mutation_id, entity, entity_id, operation, base_version, payload) in rows {
            if !budget.take(payload.len() + entity.len() + entity_id.len() + operation.len()) {
                break;
            }
            mutations.push(Mutation {
                mutation_id,
                entity,
                entity_id,
                operation,
                base_version,
                payload: serde_json::from_str(&payload)
                    .map_err(ReplicaError::corrupt("an outbox payload"))?,
            });
        }
        let (device, after): (Uuid, i64) = (
            self.device_id,
            self.connection
                .query_row("SELECT pushed_event_seq FROM device", [], |row| row.get(0))?,
        );
        let events = if budget.full {
            Vec::new()
        } else {
            self.events_after(device, after, max_events, &mut budget)?
        };
        if mutations.is_empty() && events.is_empty() {
            return Ok(None);
        }
        let flow_versions = self.documents_for(&events)?;
        if let Some(last) = mutations.last() {
            self.connection.execute(
                "UPDATE device SET sent_mutation_id = MAX(sent_mutation_id, ?1)",
                [last.mutation_id],
            )?;
        }
        Ok(Some(PushRequest {
            protocol: PROTOCOL_VERSION,
            schema: migrate::latest_version(),
            client_id: self.device_id,
            mutations,
            events,
            flow_versions,
        }))
    }

    /// `device`'s events after number `after`, oldest first, as many as fit in `budget` and
    /// `max_events`, each counted with the flow document it runs (sent once per batch).
    fn events_after(
        &self,
        device: Uuid,
        after: i64,
        max_events: usize,
        budget: &mut Budget,
    ) -> Result<Vec<PushedEvent>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT device_seq, session_id, session_seq, payload FROM session_events
             WHERE device_id = ?1 AND device_seq > ?2 ORDER BY device_seq LIMIT ?3",
        )?;
        let rows: Vec<(i64, String, i64, String)> = statement
            .query_map(
                params![device.to_string(), after, max_events as i64],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )?
            .collect::<rusqlite::Result<_>>()?;
        let mut events = Vec::new();
        let mut documents = std::collections::BTreeSet::new();
        for (device_seq, session_id, session_seq, payload) in rows {
            // Its size as stored (compact JSON, as it is sent), not serialised again.
            let stored_size = payload.len();
            let payload: serde_json::Value = serde_json::from_str(&payload)
                .map_err(ReplicaError::corrupt("an event payload"))?;
            // The flow document a `started` or `subflow_entered` event brings along, once.
            let document = match flow_run_by(&payload) {
                Some(reference) if !documents.contains(&reference) => {
                    Some((reference, self.document_size(reference)?))
                }
                _ => None,
            };
            let size = stored_size + document.map_or(0, |(_, document_size)| document_size);
            if !budget.take(size) {
                break;
            }
            if let Some((reference, _)) = document {
                documents.insert(reference);
            }
            events.push(PushedEvent {
                device_id: device,
                device_seq,
                session_id: Uuid::parse_str(&session_id).map_err(|error| {
                    ReplicaError::Invalid(format!("stored session id {session_id:?}: {error}"))
                })?,
                session_seq,
                payload,
            });
        }
        Ok(events)
    }

    /// The size in bytes of a flow version's stored document (0 when this replica lacks it).
    fn document_size(&self, reference: FlowRef) -> Result<usize> {
        let size: Option<i64> = self
            .connection
            .prepare_cached(
                "SELECT octet_length(document) FROM flow_versions
                 WHERE flow_id = ?1 AND content_hash = ?2 LIMIT 1",
            )?
            .query_row(
                params![reference.flow_id.to_string(), reference.version.to_string()],
                |row| row.get(0),
            )
            .optional()?;
        Ok(size.map_or(0, |size| usize::try_from(size).unwrap_or(usize::MAX)))
    }

    /// The documents of the flow versions that `started` and `subflow_entered` events name, so
    /// the server holds every version a session ran even when its own `put_version` was refused.
    fn documents_for(&self, events: &[PushedEvent]) -> Result<Vec<PushedFlowVersion>> {
        let wanted: std::collections::BTreeSet<FlowRef> = events
            .iter()
            .filter_map(|event| flow_run_by(&event.payload))
            .collect();
        let mut statement = self.connection.prepare_cached(
            "SELECT document FROM flow_versions WHERE flow_id = ?1 AND content_hash = ?2 LIMIT 1",
        )?;
        let mut documents = Vec::with_capacity(wanted.len());
        for reference in wanted {
            let document: Option<String> = statement
                .query_row(
                    params![reference.flow_id.to_string(), reference.version.to_string()],
                    |row| row.get(0),
                )
                .optional()?;
            // A version this replica does not hold was never run here; nothing to send.
            if let Some(document) = document {
                documents.push(PushedFlowVersion {
                    flow_id: reference.flow_id,
                    version: reference.version,
                    document: serde_json::from_str(&document)
                        .map_err(ReplicaError::corrupt("a flow version"))?,
                });
            }
        }
        Ok(documents)
    }

    /// Applies the server's answer to `request` in one transaction.
    ///
    /// When the answer shows that another copy of this device used its numbers (an identity
    /// clash, or numbers settled or stored that this replica never sent), or that the server
    /// lost mutations it had settled (restored from an older backup), what the server holds
    /// from this replica is settled and the rest is numbered again under a new device
    /// identity (`identity::take_new_identity`), in the same transaction.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub fn apply_push_response(
        &mut self,
        request: &PushRequest,
        response: &PushResponse,
    ) -> Result<PushReport> {
        let old = self.device_id;
        if request.client_id != old {
            return self.apply_retired_push_response(request, response);
        }
        let transaction = self.write_transaction()?;
        let (before, written): (i64, i64) = transaction.query_row(
            "SELECT pushed_event_seq, last_event_seq FROM device",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let highest_sent = request
            .mutations
            .last()
            .map_or(0, |mutation| mutation.mutation_id);
        let ever_sent: i64 =
            transaction.query_row("SELECT sent_mutation_id FROM device", [], |row| row.get(0))?;
        let sent_through = highest_sent.max(ever_sent);
        let standing = Standing::read(request, response, before, written, sent_through);
        check_response(request, response, &standing, ever_sent)?;
        let stamp = timestamp(now());
        let mut rejected = 0;
        for rejection in &response.rejected {
            if rejection.mutation_id > standing.settled {
                continue; // another copy's number: not this replica's to settle
            }
            rejected += transaction.execute(
                "INSERT INTO outbox_rejected (device_id, mutation_id, entity, entity_id, operation,
                                              base_version, payload, created_at, reason, rejected_at)
                 SELECT ?4, mutation_id, entity, entity_id, operation, base_version, payload, created_at, ?2, ?3
                 FROM outbox WHERE mutation_id = ?1 AND operation <> ?5",
                params![
                    rejection.mutation_id,
                    rejection.reason,
                    stamp,
                    old.to_string(),
                    // A withdrawn change was kept, with its own reason, when it was withdrawn.
                    rf_core::sync::WITHDRAWN
                ],
            )?;
        }
        // Flows whose queued changes this answer settles: once nothing of theirs is queued,
        // they show the team's head (a refused edit falls back to it, even when the answer
        // that refused it was lost and this batch does not carry it).
        let settled_flows: Vec<String> = transaction
            .prepare_cached(
                "SELECT DISTINCT entity_id FROM outbox WHERE entity = 'flow' AND mutation_id <= ?1",
            )?
            .query_map([standing.settled], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let refused: std::collections::BTreeSet<i64> = response
            .rejected
            .iter()
            .map(|rejection| rejection.mutation_id)
            .collect();
        record_published(&transaction, standing.settled, &refused)?;
        let settled = transaction.execute(
            "DELETE FROM outbox WHERE mutation_id <= ?1",
            [standing.settled],
        )?;
        // What the batch's flow edits became on the server (accepted, merged or refused): a
        // flow with nothing more of its own queued now shows the team's head.
        for head in &response.heads {
            crate::pull::record_team_head(&transaction, head)?;
        }
        let mut flows: Vec<Uuid> = response.heads.iter().map(|head| head.flow_id).collect();
        flows.extend(
            settled_flows
                .iter()
                .filter_map(|id| Uuid::parse_str(id).ok()),
        );
        flows.sort();
        flows.dedup();
        for flow_id in flows {
            crate::pull::follow_team_head(&transaction, flow_id)?;
        }
        for refused in &response.refused_events {
            transaction.execute(
                "INSERT INTO refused_events (device_id, device_seq, session_id, reason, refused_at)
                 VALUES (?5, ?1, ?2, ?3, ?4) ON CONFLICT (device_id, device_seq) DO NOTHING",
                params![
                    refused.device_seq,
                    refused.session_id.to_string(),
                    refused.reason,
                    stamp,
                    old.to_string()
                ],
            )?;
        }
        // The server's prefix only grows, unless it lost what it had (restored from an older
        // backup): then the events it lost, still here, go up again from where it now is.
        let after = standing.acknowledged;
        if after < before {
            tracing::warn!(
                before,
                after,
                "the sync server holds fewer of this device's events than it acknowledged (restored from an older backup?); sending them again"
            );
        }
        transaction.execute("UPDATE device SET pushed_event_seq = ?1", [after])?;
        // A new epoch: the server was restored from a backup. What this answer says holds for
        // the server as it is now; the team's changes are pulled again from the start.
        let mut server_restored = false;
        if let Some(epoch) = &response.epoch {
            match known_epoch(&transaction)? {
                Some(known) if known != *epoch => {
                    tracing::warn!(
                        epoch,
                        "the sync server was restored from a backup (its epoch changed); pulling everything again"
                    );
                    forget_what_the_server_lost(&transaction, epoch)?;
                    server_restored = true;
                }
                Some(_) => {}
                None => {
                    transaction.execute("UPDATE sync_state SET server_epoch = ?1", [epoch])?;
                }
            }
        }
        let mut renumbered = 0;
        if let Some(last) = standing.renumber_after {
            // The server waits for the number after `last`: it lost numbers it had settled
            // (restored from an older backup), or another copy of this device used the ones
            // this replica's queue holds.
            tracing::warn!(
                last,
                "the sync server's numbering for this device is not this replica's (restored server, or another copy of this replica); numbering the queued changes again after its last"
            );
            renumbered = crate::identity::renumber_outbox(&transaction, last + 1)?;
            transaction.execute("UPDATE device SET sent_mutation_id = ?1", [last])?;
        }
        let new_identity = if standing.switch_identity {
            Some(crate::identity::take_new_identity(
                &transaction,
                old,
                after,
                "another copy of this replica (restored from an older backup, or its data copied to another machine) used this device's numbers for other work",
            )?)
        } else {
            None
        };
        transaction.commit()?;
        if let Some(identity) = &new_identity {
            self.device_id = identity.device_id;
        }
        Ok(PushReport {
            applied: settled.saturating_sub(rejected),
            rejected,
            events_acknowledged: usize::try_from(after - before).unwrap_or(0),
            events_to_resend: usize::try_from(before - after).unwrap_or(0),
            new_identity: new_identity.map(IdentityChange::from),
            mutations_renumbered: renumbered,
            server_restored,
        })
    }

    /// The server's change numbers went back below this replica's mark (it was restored from
    /// an older backup): pull again from where the server now is, and send this device's
    /// events again from the start (the server keeps each once, and its answer moves the mark
    /// to what it really holds), so nothing the server lost and this replica still has is lost.
    pub fn server_went_back(&mut self, server_latest: i64) -> Result<()> {
        tracing::warn!(
            server_latest,
            "the sync server's changes go back below this replica's mark (restored from an older backup?); pulling and pushing again from there"
        );
        let transaction = self.write_transaction()?;
        transaction.execute(
            "UPDATE sync_state SET pulled_seq = MIN(pulled_seq, ?1)",
            [server_latest.max(0)],
        )?;
        // Heads learnt from the lost changes must not hold back the server's new ones (a head
        // only ever moves forward by its number).
        transaction.execute(
            "UPDATE flows SET team_head_seq = 0 WHERE team_head_seq > ?1",
            [server_latest.max(0)],
        )?;
        transaction.execute("UPDATE device SET pushed_event_seq = 0", [])?;
        transaction.commit()?;
        Ok(())
    }

    /// The answer to a push of an earlier device id's events (a restored server had lost them):
    /// what the server compared and holds as written here is acknowledged; events from a clash
    /// on (another copy's under that id) move to the current id, so nothing goes up twice.
    fn apply_retired_push_response(
        &mut self,
        request: &PushRequest,
        response: &PushResponse,
    ) -> Result<PushReport> {
        let device = request.client_id;
        let transaction = self.write_transaction()?;
        let mark: Option<(i64, i64)> = transaction
            .query_row(
                "SELECT pushed_event_seq, last_event_seq FROM retired_devices WHERE device_id = ?1",
                [device.to_string()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((before, last)) = mark else {
            // A late answer to a push sent under an id this replica no longer has.
            return Err(ReplicaError::Invalid(
                "the sync server's answer is for a device id this replica no longer uses; nothing was changed, sync again".into(),
            ));
        };
        let clash = response.identity_clash.and_then(|clash| clash.first_event);
        let compared = compared_through(request, before, clash);
        let after = response
            .events_acknowledged_through
            .min(compared)
            .min(last)
            .max(before);
        let stamp = timestamp(now());
        for refused in response
            .refused_events
            .iter()
            .filter(|r| r.device_seq <= after)
        {
            transaction.execute(
                "INSERT INTO refused_events (device_id, device_seq, session_id, reason, refused_at)
                 VALUES (?5, ?1, ?2, ?3, ?4) ON CONFLICT (device_id, device_seq) DO NOTHING",
                params![
                    refused.device_seq,
                    refused.session_id.to_string(),
                    refused.reason,
                    stamp,
                    device.to_string()
                ],
            )?;
        }
        let mut moved = 0;
        if let Some(first) = clash
            && after >= first - 1
        {
            // Another copy wrote under this old id too: this replica's events from the clash
            // on are its own work, and go up under the current id.
            moved = crate::identity::move_events(&transaction, device, first - 1)?.0;
            transaction.execute(
                "UPDATE retired_devices SET last_event_seq = ?2 WHERE device_id = ?1",
                params![device.to_string(), first - 1],
            )?;
        }
        transaction.execute(
            "UPDATE retired_devices SET pushed_event_seq = ?2 WHERE device_id = ?1",
            params![device.to_string(), after],
        )?;
        transaction.commit()?;
        Ok(PushReport {
            applied: 0,
            rejected: 0,
            events_acknowledged: usize::try_from(after - before).unwrap_or(0) + moved,
            events_to_resend: 0,
            new_identity: None,
            mutations_renumbered: 0,
            server_restored: false,
        })
    }

    /// The sync server store's epoch as this replica last saw it (none before the first sync
    /// with a server that says).
    pub fn server_epoch(&self) -> Result<Option<String>> {
        known_epoch(&self.connection)
    }

    /// The sync server's store has a new epoch: it was restored from a backup, so it lost
    /// changes it had accepted, and its change numbers may already have moved past this
    /// replica's mark with other changes. Everything is pulled again from the start (what is
    /// here already is recognised and skipped), and this device's events go up again from the
    /// start (the server keeps each once); queued changes are numbered again after the
    /// server's last by the next push answer.
    pub fn server_was_restored(&mut self, epoch: &str) -> Result<()> {
        tracing::warn!(
            epoch,
            "the sync server was restored from a backup (its epoch changed); pulling everything and sending this device's events again"
        );
        let transaction = self.write_transaction()?;
        forget_what_the_server_lost(&transaction, epoch)?;
        transaction.execute("UPDATE device SET pushed_event_seq = 0", [])?;
        transaction.execute("UPDATE retired_devices SET pushed_event_seq = 0", [])?;
        transaction.commit()?;
        Ok(())
    }

    /// Withdraws a queued mutation the server can never take (it is larger than the server's
    /// limit): the change is kept among the refused ones with `reason` (visible in `rf status`),
    /// and its number goes up as an empty `withdrawn` mutation, because the server settles a
    /// client's numbers in order and a number never sent would stop every later one.
    pub fn reject_queued_mutation(&mut self, mutation_id: i64, reason: &str) -> Result<()> {
        let device = self.device_id.to_string();
        let transaction = self.write_transaction()?;
        transaction.execute(
            "INSERT INTO outbox_rejected (device_id, mutation_id, entity, entity_id, operation,
                                          base_version, payload, created_at, reason, rejected_at)
             SELECT ?4, mutation_id, entity, entity_id, operation, base_version, payload, created_at, ?2, ?3
             FROM outbox WHERE mutation_id = ?1",
            params![mutation_id, reason, timestamp(now()), device],
        )?;
        transaction.execute(
            "UPDATE outbox SET operation = ?2, payload = '{}', base_version = NULL WHERE mutation_id = ?1",
            params![mutation_id, rf_core::sync::WITHDRAWN],
        )?;
        transaction.commit()?;
        Ok(())
    }

    /// What is waiting for the sync server, read in one statement so the numbers agree.
    pub fn sync_backlog(&self) -> Result<SyncBacklog> {
        let known = rf_core::received::EVENT_KINDS
            .iter()
            .map(|kind| format!("'{kind}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let counts: [i64; 6] = self.connection.query_row(
            &format!(
                "SELECT (SELECT COUNT(*) FROM outbox),
                        (SELECT last_event_seq - pushed_event_seq FROM device)
                            + (SELECT COALESCE(SUM(last_event_seq - pushed_event_seq), 0)
                               FROM retired_devices),
                        (SELECT COUNT(*) FROM outbox_rejected),
                        (SELECT COUNT(*) FROM refused_events),
                        (SELECT COUNT(*) FROM set_aside),
                        (SELECT COUNT(*) FROM session_events WHERE kind NOT IN ({known}))
                            + (SELECT COUNT(*) FROM pulled_events
                               WHERE json_extract(payload, '$.type') NOT IN ({known}))"
            ),
            [],
            |row| {
                Ok([
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ])
            },
        )?;
        let [
            mutations,
            events,
            rejected,
            refused_events,
            set_aside,
            newer,
        ] = counts.map(|value| u64::try_from(value).unwrap_or(0));
        Ok(SyncBacklog {
            mutations,
            events,
            rejected,
            refused_events,
            set_aside,
            needs_newer_version: newer,
        })
    }

    /// Mutations the server refused for good, newest first.
    pub fn rejected_mutations(&self) -> Result<Vec<RejectedMutation>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT mutation_id, entity, entity_id, operation, reason, rejected_at
             FROM outbox_rejected ORDER BY rejected_at DESC, mutation_id DESC",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(RejectedMutation {
                mutation_id: row.get(0)?,
                entity: row.get(1)?,
                entity_id: row.get(2)?,
                operation: row.get(3)?,
                reason: row.get(4)?,
                rejected_at: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// The sync server store's epoch this replica last saw: none before its first sync with a
/// server that says, or before it logs in.
pub(crate) fn known_epoch(connection: &rusqlite::Connection) -> Result<Option<String>> {
    Ok(connection
        .query_row("SELECT server_epoch FROM sync_state", [], |row| row.get(0))
        .optional()?
        .flatten())
}

/// After a server restore: pull again from the start, let older team heads apply again, and
/// remember the server's new epoch. What this replica published is checked against what the
/// restored server delivers (see `republish_lost_versions`), and the user's pins go up again
/// (queued, so the restored server's older pins do not undo them).
fn forget_what_the_server_lost(transaction: &rusqlite::Transaction<'_>, epoch: &str) -> Result<()> {
    transaction.execute(
        "UPDATE sync_state SET pulled_seq = 0, server_epoch = ?1, republish_pending = 1",
        [epoch],
    )?;
    // The team's heads are learnt again from the restored server (none for a flow it lost).
    transaction.execute("UPDATE flows SET team_head = NULL, team_head_seq = 0", [])?;
    // The team's conflicts are the server's record: the pull brings back what it still holds.
    transaction.execute("DELETE FROM conflicts", [])?;
    transaction.execute("UPDATE published_versions SET confirmed = 0", [])?;
    transaction.execute("UPDATE resolved_here SET lost = 1", [])?;
    crate::records::server_restored(transaction)?;
    // Everything held under an earlier id goes up again, what came back by pull included.
    transaction.execute(
        "UPDATE retired_devices SET pushed_event_seq = 0,
             last_event_seq = MAX(last_event_seq, COALESCE((SELECT MAX(device_seq) FROM session_events e
                                                            WHERE e.device_id = retired_devices.device_id), 0))",
        [],
    )?;
    transaction.execute(
        "INSERT INTO outbox (entity, entity_id, operation, base_version, payload, created_at)
         SELECT ?1, flow_id, ?2, NULL, '{}', ?3 FROM pins
         WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE entity = ?1 AND entity_id = pins.flow_id)
         ORDER BY position",
        params![
            rf_core::sync::PIN_ENTITY,
            rf_core::sync::PIN,
            timestamp(now())
        ],
    )?;
    Ok(())
}

/// Records the flow versions whose `put_version` this answer settles as applied (not refused),
/// and the conflict resolutions it settles: what to give back to a server restored from an
/// older backup.
fn record_published(
    transaction: &rusqlite::Transaction<'_>,
    settled_through: i64,
    refused: &std::collections::BTreeSet<i64>,
) -> Result<()> {
    let rows: Vec<(i64, String, String)> = transaction
        .prepare_cached(
            "SELECT mutation_id, entity_id, payload FROM outbox
             WHERE entity = 'flow' AND operation = ?1 AND mutation_id <= ?2 ORDER BY mutation_id",
        )?
        .query_map(
            params![rf_core::sync::PUT_FLOW_VERSION, settled_through],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    for (mutation_id, flow_id, payload) in rows {
        if refused.contains(&mutation_id) {
            continue;
        }
        let payload: rf_core::sync::PutFlowVersion =
            serde_json::from_str(&payload).map_err(ReplicaError::corrupt("an outbox payload"))?;
        transaction.execute(
            "INSERT INTO published_versions (flow_id, version, base) VALUES (?1, ?2, ?3)",
            params![
                flow_id,
                payload.version.to_string(),
                payload.base.map(|base| base.to_string())
            ],
        )?;
    }
    let resolutions: Vec<(i64, String, String)> = transaction
        .prepare_cached(
            "SELECT mutation_id, entity_id, payload FROM outbox
             WHERE entity = ?1 AND operation = ?2 AND mutation_id <= ?3 ORDER BY mutation_id",
        )?
        .query_map(
            params![
                rf_core::sync::CONFLICT_ENTITY,
                rf_core::sync::RESOLVE_CONFLICT,
                settled_through
            ],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    for (mutation_id, conflict_id, payload) in resolutions {
        if refused.contains(&mutation_id) {
            continue;
        }
        let payload: rf_core::sync::ResolveConflict =
            serde_json::from_str(&payload).map_err(ReplicaError::corrupt("an outbox payload"))?;
        transaction.execute(
            "INSERT OR REPLACE INTO resolved_here (conflict_id, flow_id, path, other_version, keep)
             SELECT id, flow_id, path, other_version, ?2 FROM conflicts WHERE id = ?1",
            params![conflict_id, payload.keep.as_str()],
        )?;
    }
    Ok(())
}

/// The flow version a `started` or `subflow_entered` event runs.
fn flow_run_by(payload: &serde_json::Value) -> Option<FlowRef> {
    let kind = payload.get("type").and_then(serde_json::Value::as_str);
    if !matches!(kind, Some("started" | "subflow_entered")) {
        return None;
    }
    serde_json::from_value::<FlowRef>(payload.get("flow")?.clone()).ok()
}

/// Bytes left in a push batch. The first item is always taken, whatever its size; after it,
/// an item that would overflow closes the batch.
struct Budget {
    left: usize,
    items: usize,
    full: bool,
}

/// What one item adds to a batch beyond its payload: ids, numbers and JSON punctuation.
const ITEM_OVERHEAD_BYTES: usize = 160;

impl Budget {
    fn new(bytes: usize) -> Budget {
        Budget {
            left: bytes,
            items: 0,
            full: false,
        }
    }

    fn take(&mut self, size: usize) -> bool {
        let size = size + ITEM_OVERHEAD_BYTES;
        if self.full || (self.items > 0 && size > self.left) {
            self.full = true;
            return false;
        }
        self.left = self.left.saturating_sub(size);
        self.items += 1;
        true
    }
}

/// What a push answer means for this replica: how far its mutations are settled and its
/// events acknowledged, and whether another copy of the device (or a restored server) shows.
struct Standing {
    /// Mutations settled through here: never beyond what this replica has sent, since numbers
    /// above were another copy's.
    settled: i64,
    /// Events acknowledged through here: what the server holds as this replica wrote it.
    acknowledged: i64,
    /// The answer names a clash, or settles or stores numbers this replica never sent.
    another_copy: bool,
    /// This replica's work must move to a new device id: the server named a clash, or holds
    /// events under this id beyond what this replica wrote and every event this replica wrote
    /// has been compared with what it holds (until then, the next pushes compare the rest, so
    /// nothing the server already holds goes up twice).
    switch_identity: bool,
    /// The queue must be numbered again after this number: the server settled numbers past
    /// what this replica sent (another copy's), or lost numbers it had settled (it was restored
    /// from an older backup).
    renumber_after: Option<i64>,
}

impl Standing {
    fn read(
        request: &PushRequest,
        response: &PushResponse,
        before: i64,
        written: i64,
        sent_through: i64,
    ) -> Standing {
        let clash = response.identity_clash;
        let copy_settled = response.mutations_settled_through > sent_through;
        let copy_wrote = response.events_acknowledged_through > written;
        let another_copy = clash.is_some() || copy_settled || copy_wrote;
        let divergence = clash.and_then(|clash| clash.first_event);
        let compared = compared_through(request, before, divergence);
        // With another copy about, only what was compared counts as this replica's.
        let acknowledged = if another_copy {
            response.events_acknowledged_through.min(compared)
        } else {
            response.events_acknowledged_through
        };
        let server_forgot = request
            .mutations
            .first()
            .is_some_and(|first| response.mutations_settled_through < first.mutation_id - 1);
        // The work moves once every event of this replica's before the divergence is known to
        // be on the server as written here; until then the next pushes compare the rest.
        let same_through = divergence.map_or(written, |first| (first - 1).min(written));
        let switch_identity = another_copy && acknowledged >= same_through;
        let renumber_after = if switch_identity {
            None
        } else if let Some(last) = clash.and_then(|clash| clash.last_mutation) {
            Some(last)
        } else if copy_settled || server_forgot {
            Some(response.mutations_settled_through)
        } else {
            None
        };
        Standing {
            settled: response.mutations_settled_through.min(sent_through),
            acknowledged,
            another_copy,
            switch_identity,
            renumber_after,
        }
    }
}

/// How far, from the acknowledged prefix `before` on, the server compared this push's events
/// with what it holds and found them the same: the run the batch carried, short of a clash.
fn compared_through(request: &PushRequest, before: i64, clash: Option<i64>) -> i64 {
    let carried: std::collections::BTreeSet<i64> = request
        .events
        .iter()
        .map(|event| event.device_seq)
        .collect();
    let mut compared = before;
    while carried.contains(&(compared + 1)) {
        compared += 1;
    }
    clash.map_or(compared, |first| compared.min(first - 1))
}

/// A response may only reject mutations some push has carried (a server reports every refusal
/// in its settled range, which covers an earlier push whose answer was lost), and refuse only
/// events this push carried. Numbers beyond what this replica sent or wrote are another copy's
/// (see [`Standing`]), never a reason to drop work this replica holds.
fn check_response(
    request: &PushRequest,
    response: &PushResponse,
    standing: &Standing,
    ever_sent: i64,
) -> Result<()> {
    let refuse = |what: String| {
        Err(ReplicaError::Invalid(format!(
            "the sync server's answer {what}; nothing was changed, the work stays queued"
        )))
    };
    for rejection in &response.rejected {
        if rejection.mutation_id > standing.settled && standing.another_copy {
            continue; // another copy's refusal
        }
        // Refusals of mutations an earlier push carried (its answer lost) come back too.
        let sent = rejection.mutation_id <= ever_sent
            || request
                .mutations
                .iter()
                .any(|mutation| mutation.mutation_id == rejection.mutation_id);
        if !sent || rejection.mutation_id > response.mutations_settled_through {
            return refuse(format!(
                "rejects mutation {} which it did not settle",
                rejection.mutation_id
            ));
        }
    }
    for refused in &response.refused_events {
        if !request
            .events
            .iter()
            .any(|event| event.device_seq == refused.device_seq)
        {
            return refuse(format!(
                "refuses event {} which this push did not carry",
                refused.device_seq
            ));
        }
    }
    Ok(())
}
