//! The push transaction, written once over [`SyncRows`]: a device's mutations applied in
//! order (each flow change planned by [`crate::rules::flows::plan_put`]), its events stored once
//! each under the team's numbers, refused ones kept aside, and the answer read back inside
//! the same transaction. Each back end runs it inside its write transaction and commits when
//! it returns `Ok`.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::domain::error::{StoreError, StoreResult};
use crate::domain::flows::{Checked, CheckedDocument, PutPlan};
use crate::domain::push::{PushBatch, PushSettled, batch_range};
use crate::domain::users::User;
use crate::rules::flows::{may_resolve, plan_put};
use crate::rules::records::{RecordPlan, plan_record};
use crate::rules::sessions::{append as append_rule, handoff_target};
use crate::storage::rows::{NewConflict, RecordWrite, SyncRows};
use rf_core::sync::{PushDecision, PushedEvent};

pub async fn push(
    rows: &mut impl SyncRows,
    user: &User,
    mut batch: PushBatch,
    now: i64,
) -> StoreResult<PushSettled> {
    let device = batch.device_id;
    let team = user.team_id;
    let claimed = rows.device(device, user.id, now).await?;
    if claimed.owner != user.id {
        return Err(StoreError::Forbidden(
            "this device id belongs to another user; sign out and in again on this device".into(),
        ));
    }
    let mut last_mutation_id = claimed.last_mutation_id;
    let mut acked = claimed.acked_event_seq;
    let latest_before = rows.team_latest(team).await?;
    // What the server holds under the batch's numbers: a retry repeats it exactly, a second
    // copy of the device does not (PushBatch::cut_at_clash).
    let digests = match batch.settled_numbers(last_mutation_id) {
        None => HashMap::new(),
        Some((low, high)) => rows.mutation_digests(device, low, high).await?,
    };
    let numbers: Vec<i64> = batch
        .events
        .iter()
        .chain(batch.refused_events.iter().map(|(event, _)| event))
        .map(|event| event.device_seq)
        .collect();
    let held = if numbers.is_empty() {
        HashMap::new()
    } else {
        rows.held_events(device, &numbers).await?
    };
    let identity_clash = batch.cut_at_clash(last_mutation_id, &digests, &held);

    let mut conflicts = 0;
    let decisions = rf_core::sync::plan_push(
        last_mutation_id,
        batch.mutations.iter().map(|(mutation, _)| mutation),
    );
    // One decision per mutation, in the batch's order (up to a gap).
    for (decision, (mutation, checked)) in decisions.into_iter().zip(&batch.mutations) {
        let PushDecision::Apply { mutation_id } = decision else {
            continue;
        };
        rows.insert_mutation_digest(
            device,
            mutation_id,
            &rf_core::sync::mutation_digest(mutation),
        )
        .await?;
        match apply_mutation(rows, user, checked, now).await? {
            Ok(recorded) => conflicts += recorded,
            Err(reason) => {
                rows.reject_mutation(device, mutation_id, &reason, now)
                    .await?
            }
        }
        last_mutation_id = mutation_id;
    }
    rows.set_last_mutation(device, last_mutation_id).await?;
    // Every refusal among the numbers this answer settles from the batch's first on, this
    // push's and earlier ones' alike: a replica whose earlier answer was lost learns each
    // refusal however its retry is cut, and never takes a refused change for applied.
    let rejected = match batch.mutations.first() {
        None => Vec::new(),
        Some((first, _)) => {
            rows.rejections(device, first.mutation_id, last_mutation_id)
                .await?
        }
    };
    for document in &batch.flow_versions {
        insert_version(rows, team, user, document, now).await?;
    }

    // Events already stored (a retried push) are known from `held`; a number given twice in
    // one batch counts once.
    let mut seen: HashSet<i64> = held
        .iter()
        .filter(|(_, event)| event.session_seq.is_some())
        .map(|(seq, _)| *seq)
        .collect();
    let fresh: Vec<&PushedEvent> = batch
        .events
        .iter()
        .filter(|event| seen.insert(event.device_seq))
        .collect();
    // One writer per session (rules::sessions over rf-core's rule): each new event in the
    // batch's order against its session's row as this push leaves it; one this user may not
    // append (another's session, one handed to someone else) is refused on its own, so it
    // never holds the device's later events.
    let mut sessions: Vec<Uuid> = fresh.iter().map(|event| event.session_id).collect();
    sessions.sort();
    sessions.dedup();
    let mut session_rows = if sessions.is_empty() {
        HashMap::new()
    } else {
        rows.session_rows(&sessions).await?
    };
    let roles = if fresh
        .iter()
        .any(|event| handoff_target(&event.payload).is_some())
    {
        rows.team_roles(team).await?
    } else {
        HashMap::new()
    };
    let mut changed_sessions = std::collections::BTreeSet::new();
    let mut not_theirs: Vec<(PushedEvent, String)> = Vec::new();
    let fresh: Vec<&PushedEvent> = fresh
        .into_iter()
        .filter(|event| {
            let stored = session_rows.get(&event.session_id);
            match append_rule(
                stored,
                team,
                user.id,
                device,
                event.session_seq,
                handoff_target(&event.payload),
                &roles,
            ) {
                Ok(row) => {
                    if stored != Some(&row) {
                        session_rows.insert(event.session_id, row);
                        changed_sessions.insert(event.session_id);
                    }
                    true
                }
                Err(reason) => {
                    not_theirs.push(((*event).clone(), reason));
                    false
                }
            }
        })
        .collect();
    for session in changed_sessions {
        if let Some(row) = session_rows.get(&session) {
            rows.set_session_row(session, *row, now).await?;
        }
    }
    // Refused events are kept aside under their number (unless a good event holds it, stored
    // before or in this batch), so the prefix can pass them and a retry is answered the same.
    let refused: Vec<&(PushedEvent, String)> = batch
        .refused_events
        .iter()
        .filter(|(event, _)| !seen.contains(&event.device_seq))
        .chain(not_theirs.iter())
        .collect();
    if !refused.is_empty() {
        rows.insert_refused_events(device, team, &refused, now)
            .await?;
    }
    // Acknowledgement before the team's numbers are taken, so the team's sequence is held
    // only for the insert: the contiguous prefix over what was held and what this batch adds,
    // including events that arrived earlier beyond a gap this push has now filled.
    let mut prefix: std::collections::BTreeSet<i64> = rows
        .held_numbers_after(device, acked)
        .await?
        .into_iter()
        .collect();
    prefix.extend(fresh.iter().map(|event| event.device_seq));
    for seq in prefix {
        if seq != acked + 1 {
            break;
        }
        acked = seq;
    }
    rows.set_acked_event_seq(device, acked).await?;
    let stored = fresh.len();
    if stored > 0 {
        // One block of the team's numbers for the whole batch, in the batch's order.
        let count = i64::try_from(stored)
            .map_err(|_| StoreError::Invalid("too many events in one push".into()))?;
        let last = rows.take_team_seqs(team, count).await?;
        rows.insert_events(device, team, last - count + 1, &fresh, now)
            .await?;
    }

    let mut heads = Vec::new();
    for flow_id in batch.flows_touched() {
        heads.extend(rows.pulled_head(team, flow_id).await?);
    }
    let refused_events = match batch_range(&batch) {
        None => Vec::new(),
        Some((low, high)) => rows.refused_events(device, low, high).await?,
    };
    let latest = rows.team_latest(team).await?;
    let epoch = rows.epoch().await?;
    if latest > latest_before {
        rows.announce(team, latest).await?;
    }
    Ok(PushSettled {
        last_mutation_id,
        rejected,
        events_acknowledged_through: acked,
        events_stored: stored,
        conflicts,
        heads,
        refused_events,
        latest_before,
        latest,
        identity_clash,
        epoch,
    })
}

