//! The replica against a real SQLite file: versions, outbox, sessions and their event log,
//! search, pins, attachments, and opening a database written by the first schema.

use rf_core::session::{Choice, Command, StartRequest};
use rf_core::{Flow, Outcome};
use rf_replica::{ImportStatus, Replica, ReplicaError, ReplicaOptions, WriteSource};
use uuid::Uuid;

const SHARE: &str = r#"{
  "format": "resolutionflow/v1",
  "id": "6c0d8f0e-3b1a-4f7e-9a55-1d2e3f4a5b6c",
  "kind": "troubleshooting",
  "title": "User cannot open a mapped drive",
  "tags": ["smb", "drive-map"],
  "intake": [{"name": "server", "label": "File server", "required": true}],
  "start": "reach",
  "nodes": [
    {"id": "reach", "type": "question", "title": "Does {{server}} answer on port 445?",
     "commands": [{"label": "Test SMB", "language": "powershell", "code": "Test-NetConnection {{server}} -Port 445"}],
     "answers": [{"label": "Yes", "next": "perms"}, {"label": "No", "next": "firewall"}]},
    {"id": "firewall", "type": "action", "title": "Allow SMB from the user's VLAN", "next": "reach"},
    {"id": "perms", "type": "resolution", "title": "Grant share and NTFS permissions", "outcome": "resolved"}
  ]
}"#;

fn share() -> Flow {
    Flow::parse(SHARE).unwrap()
}

fn count(replica: &Replica, sql: &str) -> i64 {
    replica
        .connection()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

fn request() -> StartRequest {
    StartRequest {
        ticket: "T-1".into(),
        client: "Contoso".into(),
        engineer: "ada".into(),
        variables: [("server".to_owned(), "fs01".to_owned())].into(),
    }
}

#[test]
fn imports_create_versions_and_outbox_rows_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let first = replica.import_flow(share(), WriteSource::Import).unwrap();
    assert_eq!((first.status, first.version), (ImportStatus::Created, 1));
    let again = replica.import_flow(share(), WriteSource::Import).unwrap();
    assert_eq!((again.status, again.version), (ImportStatus::Unchanged, 1));
    let mut edited = share();
    edited.nodes[1].title = "Allow SMB (TCP 445) from the user's VLAN".into();
    let second = replica.import_flow(edited, WriteSource::Import).unwrap();
    assert_eq!(
        (second.status, second.version),
        (ImportStatus::NewVersion, 2)
    );
    assert_eq!(count(&replica, "SELECT COUNT(*) FROM flow_versions"), 2);
    assert_eq!(
        count(
            &replica,
            "SELECT COUNT(*) FROM outbox WHERE entity = 'flow'"
        ),
        2
    );
    // The second mutation names its version and the head it was made from, by content.
    let payload: String = replica
        .connection()
        .query_row(
            "SELECT payload FROM outbox ORDER BY mutation_id DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let payload: rf_core::sync::PutFlowVersion = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload.version, second.version_id);
    assert_eq!(payload.base, Some(first.version_id));
    assert_ne!(first.version_id, second.version_id);
    assert_eq!(replica.pending_count().unwrap(), 2);
    // Version 1 is still there, unchanged, and the database refuses to change it.
    let v1 = replica
        .flow_version(rf_core::FlowRef {
            flow_id: first.flow_id,
            version: first.version_id,
        })
        .unwrap();
    assert_eq!(v1.nodes[1].title, "Allow SMB from the user's VLAN");
    let update = replica
        .connection()
        .execute("UPDATE flow_versions SET document = '{}'", []);
    assert!(update.unwrap_err().to_string().contains("immutable"));
    let delete = replica
        .connection()
        .execute("DELETE FROM flow_versions", []);
    assert!(delete.unwrap_err().to_string().contains("kept"));
}

#[test]
fn files_without_an_id_are_recognised_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let mut anonymous = share();
    anonymous.id = None;
    let first = replica
        .import_flow(anonymous.clone(), WriteSource::Import)
        .unwrap();
    assert_eq!(first.status, ImportStatus::Created);
    let again = replica
        .import_flow(anonymous.clone(), WriteSource::Import)
        .unwrap();
    assert_eq!(
        (again.flow_id, again.status),
        (first.flow_id, ImportStatus::Unchanged)
    );
    let exported = replica.flow(first.flow_id).unwrap().document;
    assert_eq!(
        exported.id,
        Some(first.flow_id),
        "the generated id is kept in exports"
    );
}

