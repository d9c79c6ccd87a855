//! The replica's migrations (`migrations/replica/`), applied by rf-sqlite's runner.

pub use rf_sqlite::Migration;

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
    Migration {
        version: 4,
        name: "0004_path_stats.sql",
        sql: include_str!("../../../migrations/replica/0004_path_stats.sql"),
    },
    Migration {
        version: 5,
        name: "0005_content_addressed_versions.sql",
        sql: include_str!("../../../migrations/replica/0005_content_addressed_versions.sql"),
    },
    Migration {
        version: 6,
        name: "0006_restore_triggers.sql",
        sql: include_str!("../../../migrations/replica/0006_restore_triggers.sql"),
    },
    Migration {
        version: 7,
        name: "0007_sync_state.sql",
        sql: include_str!("../../../migrations/replica/0007_sync_state.sql"),
    },
    Migration {
        version: 8,
        name: "0008_attachment_downloads.sql",
        sql: include_str!("../../../migrations/replica/0008_attachment_downloads.sql"),
    },
    Migration {
        version: 9,
        name: "0009_set_aside.sql",
        sql: include_str!("../../../migrations/replica/0009_set_aside.sql"),
    },
    rf_sqlite::Migration {
        version: 10,
        name: "0010_device_identity.sql",
        sql: include_str!("../../../migrations/replica/0010_device_identity.sql"),
    },
    rf_sqlite::Migration {
        version: 11,
        name: "0011_published_versions.sql",
        sql: include_str!("../../../migrations/replica/0011_published_versions.sql"),
    },
    rf_sqlite::Migration {
        version: 12,
        name: "0012_resolved_here.sql",
        sql: include_str!("../../../migrations/replica/0012_resolved_here.sql"),
    },
];

pub fn latest_version() -> i64 {
    rf_sqlite::latest_version(MIGRATIONS)
}

/// The schema version of an open replica database (0 for a new, empty one).
pub fn current_version(connection: &rusqlite::Connection) -> crate::Result<i64> {
    Ok(rf_sqlite::current_version(connection)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_matches_the_migrations_folder() {
        let folder =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/replica");
        rf_sqlite::check_listing(MIGRATIONS, &folder).unwrap();
    }
}
