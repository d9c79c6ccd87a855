//! Storage: one trait, one implementation per back end. SQLite (embedded, the default) is here;
//! PostgreSQL implements the same trait and passes the same contract tests (issue 3).

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    TeamAdmin,
    Engineer,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::TeamAdmin => "team_admin",
            Role::Engineer => "engineer",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [
            Role::SuperAdmin,
            Role::TeamAdmin,
            Role::Engineer,
            Role::Viewer,
        ]
        .into_iter()
        .find(|role| role.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub team_id: Uuid,
    pub team: String,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub team: String,
    pub role: Role,
    pub password_hash: String,
}

/// The hashes and expiry times (Unix seconds) of a freshly issued token pair.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_hash: String,
    pub access_expires_at: i64,
    pub refresh_hash: String,
    pub refresh_expires_at: i64,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is now spent and the new pair belongs to the same login.
    Rotated(User),
    /// The token had already been rotated: someone replayed it, so the login is revoked.
    ReuseDetected,
    /// Unknown, expired, or its login revoked.
    Invalid,
}

/// What a push settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushSettled {
    pub last_mutation_id: i64,
    pub events_acknowledged_through: i64,
    /// Events stored by this push (duplicates excluded).
    pub events_stored: usize,
}

/// Everything the server stores. Implementations must make each method atomic.
pub trait Store: Clone + Send + Sync + 'static {
    fn create_user(&self, user: NewUser) -> impl Future<Output = StoreResult<User>> + Send;
    fn users(&self) -> impl Future<Output = StoreResult<Vec<User>>> + Send;
    /// The user with this e-mail (any case) and their password hash.
    fn credentials(
        &self,
        email: String,
    ) -> impl Future<Output = StoreResult<Option<(User, String)>>> + Send;
    /// Starts a login for `user_id` with its first token pair.
    fn create_login(
        &self,
        user_id: Uuid,
        tokens: IssuedTokens,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Spends a refresh token and stores the next pair, in one transaction.
    fn rotate_refresh(
        &self,
        presented_hash: String,
        next: IssuedTokens,
        now: i64,
    ) -> impl Future<Output = StoreResult<Rotation>> + Send;
    /// The user behind a live access token.
    fn authenticate(
        &self,
        access_hash: String,
        now: i64,
    ) -> impl Future<Output = StoreResult<Option<User>>> + Send;
    /// Stores a device's session events once each, in one transaction, giving each new one the
    /// team's next sequence number. The device and every session must belong to `user`.
    fn push_events(
        &self,
        user: User,
        device_id: Uuid,
        events: Vec<rf_core::sync::PushedEvent>,
        now: i64,
    ) -> impl Future<Output = StoreResult<PushSettled>> + Send;
}

/// The embedded back end: one SQLite file in the data directory.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
}

/// Every migration of the SQLite back end, checked against `migrations/server-sqlite/`.
pub const SQLITE_MIGRATIONS: &[rf_sqlite::Migration] = &[
    rf_sqlite::Migration {
        version: 1,
        name: "0001_accounts.sql",
        sql: include_str!("../../migrations/server-sqlite/0001_accounts.sql"),
    },
    rf_sqlite::Migration {
        version: 2,
        name: "0002_session_events.sql",
        sql: include_str!("../../migrations/server-sqlite/0002_session_events.sql"),
    },
];

