//! The pull transaction, written once over [`PullRows`]: one page of the team's changes after
//! `since`, ending where [`page_until`] decides (at most `limit` changes and
//! [`rf_core::sync::PULL_PAGE_BYTES`], and at least one change), every table read at the same
//! moment.

use rf_core::sync::PullResponse;

use crate::domain::error::StoreResult;
use crate::domain::users::User;
use crate::rules::paging::{MAX_PULL_LIMIT, page_until};
use crate::storage::rows::PullRows;

pub async fn pull(
    rows: &mut impl PullRows,
    user: &User,
    since: i64,
    limit: i64,
) -> StoreResult<PullResponse> {
    let team = user.team_id;
    let latest = rows.team_latest(team).await?;
    let until = since.max(
        since
            .saturating_add(limit.clamp(1, MAX_PULL_LIMIT))
            .min(latest),
    );
    // At most MAX_PULL_LIMIT changes' sizes: a few numbers each, never their content.
    let sizes = rows.change_sizes(team, since, until).await?;
    let until = page_until(
        until,
        rf_core::sync::PULL_PAGE_BYTES as u64,
        sizes.into_iter().map(Ok),
    )?;
    Ok(PullResponse {
        protocol: rf_core::sync::PROTOCOL_VERSION,
        since,
        until,
        latest,
        versions: rows.versions(team, since, until).await?,
        flows: rows.heads(team, since, until).await?,
        events: rows.events(team, since, until).await?,
        conflicts: rows.conflicts(team, since, until).await?,
        pins: rows.pins(team, user.id, since, until).await?,
        records: rows.records(team, since, until).await?,
        epoch: Some(rows.epoch().await?),
    })
}
