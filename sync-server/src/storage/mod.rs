//! Storage: the [`Store`] trait the HTTP layer calls, one implementation per back end
//! ([`sqlite`], embedded, the default; [`postgres`], for several server processes on one
//! database), and the transactions written once over the primitives each back end provides
//! ([`rows`]: [`accounts`], [`push`], [`pull`]). A back end repeats SQL, never a decision.
//! Attachment files are kept apart from the database, behind [`blobs::Blobs`] (a directory or
//! an S3-compatible bucket).

use std::future::Future;

use uuid::Uuid;

use crate::domain::error::{StoreError, StoreResult};
use crate::domain::psa::{Claimed, PostClaim, PostRow, PostSettle, Sealed, StoredPsaConnection};
use crate::domain::push::{PushBatch, PushSettled};
use crate::domain::users::{Actor, IssuedTokens, NewUser, Rotation, User, UserUpdate};

pub mod accounts;
pub mod blobs;
pub mod poke;
pub mod postgres;
pub mod psa;
pub mod pull;
pub mod push;
pub mod rows;
pub mod sqlite;

/// A new store epoch: random, so a restored store can never take back an epoch it had.
pub(crate) fn fresh_epoch() -> String {
    Uuid::new_v4().simple().to_string()
}

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// The size query both back ends run for a pull page: every row of the team's changes in
/// `($2, $3]` (`?2`, `?3` on SQLite), as `(team_seq, bytes)` in order. `octet_length` reads a
/// value's stored length, not the value, so sizing a page never loads it.
/// The columns of `psa_connections` both back ends read and write, in
/// [`StoredPsaConnection`]'s order (a macro, so queries stay `&'static str`).
macro_rules! psa_columns {
    () => {
        "team_id, api_url, company_id, client_id, key_id, nonce, ciphertext, public_key_hint, \
         updated_at, updated_by"
    };
}
pub(crate) use psa_columns;

/// The columns of `psa_posts` both back ends read, in [`PostRow`]'s order.
macro_rules! post_columns {
    () => {
        "team_id, post_key, requested_by, ticket_id, digest, state, lease_until, attempts, \
         note_id, posted_at, status_done, error, updated_at, time_done, time_entry_id"
    };
}
pub(crate) use post_columns;

macro_rules! page_sizes_sql {
    ($team:literal, $since:literal, $until:literal) => {
        concat!(
            "SELECT team_seq, octet_length(document) FROM flow_versions WHERE team_id = ", $team,
            " AND team_seq > ", $since, " AND team_seq <= ", $until,
            " UNION ALL SELECT team_seq, 0 FROM flows WHERE team_id = ", $team,
            " AND team_seq > ", $since, " AND team_seq <= ", $until,
            " UNION ALL SELECT team_seq, octet_length(payload) FROM session_events WHERE team_id = ", $team,
            " AND team_seq > ", $since, " AND team_seq <= ", $until,
            " UNION ALL SELECT team_seq, COALESCE(octet_length(base), 0) + COALESCE(octet_length(kept), 0)",
            " + COALESCE(octet_length(other), 0) FROM flow_conflicts WHERE team_id = ", $team,
            " AND team_seq > ", $since, " AND team_seq <= ", $until,
            " UNION ALL SELECT team_seq, COALESCE(octet_length(body), 0) FROM team_records WHERE team_id = ", $team,
            " AND team_seq > ", $since, " AND team_seq <= ", $until,
            " ORDER BY 1"
        )
    };
}
pub(crate) use page_sizes_sql;

/// A stored team record row as a pull page sends it (both back ends read the same columns).
pub(crate) fn pulled_record(
    kind: &str,
    id: Uuid,
    body: Option<&str>,
    author_id: Uuid,
    team_seq: i64,
) -> StoreResult<rf_core::sync::PulledRecord> {
    let kind = rf_core::sync::RecordKind::parse(kind).ok_or_else(|| {
        StoreError::Internal(format!("a stored team record of unknown kind {kind:?}"))
    })?;
    let body = body
        .map(serde_json::from_str)
        .transpose()
        .map_err(|error| StoreError::Internal(format!("a stored team record {id}: {error}")))?;
    Ok(rf_core::sync::PulledRecord {
        kind,
        id,
        body,
        author_id,
        team_seq,
    })
}