#[test]
fn sessions_append_numbered_events_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let flow_id = replica
        .import_flow(share(), WriteSource::Import)
        .unwrap()
        .flow_id;
    let record = replica.start_session(flow_id, request()).unwrap();
    let id = record.id;
    assert_eq!(count(&replica, "SELECT COUNT(*) FROM session_events"), 2);
    replica
        .run_commands(
            id,
            vec![
                Command::Note {
                    text: "VPN user".into(),
                },
                Command::Answer {
                    choice: Choice::parse("no"),
                },
            ],
        )
        .unwrap();
    // A batch with a refused command stores nothing, not even its valid first half.
    let refused = replica.run_commands(
        id,
        vec![
            Command::Note {
                text: "half".into(),
            },
            Command::Answer {
                choice: Choice::parse("maybe"),
            },
        ],
    );
    assert!(matches!(refused, Err(ReplicaError::Engine(_))));
    assert_eq!(count(&replica, "SELECT COUNT(*) FROM session_events"), 5);
    let seqs: Vec<(i64, i64)> = replica
        .connection()
        .prepare("SELECT device_seq, session_seq FROM session_events ORDER BY device_seq")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(seqs, vec![(1, 0), (2, 1), (3, 2), (4, 3), (5, 4)]);
    let finished = replica
        .run_command(
            id,
            Command::Finish {
                outcome: Outcome::Escalated,
                summary: Some("to network".into()),
                next_steps: None,
            },
        )
        .unwrap();
    assert!(finished.state.is_finished());
    let reopened = Replica::open(dir.path()).unwrap();
    assert_eq!(reopened.device_id(), replica.device_id());
    let loaded = reopened.session(id).unwrap();
    assert_eq!(loaded.state, finished.state);
    let summary = &reopened.sessions().unwrap()[0];
    assert_eq!(
        (summary.status.as_str(), summary.outcome.as_deref()),
        ("finished", Some("escalated"))
    );
    assert_eq!(summary.event_count, 6);
    assert_eq!(reopened.pending_count().unwrap(), 1 + 6);
    assert_eq!(reopened.resolve_session(&id.to_string()[..6]).unwrap(), id);
    assert_eq!(reopened.recent_flows(5).unwrap()[0].id, flow_id);
}

#[test]
fn search_finds_titles_commands_and_tags() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    replica.import_flow(share(), WriteSource::Import).unwrap();
    let mut other = share();
    other.id = Some(Uuid::new_v4());
    other.title = "Printer offline".into();
    other.tags = vec!["printing".into()];
    other.nodes[0].commands[0].code = "Get-Printer | Where PrinterStatus -ne Normal".into();
    other.nodes[0].title = "Does the printer answer ping?".into();
    other.intake.clear();
    replica.import_flow(other, WriteSource::Import).unwrap();
    let titles = |query: &str| -> Vec<String> {
        replica
            .search_flows(query, 10)
            .unwrap()
            .into_iter()
            .map(|hit| hit.title)
            .collect()
    };
    assert_eq!(
        titles("mapped drive"),
        vec!["User cannot open a mapped drive"]
    );
    assert_eq!(
        titles("Test-NetConn"),
        vec!["User cannot open a mapped drive"]
    );
    assert_eq!(titles("printerstatus"), vec!["Printer offline"]);
    assert_eq!(titles("drive-map"), vec!["User cannot open a mapped drive"]);
    assert_eq!(titles("SMB").len(), 2);
    assert!(titles("kerberos").is_empty());
    assert!(matches!(
        replica.search_flows("\"*\"", 10),
        Err(ReplicaError::Invalid(_))
    ));
    // Ids resolve by prefix or exact title; an ambiguous prefix is an error naming candidates.
    let id = replica
        .resolve_flow("user cannot open a MAPPED drive")
        .unwrap();
    assert_eq!(replica.resolve_flow("6c0d8f").unwrap(), id);
    assert!(matches!(
        replica.resolve_flow("nope"),
        Err(ReplicaError::NotFound { .. })
    ));
}

#[test]
fn pins_are_ordered_and_queued_for_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let id = replica
        .import_flow(share(), WriteSource::Import)
        .unwrap()
        .flow_id;
    assert!(replica.pin_flow(id).unwrap());
    assert!(!replica.pin_flow(id).unwrap());
    assert_eq!(replica.pinned_flows().unwrap()[0].id, id);
    assert!(replica.flows().unwrap()[0].pinned);
    assert!(replica.unpin_flow(id).unwrap());
    assert!(replica.pinned_flows().unwrap().is_empty());
    assert_eq!(
        count(&replica, "SELECT COUNT(*) FROM outbox WHERE entity = 'pin'"),
        2
    );
    assert!(replica.pin_flow(Uuid::new_v4()).is_err());
}