/// Stores a version of a team's flow unless it is there already; true when it was new.
async fn insert_version(
    rows: &mut impl SyncRows,
    team: Uuid,
    user: &User,
    document: &CheckedDocument,
    now: i64,
) -> StoreResult<bool> {
    // Usually the team has it already: asked first without holding the team's sequence.
    if rows
        .version_exists(team, document.flow_id, document.version)
        .await?
    {
        return Ok(false);
    }
    // Concurrent pushes may carry the same version: "new or not" is decided again while the
    // team's sequence is held, or both would see it missing and the second insert would fail.
    rows.lock_team(team).await?;
    if rows
        .version_exists(team, document.flow_id, document.version)
        .await?
    {
        return Ok(false);
    }
    let team_seq = rows.take_team_seqs(team, 1).await?;
    rows.insert_version(team, document, user.id, now, team_seq)
        .await?;
    Ok(true)
}

async fn set_head(
    rows: &mut impl SyncRows,
    team: Uuid,
    user: &User,
    document: &CheckedDocument,
    now: i64,
) -> StoreResult<()> {
    let team_seq = rows.take_team_seqs(team, 1).await?;
    rows.set_head(
        team,
        document.flow_id,
        document.version,
        user.id,
        now,
        team_seq,
    )
    .await
}

