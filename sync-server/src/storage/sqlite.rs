//! The embedded SQLite back end (the default): the storage primitives on one connection, run
//! on a blocking thread.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::domain::error::{StoreError, StoreResult};
use crate::domain::flows::{CheckedDocument, Head};
use crate::domain::psa::{
    Claimed, PostClaim, PostRow, PostSettle, PostState, Sealed, StoredPsaConnection,
};
use crate::domain::push::{PushBatch, PushSettled, SessionRow};
use crate::domain::users::{Actor, IssuedTokens, NewUser, Role, Rotation, User, UserUpdate};
use crate::storage::rows::PsaRows;
use crate::storage::rows::RecordWrite;
use crate::storage::rows::{
    AccountRows, ConflictRow, DeviceRow, NewAccount, NewConflict, PullRows, RefreshRow, SyncRows,
};
use crate::storage::{
    Store, accounts, page_sizes_sql, post_columns, psa_columns, pull, pulled_record, push,
};
use rf_core::sync::RecordKind;
use rf_core::sync::{PulledConflict, PulledEvent, PulledFlow, PulledVersion};

/// The embedded back end: one SQLite file in the data directory.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
}

/// Every migration of the SQLite back end, checked against `migrations/server-sqlite/`.
pub const SQLITE_MIGRATIONS: &[rf_sqlite::Migration] = rf_sqlite::migrations!(
    "../../../migrations/server-sqlite/";
    1 => "0001_accounts.sql",
    2 => "0002_session_events.sql",
    3 => "0003_flows.sql",
    4 => "0004_removed_accounts.sql",
    5 => "0005_refused_events.sql",
    6 => "0006_user_pins.sql",
    7 => "0007_mutation_digests.sql",
    8 => "0008_store_epoch.sql",
    9 => "0009_psa_connections.sql",
    10 => "0010_psa_posts.sql",
    11 => "0011_ai_usage.sql",
    12 => "0012_time_entries.sql",
    13 => "0013_team_records.sql",
    14 => "0014_session_handoff.sql",
);

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

    /// Runs `work` in one read transaction on a blocking thread: every table is read at the
    /// same moment.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut SqliteRows<'_>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.with(move |connection| SqliteRows::run(connection, "BEGIN DEFERRED", work))
            .await
    }

    /// Runs `work` in one write transaction on a blocking thread (see [`SqliteRows::run`]).
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut SqliteRows<'_>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.with(move |connection| SqliteRows::run(connection, "BEGIN IMMEDIATE", work))
            .await
    }
}

const USER_COLUMNS: &str = "u.id, u.email, u.team_id, t.name, u.role";

/// The UUID stored as text in column `index`.
fn uuid_at(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(index)?;
    Uuid::parse_str(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let uuid = |index: usize| uuid_at(row, index);
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

/// Runs a transaction written over the storage primitives to its end on this thread. Every
/// SQLite primitive does its work before it returns an already finished future, so one poll
/// completes the whole transaction; a step that waited would be a bug in a primitive, and is
/// answered as an internal error rather than blocking the thread.
pub(crate) fn finished<T>(
    work: impl std::future::Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let work = std::pin::pin!(work);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match work.poll(&mut context) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Err(StoreError::Internal(
            "a SQLite storage step waited, which none may".into(),
        )),
    }
}

/// The storage primitives on SQLite, inside one `BEGIN IMMEDIATE` transaction (the one writer
/// holds every row until it ends, so locking is a no-op). It holds the connection mutably, not
/// a `rusqlite::Transaction`, so that its futures are `Send` like PostgreSQL's.
pub(crate) struct SqliteRows<'c> {
    connection: &'c mut Connection,
}

impl SqliteRows<'_> {
    /// Runs `work` in one transaction begun with `begin`: committed when it returns `Ok`,
    /// rolled back otherwise. A transaction a panic left open on the connection is rolled
    /// back first.
    fn run<T>(
        connection: &mut Connection,
        begin: &str,
        work: impl FnOnce(&mut SqliteRows<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        if !connection.is_autocommit() {
            connection.execute_batch("ROLLBACK")?;
        }
        connection.execute_batch(begin)?;
        let result = work(&mut SqliteRows {
            connection: &mut *connection,
        });
        match result {
            Ok(value) => {
                connection.execute_batch("COMMIT")?;
                Ok(value)
            }
            Err(error) => {
                connection.execute_batch("ROLLBACK")?;
                Err(error)
            }
        }
    }
}

impl PsaRows for SqliteRows<'_> {
    async fn post_row(&mut self, team: Uuid, key: Uuid) -> StoreResult<Option<PostRow>> {
        Ok(self
            .connection
            .query_row(
                concat!(
                    "SELECT ",
                    post_columns!(),
                    " FROM psa_posts WHERE team_id = ?1 AND post_key = ?2"
                ),
                params![team.to_string(), key.to_string()],
                post_from_row,
            )
            .optional()?)
    }

    async fn insert_post(&mut self, row: &PostRow) -> StoreResult<bool> {
        Ok(self.connection.execute(
            concat!(
                "INSERT INTO psa_posts (",
                post_columns!(),
                ", created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?13)
                 ON CONFLICT (team_id, post_key) DO NOTHING"
            ),
            params![
                row.team_id.to_string(),
                row.key.to_string(),
                row.requested_by.to_string(),
                row.ticket_id,
                row.digest,
                row.state.as_str(),
                row.lease_until,
                row.attempts,
                row.note_id,
                row.posted_at,
                i64::from(row.status_done),
                row.error,
                row.updated_at,
                i64::from(row.time_done),
                row.time_entry_id,
            ],
        )? == 1)
    }

    async fn lease_post(
        &mut self,
        team: Uuid,
        key: Uuid,
        lease_until: i64,
        now: i64,
    ) -> StoreResult<()> {
        self.connection.execute(
            "UPDATE psa_posts SET state = 'sending', lease_until = ?3, attempts = attempts + 1,
               updated_at = ?4
             WHERE team_id = ?1 AND post_key = ?2",
            params![team.to_string(), key.to_string(), lease_until, now],
        )?;
        Ok(())
    }
}