#[test]
fn attachments_are_content_addressed_and_limited() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ReplicaOptions::new(dir.path().join("data"));
    options.max_attachment_bytes = 1024;
    let mut replica = Replica::open_with(options).unwrap();
    let flow_id = replica
        .import_flow(share(), WriteSource::Import)
        .unwrap()
        .flow_id;
    let id = replica.start_session(flow_id, request()).unwrap().id;
    let log = dir.path().join("netstat.txt");
    std::fs::write(&log, "TCP 10.0.0.5:445 ESTABLISHED\n").unwrap();
    let (record, attachment) = replica.attach_file(id, &log).unwrap();
    assert_eq!(attachment.media_type, "text/plain");
    assert_eq!(attachment.size, 29);
    let stored = replica.attachment_path(&attachment.sha256);
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        std::fs::read(&log).unwrap()
    );
    assert_eq!(
        record.state.path.last().unwrap().attachments,
        vec![attachment.clone()]
    );
    // The same content again: one file, one row, two references.
    let copy = dir.path().join("copy.txt");
    std::fs::copy(&log, &copy).unwrap();
    replica.attach_file(id, &copy).unwrap();
    assert_eq!(count(&replica, "SELECT COUNT(*) FROM attachments"), 1);
    let big = dir.path().join("dump.bin");
    std::fs::write(&big, vec![0u8; 2048]).unwrap();
    let events_before = count(&replica, "SELECT COUNT(*) FROM session_events");
    let error = replica.attach_file(id, &big).unwrap_err();
    assert!(
        matches!(
            error,
            ReplicaError::AttachmentTooLarge {
                size: 2048,
                limit: 1024,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        count(&replica, "SELECT COUNT(*) FROM session_events"),
        events_before
    );
    assert!(
        replica
            .attach_file(id, &dir.path().join("missing.txt"))
            .is_err()
    );
}

#[test]
fn a_database_from_the_first_schema_is_migrated_with_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v1.sqlite3");
    std::fs::copy(&fixture, dir.path().join(rf_replica::DATABASE_FILE)).unwrap();
    let tables = [
        "device",
        "flows",
        "flow_versions",
        "sessions",
        "session_events",
        "outbox",
        "pins",
        "attachments",
    ];
    let before: Vec<i64> = {
        let connection =
            rusqlite::Connection::open(dir.path().join(rf_replica::DATABASE_FILE)).unwrap();
        tables
            .iter()
            .map(|table| {
                connection
                    .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                        row.get(0)
                    })
                    .unwrap()
            })
            .collect()
    };
    assert!(
        before.iter().all(|rows| *rows > 0),
        "the fixture has rows in every table: {before:?}"
    );
    let mut replica = Replica::open(dir.path()).unwrap();
    assert_eq!(
        replica.schema_version().unwrap(),
        rf_replica::migrate::latest_version()
    );
    let after: Vec<i64> = tables
        .iter()
        .map(|table| count(&replica, &format!("SELECT COUNT(*) FROM {table}")))
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        replica.device_id().to_string(),
        "0b8f3c52-7f0e-4f55-a1a4-9d2b7a6c1e00"
    );
    // The new search index was filled from the stored flows during the migration.
    let hits = replica.search_flows("spooler", 5).unwrap();
    assert_eq!(hits[0].title, "Print queue stuck on the print server");
    // The old session replays, continues on its pinned version, and numbering carries on.
    let session = replica.resolve_session("019ab3c4").unwrap();
    let record = replica
        .run_command(
            session,
            Command::Answer {
                choice: Choice::parse("no"),
            },
        )
        .unwrap();
    // Versions are named by content now: the stored hashes were recomputed from the documents
    // and the events and queued mutations that named version 1 and 2 name them by id.
    let v1: String = replica
        .connection()
        .query_row(
            "SELECT content_hash FROM flow_versions WHERE version = 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let document: String = replica
        .connection()
        .query_row(
            "SELECT document FROM flow_versions WHERE version = 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let v1_id = rf_core::VersionId::of(&rf_core::Flow::parse(&document).unwrap());
    assert_eq!(v1, v1_id.to_string());
    assert_eq!(record.state.flow.version, v1_id);
    assert_eq!(record.state.path[0].notes[0].text, "Spooler shows Stopped");
    assert_eq!(
        count(&replica, "SELECT MAX(device_seq) FROM session_events"),
        10
    );
    let finished = replica.resolve_session("019ab3c5").unwrap();
    let finished = replica.session(finished).unwrap();
    assert_eq!(
        finished.state.flow.version,
        replica
            .latest_flow_ref(finished.state.flow.flow_id)
            .unwrap()
            .version
    );
    let stats = replica
        .path_statistics(finished.state.flow.flow_id)
        .unwrap();
    assert_eq!((stats.sessions, stats.resolved), (1, 1));
    let queued: Vec<rf_core::sync::PutFlowVersion> = replica
        .connection()
        .prepare("SELECT payload FROM outbox ORDER BY mutation_id")
        .unwrap()
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|payload| serde_json::from_str(&payload.unwrap()).unwrap())
        .collect();
    assert_eq!(queued[0].version, v1_id);
    assert_eq!(queued[0].base, None);
    assert_eq!(queued[1].base, Some(v1_id));
    assert_eq!(
        count(
            &replica,
            "SELECT COUNT(*) FROM outbox WHERE base_version IS NOT NULL"
        ),
        0
    );
    assert!(
        replica
            .connection()
            .execute("UPDATE session_events SET payload = '{}'", [])
            .unwrap_err()
            .to_string()
            .contains("append-only")
    );
    assert_eq!(replica.pinned_flows().unwrap().len(), 1);
    let integrity: String = replica
        .connection()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[test]
fn a_newer_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Replica::open(dir.path()).unwrap());
    let connection =
        rusqlite::Connection::open(dir.path().join(rf_replica::DATABASE_FILE)).unwrap();
    connection
        .execute(
            "INSERT INTO schema_migrations (version, name) VALUES (1000, 'future')",
            [],
        )
        .unwrap();
    drop(connection);
    let error = Replica::open(dir.path()).unwrap_err();
    assert!(
        error.to_string().contains("newer ResolutionFlow"),
        "{error}"
    );
}

