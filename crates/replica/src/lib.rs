//! rf-replica: the desktop's offline store. One SQLite database (WAL, synchronous=FULL) holds
//! the team's flows with immutable versions, sessions with their per-device event logs, the
//! outbox of mutations for the sync server, pins, and the attachment index; attachment files
//! live content-addressed beside it. Every change commits in one transaction with its outbox
//! row or log entry, so what the caller is told is saved survives a crash.
#![forbid(unsafe_code)]

mod attachments;
pub mod background;
pub mod client;
pub mod environment;
pub mod error;
pub mod flow_files;
mod flows;
pub mod folder;
mod handoff;
mod identity;
pub mod migrate;
pub mod pilot;
pub mod posts;
mod private;
pub mod psa;
mod pull;
mod push;
mod records;
mod services;
mod sessions;
pub mod tokens;
pub mod work;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;
use uuid::Uuid;

pub use attachments::AttachmentDownload;
pub use error::{ReplicaError, Result};
pub use flows::{ImportOutcome, ImportStatus};
pub use pull::PullReport;
pub use push::{IdentityChange, PushReport, RejectedMutation};
pub use services::{FLOWS_DIR, RECENT_FLOWS, SHORTCUT, THEME};
// The shapes the app and the CLI show are declared once, in the app's contract crate.
pub use rf_app_api::views::{
    BatchSummary, BatchView, DueItem, DueWork, ScheduleView, TargetListView,
};
pub use rf_app_api::{
    ConflictRecord, FlowDetail, FlowSummary, Home, Library, LibraryEntry, LibraryFilter, SearchHit,
    SessionRecord, SessionSummary, SessionView, Settings, StatusReport, StoredFlow, SyncAccount,
    SyncBacklog, Theme,
};

/// The database file inside a data directory.
pub const DATABASE_FILE: &str = "replica.sqlite3";
/// The attachment store inside a data directory.
pub const ATTACHMENTS_DIR: &str = "attachments";
/// Default largest attachment: enough for logs, screenshots and small dumps.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = rf_core::received::MAX_ATTACHMENT_BYTES;

/// How to open a replica.
#[derive(Debug, Clone)]
pub struct ReplicaOptions {
    pub data_dir: PathBuf,
    pub max_attachment_bytes: u64,
}

impl ReplicaOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> ReplicaOptions {
        ReplicaOptions {
            data_dir: data_dir.into(),
            max_attachment_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
        }
    }
}

/// Where a write came from, recorded on flow versions so a replica can tell its own changes
/// from the team's when sync arrives (yaak's `UpdateSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteSource {
    Import,
    Sync,
    Editor,
}

impl WriteSource {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteSource::Import => "import",
            WriteSource::Sync => "sync",
            WriteSource::Editor => "editor",
        }
    }
}

/// An open replica. Not `Sync`: give each thread its own (SQLite handles the locking).
#[derive(Debug)]
pub struct Replica {
    connection: Connection,
    options: ReplicaOptions,
    device_id: Uuid,
}

/// Opens a connection with the settings every connection must have (see rf-sqlite).
pub fn connect(path: &Path) -> Result<Connection> {
    Ok(rf_sqlite::connect(path)?)
}

/// The replica's clock: the system clock, shifted by `RF_CLOCK_SKEW_SECONDS` when that is set.
/// The shift exists for the clock-skew tests: nothing in sync orders by this clock (the server's
/// sequence numbers do), so a device whose clock is years off must change nothing.
pub(crate) fn now() -> OffsetDateTime {
    static SKEW: std::sync::LazyLock<time::Duration> = std::sync::LazyLock::new(|| {
        std::env::var("RF_CLOCK_SKEW_SECONDS")
            .ok()
            .and_then(|value| value.trim().parse::<i64>().ok())
            .map_or(time::Duration::ZERO, time::Duration::seconds)
    });
    let system = OffsetDateTime::now_utc();
    system.checked_add(*SKEW).unwrap_or(system)
}

pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Replica {
    /// Opens (creating if needed) the replica in `data_dir`, migrating an older schema.
    pub fn open(data_dir: impl Into<PathBuf>) -> Result<Replica> {
        Replica::open_with(ReplicaOptions::new(data_dir))
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(data_dir = %options.data_dir.display()))]
    pub fn open_with(options: ReplicaOptions) -> Result<Replica> {
        let database = options.data_dir.join(DATABASE_FILE);
        private::prepare(&options.data_dir, &database)?;
        let damaged = |error: ReplicaError| match error {
            ReplicaError::Database(rusqlite::Error::SqliteFailure(failure, _))
                if matches!(
                    failure.code,
                    rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
                ) =>
            {
                ReplicaError::Invalid(format!(
                    "the replica database {} is damaged or is not a ResolutionFlow replica ({failure}). \
                     Restore it from a backup, or move it away to start a new replica here; nothing was changed",
                    database.display()
                ))
            }
            other => other,
        };
        let mut connection = connect(&database).map_err(damaged)?;
        rf_sqlite::migrate::<ReplicaError>(&mut connection, migrate::MIGRATIONS, migrate::backfill)
            .map_err(damaged)?;
        let device_id = ensure_device(&mut connection)?;
        Ok(Replica {
            connection,
            options,
            device_id,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.options.data_dir
    }

    /// The id this replica's work goes to the sync server under. It changes when another copy
    /// of the replica turns out to have used it (see `identity`).
    pub fn device_id(&self) -> Uuid {
        self.device_id
    }

    /// The key its sync login is kept under in the OS keyring: the replica's first device id,
    /// kept when it takes a new one.
    pub fn token_account(&self) -> Result<Uuid> {
        let text: String = self.connection.query_row(
            "SELECT COALESCE(token_account, device_id) FROM device",
            [],
            |row| row.get(0),
        )?;
        Uuid::parse_str(&text).map_err(|error| {
            ReplicaError::Invalid(format!(
                "stored token account {text:?} is not a UUID: {error}"
            ))
        })
    }

    pub fn schema_version(&self) -> Result<i64> {
        migrate::current_version(&self.connection)
    }

    /// Direct read access for diagnostics and tests.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Changes waiting for the sync server: outbox mutations plus session events not yet
    /// acknowledged.
    pub fn pending_count(&self) -> Result<u64> {
        Ok(self.sync_backlog()?.pending())
    }

    pub(crate) fn write_transaction(&mut self) -> Result<rusqlite::Transaction<'_>> {
        Ok(self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

/// The device id is created once per data directory and never changes.
fn ensure_device(connection: &mut Connection) -> Result<Uuid> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let existing: Option<String> = transaction
        .query_row("SELECT device_id FROM device", [], |row| row.get(0))
        .optional()?;
    let device_id = match existing {
        Some(text) => Uuid::parse_str(&text).map_err(|error| {
            ReplicaError::Invalid(format!("stored device id {text:?} is not a UUID: {error}"))
        })?,
        None => {
            let device_id = Uuid::new_v4();
            transaction.execute(
                "INSERT INTO device (singleton, device_id, created_at, token_account) VALUES (1, ?1, ?2, ?1)",
                (device_id.to_string(), timestamp(now())),
            )?;
            device_id
        }
    };
    transaction.commit()?;
    Ok(device_id)
}

/// Appends one mutation to the outbox inside the caller's transaction.
pub(crate) fn enqueue(
    transaction: &rusqlite::Transaction<'_>,
    entity: &str,
    entity_id: &str,
    operation: &str,
    base_version: Option<i64>,
    payload: &serde_json::Value,
) -> Result<i64> {
    transaction.execute(
        "INSERT INTO outbox (entity, entity_id, operation, base_version, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        (
            entity,
            entity_id,
            operation,
            base_version,
            payload.to_string(),
            timestamp(now()),
        ),
    )?;
    Ok(transaction.last_insert_rowid())
}

/// Resolves a user-typed id prefix against a table's `id` column.
pub(crate) fn resolve_prefix(
    connection: &Connection,
    table: &'static str,
    what: &'static str,
    given: &str,
) -> Result<Option<Uuid>> {
    let prefix = given.trim().to_ascii_lowercase();
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Ok(None);
    }
    // `table` is one of our own constant names, never user input.
    let mut statement = connection.prepare_cached(&format!(
        "SELECT id FROM {table} WHERE id >= ?1 AND id < ?1 || '~' ORDER BY id LIMIT 6"
    ))?;
    let ids: Vec<String> = statement
        .query_map([&prefix], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    match ids.as_slice() {
        [] => Ok(None),
        [one] => Uuid::parse_str(one).map(Some).map_err(|error| {
            ReplicaError::Invalid(format!("stored id {one:?} is not a UUID: {error}"))
        }),
        many => Err(ReplicaError::Ambiguous {
            what,
            given: given.to_owned(),
            candidates: many
                .iter()
                .map(|id| id[..id.len().min(13)].to_owned())
                .collect(),
        }),
    }
}
