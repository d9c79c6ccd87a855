//! The claim of a post to a ticket, written once over [`PsaRows`]: the post under its key is
//! read and held, [`plan_claim`] decides, and a post this server is to send is leased to it in
//! the same transaction, so two requests with one key never both send.

use crate::domain::error::{StoreError, StoreResult};
use crate::domain::psa::{Claimed, PostClaim, PostRow, PostState};
use crate::rules::psa::{ClaimPlan, plan_claim};
use crate::storage::rows::PsaRows;

pub async fn claim_post(rows: &mut impl PsaRows, claim: &PostClaim) -> StoreResult<Claimed> {
    let existing = rows.post_row(claim.team_id, claim.key).await?;
    let lease_until = claim.now.saturating_add(claim.lease_seconds);
    match plan_claim(
        existing.as_ref(),
        &claim.digest,
        claim.wants_status,
        claim.wants_time,
        claim.now,
    ) {
        ClaimPlan::Insert => {
            let row = PostRow {
                team_id: claim.team_id,
                key: claim.key,
                requested_by: claim.requested_by,
                ticket_id: claim.ticket_id,
                digest: claim.digest.clone(),
                state: PostState::Sending,
                lease_until,
                attempts: 1,
                note_id: None,
                posted_at: None,
                status_done: !claim.wants_status,
                time_done: !claim.wants_time,
                time_entry_id: None,
                error: None,
                updated_at: claim.now,
            };
            if !rows.insert_post(&row).await? {
                // Another claim inserted it first: it is being sent.
                return Ok(Claimed::InProgress { retry_after: 1 });
            }
            // Looked for even when new here: a server restored from a backup taken before the
            // post was made no longer knows it, but the ticket does.
            Ok(Claimed::Go {
                row,
                check_marker: true,
            })
        }
        ClaimPlan::Resume { check_marker } => {
            let mut row = existing
                .ok_or_else(|| StoreError::Internal("a post to resume was not read".into()))?;
            rows.lease_post(claim.team_id, claim.key, lease_until, claim.now)
                .await?;
            row.state = PostState::Sending;
            row.lease_until = lease_until;
            row.attempts += 1;
            Ok(Claimed::Go { row, check_marker })
        }
        ClaimPlan::Answer => {
            Ok(Claimed::Answer(existing.ok_or_else(|| {
                StoreError::Internal("a post to answer was not read".into())
            })?))
        }
        ClaimPlan::InProgress { retry_after } => Ok(Claimed::InProgress { retry_after }),
        ClaimPlan::KeyReused => Ok(Claimed::KeyReused),
    }
}
