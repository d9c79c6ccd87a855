//! Embedded, append-only schema migrations, each applied with its version row in one transaction.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{ReplicaError, Result};

/// A migration: its version, file name and SQL. Post-steps that need Rust (rebuilding a derived
/// index from stored documents) run in the same transaction, see [`migrate`].
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration in order. A unit test checks this list against `migrations/replica/`, so a
/// file added there cannot be forgotten here.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial.sql",
        sql: include_str!("../../../migrations/replica/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "0002_flow_search.sql",
        sql: include_str!("../../../migrations/replica/0002_flow_search.sql"),
    },
    Migration {
        version: 3,
        name: "0003_outbox_rejected.sql",
        sql: include_str!("../../../migrations/replica/0003_outbox_rejected.sql"),
    },
];

pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}

/// The schema version of an open database (0 for a new, empty one).
pub fn current_version(connection: &Connection) -> Result<i64> {
    let has_table: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
        [],
        |row| row.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    Ok(connection.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?)
}

/// Brings the database up to the latest schema. `after` runs inside each migration's
/// transaction with its version, for Rust-side backfills. Returns the versions applied.
pub fn migrate(
    connection: &mut Connection,
    mut after: impl FnMut(&rusqlite::Transaction<'_>, i64) -> Result<()>,
) -> Result<Vec<i64>> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         )",
    )?;
    let found = current_version(connection)?;
    if found > latest_version() {
        return Err(ReplicaError::SchemaTooNew {
            found,
            supported: latest_version(),
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS
        .iter()
        .filter(|migration| migration.version > found)
    {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        if current_version(&transaction)? >= migration.version {
            continue;
        }
        transaction.execute_batch(migration.sql)?;
        after(&transaction, migration.version)?;
        transaction.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
            (migration.version, migration.name),
        )?;
        transaction.commit()?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
        applied.push(migration.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_matches_the_migrations_folder() {
        let folder =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/replica");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|migration| migration.name).collect();
        assert_eq!(files, listed);
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1);
            assert!(
                migration
                    .name
                    .starts_with(&format!("{:04}_", migration.version))
            );
        }
    }

    #[test]
    fn a_newer_schema_is_refused_untouched() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection, |_, _| Ok(())).unwrap();
        connection
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES (99, 'future')",
                [],
            )
            .unwrap();
        let error = migrate(&mut connection, |_, _| Ok(())).unwrap_err();
        assert!(
            matches!(error, ReplicaError::SchemaTooNew { found: 99, .. }),
            "{error}"
        );
    }
}
