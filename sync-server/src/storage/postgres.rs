//! The PostgreSQL back end (`--database-url postgres://…`): the same [`Store`] contract as the
//! SQLite one, for teams that run several server replicas on one database.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use crate::domain::error::{StoreError, StoreResult};
use crate::domain::flows::{CheckedDocument, Head};
use std::collections::HashMap;

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
use rf_core::VersionId;
use rf_core::sync::RecordKind;
use rf_core::sync::{
    FieldConflict, PullResponse, PulledConflict, PulledEvent, PulledFlow, PulledVersion,
};

/// Every migration of the PostgreSQL back end, in order (checked against the folder by a test).
pub const POSTGRES_MIGRATIONS: &[rf_sqlite::Migration] = rf_sqlite::migrations!(
    "../../../migrations/server-postgres/";
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

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        StoreError::Internal(format!("PostgreSQL: {error}"))
    }
}

/// The user columns every query selects, as a macro so queries stay static strings.
macro_rules! user_columns {
    () => {
        "u.id, u.email, u.team_id, t.name, u.role"
    };
}

fn user_from_row(row: &sqlx::postgres::PgRow) -> StoreResult<User> {
    let uuid = |index: usize| -> StoreResult<Uuid> {
        let text: String = row.try_get(index)?;
        Uuid::parse_str(&text)
            .map_err(|error| StoreError::Internal(format!("stored id {text:?}: {error}")))
    };
    let role: String = row.try_get(4)?;
    Ok(User {
        id: uuid(0)?,
        email: row.try_get(1)?,
        team_id: uuid(2)?,
        team: row.try_get(3)?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Internal(format!("stored role {role:?}")))?,
    })
}

impl PostgresStore {
    /// Connects and brings the schema up to date. Each migration and its version row commit in
    /// one transaction; an advisory lock keeps two starting replicas from migrating at once.
    pub async fn connect(url: &str) -> StoreResult<PostgresStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        let mut transaction = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(727170)")
            .execute(&mut *transaction)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .execute(&mut *transaction)
        .await?;
        let found: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                .fetch_one(&mut *transaction)
                .await?;
        for migration in rf_sqlite::pending(POSTGRES_MIGRATIONS, found)? {
            sqlx::raw_sql(migration.sql)
                .execute(&mut *transaction)
                .await?;
            sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
                .bind(migration.version)
                .bind(migration.name)
                .execute(&mut *transaction)
                .await?;
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applied migration"
            );
        }
        transaction.commit().await?;
        Ok(PostgresStore { pool })
    }
}

/// The storage primitives on PostgreSQL, inside one transaction of the pool.
pub(crate) struct PgRows {
    transaction: Tx<'static>,
}

impl PgRows {
    async fn begin(pool: &PgPool) -> StoreResult<PgRows> {
        Ok(PgRows {
            transaction: pool.begin().await?,
        })
    }

    /// Commits when the transaction's work returned `Ok`; otherwise it is rolled back (when
    /// dropped).
    async fn end<T>(self, result: StoreResult<T>) -> StoreResult<T> {
        let value = result?;
        self.transaction.commit().await?;
        Ok(value)
    }
}

impl PsaRows for PgRows {
    async fn post_row(&mut self, team: Uuid, key: Uuid) -> StoreResult<Option<PostRow>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            post_columns!(),
            " FROM psa_posts WHERE team_id = $1 AND post_key = $2 FOR UPDATE"
        ))
        .bind(team.to_string())
        .bind(key.to_string())
        .fetch_optional(&mut *self.transaction)
        .await?;
        row.as_ref().map(post_from_row).transpose()
    }

    async fn insert_post(&mut self, row: &PostRow) -> StoreResult<bool> {
        Ok(sqlx::query(concat!(
            "INSERT INTO psa_posts (",
            post_columns!(),
            ", created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $13)
             ON CONFLICT (team_id, post_key) DO NOTHING"
        ))
        .bind(row.team_id.to_string())
        .bind(row.key.to_string())
        .bind(row.requested_by.to_string())
        .bind(row.ticket_id)
        .bind(&row.digest)
        .bind(row.state.as_str())
        .bind(row.lease_until)
        .bind(row.attempts)
        .bind(row.note_id)
        .bind(row.posted_at)
        .bind(i64::from(row.status_done))
        .bind(&row.error)
        .bind(row.updated_at)
        .bind(i64::from(row.time_done))
        .bind(row.time_entry_id)
        .execute(&mut *self.transaction)
        .await?
        .rows_affected()
            == 1)
    }

    async fn lease_post(
        &mut self,
        team: Uuid,
        key: Uuid,
        lease_until: i64,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE psa_posts SET state = 'sending', lease_until = $3, attempts = attempts + 1,
               updated_at = $4
             WHERE team_id = $1 AND post_key = $2",
        )
        .bind(team.to_string())
        .bind(key.to_string())
        .bind(lease_until)
        .bind(now)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }
}

impl AccountRows for PgRows {
    async fn lock_accounts(&mut self, ids: &[Uuid]) -> StoreResult<()> {
        // In id order, so two admins changing each other wait rather than deadlock.
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        sqlx::query("SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&ids)
            .execute(&mut *self.transaction)
            .await?;
        Ok(())
    }

    async fn account(&mut self, id: Uuid) -> StoreResult<Option<(User, bool)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ", u.disabled_at IS NOT NULL FROM users u JOIN teams t ON t.id = u.team_id WHERE u.id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *self.transaction)
        .await?;
        match row {
            Some(row) => Ok(Some((user_from_row(&row)?, row.try_get(5)?))),
            None => Ok(None),
        }
    }

