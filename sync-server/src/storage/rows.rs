//! The storage primitives each back end provides inside one write transaction: single reads
//! and writes of rows, in the back end's SQL dialect, with no decision of their own. The
//! transactions over them ([`crate::storage::accounts`]) are written once.
//!
//! Every method returns a `Send` future. The PostgreSQL back end awaits them on its
//! connection; the SQLite one does its work before returning an already finished future and
//! drives the transaction to its end in one poll on its blocking thread
//! ([`crate::store::finished`]).

use std::future::Future;

use uuid::Uuid;

use crate::error::StoreResult;
use crate::store::{IssuedTokens, Role, User};

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
