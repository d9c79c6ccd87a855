//! The replica's migrations (`migrations/replica/`) and their Rust backfills, applied by
//! rf-sqlite's runner, each in one transaction with its version row.

pub use rf_sqlite::Migration;

/// Every migration in order. A unit test checks this list against `migrations/replica/`, so a
/// file added there cannot be forgotten here.
pub const MIGRATIONS: &[Migration] = rf_sqlite::migrations!(
    "../../../migrations/replica/";
    1 => "0001_initial.sql",
    2 => "0002_flow_search.sql",
    3 => "0003_outbox_rejected.sql",
    4 => "0004_path_stats.sql",
    5 => "0005_content_addressed_versions.sql",
    6 => "0006_restore_triggers.sql",
    7 => "0007_sync_state.sql",
    8 => "0008_attachment_downloads.sql",
    9 => "0009_set_aside.sql",
    10 => "0010_device_identity.sql",
    11 => "0011_published_versions.sql",
    12 => "0012_resolved_here.sql",
    13 => "0013_note_drafts.sql",
    14 => "0014_preferences.sql",
    15 => "0015_ticket_posts.sql",
    16 => "0016_ticket_post_time.sql",
    17 => "0017_team_records.sql",
    18 => "0018_team_members.sql",
);

/// The Rust side of a migration, run in the migration's transaction right after its SQL:
/// what SQL alone cannot fill from the rows already there.
pub(crate) fn backfill(transaction: &rusqlite::Transaction<'_>, version: i64) -> crate::Result<()> {
    match version {
        // The full-text index of every stored flow.
        2 => crate::flows::rebuild_search_index(transaction),
        // Path statistics from every finished session.
        4 => crate::sessions::rebuild_path_statistics(transaction),
        // Flow references in stored events and the outbox named by content.
        5 => crate::flows::upgrade_version_refs(transaction),
        _ => Ok(()),
    }
}

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