/// Applies one validated mutation; `Err(reason)` inside `Ok` is a permanent rejection.
/// Returns how many conflicts it recorded.
async fn apply_mutation(
    rows: &mut impl SyncRows,
    user: &User,
    checked: &Checked,
    now: i64,
) -> StoreResult<Result<usize, String>> {
    let team = user.team_id;
    match checked {
        Checked::Invalid(reason) => Ok(Err(reason.clone())),
        Checked::Put { document, base } => {
            let head = rows.head(team, document.flow_id).await?;
            let base_document = match base {
                Some(base) => rows.document(team, document.flow_id, *base).await?,
                None => None,
            };
            match plan_put(user, head.as_ref(), *base, base_document.as_ref(), document) {
                PutPlan::Reject(reason) => Ok(Err(reason)),
                PutPlan::Advance => {
                    insert_version(rows, team, user, document, now).await?;
                    set_head(rows, team, user, document, now).await?;
                    Ok(Ok(0))
                }
                PutPlan::Merge { merged, conflicts } => {
                    insert_version(rows, team, user, document, now).await?;
                    let Some(head) = head else {
                        return Err(StoreError::Internal("a merge without a head".into()));
                    };
                    let kept_version = match &merged {
                        Some(merged) => {
                            insert_version(rows, team, user, merged, now).await?;
                            set_head(rows, team, user, merged, now).await?;
                            merged.version
                        }
                        None => head.version,
                    };
                    for conflict in &conflicts {
                        let team_seq = rows.take_team_seqs(team, 1).await?;
                        rows.insert_conflict(NewConflict {
                            id: Uuid::new_v4(),
                            team,
                            flow_id: document.flow_id,
                            conflict,
                            kept_version,
                            other_version: document.version,
                            raised_by: user.id,
                            now,
                            team_seq,
                        })
                        .await?;
                    }
                    Ok(Ok(conflicts.len()))
                }
            }
        }
        Checked::Resolve { conflict_id, keep } => {
            let Some(conflict) = rows.conflict(team, *conflict_id).await? else {
                return Ok(Err(format!(
                    "there is no conflict {conflict_id} in this team"
                )));
            };
            if !may_resolve(user, &conflict.raised_by, &conflict.author) {
                return Ok(Err(
                    "only the flow's author, the engineer whose edit clashed, or a team admin can resolve this conflict".into(),
                ));
            }
            if conflict.resolution.is_none() {
                let team_seq = rows.take_team_seqs(team, 1).await?;
                rows.resolve_conflict(*conflict_id, *keep, user.id, now, team_seq)
                    .await?;
            }
            Ok(Ok(0))
        }
        Checked::Record { kind, id, body } => {
            let stored = rows.record(team, *kind, *id).await?;
            match plan_record(
                *kind,
                *id,
                stored.as_ref().map(Option::as_deref),
                body.as_deref(),
            ) {
                RecordPlan::Reject(reason) => Ok(Err(reason)),
                RecordPlan::Unchanged => Ok(Ok(0)),
                RecordPlan::Write => {
                    let team_seq = rows.take_team_seqs(team, 1).await?;
                    rows.put_record(RecordWrite {
                        team,
                        kind: *kind,
                        id: *id,
                        body: body.as_deref(),
                        author: user.id,
                        now,
                        team_seq,
                    })
                    .await?;
                    Ok(Ok(0))
                }
            }
        }
        Checked::Pin { flow_id, pinned } => {
            let team_seq = rows.take_team_seqs(team, 1).await?;
            rows.set_pin(user.id, team, *flow_id, *pinned, team_seq)
                .await?;
            Ok(Ok(0))
        }
    }
}