/// Runs a session to the end with the given answers and outcome.
fn finished_session(
    replica: &mut Replica,
    flow_id: Uuid,
    answers: &[&str],
    outcome: Outcome,
) -> Uuid {
    let id = replica.start_session(flow_id, request()).unwrap().id;
    let mut commands: Vec<Command> = answers
        .iter()
        .map(|label| Command::Answer {
            choice: Choice::parse(label),
        })
        .collect();
    commands.push(Command::Finish {
        outcome,
        summary: None,
        next_steps: None,
    });
    replica.run_commands(id, commands).unwrap();
    id
}

#[test]
fn running_path_statistics_equal_a_full_replay_and_survive_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let flow_id = replica
        .import_flow(share(), WriteSource::Import)
        .unwrap()
        .flow_id;
    let mut ids = vec![
        finished_session(&mut replica, flow_id, &["yes"], Outcome::Resolved),
        finished_session(
            &mut replica,
            flow_id,
            &["no", "done", "yes"],
            Outcome::Resolved,
        ),
        finished_session(
            &mut replica,
            flow_id,
            &["no", "done", "no", "done", "yes"],
            Outcome::Escalated,
        ),
        finished_session(&mut replica, flow_id, &["no"], Outcome::Unresolved),
    ];
    // An open session counts for nothing until it finishes.
    ids.push(replica.start_session(flow_id, request()).unwrap().id);
    let states: Vec<_> = ids
        .iter()
        .map(|id| replica.session(*id).unwrap().state)
        .collect();
    let replayed = rf_core::stats::path_statistics(flow_id, &states);
    assert_eq!(replayed.sessions, 4);
    assert_eq!(replica.path_statistics(flow_id).unwrap(), replayed);
    assert_eq!(replica.path_statistics(Uuid::new_v4()).unwrap().sessions, 0);

    // Migration 4's backfill rebuilds the same totals from the stored sessions (with the
    // later migrations undone too, so they run again after it: 5's rewrite is idempotent).
    drop(replica);
    let connection =
        rusqlite::Connection::open(dir.path().join(rf_replica::DATABASE_FILE)).unwrap();
    connection
        .execute_batch(
            "DROP TABLE path_stats_flows; DROP TABLE path_stats_nodes; DROP TABLE path_stats_answers;
             DROP INDEX flow_versions_by_flow_hash;
             DROP TABLE sync_state; DROP TABLE conflicts; DROP TABLE pulled_events;
             DROP TABLE attachment_downloads; DROP TABLE refused_events; DROP TABLE set_aside;
             ALTER TABLE flows DROP COLUMN team_head; ALTER TABLE flows DROP COLUMN team_head_seq;
             ALTER TABLE device DROP COLUMN sent_mutation_id;
             DROP TABLE retired_devices; DROP TABLE session_forks; DROP TABLE published_versions;
             DROP TABLE resolved_here; DROP TABLE note_drafts; DROP TABLE preferences;
             DROP TABLE ticket_posts;
             DROP VIEW batches; DROP VIEW schedules; DROP TABLE team_records;
             DROP INDEX sessions_by_batch; DROP TABLE team_members;
             ALTER TABLE sessions DROP COLUMN batch_id; ALTER TABLE sessions DROP COLUMN target;
             ALTER TABLE device DROP COLUMN token_account;
             DELETE FROM schema_migrations WHERE version >= 4;",
        )
        .unwrap();
    drop(connection);
    let replica = Replica::open(dir.path()).unwrap();
    assert_eq!(replica.path_statistics(flow_id).unwrap(), replayed);
}

