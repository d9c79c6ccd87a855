//! What the tests that run the real `rf-sync-server` binary share: a flow, finished sessions
//! recorded on a replica, and the server's command on a data directory.

use std::path::Path;
use std::process::{Command, Stdio};

use rf_core::session::{Choice, Command as SessionCommand, StartRequest};
use rf_core::{Flow, Outcome};
use rf_replica::Replica;
use uuid::Uuid;

pub const PASSWORD: &str = "a long enough test password";
pub const FLOW_ID: &str = "7e6d5c4b-3a29-4817-9605-f4e3d2c1b0a9";

pub fn flow() -> Flow {
    Flow::parse(&format!(
        r#"{{"format": "resolutionflow/v1", "id": "{FLOW_ID}",
            "kind": "troubleshooting", "title": "Printer shows offline", "start": "ping",
            "nodes": [
              {{"id": "ping", "type": "question", "title": "Does the printer answer ping?",
               "answers": [{{"label": "Yes", "next": "queue"}}, {{"label": "No", "next": "power"}}]}},
              {{"id": "power", "type": "action", "title": "Power-cycle the printer", "next": "ping"}},
              {{"id": "queue", "type": "action", "title": "Clear the print queue", "next": "ok"}},
              {{"id": "ok", "type": "resolution", "title": "Printing again", "outcome": "resolved"}}
            ]}}"#
    ))
    .unwrap()
}

/// Records `count` finished sessions of [`flow`] on the replica.
pub fn sessions(replica: &mut Replica, count: usize) {
    for index in 0..count {
        let request = StartRequest {
            ticket: format!("T-{index}"),
            client: "Litware".into(),
            engineer: "process-test".into(),
            ..StartRequest::default()
        };
        let id = replica
            .start_session(Uuid::parse_str(FLOW_ID).unwrap(), request)
            .unwrap()
            .id;
        for choice in ["no", "done", "yes", "done"] {
            replica
                .run_command(
                    id,
                    SessionCommand::Answer {
                        choice: Choice::parse(choice),
                    },
                )
                .unwrap();
        }
        replica
            .run_command(
                id,
                SessionCommand::Finish {
                    outcome: Outcome::Resolved,
                    summary: None,
                    next_steps: None,
                },
            )
            .unwrap();
    }
}

/// The server binary on `data`, quiet, with [`PASSWORD`] for `user add`.
pub fn server(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rf-sync-server"));
    command
        .arg("--data-dir")
        .arg(data)
        .env("RF_PASSWORD", PASSWORD)
        .env("RF_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Adds an account with [`PASSWORD`] through `rf-sync-server user add`.
pub fn add_user(data: &Path, email: &str, team: &str, role: &str) {
    let status = server(data)
        .args([
            "user", "add", "--email", email, "--team", team, "--role", role,
        ])
        .status()
        .unwrap();
    assert!(status.success(), "user add {email}: {status:?}");
}

/// A number read straight from the server's SQLite database.
pub fn count(data: &Path, sql: &str) -> i64 {
    let connection = rusqlite::Connection::open(data.join("server.sqlite3")).unwrap();
    connection.query_row(sql, [], |row| row.get(0)).unwrap()
}
