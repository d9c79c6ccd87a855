//! The storage primitives each back end provides inside one write transaction: single reads
//! and writes of rows, in the back end's SQL dialect, with no decision of their own. The
//! transactions over them ([`crate::storage::accounts`]) are written once.
//!
//! Every method returns a `Send` future. The PostgreSQL back end awaits them on its
//! connection; the SQLite one does its work before returning an already finished future and
//! drives the transaction to its end in one poll on its blocking thread
//! ([`crate::storage::sqlite::finished`]).

use std::collections::HashMap;
use std::future::Future;

use rf_core::sync::RecordKind;
use uuid::Uuid;

use crate::domain::error::StoreResult;
use crate::domain::psa::PostRow;
use crate::domain::push::SessionRow;
use crate::domain::users::{IssuedTokens, Role, User};

/// A refresh token as rotation reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRow {
    pub login_id: Uuid,
    pub expires_at: i64,
    /// Set once the token was spent on a rotation.
    pub rotated_at: Option<i64>,
    /// The login was revoked, or its account removed.
    pub ended: bool,
}

/// Rows of accounts, teams, logins and tokens, read and written inside one transaction.
pub trait AccountRows: Send {
    /// Holds the rows of these accounts until the transaction ends, so rules decided on them
    /// stay true (PostgreSQL: row locks taken in id order; SQLite: its one writer already
    /// holds them).
    fn lock_accounts(&mut self, ids: &[Uuid]) -> impl Future<Output = StoreResult<()>> + Send;