#[test]
fn re_importing_an_earlier_version_makes_it_the_head_again_without_a_new_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let first = replica.import_flow(share(), WriteSource::Import).unwrap();
    let mut edited = share();
    edited.title = "File share access denied (edited)".into();
    let second = replica.import_flow(edited, WriteSource::Import).unwrap();
    let back = replica.import_flow(share(), WriteSource::Import).unwrap();
    assert_eq!(back.status, ImportStatus::NewVersion);
    assert_eq!((back.version, back.version_id), (1, first.version_id));
    assert_eq!(count(&replica, "SELECT COUNT(*) FROM flow_versions"), 2);
    let head = replica.latest_flow_ref(first.flow_id).unwrap();
    assert_eq!(head.version, first.version_id);
    assert_eq!(replica.flow(first.flow_id).unwrap().summary.version, 1);
    // The move is a change the team must see: queued with the head it replaced as its base.
    let payload: String = replica
        .connection()
        .query_row(
            "SELECT payload FROM outbox ORDER BY mutation_id DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let payload: rf_core::sync::PutFlowVersion = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        (payload.version, payload.base),
        (first.version_id, Some(second.version_id))
    );
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn a_replica_is_private_to_its_user_and_old_ones_are_corrected() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut replica = Replica::open(&data).unwrap();
    let flow_id = replica
        .import_flow(share(), WriteSource::Import)
        .unwrap()
        .flow_id;
    let id = replica.start_session(flow_id, request()).unwrap().id;
    let log = dir.path().join("ipconfig.txt");
    std::fs::write(&log, "IPv4 Address. . . : 10.1.2.3\n").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, attachment) = replica.attach_file(id, &log).unwrap();
    let stored = replica.attachment_path(&attachment.sha256);
    let database = data.join(rf_replica::DATABASE_FILE);
    let wal = data.join(format!("{}-wal", rf_replica::DATABASE_FILE));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&database), 0o600);
    assert_eq!(
        mode(&wal),
        0o600,
        "SQLite gives the WAL the database's mode"
    );
    assert_eq!(mode(&stored), 0o600);
    drop(replica);

    // A replica made before: everything readable by others, corrected when opened.
    // (The WAL is gone once the last connection closes.)
    for (path, open) in [
        (&data, 0o755),
        (&database, 0o644),
        (&stored, 0o644),
        (&stored.parent().unwrap().to_owned(), 0o755),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(open)).unwrap();
    }
    let replica = Replica::open(&data).unwrap();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&database), 0o600);
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600);
    }
    assert_eq!(mode(&stored), 0o600);
    assert_eq!(mode(stored.parent().unwrap()), 0o700);
    assert_eq!(replica.sessions().unwrap().len(), 1);
}

#[test]
fn an_empty_or_damaged_database_file_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let database = data.join(rf_replica::DATABASE_FILE);
    // Cut short to nothing (a failed copy, a full disk): never a silent new, empty replica.
    std::fs::write(&database, b"").unwrap();
    let error = Replica::open(&data).unwrap_err().to_string();
    assert!(error.contains("empty (0 bytes)"), "{error}");
    assert!(error.contains("Restore it from a backup"), "{error}");
    assert_eq!(std::fs::metadata(&database).unwrap().len(), 0);
    // Something that is not a database at all.
    std::fs::write(&database, vec![0x5a_u8; 8192]).unwrap();
    let error = Replica::open(&data).unwrap_err().to_string();
    assert!(
        error.contains("damaged or is not a ResolutionFlow replica"),
        "{error}"
    );
    assert_eq!(std::fs::read(&database).unwrap(), vec![0x5a_u8; 8192]);
}