    async fn team_named(&mut self, name: &str, new_id: Uuid, now: i64) -> StoreResult<Uuid> {
        sqlx::query(
            "INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id.to_string())
        .bind(name)
        .bind(now)
        .execute(&mut *self.transaction)
        .await?;
        let row = sqlx::query("SELECT id FROM teams WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *self.transaction)
            .await?;
        uuid_at(&row, 0)
    }

    async fn insert_account(&mut self, account: NewAccount<'_>) -> StoreResult<bool> {
        Ok(sqlx::query(
            "INSERT INTO users (id, team_id, email, role, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
        )
        .bind(account.id.to_string())
        .bind(account.team_id.to_string())
        .bind(account.email)
        .bind(account.role.as_str())
        .bind(account.password_hash)
        .bind(account.now)
        .execute(&mut *self.transaction)
        .await?
        .rows_affected()
            > 0)
    }

    async fn set_role(&mut self, id: Uuid, role: Role) -> StoreResult<()> {
        sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(role.as_str())
            .execute(&mut *self.transaction)
            .await?;
        Ok(())
    }

    async fn set_password_hash(&mut self, id: Uuid, password_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(password_hash)
            .execute(&mut *self.transaction)
            .await?;
        Ok(())
    }

    async fn mark_removed(&mut self, id: Uuid, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(now)
            .execute(&mut *self.transaction)
            .await?;
        Ok(())
    }

    async fn has_password(&mut self, id: Uuid, password_hash: &str) -> StoreResult<bool> {
        // FOR SHARE: a concurrent removal or password change waits for this transaction to
        // commit, then revokes the login it started; or it committed first, and this sees it.
        Ok(sqlx::query(
            "SELECT 1 FROM users WHERE id = $1 AND password_hash = $2 AND disabled_at IS NULL FOR SHARE",
        )
        .bind(id.to_string())
        .bind(password_hash)
        .fetch_optional(&mut *self.transaction)
        .await?
        .is_some())
    }

    async fn login_of_access_token(&mut self, access_hash: &str) -> StoreResult<Option<Uuid>> {
        let row = sqlx::query("SELECT login_id FROM access_tokens WHERE token_hash = $1")
            .bind(access_hash)
            .fetch_optional(&mut *self.transaction)
            .await?;
        row.map(|row| uuid_at(&row, 0)).transpose()
    }

    async fn revoke_logins(
        &mut self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: i64,
    ) -> StoreResult<()> {
        let (user_id, keep) = (user_id.to_string(), keep.map(|id| id.to_string()));
        sqlx::query(
            "UPDATE logins SET revoked_at = $2
             WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $3",
        )
        .bind(&user_id)
        .bind(now)
        .bind(&keep)
        .execute(&mut *self.transaction)
        .await?;
        sqlx::query(
            "DELETE FROM access_tokens WHERE login_id IN
                 (SELECT id FROM logins WHERE user_id = $1 AND id IS DISTINCT FROM $2)",
        )
        .bind(&user_id)
        .bind(&keep)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn insert_login(&mut self, login_id: Uuid, user_id: Uuid, now: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO logins (id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(login_id.to_string())
            .bind(user_id.to_string())
            .bind(now)
            .execute(&mut *self.transaction)
            .await?;
        Ok(())
    }

    async fn insert_tokens(&mut self, login_id: Uuid, tokens: &IssuedTokens) -> StoreResult<()> {
        let login_id = login_id.to_string();
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, login_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(&tokens.refresh_hash)
        .bind(&login_id)
        .bind(tokens.refresh_expires_at)
        .execute(&mut *self.transaction)
        .await?;
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, login_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(&tokens.access_hash)
        .bind(&login_id)
        .bind(tokens.access_expires_at)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn refresh_token(&mut self, refresh_hash: &str) -> StoreResult<Option<RefreshRow>> {
        // FOR UPDATE: two concurrent refreshes with one token are decided one after the other.
        let row = sqlx::query(
            "SELECT r.login_id, r.expires_at, r.rotated_at,
                    l.revoked_at IS NOT NULL OR u.disabled_at IS NOT NULL
             FROM refresh_tokens r JOIN logins l ON l.id = r.login_id JOIN users u ON u.id = l.user_id
             WHERE r.token_hash = $1 FOR UPDATE OF r, l",
        )
        .bind(refresh_hash)
        .fetch_optional(&mut *self.transaction)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(RefreshRow {
            login_id: uuid_at(&row, 0)?,
            expires_at: row.try_get(1)?,
            rotated_at: row.try_get(2)?,
            ended: row.try_get(3)?,
        }))
    }

    async fn spend_refresh_token(&mut self, refresh_hash: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1")
            .bind(refresh_hash)
            .bind(now)
            .execute(&mut *self.transaction)
            .await?;
        Ok(())
    }

    async fn end_login(&mut self, login_id: Uuid, now: i64) -> StoreResult<()> {
        let login_id = login_id.to_string();
        sqlx::query("UPDATE logins SET revoked_at = $2 WHERE id = $1")
            .bind(&login_id)
            .bind(now)
            .execute(&mut *self.transaction)
            .await?;
        sqlx::query("DELETE FROM access_tokens WHERE login_id = $1")
            .bind(&login_id)
            .execute(&mut *self.transaction)
            .await?;
        Ok(())
    }

    async fn user_of_login(&mut self, login_id: Uuid) -> StoreResult<User> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM logins l JOIN users u ON u.id = l.user_id
             JOIN teams t ON t.id = u.team_id WHERE l.id = $1"
        ))
        .bind(login_id.to_string())
        .fetch_one(&mut *self.transaction)
        .await?;
        user_from_row(&row)
    }
}

impl SyncRows for PgRows {
    async fn device(&mut self, device: Uuid, user: Uuid, now: i64) -> StoreResult<DeviceRow> {
        let device = device.to_string();
        sqlx::query(
            "INSERT INTO devices (device_id, user_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (device_id) DO NOTHING",
        )
        .bind(&device)
        .bind(user.to_string())
        .bind(now)
        .execute(&mut *self.transaction)
        .await?;
        // FOR UPDATE: one push per device at a time, so acknowledgement never races.
        let row = sqlx::query(
            "SELECT user_id, last_mutation_id, acked_event_seq FROM devices WHERE device_id = $1 FOR UPDATE",
        )
        .bind(&device)
        .fetch_one(&mut *self.transaction)
        .await?;
        Ok(DeviceRow {
            owner: uuid_at(&row, 0)?,
            last_mutation_id: row.try_get(1)?,
            acked_event_seq: row.try_get(2)?,
        })
    }

    async fn set_last_mutation(&mut self, device: Uuid, last_mutation_id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE devices SET last_mutation_id = $2 WHERE device_id = $1")
            .bind(device.to_string())
            .bind(last_mutation_id)
            .execute(&mut *self.transaction)
            .await?;
        Ok(())
    }

    async fn set_acked_event_seq(&mut self, device: Uuid, acked: i64) -> StoreResult<()> {
        sqlx::query("UPDATE devices SET acked_event_seq = $2 WHERE device_id = $1")
            .bind(device.to_string())
            .bind(acked)
            .execute(&mut *self.transaction)
            .await?;
        Ok(())
    }

    async fn mutation_digests(
        &mut self,
        device: Uuid,
        low: i64,
        high: i64,
    ) -> StoreResult<HashMap<i64, String>> {
        Ok(sqlx::query_as::<_, (i64, String)>(
            "SELECT mutation_id, digest FROM mutation_digests
             WHERE device_id = $1 AND mutation_id BETWEEN $2 AND $3",
        )
        .bind(device.to_string())
        .bind(low)
        .bind(high)
        .fetch_all(&mut *self.transaction)
        .await?
        .into_iter()
        .collect())
    }