/// Everything the server stores. Implementations must make each method atomic.
pub trait Store: Clone + Send + Sync + 'static {
    fn create_user(&self, user: NewUser) -> impl Future<Output = StoreResult<User>> + Send;
    /// Every active account (removed ones are not listed), by team and e-mail.
    fn users(&self) -> impl Future<Output = StoreResult<Vec<User>>> + Send;
    /// Changes an account's role or password in one transaction, if `actor` may
    /// ([`crate::rules::accounts::check_change`]); a new password revokes every login of the account
    /// but the one `actor` asks from. Unknown, removed or (for a team admin) another team's
    /// accounts are `NotFound`.
    fn update_user(
        &self,
        actor: Actor,
        id: Uuid,
        update: UserUpdate,
        now: i64,
    ) -> impl Future<Output = StoreResult<User>> + Send;
    /// Removes an account's access in one transaction, if `actor` may: marks it disabled and
    /// revokes all its logins. Its row stays, with the devices, sessions, events and flows
    /// that point at it.
    fn remove_user(
        &self,
        actor: Actor,
        id: Uuid,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The active user with this e-mail (any case) and their password hash.
    fn credentials(
        &self,
        email: String,
    ) -> impl Future<Output = StoreResult<Option<(User, String)>>> + Send;
    /// Starts a login for `user_id` with its first token pair, if the account is still active
    /// and its password hash is still `password_hash` (the one just verified): a login checked
    /// against a password that was changed meanwhile is not started. False when it was not.
    fn create_login(
        &self,
        user_id: Uuid,
        password_hash: String,
        tokens: IssuedTokens,
        now: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Spends a refresh token and stores the next pair, in one transaction.
    fn rotate_refresh(
        &self,
        presented_hash: String,
        next: IssuedTokens,
        now: i64,
    ) -> impl Future<Output = StoreResult<Rotation>> + Send;
    /// The active user behind a live access token.
    fn authenticate(
        &self,
        access_hash: String,
        now: i64,
    ) -> impl Future<Output = StoreResult<Option<User>>> + Send;
    /// Applies a push in one transaction: mutations in per-client order (duplicates
    /// acknowledged, a gap stops the batch, permanent rejections settled and reported), the
    /// sessions' flow documents, then the session events, each stored once. Every change takes
    /// the team's next sequence number. The device and every session must belong to `user`.
    fn push(
        &self,
        user: User,
        batch: PushBatch,
        now: i64,
    ) -> impl Future<Output = StoreResult<PushSettled>> + Send;
    /// The team's latest change number (0 before its first change).
    fn team_latest(&self, team: Uuid) -> impl Future<Output = StoreResult<i64>> + Send;

    /// The store's epoch (see `PullResponse::epoch`).
    fn epoch(&self) -> impl Future<Output = StoreResult<String>> + Send;

    /// Replaces the store's epoch: run once after the database is restored from a backup, so
    /// every replica learns that the server lost changes and sends again what it holds.
    fn new_epoch(&self, now: i64) -> impl Future<Output = StoreResult<String>> + Send;
    /// Forwards pokes from other server processes sharing this store (PostgreSQL `NOTIFY`);
    /// an embedded store has no other processes.
    fn forward_pokes(&self, _pokes: crate::storage::poke::Pokes) {}
    /// The team's ConnectWise connection, its keys sealed.
    fn psa_connection(
        &self,
        team: Uuid,
    ) -> impl Future<Output = StoreResult<Option<StoredPsaConnection>>> + Send;
    /// Stores a team's connection, replacing the one it had.
    fn put_psa_connection(
        &self,
        connection: StoredPsaConnection,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Forgets a team's connection; false when it had none.
    fn remove_psa_connection(&self, team: Uuid) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Every team's connection (a key rotation re-seals them).
    fn psa_connections(&self)
    -> impl Future<Output = StoreResult<Vec<StoredPsaConnection>>> + Send;
    /// Replaces a connection's sealed keys with `now` if they are still `was` (a team admin
    /// who stored new keys meanwhile wins); false when they were not.
    fn reseal_psa_connection(
        &self,
        team: Uuid,
        was: Sealed,
        now: Sealed,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Claims a post to a ticket for this server to send, in one transaction
    /// ([`crate::storage::psa::claim_post`]).
    fn claim_psa_post(&self, claim: PostClaim)
    -> impl Future<Output = StoreResult<Claimed>> + Send;
    /// Records what ConnectWise made of a claimed post (the lease ends).
    fn settle_psa_post(
        &self,
        team: Uuid,
        key: Uuid,
        settle: PostSettle,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A team admin's mappings of the team's accounts to ConnectWise members.
    fn member_overrides(
        &self,
        team: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<(Uuid, String)>>> + Send;
    /// Maps an account of the team to a member (`None`: back to matching by e-mail).
    fn set_member_override(
        &self,
        team: Uuid,
        user: Uuid,
        member: Option<String>,
        by: Uuid,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The post stored under `key`.
    fn psa_post(
        &self,
        team: Uuid,
        key: Uuid,
    ) -> impl Future<Output = StoreResult<Option<PostRow>>> + Send;
    /// Adds one FlowPilot request's tokens to the team's usage of `month` (`YYYY-MM`).
    fn add_ai_usage(
        &self,
        team: Uuid,
        month: String,
        usage: rf_core::ai::PilotUsage,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The team's FlowPilot requests and tokens in `month`.
    fn ai_usage(
        &self,
        team: Uuid,
        month: String,
    ) -> impl Future<Output = StoreResult<(i64, rf_core::ai::PilotUsage)>> + Send;
    /// Sets (or, with `None`, removes) the team's monthly FlowPilot cap in tokens.
    fn set_ai_cap(
        &self,
        team: Uuid,
        cap: Option<i64>,
        by: Uuid,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The team's monthly FlowPilot cap in tokens, if it has one.
    fn ai_cap(&self, team: Uuid) -> impl Future<Output = StoreResult<Option<i64>>> + Send;
    /// The team's changes with `since < team_seq <= since + limit`, in one consistent read.
    fn pull(
        &self,
        user: User,
        since: i64,
        limit: i64,
    ) -> impl Future<Output = StoreResult<rf_core::sync::PullResponse>> + Send;
}
