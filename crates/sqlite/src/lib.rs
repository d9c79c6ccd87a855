//! rf-sqlite: how every ResolutionFlow SQLite database is opened and migrated, in one place.
//! WAL, `synchronous=FULL`, foreign keys and a busy timeout on every connection; embedded,
//! append-only migrations, each applied with its version row (and any Rust backfill) in one
//! transaction; a database from a newer build refused untouched.
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// Opens a connection with the settings every connection must have.
pub fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    configure(&connection)?;
    Ok(connection)
}

/// Applies the connection settings to an already open connection.
pub fn configure(connection: &Connection) -> rusqlite::Result<()> {
    // Another process (a second `rf`, the desktop app) may hold the write lock briefly.
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before anyone is told it is saved (well under a millisecond).
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// One migration: its version, file name and SQL.
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// A folder's migrations as one list, each file included at build time and numbered as
/// written: `migrations!("../../../migrations/replica/"; 1 => "0001_initial.sql", …)`. The
/// folder is relative to the calling file and ends with `/`; [`check_listing`], run by a unit
/// test beside each list, keeps the list and the folder equal.
#[macro_export]
macro_rules! migrations {
    ($folder:literal; $($version:literal => $name:literal),* $(,)?) => {
        &[$($crate::Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!($folder, $name)),
        }),*]
    };
}

/// The database's schema is newer than this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this database was written by a newer ResolutionFlow (schema {found}, this build knows up to {supported}); upgrade — nothing was changed"
)]
pub struct SchemaTooNew {
    pub found: i64,
    pub supported: i64,
}

pub fn latest_version(migrations: &[Migration]) -> i64 {
    migrations.last().map_or(0, |migration| migration.version)
}

/// The schema version of an open database (0 for a new, empty one).
pub fn current_version(connection: &Connection) -> rusqlite::Result<i64> {
    let has_table: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
        [],
        |row| row.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    connection.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )
}

/// The migrations a database at schema `found` still needs, in order; a database newer
/// than every migration this build knows is refused (it was opened by a newer build). Every
/// runner decides with this, whatever its database.
pub fn pending(
    migrations: &[Migration],
    found: i64,
) -> Result<impl Iterator<Item = &Migration>, SchemaTooNew> {
    let supported = latest_version(migrations);
    if found > supported {
        return Err(SchemaTooNew { found, supported });
    }
    Ok(migrations
        .iter()
        .filter(move |migration| migration.version > found))
}

/// Brings the database up to the latest of `migrations`. `after` runs inside each migration's
/// transaction with its version, for Rust-side backfills. Returns the versions applied.
pub fn migrate<E>(
    connection: &mut Connection,
    migrations: &[Migration],
    mut after: impl FnMut(&Transaction<'_>, i64) -> Result<(), E>,
) -> Result<Vec<i64>, E>
where
    E: From<rusqlite::Error> + From<SchemaTooNew>,
{
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         )",
    )?;
    let found = current_version(connection)?;
    let mut applied = Vec::new();
    for migration in pending(migrations, found)? {
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

/// Checks that `migrations` lists exactly the `.sql` files of `folder`, numbered 1, 2, 3… with
/// matching `NNNN_` prefixes. For each user's unit tests, so a file cannot be forgotten.
pub fn check_listing(migrations: &[Migration], folder: &Path) -> Result<(), String> {
    let mut files: Vec<String> = std::fs::read_dir(folder)
        .map_err(|error| format!("cannot read {}: {error}", folder.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    files.sort();
    let listed: Vec<&str> = migrations.iter().map(|migration| migration.name).collect();
    if files != listed {
        return Err(format!("files {files:?} but listed {listed:?}"));
    }
    for (index, migration) in migrations.iter().enumerate() {
        let expected = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        if migration.version != expected || !migration.name.starts_with(&format!("{expected:04}_"))
        {
            return Err(format!("{} should be version {expected}", migration.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum TestError {
        #[error(transparent)]
        Sqlite(#[from] rusqlite::Error),
        #[error(transparent)]
        TooNew(#[from] SchemaTooNew),
    }

    const MIGRATIONS: &[Migration] = &[
        Migration {
            version: 1,
            name: "0001_a.sql",
            sql: "CREATE TABLE a (x INTEGER);",
        },
        Migration {
            version: 2,
            name: "0002_b.sql",
            sql: "CREATE TABLE b (y INTEGER);",
        },
    ];

    #[test]
    fn migrations_apply_once_in_order_and_newer_schemas_are_refused() {
        let mut connection = Connection::open_in_memory().unwrap();
        let applied =
            migrate::<TestError>(&mut connection, &MIGRATIONS[..1], |_, _| Ok(())).unwrap();
        assert_eq!(applied, vec![1]);
        let mut seen = Vec::new();
        let applied = migrate::<TestError>(&mut connection, MIGRATIONS, |_, version| {
            seen.push(version);
            Ok(())
        })
        .unwrap();
        assert_eq!((applied, seen), (vec![2], vec![2]));
        assert!(
            migrate::<TestError>(&mut connection, MIGRATIONS, |_, _| Ok(()))
                .unwrap()
                .is_empty()
        );
        connection
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES (9, 'future')",
                [],
            )
            .unwrap();
        let error = migrate::<TestError>(&mut connection, MIGRATIONS, |_, _| Ok(())).unwrap_err();
        assert!(
            matches!(
                error,
                TestError::TooNew(SchemaTooNew {
                    found: 9,
                    supported: 2
                })
            ),
            "{error}"
        );
    }

    #[test]
    fn a_failing_backfill_rolls_its_migration_back() {
        let mut connection = Connection::open_in_memory().unwrap();
        let result = migrate::<TestError>(&mut connection, MIGRATIONS, |_, version| {
            if version == 2 {
                Err(rusqlite::Error::InvalidQuery.into())
            } else {
                Ok(())
            }
        });
        assert!(result.is_err());
        assert_eq!(current_version(&connection).unwrap(), 1);
        let b_exists: bool = connection
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'b')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(!b_exists, "migration 2's table was rolled back with it");
    }
}