impl AccountRows for SqliteRows<'_> {
    async fn lock_accounts(&mut self, _ids: &[Uuid]) -> StoreResult<()> {
        Ok(())
    }

    async fn account(&mut self, id: Uuid) -> StoreResult<Option<(User, bool)>> {
        Ok(self
            .connection
            .query_row(
                &format!(
                    "SELECT {USER_COLUMNS}, u.disabled_at IS NOT NULL FROM users u
                     JOIN teams t ON t.id = u.team_id WHERE u.id = ?1"
                ),
                [id.to_string()],
                |row| Ok((user_from_row(row)?, row.get(5)?)),
            )
            .optional()?)
    }

    async fn team_named(&mut self, name: &str, new_id: Uuid, now: i64) -> StoreResult<Uuid> {
        self.connection.execute(
            "INSERT INTO teams (id, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
            params![new_id.to_string(), name, now],
        )?;
        Ok(self
            .connection
            .query_row("SELECT id FROM teams WHERE name = ?1", [name], |row| {
                uuid_column(row, 0)
            })?)
    }

    async fn insert_account(&mut self, account: NewAccount<'_>) -> StoreResult<bool> {
        Ok(self.connection.execute(
            "INSERT INTO users (id, team_id, email, role, password_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (email) DO NOTHING",
            params![
                account.id.to_string(),
                account.team_id.to_string(),
                account.email,
                account.role.as_str(),
                account.password_hash,
                account.now
            ],
        )? > 0)
    }

    async fn set_role(&mut self, id: Uuid, role: Role) -> StoreResult<()> {
        self.connection.execute(
            "UPDATE users SET role = ?2 WHERE id = ?1",
            params![id.to_string(), role.as_str()],
        )?;
        Ok(())
    }

    async fn set_password_hash(&mut self, id: Uuid, password_hash: &str) -> StoreResult<()> {
        self.connection.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![id.to_string(), password_hash],
        )?;
        Ok(())
    }

    async fn mark_removed(&mut self, id: Uuid, now: i64) -> StoreResult<()> {
        self.connection.execute(
            "UPDATE users SET disabled_at = ?2 WHERE id = ?1",
            params![id.to_string(), now],
        )?;
        Ok(())
    }

    async fn has_password(&mut self, id: Uuid, password_hash: &str) -> StoreResult<bool> {
        Ok(self.connection.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1 AND password_hash = ?2 AND disabled_at IS NULL)",
            params![id.to_string(), password_hash],
            |row| row.get(0),
        )?)
    }

    async fn login_of_access_token(&mut self, access_hash: &str) -> StoreResult<Option<Uuid>> {
        Ok(self
            .connection
            .query_row(
                "SELECT login_id FROM access_tokens WHERE token_hash = ?1",
                [access_hash],
                |row| uuid_column(row, 0),
            )
            .optional()?)
    }

    async fn revoke_logins(
        &mut self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: i64,
    ) -> StoreResult<()> {
        let (user_id, keep) = (user_id.to_string(), keep.map(|id| id.to_string()));
        self.connection.execute(
            "UPDATE logins SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL AND id IS NOT ?3",
            params![user_id, now, keep],
        )?;
        self.connection.execute(
            "DELETE FROM access_tokens WHERE login_id IN
                 (SELECT id FROM logins WHERE user_id = ?1 AND id IS NOT ?2)",
            params![user_id, keep],
        )?;
        Ok(())
    }

    async fn insert_login(&mut self, login_id: Uuid, user_id: Uuid, now: i64) -> StoreResult<()> {
        self.connection.execute(
            "INSERT INTO logins (id, user_id, created_at) VALUES (?1, ?2, ?3)",
            params![login_id.to_string(), user_id.to_string(), now],
        )?;
        Ok(())
    }

    async fn insert_tokens(&mut self, login_id: Uuid, tokens: &IssuedTokens) -> StoreResult<()> {
        let login_id = login_id.to_string();
        self.connection.execute(
            "INSERT INTO refresh_tokens (token_hash, login_id, expires_at) VALUES (?1, ?2, ?3)",
            params![tokens.refresh_hash, login_id, tokens.refresh_expires_at],
        )?;
        self.connection.execute(
            "INSERT INTO access_tokens (token_hash, login_id, expires_at) VALUES (?1, ?2, ?3)",
            params![tokens.access_hash, login_id, tokens.access_expires_at],
        )?;
        Ok(())
    }

    async fn refresh_token(&mut self, refresh_hash: &str) -> StoreResult<Option<RefreshRow>> {
        Ok(self
            .connection
            .query_row(
                "SELECT r.login_id, r.expires_at, r.rotated_at,
                        l.revoked_at IS NOT NULL OR u.disabled_at IS NOT NULL
                 FROM refresh_tokens r JOIN logins l ON l.id = r.login_id JOIN users u ON u.id = l.user_id
                 WHERE r.token_hash = ?1",
                [refresh_hash],
                |row| {
                    Ok(RefreshRow {
                        login_id: uuid_column(row, 0)?,
                        expires_at: row.get(1)?,
                        rotated_at: row.get(2)?,
                        ended: row.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    async fn spend_refresh_token(&mut self, refresh_hash: &str, now: i64) -> StoreResult<()> {
        self.connection.execute(
            "UPDATE refresh_tokens SET rotated_at = ?2 WHERE token_hash = ?1",
            params![refresh_hash, now],
        )?;
        Ok(())
    }

    async fn end_login(&mut self, login_id: Uuid, now: i64) -> StoreResult<()> {
        let login_id = login_id.to_string();
        self.connection.execute(
            "UPDATE logins SET revoked_at = ?2 WHERE id = ?1",
            params![login_id, now],
        )?;
        self.connection
            .execute("DELETE FROM access_tokens WHERE login_id = ?1", [&login_id])?;
        Ok(())
    }

    async fn user_of_login(&mut self, login_id: Uuid) -> StoreResult<User> {
        Ok(self.connection.query_row(
            &format!(
                "SELECT {USER_COLUMNS} FROM logins l JOIN users u ON u.id = l.user_id
                 JOIN teams t ON t.id = u.team_id WHERE l.id = ?1"
            ),
            [login_id.to_string()],
            user_from_row,
        )?)
    }
}

impl SyncRows for SqliteRows<'_> {
    async fn device(&mut self, device: Uuid, user: Uuid, now: i64) -> StoreResult<DeviceRow> {
        let device = device.to_string();
        self.connection.execute(
            "INSERT INTO devices (device_id, user_id, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (device_id) DO NOTHING",
            params![device, user.to_string(), now],
        )?;
        Ok(self.connection.query_row(
            "SELECT user_id, last_mutation_id, acked_event_seq FROM devices WHERE device_id = ?1",
            [device],
            |row| {
                Ok(DeviceRow {
                    owner: uuid_column(row, 0)?,
                    last_mutation_id: row.get(1)?,
                    acked_event_seq: row.get(2)?,
                })
            },
        )?)
    }

    async fn set_last_mutation(&mut self, device: Uuid, last_mutation_id: i64) -> StoreResult<()> {
        self.connection.execute(
            "UPDATE devices SET last_mutation_id = ?2 WHERE device_id = ?1",
            params![device.to_string(), last_mutation_id],
        )?;
        Ok(())
    }

    async fn set_acked_event_seq(&mut self, device: Uuid, acked: i64) -> StoreResult<()> {
        self.connection.execute(
            "UPDATE devices SET acked_event_seq = ?2 WHERE device_id = ?1",
            params![device.to_string(), acked],
        )?;
        Ok(())
    }

    async fn mutation_digests(
        &mut self,
        device: Uuid,
        low: i64,
        high: i64,
    ) -> StoreResult<HashMap<i64, String>> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT mutation_id, digest FROM mutation_digests
                 WHERE device_id = ?1 AND mutation_id BETWEEN ?2 AND ?3",
            )?
            .query_map(params![device.to_string(), low, high], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    async fn insert_mutation_digest(
        &mut self,
        device: Uuid,
        mutation_id: i64,
        digest: &str,
    ) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO mutation_digests (device_id, mutation_id, digest) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device_id, mutation_id) DO NOTHING",
            )?
            .execute(params![device.to_string(), mutation_id, digest])?;
        Ok(())
    }

    async fn reject_mutation(
        &mut self,
        device: Uuid,
        mutation_id: i64,
        reason: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.connection.execute(
            "INSERT INTO rejected_mutations (device_id, mutation_id, reason, rejected_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (device_id, mutation_id) DO NOTHING",
            params![device.to_string(), mutation_id, reason, now],
        )?;
        Ok(())
    }

    async fn rejections(
        &mut self,
        device: Uuid,
        low: i64,
        high: i64,
    ) -> StoreResult<Vec<rf_core::sync::Rejection>> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT mutation_id, reason FROM rejected_mutations
                 WHERE device_id = ?1 AND mutation_id BETWEEN ?2 AND ?3 ORDER BY mutation_id",
            )?
            .query_map(params![device.to_string(), low, high], |row| {
                Ok(rf_core::sync::Rejection {
                    mutation_id: row.get(0)?,
                    reason: row.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    async fn held_events(
        &mut self,
        device: Uuid,
        numbers: &[i64],
    ) -> StoreResult<HashMap<i64, rf_core::sync::HeldEvent>> {
        // One range read covers the numbers (a push's are close together); the rest is dropped.
        let (Some(low), Some(high)) = (numbers.iter().min(), numbers.iter().max()) else {
            return Ok(HashMap::new());
        };
        let wanted: std::collections::HashSet<i64> = numbers.iter().copied().collect();
        let held: Vec<(i64, rf_core::sync::HeldEvent)> = self
            .connection
            .prepare_cached(
                "SELECT device_seq, session_id, session_seq, payload FROM session_events
                 WHERE device_id = ?1 AND device_seq BETWEEN ?2 AND ?3
                 UNION ALL
                 SELECT device_seq, session_id, NULL, payload FROM refused_events
                 WHERE device_id = ?1 AND device_seq BETWEEN ?2 AND ?3",
            )?
            .query_map(params![device.to_string(), low, high], |row| {
                Ok((
                    row.get(0)?,
                    rf_core::sync::HeldEvent {
                        session_id: uuid_column(row, 1)?,
                        session_seq: row.get(2)?,
                        payload: json_column(row, 3)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(held
            .into_iter()
            .filter(|(seq, _)| wanted.contains(seq))
            .collect())
    }

    async fn held_numbers_after(&mut self, device: Uuid, after: i64) -> StoreResult<Vec<i64>> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT device_seq FROM session_events WHERE device_id = ?1 AND device_seq > ?2
                 UNION SELECT device_seq FROM refused_events WHERE device_id = ?1 AND device_seq > ?2
                 ORDER BY device_seq",
            )?
            .query_map(params![device.to_string(), after], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    async fn session_rows(&mut self, sessions: &[Uuid]) -> StoreResult<HashMap<Uuid, SessionRow>> {
        let mut rows = HashMap::new();
        let mut statement = self.connection.prepare_cached(
            "SELECT team_id, user_id, handed_to, handoff_seq, handed_by, writer_device FROM sessions
             WHERE session_id = ?1",
        )?;
        for session in sessions {
            let row = statement
                .query_row([session.to_string()], |row| {
                    Ok(SessionRow {
                        team: uuid_column(row, 0)?,
                        owner: uuid_column(row, 1)?,
                        handed_to: row
                            .get::<_, Option<String>>(2)?
                            .map(|text| Uuid::parse_str(&text))
                            .transpose()
                            .map_err(|error| {
                                rusqlite::Error::FromSqlConversionFailure(
                                    2,
                                    rusqlite::types::Type::Text,
                                    Box::new(error),
                                )
                            })?,
                        handoff: match row.get::<_, Option<i64>>(3)? {
                            Some(at) => Some((at, uuid_column(row, 4)?)),
                            None => None,
                        },
                        writer_device: match row.get::<_, Option<String>>(5)? {
                            Some(_) => Some(uuid_column(row, 5)?),
                            None => None,
                        },
                    })
                })
                .optional()?;
            if let Some(row) = row {
                rows.insert(*session, row);
            }
        }
        Ok(rows)
    }

    async fn set_session_row(
        &mut self,
        session: Uuid,
        row: SessionRow,
        now: i64,
    ) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO sessions (session_id, team_id, user_id, created_at, handed_to,
                                       handoff_seq, handed_by, writer_device)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id,
                     handed_to = excluded.handed_to, handoff_seq = excluded.handoff_seq,
                     handed_by = excluded.handed_by, writer_device = excluded.writer_device",
            )?
            .execute(params![
                session.to_string(),
                row.team.to_string(),
                row.owner.to_string(),
                now,
                row.handed_to.map(|to| to.to_string()),
                row.handoff.map(|(at, _)| at),
                row.handoff.map(|(_, by)| by.to_string()),
                row.writer_device.map(|device| device.to_string())
            ])?;
        Ok(())
    }

    async fn team_roles(&mut self, team: Uuid) -> StoreResult<HashMap<Uuid, (String, Role)>> {
        let members: Vec<User> = self
            .connection
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users u JOIN teams t ON t.id = u.team_id
                 WHERE u.team_id = ?1 AND u.disabled_at IS NULL"
            ))?
            .query_map([team.to_string()], user_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(members
            .into_iter()
            .map(|user| (user.id, (user.email, user.role)))
            .collect())
    }

    async fn insert_events(
        &mut self,
        device: Uuid,
        team: Uuid,
        first_team_seq: i64,
        events: &[&rf_core::sync::PushedEvent],
        now: i64,
    ) -> StoreResult<()> {
        let (device, team) = (device.to_string(), team.to_string());
        let mut insert = self.connection.prepare_cached(
            "INSERT INTO session_events (device_id, device_seq, session_id, session_seq, team_id,
                                         team_seq, payload, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (team_seq, event) in (first_team_seq..).zip(events) {
            insert.execute(params![
                device,
                event.device_seq,
                event.session_id.to_string(),
                event.session_seq,
                team,
                team_seq,
                event.payload.to_string(),
                now
            ])?;
        }
        Ok(())
    }

    async fn insert_refused_events(
        &mut self,
        device: Uuid,
        team: Uuid,
        refused: &[&(rf_core::sync::PushedEvent, String)],
        now: i64,
    ) -> StoreResult<()> {
        let (device, team) = (device.to_string(), team.to_string());
        let mut insert = self.connection.prepare_cached(
            "INSERT INTO refused_events (device_id, device_seq, session_id, team_id, reason, payload, refused_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
             WHERE NOT EXISTS (SELECT 1 FROM session_events WHERE device_id = ?1 AND device_seq = ?2)
             ON CONFLICT (device_id, device_seq) DO NOTHING",
        )?;
        for (event, reason) in refused {
            insert.execute(params![
                device,
                event.device_seq,
                event.session_id.to_string(),
                team,
                reason,
                event.payload.to_string(),
                now
            ])?;
        }
        Ok(())
    }

    async fn refused_events(
        &mut self,
        device: Uuid,
        low: i64,
        high: i64,
    ) -> StoreResult<Vec<rf_core::sync::RefusedEvent>> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT device_seq, session_id, reason FROM refused_events
                 WHERE device_id = ?1 AND device_seq BETWEEN ?2 AND ?3 ORDER BY device_seq",
            )?
            .query_map(params![device.to_string(), low, high], |row| {
                Ok(rf_core::sync::RefusedEvent {
                    device_seq: row.get(0)?,
                    session_id: uuid_column(row, 1)?,
                    reason: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    async fn lock_team(&mut self, _team: Uuid) -> StoreResult<()> {
        Ok(())
    }

    async fn take_team_seqs(&mut self, team: Uuid, count: i64) -> StoreResult<i64> {
        Ok(self.connection.query_row(
            "INSERT INTO team_sequences (team_id, seq) VALUES (?1, ?2)
             ON CONFLICT (team_id) DO UPDATE SET seq = seq + ?2 RETURNING seq",
            params![team.to_string(), count],
            |row| row.get(0),
        )?)
    }

    async fn version_exists(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
        version: rf_core::VersionId,
    ) -> StoreResult<bool> {
        Ok(self.connection.query_row(
            "SELECT EXISTS (SELECT 1 FROM flow_versions WHERE team_id = ?1 AND flow_id = ?2 AND version_id = ?3)",
            params![team.to_string(), flow_id.to_string(), version.to_string()],
            |row| row.get(0),
        )?)
    }

    async fn insert_version(
        &mut self,
        team: Uuid,
        document: &CheckedDocument,
        created_by: Uuid,
        now: i64,
        team_seq: i64,
    ) -> StoreResult<()> {
        self.connection.execute(
            "INSERT INTO flow_versions (team_id, flow_id, version_id, number, document, created_by, created_at, team_seq)
             VALUES (?1, ?2, ?3,
                     (SELECT COALESCE(MAX(number), 0) + 1 FROM flow_versions WHERE team_id = ?1 AND flow_id = ?2),
                     ?4, ?5, ?6, ?7)",
            params![
                team.to_string(),
                document.flow_id.to_string(),
                document.version.to_string(),
                document.text,
                created_by.to_string(),
                now,
                team_seq
            ],
        )?;
        Ok(())
    }

    async fn head(&mut self, team: Uuid, flow_id: Uuid) -> StoreResult<Option<Head>> {
        Ok(self
            .connection
            .query_row(
                "SELECT f.head_version, v.document, f.author_id FROM flows f
                 JOIN flow_versions v ON v.team_id = f.team_id AND v.flow_id = f.flow_id AND v.version_id = f.head_version
                 WHERE f.team_id = ?1 AND f.flow_id = ?2",
                params![team.to_string(), flow_id.to_string()],
                |row| {
                    Ok(Head {
                        version: version_column(row, 0)?,
                        document: json_column(row, 1)?,
                        author_id: uuid_column(row, 2)?,
                    })
                },
            )
            .optional()?)
    }

    async fn pulled_head(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
    ) -> StoreResult<Option<rf_core::sync::PulledFlow>> {
        Ok(self
            .connection
            .query_row(
                "SELECT head_version, author_id, team_seq FROM flows WHERE team_id = ?1 AND flow_id = ?2",
                params![team.to_string(), flow_id.to_string()],
                |row| {
                    Ok(rf_core::sync::PulledFlow {
                        flow_id,
                        head: version_column(row, 0)?,
                        author_id: uuid_column(row, 1)?,
                        team_seq: row.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    async fn document(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
        version: rf_core::VersionId,
    ) -> StoreResult<Option<serde_json::Value>> {
        Ok(self
            .connection
            .query_row(
                "SELECT document FROM flow_versions WHERE team_id = ?1 AND flow_id = ?2 AND version_id = ?3",
                params![team.to_string(), flow_id.to_string(), version.to_string()],
                |row| json_column(row, 0),
            )
            .optional()?)
    }

    async fn set_head(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
        version: rf_core::VersionId,
        author: Uuid,
        now: i64,
        team_seq: i64,
    ) -> StoreResult<()> {
        self.connection.execute(
            "INSERT INTO flows (team_id, flow_id, head_version, author_id, updated_at, team_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (team_id, flow_id) DO UPDATE SET head_version = excluded.head_version,
                 updated_at = excluded.updated_at, team_seq = excluded.team_seq",
            params![
                team.to_string(),
                flow_id.to_string(),
                version.to_string(),
                author.to_string(),
                now,
                team_seq
            ],
        )?;
        Ok(())
    }

    async fn insert_conflict(&mut self, conflict: NewConflict<'_>) -> StoreResult<()> {
        let field = conflict.conflict;
        self.connection.execute(
            "INSERT INTO flow_conflicts (id, team_id, flow_id, path, base, kept, other,
                 kept_version, other_version, raised_by, created_at, team_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                conflict.id.to_string(),
                conflict.team.to_string(),
                conflict.flow_id.to_string(),
                field.path,
                optional_json(field.base.as_ref()),
                optional_json(field.kept.as_ref()),
                optional_json(field.other.as_ref()),
                conflict.kept_version.to_string(),
                conflict.other_version.to_string(),
                conflict.raised_by.to_string(),
                conflict.now,
                conflict.team_seq
            ],
        )?;
        Ok(())
    }

    async fn conflict(
        &mut self,
        team: Uuid,
        conflict_id: Uuid,
    ) -> StoreResult<Option<ConflictRow>> {
        Ok(self
            .connection
            .query_row(
                "SELECT c.raised_by, COALESCE(f.author_id, ''), c.resolution FROM flow_conflicts c
                 LEFT JOIN flows f ON f.team_id = c.team_id AND f.flow_id = c.flow_id
                 WHERE c.id = ?1 AND c.team_id = ?2",
                params![conflict_id.to_string(), team.to_string()],
                |row| {
                    Ok(ConflictRow {
                        raised_by: row.get(0)?,
                        author: row.get(1)?,
                        resolution: row.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    async fn resolve_conflict(
        &mut self,
        conflict_id: Uuid,
        keep: rf_core::sync::Keep,
        by: Uuid,
        now: i64,
        team_seq: i64,
    ) -> StoreResult<()> {
        self.connection.execute(
            "UPDATE flow_conflicts SET resolution = ?2, resolved_by = ?3, resolved_at = ?4, team_seq = ?5
             WHERE id = ?1",
            params![conflict_id.to_string(), keep.as_str(), by.to_string(), now, team_seq],
        )?;
        Ok(())
    }

    async fn set_pin(
        &mut self,
        user: Uuid,
        team: Uuid,
        flow_id: Uuid,
        pinned: bool,
        team_seq: i64,
    ) -> StoreResult<()> {
        self.connection.execute(
            "INSERT INTO user_pins (user_id, flow_id, team_id, pinned, team_seq)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (user_id, flow_id) DO UPDATE SET pinned = excluded.pinned, team_seq = excluded.team_seq",
            params![user.to_string(), flow_id.to_string(), team.to_string(), pinned, team_seq],
        )?;
        Ok(())
    }

    async fn record(
        &mut self,
        team: Uuid,
        kind: RecordKind,
        id: Uuid,
    ) -> StoreResult<Option<Option<String>>> {
        Ok(self
            .connection
            .query_row(
                "SELECT body FROM team_records WHERE team_id = ?1 AND kind = ?2 AND record_id = ?3",
                params![team.to_string(), kind.as_str(), id.to_string()],
                |row| row.get(0),
            )
            .optional()?)
    }

    async fn put_record(&mut self, record: RecordWrite<'_>) -> StoreResult<()> {
        self.connection.execute(
            "INSERT INTO team_records (team_id, kind, record_id, body, author_id, updated_at, team_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (team_id, kind, record_id) DO UPDATE SET body = excluded.body,
                 author_id = excluded.author_id, updated_at = excluded.updated_at,
                 team_seq = excluded.team_seq",
            params![
                record.team.to_string(),
                record.kind.as_str(),
                record.id.to_string(),
                record.body,
                record.author.to_string(),
                record.now,
                record.team_seq
            ],
        )?;
        Ok(())
    }

    async fn announce(&mut self, _team: Uuid, _latest: i64) -> StoreResult<()> {
        Ok(())
    }
}

impl PullRows for SqliteRows<'_> {
    async fn team_latest(&mut self, team: Uuid) -> StoreResult<i64> {
        Ok(team_latest(self.connection, &team.to_string())?)
    }

    async fn epoch(&mut self) -> StoreResult<String> {
        Ok(read_epoch(self.connection)?)
    }

    async fn change_sizes(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<(i64, i64)>> {
        Ok(self
            .connection
            .prepare_cached(page_sizes_sql!("?1", "?2", "?3"))?
            .query_map(params![team.to_string(), since, until], |row| {
                Ok((row.get(0)?, row.get::<_, Option<i64>>(1)?.unwrap_or(0)))
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    async fn versions(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<PulledVersion>> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT flow_id, version_id, number, document, team_seq FROM flow_versions
                 WHERE team_id = ?1 AND team_seq > ?2 AND team_seq <= ?3 ORDER BY team_seq",
            )?
            .query_map(params![team.to_string(), since, until], |row| {
                Ok(PulledVersion {
                    flow_id: uuid_column(row, 0)?,
                    version: version_column(row, 1)?,
                    number: row.get(2)?,
                    document: json_column(row, 3)?,
                    team_seq: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    async fn heads(&mut self, team: Uuid, since: i64, until: i64) -> StoreResult<Vec<PulledFlow>> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT flow_id, head_version, author_id, team_seq FROM flows
                 WHERE team_id = ?1 AND team_seq > ?2 AND team_seq <= ?3 ORDER BY team_seq",
            )?
            .query_map(params![team.to_string(), since, until], |row| {
                Ok(PulledFlow {
                    flow_id: uuid_column(row, 0)?,
                    head: version_column(row, 1)?,
                    author_id: uuid_column(row, 2)?,
                    team_seq: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    async fn events(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<PulledEvent>> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT device_id, device_seq, session_id, session_seq, payload, team_seq FROM session_events
                 WHERE team_id = ?1 AND team_seq > ?2 AND team_seq <= ?3 ORDER BY team_seq",
            )?
            .query_map(params![team.to_string(), since, until], |row| {
                Ok(PulledEvent {
                    device_id: uuid_column(row, 0)?,
                    device_seq: row.get(1)?,
                    session_id: uuid_column(row, 2)?,
                    session_seq: row.get(3)?,
                    payload: json_column(row, 4)?,
                    team_seq: row.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    async fn conflicts(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<PulledConflict>> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT c.id, c.flow_id, c.path, c.base, c.kept, c.other, c.kept_version, c.other_version,
                        u.email, c.created_at, c.resolution, c.team_seq
                 FROM flow_conflicts c JOIN users u ON u.id = c.raised_by
                 WHERE c.team_id = ?1 AND c.team_seq > ?2 AND c.team_seq <= ?3 ORDER BY c.team_seq",
            )?
            .query_map(params![team.to_string(), since, until], |row| {
                let optional = |index: usize| -> rusqlite::Result<Option<serde_json::Value>> {
                    match row.get::<_, Option<String>>(index)? {
                        Some(_) => json_column(row, index).map(Some),
                        None => Ok(None),
                    }
                };
                let resolution: Option<String> = row.get(10)?;
                Ok(PulledConflict {
                    id: uuid_column(row, 0)?,
                    flow_id: uuid_column(row, 1)?,
                    conflict: rf_core::sync::FieldConflict {
                        path: row.get(2)?,
                        base: optional(3)?,
                        kept: optional(4)?,
                        other: optional(5)?,
                    },
                    kept_version: version_column(row, 6)?,
                    other_version: version_column(row, 7)?,
                    raised_by: row.get(8)?,
                    created_at: row.get(9)?,
                    resolution: resolution.as_deref().and_then(rf_core::sync::Keep::parse),
                    team_seq: row.get(11)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    async fn pins(
        &mut self,
        team: Uuid,
        user: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<rf_core::sync::PulledPin>> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT flow_id, pinned, team_seq FROM user_pins
                 WHERE team_id = ?1 AND team_seq > ?2 AND team_seq <= ?3 AND user_id = ?4 ORDER BY team_seq",
            )?
            .query_map(
                params![team.to_string(), since, until, user.to_string()],
                |row| {
                    Ok(rf_core::sync::PulledPin {
                        flow_id: uuid_column(row, 0)?,
                        pinned: row.get(1)?,
                        team_seq: row.get(2)?,
                    })
                },
            )?
            .collect::<rusqlite::Result<_>>()?)
    }

    async fn records(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<rf_core::sync::PulledRecord>> {
        let rows: Vec<(String, Uuid, Option<String>, Uuid, i64)> = self
            .connection
            .prepare_cached(
                "SELECT kind, record_id, body, author_id, team_seq FROM team_records
                 WHERE team_id = ?1 AND team_seq > ?2 AND team_seq <= ?3 ORDER BY team_seq",
            )?
            .query_map(params![team.to_string(), since, until], |row| {
                Ok((
                    row.get(0)?,
                    uuid_column(row, 1)?,
                    row.get(2)?,
                    uuid_column(row, 3)?,
                    row.get(4)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(kind, id, body, author_id, team_seq)| {
                pulled_record(&kind, id, body.as_deref(), author_id, team_seq)
            })
            .collect()
    }
}

impl Store for SqliteStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.write(move |rows| finished(accounts::create_user(rows, &user, now)))
            .await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        self.with(|connection| {
            let mut statement = connection.prepare(&format!(
                "SELECT {USER_COLUMNS} FROM users u JOIN teams t ON t.id = u.team_id
                 WHERE u.disabled_at IS NULL ORDER BY t.name, u.email"
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
                         WHERE u.email = ?1 AND u.disabled_at IS NULL"
                    ),
                    [&email],
                    |row| Ok((user_from_row(row)?, row.get(5)?)),
                )
                .optional()?)
        })
        .await
    }

    async fn update_user(
        &self,
        actor: Actor,
        id: Uuid,
        update: UserUpdate,
        now: i64,
    ) -> StoreResult<User> {
        self.write(move |rows| finished(accounts::update_user(rows, &actor, id, &update, now)))
            .await
    }

    async fn remove_user(&self, actor: Actor, id: Uuid, now: i64) -> StoreResult<()> {
        self.write(move |rows| finished(accounts::remove_user(rows, &actor, id, now)))
            .await
    }

    async fn create_login(
        &self,
        user_id: Uuid,
        password_hash: String,
        tokens: IssuedTokens,
        now: i64,
    ) -> StoreResult<bool> {
        self.write(move |rows| {
            finished(accounts::create_login(
                rows,
                user_id,
                &password_hash,
                &tokens,
                now,
            ))
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        presented_hash: String,
        next: IssuedTokens,
        now: i64,
    ) -> StoreResult<Rotation> {
        self.write(move |rows| {
            finished(accounts::rotate_refresh(rows, &presented_hash, &next, now))
        })
        .await
    }

    async fn push(&self, user: User, batch: PushBatch, now: i64) -> StoreResult<PushSettled> {
        self.write(move |rows| finished(push::push(rows, &user, batch, now)))
            .await
    }

    async fn epoch(&self) -> StoreResult<String> {
        self.with(|connection| Ok(read_epoch(connection)?)).await
    }

    async fn new_epoch(&self, now: i64) -> StoreResult<String> {
        self.with(move |connection| {
            let epoch = crate::storage::fresh_epoch();
            connection.execute(
                "UPDATE store_epoch SET epoch = ?1, began_at = ?2",
                params![epoch, now],
            )?;
            Ok(epoch)
        })
        .await
    }

    async fn team_latest(&self, team: Uuid) -> StoreResult<i64> {
        self.with(move |connection| Ok(team_latest(connection, &team.to_string())?))
            .await
    }

    async fn psa_connection(&self, team: Uuid) -> StoreResult<Option<StoredPsaConnection>> {
        self.with(move |connection| {
            Ok(connection
                .query_row(
                    concat!(
                        "SELECT ",
                        psa_columns!(),
                        " FROM psa_connections WHERE team_id = ?1"
                    ),
                    [team.to_string()],
                    psa_from_row,
                )
                .optional()?)
        })
        .await
    }

    async fn put_psa_connection(&self, stored: StoredPsaConnection) -> StoreResult<()> {
        self.with(move |connection| {
            connection.execute(
                concat!(
                    "INSERT INTO psa_connections (",
                    psa_columns!(),
                    ")
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (team_id) DO UPDATE SET api_url = excluded.api_url,
                       company_id = excluded.company_id, client_id = excluded.client_id,
                       key_id = excluded.key_id, nonce = excluded.nonce,
                       ciphertext = excluded.ciphertext,
                       public_key_hint = excluded.public_key_hint,
                       updated_at = excluded.updated_at, updated_by = excluded.updated_by"
                ),
                params![
                    stored.team_id.to_string(),
                    stored.api_url,
                    stored.company_id,
                    stored.client_id,
                    stored.sealed_keys.key_id,
                    stored.sealed_keys.nonce,
                    stored.sealed_keys.ciphertext,
                    stored.public_key_hint,
                    stored.updated_at,
                    stored.updated_by.to_string(),
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn remove_psa_connection(&self, team: Uuid) -> StoreResult<bool> {
        self.with(move |connection| {
            Ok(connection.execute(
                "DELETE FROM psa_connections WHERE team_id = ?1",
                [team.to_string()],
            )? > 0)
        })
        .await
    }

    async fn psa_connections(&self) -> StoreResult<Vec<StoredPsaConnection>> {
        self.with(move |connection| {
            Ok(connection
                .prepare(concat!(
                    "SELECT ",
                    psa_columns!(),
                    " FROM psa_connections ORDER BY team_id"
                ))?
                .query_map([], psa_from_row)?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn reseal_psa_connection(
        &self,
        team: Uuid,
        was: Sealed,
        now: Sealed,
    ) -> StoreResult<bool> {
        self.with(move |connection| {
            Ok(connection.execute(
                "UPDATE psa_connections SET key_id = ?1, nonce = ?2, ciphertext = ?3
                 WHERE team_id = ?4 AND key_id = ?5 AND nonce = ?6",
                params![
                    now.key_id,
                    now.nonce,
                    now.ciphertext,
                    team.to_string(),
                    was.key_id,
                    was.nonce
                ],
            )? > 0)
        })
        .await
    }

    async fn claim_psa_post(&self, claim: PostClaim) -> StoreResult<Claimed> {
        self.write(move |rows| finished(crate::storage::psa::claim_post(rows, &claim)))
            .await
    }

    async fn settle_psa_post(&self, team: Uuid, key: Uuid, settle: PostSettle) -> StoreResult<()> {
        self.with(move |connection| {
            connection.execute(
                "UPDATE psa_posts SET state = ?3, note_id = ?4, posted_at = ?5, status_done = ?6,
                   error = ?7, lease_until = 0, updated_at = ?8, time_done = ?9,
                   time_entry_id = ?10
                 WHERE team_id = ?1 AND post_key = ?2",
                params![
                    team.to_string(),
                    key.to_string(),
                    settle.state.as_str(),
                    settle.note_id,
                    settle.posted_at,
                    i64::from(settle.status_done),
                    settle.error,
                    settle.now,
                    i64::from(settle.time_done),
                    settle.time_entry_id,
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn add_ai_usage(
        &self,
        team: Uuid,
        month: String,
        usage: rf_core::ai::PilotUsage,
    ) -> StoreResult<()> {
        self.with(move |connection| {
            connection.execute(
                "INSERT INTO ai_usage (team_id, month, requests, input_tokens, output_tokens,
                   cache_creation_tokens, cache_read_tokens)
                 VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6)
                 ON CONFLICT (team_id, month) DO UPDATE SET requests = requests + 1,
                   input_tokens = input_tokens + excluded.input_tokens,
                   output_tokens = output_tokens + excluded.output_tokens,
                   cache_creation_tokens = cache_creation_tokens + excluded.cache_creation_tokens,
                   cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens",
                params![
                    team.to_string(),
                    month,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cache_creation_input_tokens,
                    usage.cache_read_input_tokens
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn ai_usage(
        &self,
        team: Uuid,
        month: String,
    ) -> StoreResult<(i64, rf_core::ai::PilotUsage)> {
        self.with(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT requests, input_tokens, output_tokens, cache_creation_tokens,
                       cache_read_tokens
                     FROM ai_usage WHERE team_id = ?1 AND month = ?2",
                    params![team.to_string(), month],
                    |row| {
                        Ok((
                            row.get(0)?,
                            rf_core::ai::PilotUsage {
                                input_tokens: row.get(1)?,
                                output_tokens: row.get(2)?,
                                cache_creation_input_tokens: row.get(3)?,
                                cache_read_input_tokens: row.get(4)?,
                            },
                        ))
                    },
                )
                .optional()?
                .unwrap_or_default())
        })
        .await
    }

    async fn set_ai_cap(
        &self,
        team: Uuid,
        cap: Option<i64>,
        by: Uuid,
        now: i64,
    ) -> StoreResult<()> {
        self.with(move |connection| {
            match cap {
                Some(cap) => connection.execute(
                    "INSERT INTO ai_caps (team_id, monthly_tokens, updated_at, updated_by)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (team_id) DO UPDATE SET monthly_tokens = excluded.monthly_tokens,
                       updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    params![team.to_string(), cap, now, by.to_string()],
                )?,
                None => connection
                    .execute("DELETE FROM ai_caps WHERE team_id = ?1", [team.to_string()])?,
            };
            Ok(())
        })
        .await
    }

    async fn ai_cap(&self, team: Uuid) -> StoreResult<Option<i64>> {
        self.with(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT monthly_tokens FROM ai_caps WHERE team_id = ?1",
                    [team.to_string()],
                    |row| row.get(0),
                )
                .optional()?)
        })
        .await
    }

    async fn member_overrides(&self, team: Uuid) -> StoreResult<Vec<(Uuid, String)>> {
        self.with(move |connection| {
            let mut statement = connection.prepare(
                "SELECT user_id, member_identifier FROM psa_member_overrides
                 WHERE team_id = ?1 ORDER BY user_id",
            )?;
            let rows = statement
                .query_map([team.to_string()], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(user, member)| {
                    Uuid::parse_str(&user)
                        .map(|user| (user, member))
                        .map_err(|error| StoreError::Internal(error.to_string()))
                })
                .collect()
        })
        .await
    }

    async fn set_member_override(
        &self,
        team: Uuid,
        user: Uuid,
        member: Option<String>,
        by: Uuid,
        now: i64,
    ) -> StoreResult<()> {
        self.with(move |connection| {
            match member {
                Some(member) => connection.execute(
                    "INSERT INTO psa_member_overrides (team_id, user_id, member_identifier,
                       updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (team_id, user_id) DO UPDATE SET
                       member_identifier = excluded.member_identifier,
                       updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    params![
                        team.to_string(),
                        user.to_string(),
                        member,
                        now,
                        by.to_string()
                    ],
                )?,
                None => connection.execute(
                    "DELETE FROM psa_member_overrides WHERE team_id = ?1 AND user_id = ?2",
                    params![team.to_string(), user.to_string()],
                )?,
            };
            Ok(())
        })
        .await
    }

    async fn psa_post(&self, team: Uuid, key: Uuid) -> StoreResult<Option<PostRow>> {
        self.read(move |rows| finished(rows.post_row(team, key)))
            .await
    }

    async fn pull(
        &self,
        user: User,
        since: i64,
        limit: i64,
    ) -> StoreResult<rf_core::sync::PullResponse> {
        self.read(move |rows| finished(pull::pull(rows, &user, since, limit)))
            .await
    }

    async fn authenticate(&self, access_hash: String, now: i64) -> StoreResult<Option<User>> {
        self.with(move |connection| {
            Ok(connection
                .query_row(
                    &format!(
                        "SELECT {USER_COLUMNS} FROM access_tokens a JOIN logins l ON l.id = a.login_id
                         JOIN users u ON u.id = l.user_id JOIN teams t ON t.id = u.team_id
                         WHERE a.token_hash = ?1 AND a.expires_at > ?2 AND l.revoked_at IS NULL
                           AND u.disabled_at IS NULL"
                    ),
                    params![access_hash, now],
                    user_from_row,
                )
                .optional()?)
        })
        .await
    }
}

fn read_epoch(connection: &Connection) -> rusqlite::Result<String> {
    connection.query_row("SELECT epoch FROM store_epoch", [], |row| row.get(0))
}

/// The team's latest sequence number (0 before its first change).
fn post_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PostRow> {
    let uuid = |index: usize| uuid_at(row, index);
    let state: String = row.get(5)?;
    Ok(PostRow {
        team_id: uuid(0)?,
        key: uuid(1)?,
        requested_by: uuid(2)?,
        ticket_id: row.get(3)?,
        digest: row.get(4)?,
        state: PostState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                5,
                rusqlite::types::Type::Text,
                format!("unknown post state {state:?}").into(),
            )
        })?,
        lease_until: row.get(6)?,
        attempts: row.get(7)?,
        note_id: row.get(8)?,
        posted_at: row.get(9)?,
        status_done: row.get::<_, i64>(10)? != 0,
        error: row.get(11)?,
        updated_at: row.get(12)?,
        time_done: row.get::<_, i64>(13)? != 0,
        time_entry_id: row.get(14)?,
    })
}

fn psa_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPsaConnection> {
    let uuid = |index: usize| uuid_at(row, index);
    Ok(StoredPsaConnection {
        team_id: uuid(0)?,
        api_url: row.get(1)?,
        company_id: row.get(2)?,
        client_id: row.get(3)?,
        sealed_keys: Sealed {
            key_id: row.get(4)?,
            nonce: row.get(5)?,
            ciphertext: row.get(6)?,
        },
        public_key_hint: row.get(7)?,
        updated_at: row.get(8)?,
        updated_by: uuid(9)?,
    })
}

fn team_latest(connection: &Connection, team: &str) -> rusqlite::Result<i64> {
    Ok(connection
        .query_row(
            "SELECT seq FROM team_sequences WHERE team_id = ?1",
            [team],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

fn uuid_column(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(index)?;
    Uuid::parse_str(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

fn version_column(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<rf_core::VersionId> {
    let text: String = row.get(index)?;
    text.parse().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

fn json_column(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<serde_json::Value> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

fn optional_json(value: Option<&serde_json::Value>) -> Option<String> {
    value.map(serde_json::Value::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_list_matches_its_folder() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/server-sqlite");
        rf_sqlite::check_listing(SQLITE_MIGRATIONS, &folder).unwrap();
    }
}
