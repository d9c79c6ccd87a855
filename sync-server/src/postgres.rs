//! The PostgreSQL back end (`--database-url postgres://…`): the same [`Store`] contract as the
//! SQLite one, for teams that run several server replicas on one database.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::flows::{Checked, CheckedDocument, Head, PutPlan, plan_put};
use crate::storage::accounts;
use crate::storage::rows::{AccountRows, NewAccount, RefreshRow};
use crate::store::{
    Actor, IssuedTokens, MAX_PULL_LIMIT, NewUser, PushBatch, PushSettled, Role, Rotation, Store,
    User, UserUpdate, batch_range, page_sizes_sql, page_until,
};
use rf_core::VersionId;
use rf_core::sync::{
    FieldConflict, PullResponse, PulledConflict, PulledEvent, PulledFlow, PulledVersion,
};

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
    rf_sqlite::Migration {
        version: 3,
        name: "0003_flows.sql",
        sql: include_str!("../../migrations/server-postgres/0003_flows.sql"),
    },
    rf_sqlite::Migration {
        version: 4,
        name: "0004_removed_accounts.sql",
        sql: include_str!("../../migrations/server-postgres/0004_removed_accounts.sql"),
    },
    rf_sqlite::Migration {
        version: 5,
        name: "0005_refused_events.sql",
        sql: include_str!("../../migrations/server-postgres/0005_refused_events.sql"),
    },
    rf_sqlite::Migration {
        version: 6,
        name: "0006_user_pins.sql",
        sql: include_str!("../../migrations/server-postgres/0006_user_pins.sql"),
    },
    rf_sqlite::Migration {
        version: 7,
        name: "0007_mutation_digests.sql",
        sql: include_str!("../../migrations/server-postgres/0007_mutation_digests.sql"),
    },
    rf_sqlite::Migration {
        version: 8,
        name: "0008_store_epoch.sql",
        sql: include_str!("../../migrations/server-postgres/0008_store_epoch.sql"),
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
        let mut transaction = self.pool.begin().await?;
        let device = batch.device_id.to_string();
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
        let mut last_mutation_id: i64 = row.try_get(1)?;
        let mut acked: i64 = row.try_get(2)?;
        if owner != user_id {
            return Err(StoreError::Forbidden(
                "this device id belongs to another user; sign out and in again on this device"
                    .into(),
            ));
        }
        let latest_before = team_latest(&mut transaction, &team).await?;
        // What the server holds under the batch's numbers: a retry repeats it exactly, a
        // second copy of the device does not (PushBatch::cut_at_clash).
        let mut batch = batch;
        let digests: std::collections::HashMap<i64, String> =
            match batch.settled_numbers(last_mutation_id) {
                None => std::collections::HashMap::new(),
                Some((low, high)) => sqlx::query_as::<_, (i64, String)>(
                    "SELECT mutation_id, digest FROM mutation_digests
                     WHERE device_id = $1 AND mutation_id BETWEEN $2 AND $3",
                )
                .bind(&device)
                .bind(low)
                .bind(high)
                .fetch_all(&mut *transaction)
                .await?
                .into_iter()
                .collect(),
            };
        let numbers: Vec<i64> = batch
            .events
            .iter()
            .chain(batch.refused_events.iter().map(|(event, _)| event))
            .map(|event| event.device_seq)
            .collect();
        let held: std::collections::HashMap<i64, rf_core::sync::HeldEvent> = if numbers.is_empty() {
            std::collections::HashMap::new()
        } else {
            sqlx::query(
                "SELECT device_seq, session_id, session_seq, payload FROM session_events
                 WHERE device_id = $1 AND device_seq = ANY($2)
                 UNION ALL
                 SELECT device_seq, session_id, NULL, payload FROM refused_events
                 WHERE device_id = $1 AND device_seq = ANY($2)",
            )
            .bind(&device)
            .bind(&numbers)
            .fetch_all(&mut *transaction)
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
            .collect::<StoreResult<_>>()?
        };
        let identity_clash = batch.cut_at_clash(last_mutation_id, &digests, &held);
        let mutations: Vec<rf_core::sync::Mutation> = batch
            .mutations
            .iter()
            .map(|(mutation, _)| mutation.clone())
            .collect();
        let mut conflicts = 0;
        for decision in rf_core::sync::plan_push(last_mutation_id, &mutations) {
            let mutation_id = match decision {
                rf_core::sync::PushDecision::Apply { mutation_id } => mutation_id,
                rf_core::sync::PushDecision::Duplicate { .. }
                | rf_core::sync::PushDecision::Gap { .. } => continue,
            };
            let Some((mutation, checked)) = batch
                .mutations
                .iter()
                .find(|(mutation, _)| mutation.mutation_id == mutation_id)
            else {
                continue;
            };
            sqlx::query(
                "INSERT INTO mutation_digests (device_id, mutation_id, digest) VALUES ($1, $2, $3)
                 ON CONFLICT (device_id, mutation_id) DO NOTHING",
            )
            .bind(&device)
            .bind(mutation_id)
            .bind(rf_core::sync::mutation_digest(mutation))
            .execute(&mut *transaction)
            .await?;
            match apply_mutation(&mut transaction, &team, &user, checked, now).await? {
                Ok(recorded) => conflicts += recorded,
                Err(reason) => {
                    sqlx::query(
                        "INSERT INTO rejected_mutations (device_id, mutation_id, reason, rejected_at)
                         VALUES ($1, $2, $3, $4) ON CONFLICT (device_id, mutation_id) DO NOTHING",
                    )
                    .bind(&device)
                    .bind(mutation_id)
                    .bind(&reason)
                    .bind(now)
                    .execute(&mut *transaction)
                    .await?;
                }
            }
            last_mutation_id = mutation_id;
        }
        sqlx::query("UPDATE devices SET last_mutation_id = $2 WHERE device_id = $1")
            .bind(&device)
            .bind(last_mutation_id)
            .execute(&mut *transaction)
            .await?;
        // Every refusal among the numbers this answer settles from the batch's first on, this
        // push's and earlier ones' alike: a replica whose earlier answer was lost learns each
        // refusal however its retry is cut, and never takes a refused change for applied.
        let rejected: Vec<rf_core::sync::Rejection> = match batch.mutations.first() {
            None => Vec::new(),
            Some((first, _)) => sqlx::query_as::<_, (i64, String)>(
                "SELECT mutation_id, reason FROM rejected_mutations
                 WHERE device_id = $1 AND mutation_id BETWEEN $2 AND $3 ORDER BY mutation_id",
            )
            .bind(&device)
            .bind(first.mutation_id)
            .bind(last_mutation_id)
            .fetch_all(&mut *transaction)
            .await?
            .into_iter()
            .map(|(mutation_id, reason)| rf_core::sync::Rejection {
                mutation_id,
                reason,
            })
            .collect(),
        };
        for document in &batch.flow_versions {
            // Usually the team has it already: check without the team's lock first.
            if !version_exists(&mut transaction, &team, document).await? {
                insert_version(&mut transaction, &team, &user, document, now).await?;
            }
        }
        // Ownership first: every session of the batch belongs to this user (or is new).
        let mut sessions: Vec<String> = batch
            .events
            .iter()
            .map(|event| event.session_id.to_string())
            .collect();
        sessions.sort();
        sessions.dedup();
        if !sessions.is_empty() {
            sqlx::query(
                "INSERT INTO sessions (session_id, team_id, user_id, created_at)
                 SELECT id, $2, $3, $4 FROM UNNEST($1::text[]) AS id
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(&sessions)
            .bind(&team)
            .bind(&user_id)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
            let foreign: Option<String> = sqlx::query_scalar(
                "SELECT session_id FROM sessions WHERE session_id = ANY($1) AND user_id <> $2 LIMIT 1",
            )
            .bind(&sessions)
            .bind(&user_id)
            .fetch_optional(&mut *transaction)
            .await?;
            if let Some(session) = foreign {
                return Err(StoreError::Forbidden(format!(
                    "session {session} belongs to another engineer"
                )));
            }
        }
        // Events already stored (a retried push) are looked up once; a number given twice in
        // one batch counts once.
        let mut seen: std::collections::HashSet<i64> = held
            .iter()
            .filter(|(_, event)| event.session_seq.is_some())
            .map(|(seq, _)| *seq)
            .collect();
        let fresh: Vec<&rf_core::sync::PushedEvent> = batch
            .events
            .iter()
            .filter(|event| seen.insert(event.device_seq))
            .collect();
        // Acknowledgement before the team's numbers are taken, so the team's lock is held only
        // for the insert: the contiguous prefix over what was stored and what this batch adds.
        let stored = fresh.len();
        // Refused events are kept aside under their number (unless a good event already holds
        // it), so the prefix can pass them and a retry is answered the same way.
        if !batch.refused_events.is_empty() {
            let (seqs, sessions, reasons, payloads): (
                Vec<i64>,
                Vec<String>,
                Vec<String>,
                Vec<String>,
            ) = batch.refused_events.iter().fold(
                Default::default(),
                |(mut seqs, mut sessions, mut reasons, mut payloads), (event, reason)| {
                    seqs.push(event.device_seq);
                    sessions.push(event.session_id.to_string());
                    reasons.push(reason.clone());
                    payloads.push(event.payload.to_string());
                    (seqs, sessions, reasons, payloads)
                },
            );
            sqlx::query(
                "INSERT INTO refused_events (device_id, device_seq, session_id, team_id, reason, payload, refused_at)
                 SELECT $1, device_seq, session_id, $2, reason, payload, $3
                 FROM UNNEST($4::bigint[], $5::text[], $6::text[], $7::text[])
                      AS batch (device_seq, session_id, reason, payload)
                 WHERE NOT EXISTS (SELECT 1 FROM session_events e
                                   WHERE e.device_id = $1 AND e.device_seq = batch.device_seq)
                 ON CONFLICT (device_id, device_seq) DO NOTHING",
            )
            .bind(&device)
            .bind(&team)
            .bind(now)
            .bind(&seqs)
            .bind(&sessions)
            .bind(&reasons)
            .bind(&payloads)
            .execute(&mut *transaction)
            .await?;
        }
        let mut held: std::collections::BTreeSet<i64> = sqlx::query_scalar(
            "SELECT device_seq FROM session_events WHERE device_id = $1 AND device_seq > $2
             UNION SELECT device_seq FROM refused_events WHERE device_id = $1 AND device_seq > $2",
        )
        .bind(&device)
        .bind(acked)
        .fetch_all(&mut *transaction)
        .await?
        .into_iter()
        .collect();
        held.extend(fresh.iter().map(|event| event.device_seq));
        for seq in held {
            if seq != acked + 1 {
                break;
            }
            acked = seq;
        }
        sqlx::query("UPDATE devices SET acked_event_seq = $2 WHERE device_id = $1")
            .bind(&device)
            .bind(acked)
            .execute(&mut *transaction)
            .await?;
        if stored > 0 {
            // One block of the team's numbers for the batch. The sequence row stays locked
            // until commit, so numbers become visible in order.
            let last: i64 = sqlx::query_scalar(
                "INSERT INTO team_sequences (team_id, seq) VALUES ($1, $2)
                 ON CONFLICT (team_id) DO UPDATE SET seq = team_sequences.seq + $2 RETURNING seq",
            )
            .bind(&team)
            .bind(stored as i64)
            .fetch_one(&mut *transaction)
            .await?;
            let first = last - stored as i64 + 1;
            let device_seqs: Vec<i64> = fresh.iter().map(|event| event.device_seq).collect();
            let session_ids: Vec<String> = fresh
                .iter()
                .map(|event| event.session_id.to_string())
                .collect();
            let session_seqs: Vec<i64> = fresh.iter().map(|event| event.session_seq).collect();
            let team_seqs: Vec<i64> = (first..=last).collect();
            let payloads: Vec<String> = fresh
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
            .bind(&device)
            .bind(&team)
            .bind(now)
            .bind(&device_seqs)
            .bind(&session_ids)
            .bind(&session_seqs)
            .bind(&team_seqs)
            .bind(&payloads)
            .execute(&mut *transaction)
            .await?;
        }
        let mut heads = Vec::new();
        for flow_id in batch.flows_touched() {
            let row = sqlx::query(
                "SELECT head_version, author_id, team_seq FROM flows WHERE team_id = $1 AND flow_id = $2",
            )
            .bind(&team)
            .bind(flow_id.to_string())
            .fetch_optional(&mut *transaction)
            .await?;
            if let Some(row) = row {
                heads.push(PulledFlow {
                    flow_id,
                    head: version_at(&row, 0)?,
                    author_id: uuid_at(&row, 1)?,
                    team_seq: row.try_get(2)?,
                });
            }
        }
        let refused_events = match batch_range(&batch) {
            None => Vec::new(),
            Some((low, high)) => sqlx::query(
                "SELECT device_seq, session_id, reason FROM refused_events
                 WHERE device_id = $1 AND device_seq BETWEEN $2 AND $3 ORDER BY device_seq",
            )
            .bind(&device)
            .bind(low)
            .bind(high)
            .fetch_all(&mut *transaction)
            .await?
            .iter()
            .map(|row| {
                Ok(rf_core::sync::RefusedEvent {
                    device_seq: row.try_get(0)?,
                    session_id: uuid_at(row, 1)?,
                    reason: row.try_get(2)?,
                })
            })
            .collect::<StoreResult<_>>()?,
        };
        let latest = team_latest(&mut transaction, &team).await?;
        let epoch: String = sqlx::query_scalar("SELECT epoch FROM store_epoch")
            .fetch_one(&mut *transaction)
            .await?;
        if latest > latest_before {
            // Delivered at commit to every server process listening (PostgresStore::listen).
            sqlx::query("SELECT pg_notify('rf_sync', $1)")
                .bind(format!("{team} {latest}"))
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
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

    async fn epoch(&self) -> StoreResult<String> {
        Ok(sqlx::query_scalar("SELECT epoch FROM store_epoch")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn new_epoch(&self, now: i64) -> StoreResult<String> {
        let epoch = Uuid::new_v4().simple().to_string();
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

    fn forward_pokes(&self, pokes: crate::poke::Pokes) {
        self.listen(pokes);
    }

    async fn pull(&self, user: User, since: i64, limit: i64) -> StoreResult<PullResponse> {
        let mut transaction = self.pool.begin().await?;
        // One snapshot for every table. A writer holds its team's sequence row until commit,
        // so every number up to the `latest` read here is committed and visible.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *transaction)
            .await?;
        let team = user.team_id.to_string();
        let latest: i64 = sqlx::query_scalar("SELECT seq FROM team_sequences WHERE team_id = $1")
            .bind(&team)
            .fetch_optional(&mut *transaction)
            .await?
            .unwrap_or(0);
        let until = since.max(
            since
                .saturating_add(limit.clamp(1, MAX_PULL_LIMIT))
                .min(latest),
        );
        // At most MAX_PULL_LIMIT changes' sizes: a few numbers each, never their content.
        let sizes: Vec<(i64, Option<i32>)> = sqlx::query_as(page_sizes_sql!("$1", "$2", "$3"))
            .bind(&team)
            .bind(since)
            .bind(until)
            .fetch_all(&mut *transaction)
            .await?;
        let until = page_until(
            until,
            rf_core::sync::PULL_PAGE_BYTES as u64,
            sizes
                .into_iter()
                .map(|(seq, bytes)| Ok((seq, i64::from(bytes.unwrap_or(0))))),
        )?;
        let mut versions = Vec::new();
        for row in sqlx::query(
            "SELECT flow_id, version_id, number, document, team_seq FROM flow_versions
             WHERE team_id = $1 AND team_seq > $2 AND team_seq <= $3 ORDER BY team_seq",
        )
        .bind(&team)
        .bind(since)
        .bind(until)
        .fetch_all(&mut *transaction)
        .await?
        {
            versions.push(PulledVersion {
                flow_id: uuid_at(&row, 0)?,
                version: version_at(&row, 1)?,
                number: row.try_get(2)?,
                document: json_at(&row, 3)?,
                team_seq: row.try_get(4)?,
            });
        }
        let mut flows = Vec::new();
        for row in sqlx::query(
            "SELECT flow_id, head_version, author_id, team_seq FROM flows
             WHERE team_id = $1 AND team_seq > $2 AND team_seq <= $3 ORDER BY team_seq",
        )
        .bind(&team)
        .bind(since)
        .bind(until)
        .fetch_all(&mut *transaction)
        .await?
        {
            flows.push(PulledFlow {
                flow_id: uuid_at(&row, 0)?,
                head: version_at(&row, 1)?,
                author_id: uuid_at(&row, 2)?,
                team_seq: row.try_get(3)?,
            });
        }
        let mut events = Vec::new();
        for row in sqlx::query(
            "SELECT device_id, device_seq, session_id, session_seq, payload, team_seq FROM session_events
             WHERE team_id = $1 AND team_seq > $2 AND team_seq <= $3 ORDER BY team_seq",
        )
        .bind(&team)
        .bind(since)
        .bind(until)
        .fetch_all(&mut *transaction)
        .await?
        {
            events.push(PulledEvent {
                device_id: uuid_at(&row, 0)?,
                device_seq: row.try_get(1)?,
                session_id: uuid_at(&row, 2)?,
                session_seq: row.try_get(3)?,
                payload: json_at(&row, 4)?,
                team_seq: row.try_get(5)?,
            });
        }
        let mut conflicts = Vec::new();
        for row in sqlx::query(
            "SELECT c.id, c.flow_id, c.path, c.base, c.kept, c.other, c.kept_version, c.other_version,
                    u.email, c.created_at, c.resolution, c.team_seq
             FROM flow_conflicts c JOIN users u ON u.id = c.raised_by
             WHERE c.team_id = $1 AND c.team_seq > $2 AND c.team_seq <= $3 ORDER BY c.team_seq",
        )
        .bind(&team)
        .bind(since)
        .bind(until)
        .fetch_all(&mut *transaction)
        .await?
        {
            let optional = |index: usize| -> StoreResult<Option<serde_json::Value>> {
                match row.try_get::<Option<String>, _>(index)? {
                    Some(_) => json_at(&row, index).map(Some),
                    None => Ok(None),
                }
            };
            let resolution: Option<String> = row.try_get(10)?;
            conflicts.push(PulledConflict {
                id: uuid_at(&row, 0)?,
                flow_id: uuid_at(&row, 1)?,
                conflict: FieldConflict {
                    path: row.try_get(2)?,
                    base: optional(3)?,
                    kept: optional(4)?,
                    other: optional(5)?,
                },
                kept_version: version_at(&row, 6)?,
                other_version: version_at(&row, 7)?,
                raised_by: row.try_get(8)?,
                created_at: row.try_get(9)?,
                resolution: resolution.as_deref().and_then(rf_core::sync::Keep::parse),
                team_seq: row.try_get(11)?,
            });
        }
        let mut pins = Vec::new();
        for row in sqlx::query(
            "SELECT flow_id, pinned, team_seq FROM user_pins
             WHERE team_id = $1 AND team_seq > $2 AND team_seq <= $3 AND user_id = $4 ORDER BY team_seq",
        )
        .bind(&team)
        .bind(since)
        .bind(until)
        .bind(user.id.to_string())
        .fetch_all(&mut *transaction)
        .await?
        {
            pins.push(rf_core::sync::PulledPin {
                flow_id: uuid_at(&row, 0)?,
                pinned: row.try_get(1)?,
                team_seq: row.try_get(2)?,
            });
        }
        let epoch: String = sqlx::query_scalar("SELECT epoch FROM store_epoch")
            .fetch_one(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(PullResponse {
            protocol: rf_core::sync::PROTOCOL_VERSION,
            since,
            until,
            latest,
            versions,
            flows,
            events,
            conflicts,
            pins,
            epoch: Some(epoch),
        })
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
    pub fn listen(&self, pokes: crate::poke::Pokes) {
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
                                    pokes.send(crate::poke::Poke { team, latest });
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

/// The team's next change number. The sequence row stays locked until commit, so numbers
/// become visible in order.
async fn next_team_seq(transaction: &mut Tx<'_>, team: &str) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO team_sequences (team_id, seq) VALUES ($1, 1)
         ON CONFLICT (team_id) DO UPDATE SET seq = team_sequences.seq + 1 RETURNING seq",
    )
    .bind(team)
    .fetch_one(&mut **transaction)
    .await?)
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

async fn version_exists(
    transaction: &mut Tx<'_>,
    team: &str,
    document: &CheckedDocument,
) -> StoreResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM flow_versions WHERE team_id = $1 AND flow_id = $2 AND version_id = $3)",
    )
    .bind(team)
    .bind(document.flow_id.to_string())
    .bind(document.version.to_string())
    .fetch_one(&mut **transaction)
    .await?)
}

/// Stores a version of a team's flow unless it is there already; true when it was new.
async fn insert_version(
    transaction: &mut Tx<'_>,
    team: &str,
    user: &User,
    document: &CheckedDocument,
    now: i64,
) -> StoreResult<bool> {
    let flow = document.flow_id.to_string();
    let version = document.version.to_string();
    // Concurrent pushes may carry the same version: decide "new or not" under the team's lock,
    // or both would see it missing and the second insert would fail.
    lock_team(transaction, team).await?;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM flow_versions WHERE team_id = $1 AND flow_id = $2 AND version_id = $3)",
    )
    .bind(team)
    .bind(&flow)
    .bind(&version)
    .fetch_one(&mut **transaction)
    .await?;
    if exists {
        return Ok(false);
    }
    let team_seq = next_team_seq(transaction, team).await?;
    sqlx::query(
        "INSERT INTO flow_versions (team_id, flow_id, version_id, number, document, created_by, created_at, team_seq)
         VALUES ($1, $2, $3,
                 (SELECT COALESCE(MAX(number), 0) + 1 FROM flow_versions WHERE team_id = $1 AND flow_id = $2),
                 $4, $5, $6, $7)",
    )
    .bind(team)
    .bind(&flow)
    .bind(&version)
    .bind(&document.text)
    .bind(user.id.to_string())
    .bind(now)
    .bind(team_seq)
    .execute(&mut **transaction)
    .await?;
    Ok(true)
}

async fn set_head(
    transaction: &mut Tx<'_>,
    team: &str,
    user: &User,
    flow_id: Uuid,
    version: VersionId,
    now: i64,
) -> StoreResult<()> {
    let team_seq = next_team_seq(transaction, team).await?;
    sqlx::query(
        "INSERT INTO flows (team_id, flow_id, head_version, author_id, updated_at, team_seq)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (team_id, flow_id) DO UPDATE SET head_version = excluded.head_version,
             updated_at = excluded.updated_at, team_seq = excluded.team_seq",
    )
    .bind(team)
    .bind(flow_id.to_string())
    .bind(version.to_string())
    .bind(user.id.to_string())
    .bind(now)
    .bind(team_seq)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

async fn load_head(
    transaction: &mut Tx<'_>,
    team: &str,
    flow_id: Uuid,
) -> StoreResult<Option<Head>> {
    // FOR UPDATE: concurrent pushes to one flow decide against the same head one at a time.
    let row = sqlx::query(
        "SELECT f.head_version, v.document, f.author_id FROM flows f
         JOIN flow_versions v ON v.team_id = f.team_id AND v.flow_id = f.flow_id AND v.version_id = f.head_version
         WHERE f.team_id = $1 AND f.flow_id = $2 FOR UPDATE OF f",
    )
    .bind(team)
    .bind(flow_id.to_string())
    .fetch_optional(&mut **transaction)
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

async fn load_document(
    transaction: &mut Tx<'_>,
    team: &str,
    flow_id: Uuid,
    version: VersionId,
) -> StoreResult<Option<serde_json::Value>> {
    let row = sqlx::query(
        "SELECT document FROM flow_versions WHERE team_id = $1 AND flow_id = $2 AND version_id = $3",
    )
    .bind(team)
    .bind(flow_id.to_string())
    .bind(version.to_string())
    .fetch_optional(&mut **transaction)
    .await?;
    row.map(|row| json_at(&row, 0)).transpose()
}

/// Applies one validated mutation; `Err(reason)` inside `Ok` is a permanent rejection.
async fn apply_mutation(
    transaction: &mut Tx<'_>,
    team: &str,
    user: &User,
    checked: &Checked,
    now: i64,
) -> StoreResult<Result<usize, String>> {
    match checked {
        Checked::Invalid(reason) => Ok(Err(reason.clone())),
        Checked::Put { document, base } => {
            // Flow changes of a team are decided one at a time (a new flow has no row to lock
            // yet), by holding the team's sequence row until commit.
            lock_team(transaction, team).await?;
            let head = load_head(transaction, team, document.flow_id).await?;
            let base_document = match base {
                Some(base) => load_document(transaction, team, document.flow_id, *base).await?,
                None => None,
            };
            match plan_put(user, head.as_ref(), *base, base_document.as_ref(), document) {
                PutPlan::Reject(reason) => Ok(Err(reason)),
                PutPlan::Advance => {
                    insert_version(transaction, team, user, document, now).await?;
                    set_head(
                        transaction,
                        team,
                        user,
                        document.flow_id,
                        document.version,
                        now,
                    )
                    .await?;
                    Ok(Ok(0))
                }
                PutPlan::Merge { merged, conflicts } => {
                    insert_version(transaction, team, user, document, now).await?;
                    let Some(head) = head else {
                        return Err(StoreError::Internal("a merge without a head".into()));
                    };
                    let kept_version = match &merged {
                        Some(merged) => {
                            insert_version(transaction, team, user, merged, now).await?;
                            set_head(transaction, team, user, merged.flow_id, merged.version, now)
                                .await?;
                            merged.version
                        }
                        None => head.version,
                    };
                    for conflict in &conflicts {
                        let team_seq = next_team_seq(transaction, team).await?;
                        sqlx::query(
                            "INSERT INTO flow_conflicts (id, team_id, flow_id, path, base, kept, other,
                                 kept_version, other_version, raised_by, created_at, team_seq)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                        )
                        .bind(Uuid::new_v4().to_string())
                        .bind(team)
                        .bind(document.flow_id.to_string())
                        .bind(&conflict.path)
                        .bind(conflict.base.as_ref().map(serde_json::Value::to_string))
                        .bind(conflict.kept.as_ref().map(serde_json::Value::to_string))
                        .bind(conflict.other.as_ref().map(serde_json::Value::to_string))
                        .bind(kept_version.to_string())
                        .bind(document.version.to_string())
                        .bind(user.id.to_string())
                        .bind(now)
                        .bind(team_seq)
                        .execute(&mut **transaction)
                        .await?;
                    }
                    Ok(Ok(conflicts.len()))
                }
            }
        }
        Checked::Resolve { conflict_id, keep } => {
            let row = sqlx::query(
                "SELECT c.raised_by, COALESCE(f.author_id, ''), c.resolution FROM flow_conflicts c
                 LEFT JOIN flows f ON f.team_id = c.team_id AND f.flow_id = c.flow_id
                 WHERE c.id = $1 AND c.team_id = $2 FOR UPDATE OF c",
            )
            .bind(conflict_id.to_string())
            .bind(team)
            .fetch_optional(&mut **transaction)
            .await?;
            let Some(row) = row else {
                return Ok(Err(format!(
                    "there is no conflict {conflict_id} in this team"
                )));
            };
            let raised_by: String = row.try_get(0)?;
            let author: String = row.try_get(1)?;
            let resolution: Option<String> = row.try_get(2)?;
            let me = user.id.to_string();
            if !crate::flows::may_resolve(user, &raised_by, &author) {
                return Ok(Err(
                    "only the flow's author, the engineer whose edit clashed, or a team admin can resolve this conflict".into(),
                ));
            }
            if resolution.is_none() {
                let team_seq = next_team_seq(transaction, team).await?;
                let keep = keep.as_str();
                sqlx::query(
                    "UPDATE flow_conflicts SET resolution = $2, resolved_by = $3, resolved_at = $4, team_seq = $5
                     WHERE id = $1",
                )
                .bind(conflict_id.to_string())
                .bind(keep)
                .bind(&me)
                .bind(now)
                .bind(team_seq)
                .execute(&mut **transaction)
                .await?;
            }
            Ok(Ok(0))
        }
        Checked::Pin { flow_id, pinned } => {
            let team_seq = next_team_seq(transaction, team).await?;
            sqlx::query(
                "INSERT INTO user_pins (user_id, flow_id, team_id, pinned, team_seq)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_id, flow_id) DO UPDATE SET pinned = excluded.pinned, team_seq = excluded.team_seq",
            )
            .bind(user.id.to_string())
            .bind(flow_id.to_string())
            .bind(team)
            .bind(*pinned)
            .bind(team_seq)
            .execute(&mut **transaction)
            .await?;
            Ok(Ok(0))
        }
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
