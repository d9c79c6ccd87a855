//! The PostgreSQL back end (`--database-url postgres://…`): the same [`Store`] contract as the
//! SQLite one, for teams that run several server replicas on one database.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::store::{IssuedTokens, NewUser, PushSettled, Role, Rotation, Store, User};

/// Every migration of the PostgreSQL back end, in order (checked against the folder by a test).
pub const POSTGRES_MIGRATIONS: &[rf_sqlite::Migration] = &[
    rf_sqlite::Migration {
        version: 1,
        name: "0001_accounts.sql",
        sql: include_str!("../../migrations/server-postgres/0001_accounts.sql"),
    },
    rf_sqlite::Migration {
        version: 2,
        name: "0002_session_events.sql",
        sql: include_str!("../../migrations/server-postgres/0002_session_events.sql"),
    },
];

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
        let supported = rf_sqlite::latest_version(POSTGRES_MIGRATIONS);
        if found > supported {
            return Err(rf_sqlite::SchemaTooNew { found, supported }.into());
        }
        for migration in POSTGRES_MIGRATIONS
            .iter()
            .filter(|migration| migration.version > found)
        {
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

async fn insert_tokens(
    transaction: &mut Transaction<'_, Postgres>,
    login_id: &str,
    tokens: &IssuedTokens,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, login_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(&tokens.refresh_hash)
    .bind(login_id)
    .bind(tokens.refresh_expires_at)
    .execute(&mut **transaction)
    .await?;
    sqlx::query("INSERT INTO access_tokens (token_hash, login_id, expires_at) VALUES ($1, $2, $3)")
        .bind(&tokens.access_hash)
        .bind(login_id)
        .bind(tokens.access_expires_at)
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

async fn event_stored(
    transaction: &mut Transaction<'_, Postgres>,
    device: &str,
    seq: i64,
) -> StoreResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM session_events WHERE device_id = $1 AND device_seq = $2)",
    )
    .bind(device)
    .bind(seq)
    .fetch_one(&mut **transaction)
    .await?)
}