    async fn insert_mutation_digest(
        &mut self,
        device: Uuid,
        mutation_id: i64,
        digest: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mutation_digests (device_id, mutation_id, digest) VALUES ($1, $2, $3)
             ON CONFLICT (device_id, mutation_id) DO NOTHING",
        )
        .bind(device.to_string())
        .bind(mutation_id)
        .bind(digest)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn reject_mutation(
        &mut self,
        device: Uuid,
        mutation_id: i64,
        reason: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO rejected_mutations (device_id, mutation_id, reason, rejected_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (device_id, mutation_id) DO NOTHING",
        )
        .bind(device.to_string())
        .bind(mutation_id)
        .bind(reason)
        .bind(now)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn rejections(
        &mut self,
        device: Uuid,
        low: i64,
        high: i64,
    ) -> StoreResult<Vec<rf_core::sync::Rejection>> {
        Ok(sqlx::query_as::<_, (i64, String)>(
            "SELECT mutation_id, reason FROM rejected_mutations
             WHERE device_id = $1 AND mutation_id BETWEEN $2 AND $3 ORDER BY mutation_id",
        )
        .bind(device.to_string())
        .bind(low)
        .bind(high)
        .fetch_all(&mut *self.transaction)
        .await?
        .into_iter()
        .map(|(mutation_id, reason)| rf_core::sync::Rejection {
            mutation_id,
            reason,
        })
        .collect())
    }

    async fn held_events(
        &mut self,
        device: Uuid,
        numbers: &[i64],
    ) -> StoreResult<HashMap<i64, rf_core::sync::HeldEvent>> {
        sqlx::query(
            "SELECT device_seq, session_id, session_seq, payload FROM session_events
             WHERE device_id = $1 AND device_seq = ANY($2)
             UNION ALL
             SELECT device_seq, session_id, NULL, payload FROM refused_events
             WHERE device_id = $1 AND device_seq = ANY($2)",
        )
        .bind(device.to_string())
        .bind(numbers)
        .fetch_all(&mut *self.transaction)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                rf_core::sync::HeldEvent {
                    session_id: uuid_at(row, 1)?,
                    session_seq: row.try_get(2)?,
                    payload: json_at(row, 3)?,
                },
            ))
        })
        .collect()
    }

    async fn held_numbers_after(&mut self, device: Uuid, after: i64) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT device_seq FROM session_events WHERE device_id = $1 AND device_seq > $2
             UNION SELECT device_seq FROM refused_events WHERE device_id = $1 AND device_seq > $2
             ORDER BY 1",
        )
        .bind(device.to_string())
        .bind(after)
        .fetch_all(&mut *self.transaction)
        .await?)
    }

    async fn session_rows(&mut self, sessions: &[Uuid]) -> StoreResult<HashMap<Uuid, SessionRow>> {
        let ids: Vec<String> = sessions.iter().map(Uuid::to_string).collect();
        // Held until the push commits: a hand-off and its receiver's first event, pushed at
        // once, are decided one after the other.
        sqlx::query(
            "SELECT session_id, team_id, user_id, handed_to, handoff_seq, handed_by, writer_device FROM sessions
             WHERE session_id = ANY($1) ORDER BY session_id FOR UPDATE",
        )
        .bind(&ids)
        .fetch_all(&mut *self.transaction)
        .await?
        .iter()
        .map(|row| {
            let handed_to: Option<String> = row.try_get(3)?;
            Ok((
                uuid_at(row, 0)?,
                SessionRow {
                    team: uuid_at(row, 1)?,
                    owner: uuid_at(row, 2)?,
                    handed_to: handed_to
                        .map(|text| Uuid::parse_str(&text))
                        .transpose()
                        .map_err(|error| {
                            StoreError::Internal(format!("a stored hand-off: {error}"))
                        })?,
                    handoff: match row.try_get::<Option<i64>, _>(4)? {
                        Some(at) => Some((at, uuid_at(row, 5)?)),
                        None => None,
                    },
                    writer_device: match row.try_get::<Option<String>, _>(6)? {
                        Some(_) => Some(uuid_at(row, 6)?),
                        None => None,
                    },
                },
            ))
        })
        .collect()
    }

    async fn set_session_row(
        &mut self,
        session: Uuid,
        row: SessionRow,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (session_id, team_id, user_id, created_at, handed_to,
                                   handoff_seq, handed_by, writer_device)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id,
                 handed_to = excluded.handed_to, handoff_seq = excluded.handoff_seq,
                 handed_by = excluded.handed_by, writer_device = excluded.writer_device",
        )
        .bind(session.to_string())
        .bind(row.team.to_string())
        .bind(row.owner.to_string())
        .bind(now)
        .bind(row.handed_to.map(|to| to.to_string()))
        .bind(row.handoff.map(|(at, _)| at))
        .bind(row.handoff.map(|(_, by)| by.to_string()))
        .bind(row.writer_device.map(|device| device.to_string()))
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn team_roles(&mut self, team: Uuid) -> StoreResult<HashMap<Uuid, (String, Role)>> {
        sqlx::query("SELECT id, email, role FROM users WHERE team_id = $1 AND disabled_at IS NULL")
            .bind(team.to_string())
            .fetch_all(&mut *self.transaction)
            .await?
            .iter()
            .map(|row| {
                let role: String = row.try_get(2)?;
                let role = Role::parse(&role)
                    .ok_or_else(|| StoreError::Internal(format!("a stored role {role:?}")))?;
                Ok((uuid_at(row, 0)?, (row.try_get(1)?, role)))
            })
            .collect()
    }

    async fn insert_events(
        &mut self,
        device: Uuid,
        team: Uuid,
        first_team_seq: i64,
        events: &[&rf_core::sync::PushedEvent],
        now: i64,
    ) -> StoreResult<()> {
        let device_seqs: Vec<i64> = events.iter().map(|event| event.device_seq).collect();
        let session_ids: Vec<String> = events
            .iter()
            .map(|event| event.session_id.to_string())
            .collect();
        let session_seqs: Vec<i64> = events.iter().map(|event| event.session_seq).collect();
        let team_seqs: Vec<i64> = (first_team_seq..).take(events.len()).collect();
        let payloads: Vec<String> = events
            .iter()
            .map(|event| event.payload.to_string())
            .collect();
        sqlx::query(
            "INSERT INTO session_events (device_id, device_seq, session_id, session_seq, team_id, team_seq,
                                         payload, received_at)
             SELECT $1, device_seq, session_id, session_seq, $2, team_seq, payload, $3
             FROM UNNEST($4::bigint[], $5::text[], $6::bigint[], $7::bigint[], $8::text[])
                  AS batch (device_seq, session_id, session_seq, team_seq, payload)",
        )
        .bind(device.to_string())
        .bind(team.to_string())
        .bind(now)
        .bind(&device_seqs)
        .bind(&session_ids)
        .bind(&session_seqs)
        .bind(&team_seqs)
        .bind(&payloads)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn insert_refused_events(
        &mut self,
        device: Uuid,
        team: Uuid,
        refused: &[&(rf_core::sync::PushedEvent, String)],
        now: i64,
    ) -> StoreResult<()> {
        let seqs: Vec<i64> = refused.iter().map(|(event, _)| event.device_seq).collect();
        let sessions: Vec<String> = refused
            .iter()
            .map(|(event, _)| event.session_id.to_string())
            .collect();
        let reasons: Vec<&str> = refused.iter().map(|(_, reason)| reason.as_str()).collect();
        let payloads: Vec<String> = refused
            .iter()
            .map(|(event, _)| event.payload.to_string())
            .collect();
        sqlx::query(
            "INSERT INTO refused_events (device_id, device_seq, session_id, team_id, reason, payload, refused_at)
             SELECT $1, device_seq, session_id, $2, reason, payload, $3
             FROM UNNEST($4::bigint[], $5::text[], $6::text[], $7::text[])
                  AS batch (device_seq, session_id, reason, payload)
             WHERE NOT EXISTS (SELECT 1 FROM session_events e
                               WHERE e.device_id = $1 AND e.device_seq = batch.device_seq)
             ON CONFLICT (device_id, device_seq) DO NOTHING",
        )
        .bind(device.to_string())
        .bind(team.to_string())
        .bind(now)
        .bind(&seqs)
        .bind(&sessions)
        .bind(&reasons)
        .bind(&payloads)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn refused_events(
        &mut self,
        device: Uuid,
        low: i64,
        high: i64,
    ) -> StoreResult<Vec<rf_core::sync::RefusedEvent>> {
        sqlx::query(
            "SELECT device_seq, session_id, reason FROM refused_events
             WHERE device_id = $1 AND device_seq BETWEEN $2 AND $3 ORDER BY device_seq",
        )
        .bind(device.to_string())
        .bind(low)
        .bind(high)
        .fetch_all(&mut *self.transaction)
        .await?
        .iter()
        .map(|row| {
            Ok(rf_core::sync::RefusedEvent {
                device_seq: row.try_get(0)?,
                session_id: uuid_at(row, 1)?,
                reason: row.try_get(2)?,
            })
        })
        .collect()
    }

    async fn lock_team(&mut self, team: Uuid) -> StoreResult<()> {
        lock_team(&mut self.transaction, &team.to_string()).await
    }

    async fn take_team_seqs(&mut self, team: Uuid, count: i64) -> StoreResult<i64> {
        // The sequence row stays locked until commit, so numbers become visible in order.
        Ok(sqlx::query_scalar(
            "INSERT INTO team_sequences (team_id, seq) VALUES ($1, $2)
             ON CONFLICT (team_id) DO UPDATE SET seq = team_sequences.seq + $2 RETURNING seq",
        )
        .bind(team.to_string())
        .bind(count)
        .fetch_one(&mut *self.transaction)
        .await?)
    }

    async fn version_exists(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
        version: VersionId,
    ) -> StoreResult<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM flow_versions WHERE team_id = $1 AND flow_id = $2 AND version_id = $3)",
        )
        .bind(team.to_string())
        .bind(flow_id.to_string())
        .bind(version.to_string())
        .fetch_one(&mut *self.transaction)
        .await?)
    }

    async fn insert_version(
        &mut self,
        team: Uuid,
        document: &CheckedDocument,
        created_by: Uuid,
        now: i64,
        team_seq: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO flow_versions (team_id, flow_id, version_id, number, document, created_by, created_at, team_seq)
             VALUES ($1, $2, $3,
                     (SELECT COALESCE(MAX(number), 0) + 1 FROM flow_versions WHERE team_id = $1 AND flow_id = $2),
                     $4, $5, $6, $7)",
        )
        .bind(team.to_string())
        .bind(document.flow_id.to_string())
        .bind(document.version.to_string())
        .bind(&document.text)
        .bind(created_by.to_string())
        .bind(now)
        .bind(team_seq)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn head(&mut self, team: Uuid, flow_id: Uuid) -> StoreResult<Option<Head>> {
        // FOR UPDATE: concurrent pushes to one flow decide against the same head one at a time.
        let row = sqlx::query(
            "SELECT f.head_version, v.document, f.author_id FROM flows f
             JOIN flow_versions v ON v.team_id = f.team_id AND v.flow_id = f.flow_id AND v.version_id = f.head_version
             WHERE f.team_id = $1 AND f.flow_id = $2 FOR UPDATE OF f",
        )
        .bind(team.to_string())
        .bind(flow_id.to_string())
        .fetch_optional(&mut *self.transaction)
        .await?;
        row.map(|row| {
            Ok(Head {
                version: version_at(&row, 0)?,
                document: json_at(&row, 1)?,
                author_id: uuid_at(&row, 2)?,
            })
        })
        .transpose()
    }

    async fn pulled_head(&mut self, team: Uuid, flow_id: Uuid) -> StoreResult<Option<PulledFlow>> {
        let row = sqlx::query(
            "SELECT head_version, author_id, team_seq FROM flows WHERE team_id = $1 AND flow_id = $2",
        )
        .bind(team.to_string())
        .bind(flow_id.to_string())
        .fetch_optional(&mut *self.transaction)
        .await?;
        row.map(|row| {
            Ok(PulledFlow {
                flow_id,
                head: version_at(&row, 0)?,
                author_id: uuid_at(&row, 1)?,
                team_seq: row.try_get(2)?,
            })
        })
        .transpose()
    }

    async fn document(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
        version: VersionId,
    ) -> StoreResult<Option<serde_json::Value>> {
        let row = sqlx::query(
            "SELECT document FROM flow_versions WHERE team_id = $1 AND flow_id = $2 AND version_id = $3",
        )
        .bind(team.to_string())
        .bind(flow_id.to_string())
        .bind(version.to_string())
        .fetch_optional(&mut *self.transaction)
        .await?;
        row.map(|row| json_at(&row, 0)).transpose()
    }

    async fn set_head(
        &mut self,
        team: Uuid,
        flow_id: Uuid,
        version: VersionId,
        author: Uuid,
        now: i64,
        team_seq: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO flows (team_id, flow_id, head_version, author_id, updated_at, team_seq)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (team_id, flow_id) DO UPDATE SET head_version = excluded.head_version,
                 updated_at = excluded.updated_at, team_seq = excluded.team_seq",
        )
        .bind(team.to_string())
        .bind(flow_id.to_string())
        .bind(version.to_string())
        .bind(author.to_string())
        .bind(now)
        .bind(team_seq)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn insert_conflict(&mut self, conflict: NewConflict<'_>) -> StoreResult<()> {
        let field = conflict.conflict;
        let json = |value: Option<&serde_json::Value>| value.map(serde_json::Value::to_string);
        sqlx::query(
            "INSERT INTO flow_conflicts (id, team_id, flow_id, path, base, kept, other,
                 kept_version, other_version, raised_by, created_at, team_seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(conflict.id.to_string())
        .bind(conflict.team.to_string())
        .bind(conflict.flow_id.to_string())
        .bind(&field.path)
        .bind(json(field.base.as_ref()))
        .bind(json(field.kept.as_ref()))
        .bind(json(field.other.as_ref()))
        .bind(conflict.kept_version.to_string())
        .bind(conflict.other_version.to_string())
        .bind(conflict.raised_by.to_string())
        .bind(conflict.now)
        .bind(conflict.team_seq)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn conflict(
        &mut self,
        team: Uuid,
        conflict_id: Uuid,
    ) -> StoreResult<Option<ConflictRow>> {
        let row = sqlx::query(
            "SELECT c.raised_by, COALESCE(f.author_id, ''), c.resolution FROM flow_conflicts c
             LEFT JOIN flows f ON f.team_id = c.team_id AND f.flow_id = c.flow_id
             WHERE c.id = $1 AND c.team_id = $2 FOR UPDATE OF c",
        )
        .bind(conflict_id.to_string())
        .bind(team.to_string())
        .fetch_optional(&mut *self.transaction)
        .await?;
        row.map(|row| {
            Ok(ConflictRow {
                raised_by: row.try_get(0)?,
                author: row.try_get(1)?,
                resolution: row.try_get(2)?,
            })
        })
        .transpose()
    }

    async fn resolve_conflict(
        &mut self,
        conflict_id: Uuid,
        keep: rf_core::sync::Keep,
        by: Uuid,
        now: i64,
        team_seq: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE flow_conflicts SET resolution = $2, resolved_by = $3, resolved_at = $4, team_seq = $5
             WHERE id = $1",
        )
        .bind(conflict_id.to_string())
        .bind(keep.as_str())
        .bind(by.to_string())
        .bind(now)
        .bind(team_seq)
        .execute(&mut *self.transaction)
        .await?;
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
        sqlx::query(
            "INSERT INTO user_pins (user_id, flow_id, team_id, pinned, team_seq)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, flow_id) DO UPDATE SET pinned = excluded.pinned, team_seq = excluded.team_seq",
        )
        .bind(user.to_string())
        .bind(flow_id.to_string())
        .bind(team.to_string())
        .bind(pinned)
        .bind(team_seq)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn record(
        &mut self,
        team: Uuid,
        kind: RecordKind,
        id: Uuid,
    ) -> StoreResult<Option<Option<String>>> {
        Ok(sqlx::query_scalar(
            "SELECT body FROM team_records WHERE team_id = $1 AND kind = $2 AND record_id = $3 FOR UPDATE",
        )
        .bind(team.to_string())
        .bind(kind.as_str())
        .bind(id.to_string())
        .fetch_optional(&mut *self.transaction)
        .await?)
    }

    async fn put_record(&mut self, record: RecordWrite<'_>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO team_records (team_id, kind, record_id, body, author_id, updated_at, team_seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (team_id, kind, record_id) DO UPDATE SET body = excluded.body,
                 author_id = excluded.author_id, updated_at = excluded.updated_at,
                 team_seq = excluded.team_seq",
        )
        .bind(record.team.to_string())
        .bind(record.kind.as_str())
        .bind(record.id.to_string())
        .bind(record.body)
        .bind(record.author.to_string())
        .bind(record.now)
        .bind(record.team_seq)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    async fn announce(&mut self, team: Uuid, latest: i64) -> StoreResult<()> {
        // Delivered at commit to every server process listening (PostgresStore::listen).
        sqlx::query("SELECT pg_notify('rf_sync', $1)")
            .bind(format!("{team} {latest}"))
            .execute(&mut *self.transaction)
            .await?;
        Ok(())
    }
}

impl PullRows for PgRows {
    async fn team_latest(&mut self, team: Uuid) -> StoreResult<i64> {
        team_latest(&mut self.transaction, &team.to_string()).await
    }

    async fn epoch(&mut self) -> StoreResult<String> {
        Ok(sqlx::query_scalar("SELECT epoch FROM store_epoch")
            .fetch_one(&mut *self.transaction)
            .await?)
    }

    async fn change_sizes(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<(i64, i64)>> {
        let sizes: Vec<(i64, Option<i32>)> = sqlx::query_as(page_sizes_sql!("$1", "$2", "$3"))
            .bind(team.to_string())
            .bind(since)
            .bind(until)
            .fetch_all(&mut *self.transaction)
            .await?;
        Ok(sizes
            .into_iter()
            .map(|(seq, bytes)| (seq, i64::from(bytes.unwrap_or(0))))
            .collect())
    }

    async fn versions(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<PulledVersion>> {
        sqlx::query(
            "SELECT flow_id, version_id, number, document, team_seq FROM flow_versions
             WHERE team_id = $1 AND team_seq > $2 AND team_seq <= $3 ORDER BY team_seq",
        )
        .bind(team.to_string())
        .bind(since)
        .bind(until)
        .fetch_all(&mut *self.transaction)
        .await?
        .iter()
        .map(|row| {
            Ok(PulledVersion {
                flow_id: uuid_at(row, 0)?,
                version: version_at(row, 1)?,
                number: row.try_get(2)?,
                document: json_at(row, 3)?,
                team_seq: row.try_get(4)?,
            })
        })
        .collect()
    }

    async fn heads(&mut self, team: Uuid, since: i64, until: i64) -> StoreResult<Vec<PulledFlow>> {
        sqlx::query(
            "SELECT flow_id, head_version, author_id, team_seq FROM flows
             WHERE team_id = $1 AND team_seq > $2 AND team_seq <= $3 ORDER BY team_seq",
        )
        .bind(team.to_string())
        .bind(since)
        .bind(until)
        .fetch_all(&mut *self.transaction)
        .await?
        .iter()
        .map(|row| {
            Ok(PulledFlow {
                flow_id: uuid_at(row, 0)?,
                head: version_at(row, 1)?,
                author_id: uuid_at(row, 2)?,
                team_seq: row.try_get(3)?,
            })
        })
        .collect()
    }

    async fn events(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<PulledEvent>> {
        sqlx::query(
            "SELECT device_id, device_seq, session_id, session_seq, payload, team_seq FROM session_events
             WHERE team_id = $1 AND team_seq > $2 AND team_seq <= $3 ORDER BY team_seq",
        )
        .bind(team.to_string())
        .bind(since)
        .bind(until)
        .fetch_all(&mut *self.transaction)
        .await?
        .iter()
        .map(|row| {
            Ok(PulledEvent {
                device_id: uuid_at(row, 0)?,
                device_seq: row.try_get(1)?,
                session_id: uuid_at(row, 2)?,
                session_seq: row.try_get(3)?,
                payload: json_at(row, 4)?,
                team_seq: row.try_get(5)?,
            })
        })
        .collect()
    }

    async fn conflicts(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<PulledConflict>> {
        sqlx::query(
            "SELECT c.id, c.flow_id, c.path, c.base, c.kept, c.other, c.kept_version, c.other_version,
                    u.email, c.created_at, c.resolution, c.team_seq
             FROM flow_conflicts c JOIN users u ON u.id = c.raised_by
             WHERE c.team_id = $1 AND c.team_seq > $2 AND c.team_seq <= $3 ORDER BY c.team_seq",
        )
        .bind(team.to_string())
        .bind(since)
        .bind(until)
        .fetch_all(&mut *self.transaction)
        .await?
        .iter()
        .map(|row| {
            let optional = |index: usize| -> StoreResult<Option<serde_json::Value>> {
                match row.try_get::<Option<String>, _>(index)? {
                    Some(_) => json_at(row, index).map(Some),
                    None => Ok(None),
                }
            };
            let resolution: Option<String> = row.try_get(10)?;
            Ok(PulledConflict {
                id: uuid_at(row, 0)?,
                flow_id: uuid_at(row, 1)?,
                conflict: FieldConflict {
                    path: row.try_get(2)?,
                    base: optional(3)?,
                    kept: optional(4)?,
                    other: optional(5)?,
                },
                kept_version: version_at(row, 6)?,
                other_version: version_at(row, 7)?,
                raised_by: row.try_get(8)?,
                created_at: row.try_get(9)?,
                resolution: resolution.as_deref().and_then(rf_core::sync::Keep::parse),
                team_seq: row.try_get(11)?,
            })
        })
        .collect()
    }

    async fn pins(
        &mut self,
        team: Uuid,
        user: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<rf_core::sync::PulledPin>> {
        sqlx::query(
            "SELECT flow_id, pinned, team_seq FROM user_pins
             WHERE team_id = $1 AND team_seq > $2 AND team_seq <= $3 AND user_id = $4 ORDER BY team_seq",
        )
        .bind(team.to_string())
        .bind(since)
        .bind(until)
        .bind(user.to_string())
        .fetch_all(&mut *self.transaction)
        .await?
        .iter()
        .map(|row| {
            Ok(rf_core::sync::PulledPin {
                flow_id: uuid_at(row, 0)?,
                pinned: row.try_get(1)?,
                team_seq: row.try_get(2)?,
            })
        })
        .collect()
    }

    async fn records(
        &mut self,
        team: Uuid,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<rf_core::sync::PulledRecord>> {
        sqlx::query(
            "SELECT kind, record_id, body, author_id, team_seq FROM team_records
             WHERE team_id = $1 AND team_seq > $2 AND team_seq <= $3 ORDER BY team_seq",
        )
        .bind(team.to_string())
        .bind(since)
        .bind(until)
        .fetch_all(&mut *self.transaction)
        .await?
        .iter()
        .map(|row| {
            let kind: String = row.try_get(0)?;
            let body: Option<String> = row.try_get(2)?;
            pulled_record(
                &kind,
                uuid_at(row, 1)?,
                body.as_deref(),
                uuid_at(row, 3)?,
                row.try_get(4)?,
            )
        })
        .collect()
    }
}

impl Store for PostgresStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut rows = PgRows::begin(&self.pool).await?;
        let result = accounts::create_user(&mut rows, &user, now).await;
        rows.end(result).await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u JOIN teams t ON t.id = u.team_id
             WHERE u.disabled_at IS NULL ORDER BY t.name, u.email"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn credentials(&self, email: String) -> StoreResult<Option<(User, String)>> {
        // PostgreSQL text cannot hold NUL, so no account has such an e-mail; asking would be
        // an encoding error, which a login must not turn into a 500.
        if email.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ", u.password_hash FROM users u JOIN teams t ON t.id = u.team_id
             WHERE u.email = $1 AND u.disabled_at IS NULL"
        ))
        .bind(&email)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some((user_from_row(&row)?, row.try_get(5)?))),
            None => Ok(None),
        }
    }

    async fn update_user(
        &self,
        actor: Actor,
        id: Uuid,
        update: UserUpdate,
        now: i64,
    ) -> StoreResult<User> {
        let mut rows = PgRows::begin(&self.pool).await?;
        let result = accounts::update_user(&mut rows, &actor, id, &update, now).await;
        rows.end(result).await
    }

    async fn remove_user(&self, actor: Actor, id: Uuid, now: i64) -> StoreResult<()> {
        let mut rows = PgRows::begin(&self.pool).await?;
        let result = accounts::remove_user(&mut rows, &actor, id, now).await;
        rows.end(result).await
    }

    async fn create_login(
        &self,
        user_id: Uuid,
        password_hash: String,
        tokens: IssuedTokens,
        now: i64,
    ) -> StoreResult<bool> {
        let mut rows = PgRows::begin(&self.pool).await?;
        let result = accounts::create_login(&mut rows, user_id, &password_hash, &tokens, now).await;
        rows.end(result).await
    }

    async fn rotate_refresh(
        &self,
        presented_hash: String,
        next: IssuedTokens,
        now: i64,
    ) -> StoreResult<Rotation> {
        let mut rows = PgRows::begin(&self.pool).await?;
        let result = accounts::rotate_refresh(&mut rows, &presented_hash, &next, now).await;
        rows.end(result).await
    }

    async fn authenticate(&self, access_hash: String, now: i64) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM access_tokens a JOIN logins l ON l.id = a.login_id
             JOIN users u ON u.id = l.user_id JOIN teams t ON t.id = u.team_id
             WHERE a.token_hash = $1 AND a.expires_at > $2 AND l.revoked_at IS NULL
               AND u.disabled_at IS NULL"
        ))
        .bind(&access_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn push(&self, user: User, batch: PushBatch, now: i64) -> StoreResult<PushSettled> {
        let mut rows = PgRows::begin(&self.pool).await?;
        let result = push::push(&mut rows, &user, batch, now).await;
        rows.end(result).await
    }

    async fn epoch(&self) -> StoreResult<String> {
        Ok(sqlx::query_scalar("SELECT epoch FROM store_epoch")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn new_epoch(&self, now: i64) -> StoreResult<String> {
        let epoch = crate::storage::fresh_epoch();
        sqlx::query("UPDATE store_epoch SET epoch = $1, began_at = $2")
            .bind(&epoch)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(epoch)
    }

    async fn team_latest(&self, team: Uuid) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM team_sequences WHERE team_id = $1")
                .bind(team.to_string())
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    fn forward_pokes(&self, pokes: crate::storage::poke::Pokes) {
        self.listen(pokes);
    }

    async fn psa_connection(&self, team: Uuid) -> StoreResult<Option<StoredPsaConnection>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            psa_columns!(),
            " FROM psa_connections WHERE team_id = $1"
        ))
        .bind(team.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(psa_from_row).transpose()
    }

    async fn put_psa_connection(&self, stored: StoredPsaConnection) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO psa_connections (",
            psa_columns!(),
            ")
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (team_id) DO UPDATE SET api_url = excluded.api_url,
               company_id = excluded.company_id, client_id = excluded.client_id,
               key_id = excluded.key_id, nonce = excluded.nonce,
               ciphertext = excluded.ciphertext, public_key_hint = excluded.public_key_hint,
               updated_at = excluded.updated_at, updated_by = excluded.updated_by"
        ))
        .bind(stored.team_id.to_string())
        .bind(stored.api_url)
        .bind(stored.company_id)
        .bind(stored.client_id)
        .bind(stored.sealed_keys.key_id)
        .bind(stored.sealed_keys.nonce)
        .bind(stored.sealed_keys.ciphertext)
        .bind(stored.public_key_hint)
        .bind(stored.updated_at)
        .bind(stored.updated_by.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_psa_connection(&self, team: Uuid) -> StoreResult<bool> {
        Ok(
            sqlx::query("DELETE FROM psa_connections WHERE team_id = $1")
                .bind(team.to_string())
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    async fn psa_connections(&self) -> StoreResult<Vec<StoredPsaConnection>> {
        sqlx::query(concat!(
            "SELECT ",
            psa_columns!(),
            " FROM psa_connections ORDER BY team_id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(psa_from_row)
        .collect()
    }

    async fn reseal_psa_connection(
        &self,
        team: Uuid,
        was: Sealed,
        now: Sealed,
    ) -> StoreResult<bool> {
        Ok(sqlx::query(
            "UPDATE psa_connections SET key_id = $1, nonce = $2, ciphertext = $3
             WHERE team_id = $4 AND key_id = $5 AND nonce = $6",
        )
        .bind(now.key_id)
        .bind(now.nonce)
        .bind(now.ciphertext)
        .bind(team.to_string())
        .bind(was.key_id)
        .bind(was.nonce)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    async fn claim_psa_post(&self, claim: PostClaim) -> StoreResult<Claimed> {
        let mut rows = PgRows::begin(&self.pool).await?;
        let result = crate::storage::psa::claim_post(&mut rows, &claim).await;
        rows.end(result).await
    }

    async fn settle_psa_post(&self, team: Uuid, key: Uuid, settle: PostSettle) -> StoreResult<()> {
        sqlx::query(
            "UPDATE psa_posts SET state = $3, note_id = $4, posted_at = $5, status_done = $6,
               error = $7, lease_until = 0, updated_at = $8, time_done = $9, time_entry_id = $10
             WHERE team_id = $1 AND post_key = $2",
        )
        .bind(team.to_string())
        .bind(key.to_string())
        .bind(settle.state.as_str())
        .bind(settle.note_id)
        .bind(settle.posted_at)
        .bind(i64::from(settle.status_done))
        .bind(settle.error)
        .bind(settle.now)
        .bind(i64::from(settle.time_done))
        .bind(settle.time_entry_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_ai_usage(
        &self,
        team: Uuid,
        month: String,
        usage: rf_core::ai::PilotUsage,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ai_usage (team_id, month, requests, input_tokens, output_tokens,
               cache_creation_tokens, cache_read_tokens)
             VALUES ($1, $2, 1, $3, $4, $5, $6)
             ON CONFLICT (team_id, month) DO UPDATE SET requests = ai_usage.requests + 1,
               input_tokens = ai_usage.input_tokens + excluded.input_tokens,
               output_tokens = ai_usage.output_tokens + excluded.output_tokens,
               cache_creation_tokens = ai_usage.cache_creation_tokens + excluded.cache_creation_tokens,
               cache_read_tokens = ai_usage.cache_read_tokens + excluded.cache_read_tokens",
        )
        .bind(team.to_string())
        .bind(month)
        .bind(usage.input_tokens)
        .bind(usage.output_tokens)
        .bind(usage.cache_creation_input_tokens)
        .bind(usage.cache_read_input_tokens)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn ai_usage(
        &self,
        team: Uuid,
        month: String,
    ) -> StoreResult<(i64, rf_core::ai::PilotUsage)> {
        let row: Option<(i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT requests, input_tokens, output_tokens, cache_creation_tokens,
               cache_read_tokens
             FROM ai_usage WHERE team_id = $1 AND month = $2",
        )
        .bind(team.to_string())
        .bind(month)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|(requests, input, output, creation, read)| {
                (
                    requests,
                    rf_core::ai::PilotUsage {
                        input_tokens: input,
                        output_tokens: output,
                        cache_creation_input_tokens: creation,
                        cache_read_input_tokens: read,
                    },
                )
            })
            .unwrap_or_default())
    }

    async fn set_ai_cap(
        &self,
        team: Uuid,
        cap: Option<i64>,
        by: Uuid,
        now: i64,
    ) -> StoreResult<()> {
        match cap {
            Some(cap) => {
                sqlx::query(
                    "INSERT INTO ai_caps (team_id, monthly_tokens, updated_at, updated_by)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (team_id) DO UPDATE SET monthly_tokens = excluded.monthly_tokens,
                       updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(team.to_string())
                .bind(cap)
                .bind(now)
                .bind(by.to_string())
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM ai_caps WHERE team_id = $1")
                    .bind(team.to_string())
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    async fn ai_cap(&self, team: Uuid) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT monthly_tokens FROM ai_caps WHERE team_id = $1")
                .bind(team.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn member_overrides(&self, team: Uuid) -> StoreResult<Vec<(Uuid, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT user_id, member_identifier FROM psa_member_overrides
             WHERE team_id = $1 ORDER BY user_id",
        )
        .bind(team.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(user, member)| {
                Uuid::parse_str(&user)
                    .map(|user| (user, member))
                    .map_err(|error| StoreError::Internal(error.to_string()))
            })
            .collect()
    }

    async fn set_member_override(
        &self,
        team: Uuid,
        user: Uuid,
        member: Option<String>,
        by: Uuid,
        now: i64,
    ) -> StoreResult<()> {
        match member {
            Some(member) => {
                sqlx::query(
                    "INSERT INTO psa_member_overrides (team_id, user_id, member_identifier,
                       updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (team_id, user_id) DO UPDATE SET
                       member_identifier = excluded.member_identifier,
                       updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(team.to_string())
                .bind(user.to_string())
                .bind(member)
                .bind(now)
                .bind(by.to_string())
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM psa_member_overrides WHERE team_id = $1 AND user_id = $2")
                    .bind(team.to_string())
                    .bind(user.to_string())
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    async fn psa_post(&self, team: Uuid, key: Uuid) -> StoreResult<Option<PostRow>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            post_columns!(),
            " FROM psa_posts WHERE team_id = $1 AND post_key = $2"
        ))
        .bind(team.to_string())
        .bind(key.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(post_from_row).transpose()
    }

    async fn pull(&self, user: User, since: i64, limit: i64) -> StoreResult<PullResponse> {
        let mut rows = PgRows::begin(&self.pool).await?;
        // One snapshot for every table. A writer holds its team's sequence row until commit,
        // so every number up to the `latest` read here is committed and visible.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *rows.transaction)
            .await?;
        let result = pull::pull(&mut rows, &user, since, limit).await;
        rows.end(result).await
    }
}

type Tx<'a> = Transaction<'a, Postgres>;

/// Holds the team's sequence row until commit: the team's writers take turns from here on.
async fn lock_team(transaction: &mut Tx<'_>, team: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO team_sequences (team_id, seq) VALUES ($1, 0) ON CONFLICT (team_id) DO NOTHING",
    )
    .bind(team)
    .execute(&mut **transaction)
    .await?;
    sqlx::query("SELECT seq FROM team_sequences WHERE team_id = $1 FOR UPDATE")
        .bind(team)
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

/// The team's latest sequence number (0 before its first change).
async fn team_latest(transaction: &mut Tx<'_>, team: &str) -> StoreResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT seq FROM team_sequences WHERE team_id = $1")
            .bind(team)
            .fetch_optional(&mut **transaction)
            .await?
            .unwrap_or(0),
    )
}

impl PostgresStore {
    /// Forwards `NOTIFY rf_sync` from every server process on this database to `pokes`, so
    /// replicas connected to one process hear of writes made through another. Reconnects
    /// after a dropped connection (a missed poke only delays a pull until the next one).
    pub fn listen(&self, pokes: crate::storage::poke::Pokes) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if let Err(error) = listener.listen("rf_sync").await {
                            tracing::warn!(%error, "cannot listen for pokes");
                        } else {
                            while let Ok(notification) = listener.recv().await {
                                let mut parts = notification.payload().split(' ');
                                if let (Some(Ok(team)), Some(Ok(latest))) = (
                                    parts.next().map(Uuid::parse_str),
                                    parts.next().map(str::parse::<i64>),
                                ) {
                                    pokes.send(crate::storage::poke::Poke { team, latest });
                                }
                            }
                        }
                    }
                    Err(error) => tracing::warn!(%error, "cannot connect to listen for pokes"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
    }
}

fn uuid_at(row: &sqlx::postgres::PgRow, index: usize) -> StoreResult<Uuid> {
    let text: String = row.try_get(index)?;
    Uuid::parse_str(&text)
        .map_err(|error| StoreError::Internal(format!("stored id {text:?}: {error}")))
}

fn version_at(row: &sqlx::postgres::PgRow, index: usize) -> StoreResult<VersionId> {
    let text: String = row.try_get(index)?;
    text.parse()
        .map_err(|error| StoreError::Internal(format!("stored version id: {error}")))
}

fn json_at(row: &sqlx::postgres::PgRow, index: usize) -> StoreResult<serde_json::Value> {
    let text: String = row.try_get(index)?;
    serde_json::from_str(&text)
        .map_err(|error| StoreError::Internal(format!("stored JSON: {error}")))
}

fn post_from_row(row: &sqlx::postgres::PgRow) -> StoreResult<PostRow> {
    let uuid = |index: usize| -> StoreResult<Uuid> {
        let text: String = row.try_get(index)?;
        Uuid::parse_str(&text)
            .map_err(|error| StoreError::Internal(format!("a stored id is not a UUID: {error}")))
    };
    let state: String = row.try_get(5)?;
    Ok(PostRow {
        team_id: uuid(0)?,
        key: uuid(1)?,
        requested_by: uuid(2)?,
        ticket_id: row.try_get(3)?,
        digest: row.try_get(4)?,
        state: PostState::parse(&state)
            .ok_or_else(|| StoreError::Internal(format!("unknown post state {state:?}")))?,
        lease_until: row.try_get(6)?,
        attempts: row.try_get(7)?,
        note_id: row.try_get(8)?,
        posted_at: row.try_get(9)?,
        status_done: row.try_get::<i64, _>(10)? != 0,
        error: row.try_get(11)?,
        updated_at: row.try_get(12)?,
        time_done: row.try_get::<i64, _>(13)? != 0,
        time_entry_id: row.try_get(14)?,
    })
}

fn psa_from_row(row: &sqlx::postgres::PgRow) -> StoreResult<StoredPsaConnection> {
    let uuid = |index: usize| -> StoreResult<Uuid> {
        let text: String = row.try_get(index)?;
        Uuid::parse_str(&text)
            .map_err(|error| StoreError::Internal(format!("a stored id is not a UUID: {error}")))
    };
    Ok(StoredPsaConnection {
        team_id: uuid(0)?,
        api_url: row.try_get(1)?,
        company_id: row.try_get(2)?,
        client_id: row.try_get(3)?,
        sealed_keys: Sealed {
            key_id: row.try_get(4)?,
            nonce: row.try_get(5)?,
            ciphertext: row.try_get(6)?,
        },
        public_key_hint: row.try_get(7)?,
        updated_at: row.try_get(8)?,
        updated_by: uuid(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_list_matches_its_folder() {
        let folder =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/server-postgres");
        rf_sqlite::check_listing(POSTGRES_MIGRATIONS, &folder).unwrap();
    }
}