    /// An account with whether it was removed; `None` for an unknown id.
    fn account(
        &mut self,
        id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<(User, bool)>>> + Send;

    /// The id of the team named `name`, created (as `new_id`) if there is none.
    fn team_named(
        &mut self,
        name: &str,
        new_id: Uuid,
        now: i64,
    ) -> impl Future<Output = StoreResult<Uuid>> + Send;

    /// Inserts an account; false when its e-mail is taken.
    fn insert_account(
        &mut self,
        account: NewAccount<'_>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    fn set_role(&mut self, id: Uuid, role: Role) -> impl Future<Output = StoreResult<()>> + Send;

    fn set_password_hash(
        &mut self,
        id: Uuid,
        password_hash: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Marks an account removed (its row stays: devices, sessions and flows name it).
    fn mark_removed(&mut self, id: Uuid, now: i64) -> impl Future<Output = StoreResult<()>> + Send;

    /// Whether `id` is an account that is not removed and whose password hash is still
    /// `password_hash` (held until the transaction ends, so a concurrent change waits).
    fn has_password(
        &mut self,
        id: Uuid,
        password_hash: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// The login an access token belongs to.
    fn login_of_access_token(
        &mut self,
        access_hash: &str,
    ) -> impl Future<Output = StoreResult<Option<Uuid>>> + Send;

    /// Revokes every login of `user_id` but `keep`, and deletes their access tokens.
    fn revoke_logins(
        &mut self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    fn insert_login(
        &mut self,
        login_id: Uuid,
        user_id: Uuid,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Stores a token pair for a login.
    fn insert_tokens(
        &mut self,
        login_id: Uuid,
        tokens: &IssuedTokens,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// A refresh token and its login, held until the transaction ends (two presentations of
    /// one token are decided one after the other).
    fn refresh_token(
        &mut self,
        refresh_hash: &str,
    ) -> impl Future<Output = StoreResult<Option<RefreshRow>>> + Send;

    /// Marks a refresh token spent.
    fn spend_refresh_token(
        &mut self,
        refresh_hash: &str,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Revokes one login and deletes its access tokens.
    fn end_login(
        &mut self,
        login_id: Uuid,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The account a login belongs to.
    fn user_of_login(&mut self, login_id: Uuid) -> impl Future<Output = StoreResult<User>> + Send;
}

/// A new account's row.
#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    pub id: Uuid,
    pub team_id: Uuid,
    pub email: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
    pub now: i64,
}

/// A device's row as a push reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRow {
    pub owner: Uuid,
    pub last_mutation_id: i64,
    pub acked_event_seq: i64,
}

/// A conflict as a resolution reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictRow {
    pub raised_by: String,
    /// The flow's author ('' when the flow has no head).
    pub author: String,
    pub resolution: Option<String>,
}

/// A conflict recorded by a merge.
#[derive(Debug, Clone, Copy)]
pub struct NewConflict<'a> {
    pub id: Uuid,
    pub team: Uuid,
    pub flow_id: Uuid,
    pub conflict: &'a rf_core::sync::FieldConflict,
    pub kept_version: rf_core::VersionId,
    pub other_version: rf_core::VersionId,
    pub raised_by: Uuid,
    pub now: i64,
    pub team_seq: i64,
}

/// A team record's new body (`None`: deleted), as a push writes it.
#[derive(Debug, Clone, Copy)]
pub struct RecordWrite<'a> {
    pub team: Uuid,
    pub kind: RecordKind,
    pub id: Uuid,
    pub body: Option<&'a str>,
    pub author: Uuid,
    pub now: i64,
    pub team_seq: i64,
}

/// Rows of devices, sessions, events, flows, conflicts and pins, read and written inside one
/// push transaction.
pub trait SyncRows: PullRows {
    /// Inserts the device for `user` unless it exists, then reads it, held until the
    /// transaction ends (one push per device at a time).
    fn device(
        &mut self,
        device: Uuid,
        user: Uuid,
        now: i64,
    ) -> impl Future<Output = StoreResult<DeviceRow>> + Send;

    fn set_last_mutation(
        &mut self,
        device: Uuid,
        last_mutation_id: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    fn set_acked_event_seq(
        &mut self,
        device: Uuid,
        acked: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The digests of the device's settled mutations numbered `low..=high`.
    fn mutation_digests(
        &mut self,
        device: Uuid,
        low: i64,
        high: i64,
    ) -> impl Future<Output = StoreResult<HashMap<i64, String>>> + Send;

    fn insert_mutation_digest(
        &mut self,
        device: Uuid,
        mutation_id: i64,
        digest: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Records a mutation refused for good (once per number).
    fn reject_mutation(
        &mut self,
        device: Uuid,
        mutation_id: i64,
        reason: &str,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The refusals recorded for the device's mutations numbered `low..=high`, in order.
    fn rejections(
        &mut self,
        device: Uuid,
        low: i64,
        high: i64,
    ) -> impl Future<Output = StoreResult<Vec<rf_core::sync::Rejection>>> + Send;

    /// What the server holds (stored or refused) under these of the device's numbers.
    fn held_events(
        &mut self,
        device: Uuid,
        numbers: &[i64],
    ) -> impl Future<Output = StoreResult<HashMap<i64, rf_core::sync::HeldEvent>>> + Send;

    /// The device's numbers above `after` that are stored or refused, in order.
    fn held_numbers_after(
        &mut self,
        device: Uuid,
        after: i64,
    ) -> impl Future<Output = StoreResult<Vec<i64>>> + Send;

    /// The stored rows of these sessions (absent: new), held until the transaction ends.
    fn session_rows(
        &mut self,
        sessions: &[Uuid],
    ) -> impl Future<Output = StoreResult<HashMap<Uuid, SessionRow>>> + Send;

    /// Writes a session's owner and hand-off, inserting the session when it is new.
    fn set_session_row(
        &mut self,
        session: Uuid,
        row: SessionRow,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The team's active accounts: id to e-mail and role.
    fn team_roles(
        &mut self,
        team: Uuid,
    ) -> impl Future<Output = StoreResult<HashMap<Uuid, (String, Role)>>> + Send;

    /// Stores events with the team numbers `first_team_seq` onwards, in order.
    fn insert_events(
        &mut self,
        device: Uuid,
        team: Uuid,
        first_team_seq: i64,
        events: &[&rf_core::sync::PushedEvent],
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Keeps refused events aside under their numbers, unless a number is held already.
    fn insert_refused_events(
        &mut self,
        device: Uuid,
        team: Uuid,
        refused: &[&(rf_core::sync::PushedEvent, String)],
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The refused events among the device's numbers `low..=high`, in order.
    fn refused_events(
        &mut self,
        device: Uuid,
        low: i64,
        high: i64,
    ) -> impl Future<Output = StoreResult<Vec<rf_core::sync::RefusedEvent>>> + Send;

    /// Holds the team's sequence until the transaction ends (PostgreSQL: its row locked;
    /// SQLite: its one writer holds it already).
    fn lock_team(&mut self, team: Uuid) -> impl Future<Output = StoreResult<()>> + Send;

    /// Takes `count` consecutive numbers of the team's sequence (held until the transaction
    /// ends, so numbers become visible in order); returns the last.
    fn take_team_seqs(
        &mut self,
        team: Uuid,
        count: i64,
    ) -> impl Future<Output = StoreResult<i64>> + Send;

    fn version_exists(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
        version: rf_core::VersionId,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Inserts a version, numbered after the flow's last.
    fn insert_version(
        &mut self,
        team: Uuid,
        document: &crate::domain::flows::CheckedDocument,
        created_by: Uuid,
        now: i64,
        team_seq: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// A flow's head with its document, held until the transaction ends (concurrent pushes
    /// to one flow decide against the same head one at a time).
    fn head(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<crate::domain::flows::Head>>> + Send;

    /// A flow's head as the push answer reports it.
    fn pulled_head(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<rf_core::sync::PulledFlow>>> + Send;

    fn document(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
        version: rf_core::VersionId,
    ) -> impl Future<Output = StoreResult<Option<serde_json::Value>>> + Send;

    /// Makes `version` the flow's head (the flow's first author stays its author).
    fn set_head(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
        version: rf_core::VersionId,
        author: Uuid,
        now: i64,
        team_seq: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    fn insert_conflict(
        &mut self,
        conflict: NewConflict<'_>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    fn conflict(
        &mut self,
        team: Uuid,
        conflict_id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<ConflictRow>>> + Send;

    fn resolve_conflict(
        &mut self,
        conflict_id: Uuid,
        keep: rf_core::sync::Keep,
        by: Uuid,
        now: i64,
        team_seq: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    fn set_pin(
        &mut self,
        user: Uuid,
        team: Uuid,
        flow_id: Uuid,
        pinned: bool,
        team_seq: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// A team record's stored body, held until the transaction ends: `None` when there is no
    /// such record, `Some(None)` once it was deleted.
    fn record(
        &mut self,
        team: Uuid,
        kind: RecordKind,
        id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<Option<String>>>> + Send;

    /// Writes a team record's body (`None`: deleted) under `team_seq`.
    fn put_record(
        &mut self,
        record: RecordWrite<'_>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Tells every server process on this database, at commit, that the team's changes now
    /// reach `latest` (PostgreSQL: `NOTIFY`; SQLite: one process, which pokes by itself).
    fn announce(&mut self, team: Uuid, latest: i64)
    -> impl Future<Output = StoreResult<()>> + Send;
}

/// The team's changes as a pull reads them, all inside one transaction that sees one moment
/// (PostgreSQL: a repeatable-read snapshot; SQLite: one read transaction).
pub trait PullRows: Send {
    /// The team's latest change number (0 before its first).
    fn team_latest(&mut self, team: Uuid) -> impl Future<Output = StoreResult<i64>> + Send;

    /// The store's epoch.
    fn epoch(&mut self) -> impl Future<Output = StoreResult<String>> + Send;

    /// `(team_seq, bytes)` of every row of the team's changes in `(since, until]`, in order
    /// (the stored sizes, `octet_length`, never the values).
    fn change_sizes(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> impl Future<Output = StoreResult<Vec<(i64, i64)>>> + Send;

    fn versions(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> impl Future<Output = StoreResult<Vec<rf_core::sync::PulledVersion>>> + Send;

    fn heads(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> impl Future<Output = StoreResult<Vec<rf_core::sync::PulledFlow>>> + Send;

    fn events(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> impl Future<Output = StoreResult<Vec<rf_core::sync::PulledEvent>>> + Send;

    fn conflicts(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> impl Future<Output = StoreResult<Vec<rf_core::sync::PulledConflict>>> + Send;

    /// `user`'s own pins changed in the range.
    fn pins(
        &mut self,
        team: Uuid,
        user: Uuid,
        since: i64,
        until: i64,
    ) -> impl Future<Output = StoreResult<Vec<rf_core::sync::PulledPin>>> + Send;

    /// The team records changed in the range, each as it is now.
    fn records(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> impl Future<Output = StoreResult<Vec<rf_core::sync::PulledRecord>>> + Send;
}

/// Rows of posts to tickets, read and written inside one transaction.
pub trait PsaRows: Send {
    /// The post stored under `key`, held until the transaction ends (PostgreSQL: `FOR
    /// UPDATE`; SQLite: its one writer already holds it).
    fn post_row(
        &mut self,
        team: Uuid,
        key: Uuid,
    ) -> impl Future<Output = StoreResult<Option<PostRow>>> + Send;

    /// Inserts a post as `row` says; false when one exists under its key (a concurrent claim
    /// on PostgreSQL won the race).
    fn insert_post(&mut self, row: &PostRow) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Marks a post as being sent by this server until `lease_until`, one attempt more.
    fn lease_post(
        &mut self,
        team: Uuid,
        key: Uuid,
        lease_until: i64,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}