impl Store for PostgresStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let mut transaction = self.pool.begin().await?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        sqlx::query("INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(Uuid::new_v4().to_string())
            .bind(&user.team)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        let team_id: String = sqlx::query_scalar("SELECT id FROM teams WHERE name = $1")
            .bind(&user.team)
            .fetch_one(&mut *transaction)
            .await?;
        let id = Uuid::new_v4().to_string();
        let inserted = sqlx::query(
            "INSERT INTO users (id, team_id, email, role, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&id)
        .bind(&team_id)
        .bind(&user.email)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(now)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "a user with the e-mail {} already exists",
                user.email
            )));
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u JOIN teams t ON t.id = u.team_id WHERE u.id = $1"
        ))
        .bind(&id)
        .fetch_one(&mut *transaction)
        .await?;
        let created = user_from_row(&row)?;
        transaction.commit().await?;
        Ok(created)
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u JOIN teams t ON t.id = u.team_id ORDER BY t.name, u.email"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn credentials(&self, email: String) -> StoreResult<Option<(User, String)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ", u.password_hash FROM users u JOIN teams t ON t.id = u.team_id WHERE u.email = $1"
        ))
        .bind(&email)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some((user_from_row(&row)?, row.try_get(5)?))),
            None => Ok(None),
        }
    }

    async fn create_login(&self, user_id: Uuid, tokens: IssuedTokens, now: i64) -> StoreResult<()> {
        let mut transaction = self.pool.begin().await?;
        let login_id = Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO logins (id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(&login_id)
            .bind(user_id.to_string())
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        insert_tokens(&mut transaction, &login_id, &tokens).await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        presented_hash: String,
        next: IssuedTokens,
        now: i64,
    ) -> StoreResult<Rotation> {
        let mut transaction = self.pool.begin().await?;
        // FOR UPDATE: two concurrent refreshes with one token are decided one after the other.
        let found = sqlx::query(
            "SELECT r.login_id, r.expires_at, r.rotated_at, l.revoked_at
             FROM refresh_tokens r JOIN logins l ON l.id = r.login_id WHERE r.token_hash = $1 FOR UPDATE",
        )
        .bind(&presented_hash)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(found) = found else {
            return Ok(Rotation::Invalid);
        };
        let login_id: String = found.try_get(0)?;
        let expires_at: i64 = found.try_get(1)?;
        let rotated_at: Option<i64> = found.try_get(2)?;
        let revoked_at: Option<i64> = found.try_get(3)?;
        if revoked_at.is_some() || expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        if rotated_at.is_some() {
            sqlx::query("UPDATE logins SET revoked_at = $2 WHERE id = $1")
                .bind(&login_id)
                .bind(now)
                .execute(&mut *transaction)
                .await?;
            sqlx::query("DELETE FROM access_tokens WHERE login_id = $1")
                .bind(&login_id)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            return Ok(Rotation::ReuseDetected);
        }
        sqlx::query("UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1")
            .bind(&presented_hash)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        insert_tokens(&mut transaction, &login_id, &next).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM logins l JOIN users u ON u.id = l.user_id
             JOIN teams t ON t.id = u.team_id WHERE l.id = $1"
        ))
        .bind(&login_id)
        .fetch_one(&mut *transaction)
        .await?;
        let user = user_from_row(&row)?;
        transaction.commit().await?;
        Ok(Rotation::Rotated(user))
    }

    async fn authenticate(&self, access_hash: String, now: i64) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM access_tokens a JOIN logins l ON l.id = a.login_id
             JOIN users u ON u.id = l.user_id JOIN teams t ON t.id = u.team_id
             WHERE a.token_hash = $1 AND a.expires_at > $2 AND l.revoked_at IS NULL"
        ))
        .bind(&access_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn push_events(
        &self,
        user: User,
        device_id: Uuid,
        events: Vec<rf_core::sync::PushedEvent>,
        now: i64,
    ) -> StoreResult<PushSettled> {
        let mut transaction = self.pool.begin().await?;
        let device = device_id.to_string();
        let team = user.team_id.to_string();
        let user_id = user.id.to_string();
        sqlx::query("INSERT INTO devices (device_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (device_id) DO NOTHING")
            .bind(&device)
            .bind(&user_id)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        // FOR UPDATE: one push per device at a time, so acknowledgement never races.
        let row = sqlx::query("SELECT user_id, last_mutation_id, acked_event_seq FROM devices WHERE device_id = $1 FOR UPDATE")
            .bind(&device)
            .fetch_one(&mut *transaction)
            .await?;
        let owner: String = row.try_get(0)?;
        let last_mutation_id: i64 = row.try_get(1)?;
        let mut acked: i64 = row.try_get(2)?;
        if owner != user_id {
            return Err(StoreError::Forbidden(
                "this device id belongs to another user; sign out and in again on this device"
                    .into(),
            ));
        }
        let mut stored = 0;
        for event in &events {
            let session = event.session_id.to_string();
            sqlx::query(
                "INSERT INTO sessions (session_id, team_id, user_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(&session)
            .bind(&team)
            .bind(&user_id)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
            let session_owner: String =
                sqlx::query_scalar("SELECT user_id FROM sessions WHERE session_id = $1")
                    .bind(&session)
                    .fetch_one(&mut *transaction)
                    .await?;
            if session_owner != user_id {
                return Err(StoreError::Forbidden(format!(
                    "session {session} belongs to another engineer"
                )));
            }
            if event_stored(&mut transaction, &device, event.device_seq).await? {
                continue;
            }
            // The team's sequence row stays locked until commit, so numbers become visible in order.
            let team_seq: i64 = sqlx::query_scalar(
                "INSERT INTO team_sequences (team_id, seq) VALUES ($1, 1)
                 ON CONFLICT (team_id) DO UPDATE SET seq = team_sequences.seq + 1 RETURNING seq",
            )
            .bind(&team)
            .fetch_one(&mut *transaction)
            .await?;
            sqlx::query(
                "INSERT INTO session_events (device_id, device_seq, session_id, session_seq, team_id, team_seq,
                                             payload, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&device)
            .bind(event.device_seq)
            .bind(&session)
            .bind(event.session_seq)
            .bind(&team)
            .bind(team_seq)
            .bind(event.payload.to_string())
            .bind(now)
            .execute(&mut *transaction)
            .await?;
            stored += 1;
        }
        while event_stored(&mut transaction, &device, acked + 1).await? {
            acked += 1;
        }
        sqlx::query("UPDATE devices SET acked_event_seq = $2 WHERE device_id = $1")
            .bind(&device)
            .bind(acked)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
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
        let folder =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/server-postgres");
        rf_sqlite::check_listing(POSTGRES_MIGRATIONS, &folder).unwrap();
    }
}