pub const SQLITE_FILE: &str = "server.sqlite3";

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir`, migrating it.
    pub fn open(data_dir: &Path) -> StoreResult<SqliteStore> {
        std::fs::create_dir_all(data_dir).map_err(|error| {
            StoreError::Internal(format!(
                "cannot create the data directory {}: {error}",
                data_dir.display()
            ))
        })?;
        let mut connection = rf_sqlite::connect(&data_dir.join(SQLITE_FILE))?;
        rf_sqlite::migrate::<StoreError>(&mut connection, SQLITE_MIGRATIONS, |_, _| Ok(()))?;
        Ok(SqliteStore {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Runs `work` on the connection in a blocking thread (SQLite calls block).
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut guard = connection
                .lock()
                .map_err(|_| StoreError::Internal("a previous database call panicked".into()))?;
            work(&mut guard)
        })
        .await
        .map_err(|error| StoreError::Internal(format!("database task failed: {error}")))?
    }
}

const USER_COLUMNS: &str = "u.id, u.email, u.team_id, t.name, u.role";

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let uuid = |index: usize| -> rusqlite::Result<Uuid> {
        let text: String = row.get(index)?;
        Uuid::parse_str(&text).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })
    };
    let role: String = row.get(4)?;
    Ok(User {
        id: uuid(0)?,
        email: row.get(1)?,
        team_id: uuid(2)?,
        team: row.get(3)?,
        role: Role::parse(&role).ok_or(rusqlite::Error::InvalidColumnType(
            4,
            "role".into(),
            rusqlite::types::Type::Text,
        ))?,
    })
}

fn insert_tokens(
    transaction: &rusqlite::Transaction<'_>,
    login_id: &str,
    tokens: &IssuedTokens,
) -> rusqlite::Result<()> {
    transaction.execute(
        "INSERT INTO refresh_tokens (token_hash, login_id, expires_at) VALUES (?1, ?2, ?3)",
        params![tokens.refresh_hash, login_id, tokens.refresh_expires_at],
    )?;
    transaction.execute(
        "INSERT INTO access_tokens (token_hash, login_id, expires_at) VALUES (?1, ?2, ?3)",
        params![tokens.access_hash, login_id, tokens.access_expires_at],
    )?;
    Ok(())
}

impl Store for SqliteStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.with(move |connection| {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let team_id: String = match transaction
                .query_row("SELECT id FROM teams WHERE name = ?1", [&user.team], |row| row.get(0))
                .optional()?
            {
                Some(id) => id,
                None => {
                    let id = Uuid::new_v4().to_string();
                    transaction.execute(
                        "INSERT INTO teams (id, name, created_at) VALUES (?1, ?2, ?3)",
                        params![id, user.team, now],
                    )?;
                    id
                }
            };
            let id = Uuid::new_v4().to_string();
            let inserted = transaction.execute(
                "INSERT INTO users (id, team_id, email, role, password_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (email) DO NOTHING",
                params![id, team_id, user.email, user.role.as_str(), user.password_hash, now],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("a user with the e-mail {} already exists", user.email)));
            }
            let created = transaction.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users u JOIN teams t ON t.id = u.team_id WHERE u.id = ?1"),
                [&id],
                user_from_row,
            )?;
            transaction.commit()?;
            Ok(created)
        })
        .await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        self.with(|connection| {
            let mut statement = connection.prepare(&format!(
                "SELECT {USER_COLUMNS} FROM users u JOIN teams t ON t.id = u.team_id ORDER BY t.name, u.email"
            ))?;
            let rows = statement.query_map([], user_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn credentials(&self, email: String) -> StoreResult<Option<(User, String)>> {
        self.with(move |connection| {
            Ok(connection
                .query_row(
                    &format!(
                        "SELECT {USER_COLUMNS}, u.password_hash FROM users u JOIN teams t ON t.id = u.team_id
                         WHERE u.email = ?1"
                    ),
                    [&email],
                    |row| Ok((user_from_row(row)?, row.get(5)?)),
                )
                .optional()?)
        })
        .await
    }

    async fn create_login(&self, user_id: Uuid, tokens: IssuedTokens, now: i64) -> StoreResult<()> {
        self.with(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let login_id = Uuid::new_v4().to_string();
            transaction.execute(
                "INSERT INTO logins (id, user_id, created_at) VALUES (?1, ?2, ?3)",
                params![login_id, user_id.to_string(), now],
            )?;
            insert_tokens(&transaction, &login_id, &tokens)?;
            transaction.commit()?;
            Ok(())
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        presented_hash: String,
        next: IssuedTokens,
        now: i64,
    ) -> StoreResult<Rotation> {
        self.with(move |connection| {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let found: Option<(String, i64, Option<i64>, Option<i64>)> = transaction
                .query_row(
                    "SELECT r.login_id, r.expires_at, r.rotated_at, l.revoked_at
                     FROM refresh_tokens r JOIN logins l ON l.id = r.login_id WHERE r.token_hash = ?1",
                    [&presented_hash],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .optional()?;
            let Some((login_id, expires_at, rotated_at, revoked_at)) = found else {
                return Ok(Rotation::Invalid);
            };
            if revoked_at.is_some() || expires_at <= now {
                return Ok(Rotation::Invalid);
            }
            if rotated_at.is_some() {
                // A spent token came back: whoever holds the newer one may be a thief, or the
                // thief may hold this one. End the login everywhere; the user signs in again.
                transaction.execute("UPDATE logins SET revoked_at = ?2 WHERE id = ?1", params![login_id, now])?;
                transaction.execute("DELETE FROM access_tokens WHERE login_id = ?1", [&login_id])?;
                transaction.commit()?;
                return Ok(Rotation::ReuseDetected);
            }
            transaction.execute(
                "UPDATE refresh_tokens SET rotated_at = ?2 WHERE token_hash = ?1",
                params![presented_hash, now],
            )?;
            insert_tokens(&transaction, &login_id, &next)?;
            let user = transaction.query_row(
                &format!(
                    "SELECT {USER_COLUMNS} FROM logins l JOIN users u ON u.id = l.user_id
                     JOIN teams t ON t.id = u.team_id WHERE l.id = ?1"
                ),
                [&login_id],
                user_from_row,
            )?;
            transaction.commit()?;
            Ok(Rotation::Rotated(user))
        })
        .await
    }

    async fn push_events(
        &self,
        user: User,
        device_id: Uuid,
        events: Vec<rf_core::sync::PushedEvent>,
        now: i64,
    ) -> StoreResult<PushSettled> {
        self.with(move |connection| {
            SqliteStore::push_events_blocking(connection, &user, device_id, &events, now)
        })
        .await
    }

    async fn authenticate(&self, access_hash: String, now: i64) -> StoreResult<Option<User>> {
        self.with(move |connection| {
            Ok(connection
                .query_row(
                    &format!(
                        "SELECT {USER_COLUMNS} FROM access_tokens a JOIN logins l ON l.id = a.login_id
                         JOIN users u ON u.id = l.user_id JOIN teams t ON t.id = u.team_id
                         WHERE a.token_hash = ?1 AND a.expires_at > ?2 AND l.revoked_at IS NULL"
                    ),
                    params![access_hash, now],
                    user_from_row,
                )
                .optional()?)
        })
        .await
    }
}

/// The device's row, created for `user` on first sight; another user's device is refused.
fn claim_device(
    transaction: &rusqlite::Transaction<'_>,
    user: &User,
    device: &str,
    now: i64,
) -> StoreResult<(i64, i64)> {
    transaction.execute(
        "INSERT INTO devices (device_id, user_id, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (device_id) DO NOTHING",
        params![device, user.id.to_string(), now],
    )?;
    let (owner, last_mutation_id, acked): (String, i64, i64) = transaction.query_row(
        "SELECT user_id, last_mutation_id, acked_event_seq FROM devices WHERE device_id = ?1",
        [device],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    if owner != user.id.to_string() {
        return Err(StoreError::Forbidden(
            "this device id belongs to another user; sign out and in again on this device".into(),
        ));
    }
    Ok((last_mutation_id, acked))
}

/// A session's owner is the user whose device first sent it; nobody else may add to it.
fn claim_session(
    transaction: &rusqlite::Transaction<'_>,
    user: &User,
    session: &str,
    now: i64,
) -> StoreResult<()> {
    transaction.execute(
        "INSERT INTO sessions (session_id, team_id, user_id, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (session_id) DO NOTHING",
        params![session, user.team_id.to_string(), user.id.to_string(), now],
    )?;
    let owner: String = transaction.query_row(
        "SELECT user_id FROM sessions WHERE session_id = ?1",
        [session],
        |row| row.get(0),
    )?;
    if owner != user.id.to_string() {
        return Err(StoreError::Forbidden(format!(
            "session {session} belongs to another engineer"
        )));
    }
    Ok(())
}

/// The team's next change number, taken inside the caller's write transaction.
fn next_team_seq(transaction: &rusqlite::Transaction<'_>, team: &str) -> rusqlite::Result<i64> {
    transaction.query_row(
        "INSERT INTO team_sequences (team_id, seq) VALUES (?1, 1)
         ON CONFLICT (team_id) DO UPDATE SET seq = seq + 1 RETURNING seq",
        [team],
        |row| row.get(0),
    )
}

fn event_stored(
    transaction: &rusqlite::Transaction<'_>,
    device: &str,
    seq: i64,
) -> rusqlite::Result<bool> {
    transaction.query_row(
        "SELECT EXISTS (SELECT 1 FROM session_events WHERE device_id = ?1 AND device_seq = ?2)",
        params![device, seq],
        |row| row.get(0),
    )
}

impl SqliteStore {
    fn push_events_blocking(
        connection: &mut Connection,
        user: &User,
        device_id: Uuid,
        events: &[rf_core::sync::PushedEvent],
        now: i64,
    ) -> StoreResult<PushSettled> {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let device = device_id.to_string();
        let team = user.team_id.to_string();
        let (last_mutation_id, mut acked) = claim_device(&transaction, user, &device, now)?;
        let mut stored = 0;
        for event in events {
            let session = event.session_id.to_string();
            claim_session(&transaction, user, &session, now)?;
            if event_stored(&transaction, &device, event.device_seq)? {
                continue;
            }
            let team_seq = next_team_seq(&transaction, &team)?;
            transaction.execute(
                "INSERT INTO session_events (device_id, device_seq, session_id, session_seq, team_id,
                                             team_seq, payload, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    device,
                    event.device_seq,
                    session,
                    event.session_seq,
                    team,
                    team_seq,
                    event.payload.to_string(),
                    now
                ],
            )?;
            stored += 1;
        }
        // Advance over everything stored without a gap, including events that arrived earlier
        // beyond a gap this push has now filled.
        while event_stored(&transaction, &device, acked + 1)? {
            acked += 1;
        }
        transaction.execute(
            "UPDATE devices SET acked_event_seq = ?2 WHERE device_id = ?1",
            params![device, acked],
        )?;
        transaction.commit()?;
        Ok(PushSettled {
            last_mutation_id,
            events_acknowledged_through: acked,
            events_stored: stored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_list_matches_its_folder() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/server-sqlite");
        rf_sqlite::check_listing(SQLITE_MIGRATIONS, &folder).unwrap();
    }

    #[test]
    fn roles_parse_their_names() {
        for role in [
            Role::SuperAdmin,
            Role::TeamAdmin,
            Role::Engineer,
            Role::Viewer,
        ] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
