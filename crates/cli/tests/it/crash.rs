//! Crash safety: `rf flow import` of a large folder is SIGKILLed at random moments (several
//! seeds). Each time the database must pass `PRAGMA integrity_check`, and every flow must be
//! either fully imported (document, version, search row, outbox row) or entirely absent.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const FLOWS: usize = 300;
const SEEDS: u64 = 8;

fn rf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rf"))
}

/// A valid troubleshooting flow with a chain of questions, each with a command.
fn generated_flow(index: usize) -> serde_json::Value {
    let steps = 40;
    let mut nodes = Vec::new();
    for step in 0..steps {
        let next = if step + 1 == steps {
            "done".to_owned()
        } else {
            format!("q{}", step + 1)
        };
        nodes.push(json!({
            "id": format!("q{step}"), "type": "question",
            "title": format!("Check {step} of generated flow {index}"),
            "body": "Look at the event log and the service state before deciding.",
            "commands": [{"label": "Inspect", "language": "powershell", "code": format!("Get-Service -Name svc{step}")}],
            "answers": [{"label": "Yes", "next": next}, {"label": "No", "next": "done"}]
        }));
    }
    nodes.push(json!({"id": "done", "type": "resolution", "title": "Done", "outcome": "resolved"}));
    json!({
        "format": "resolutionflow/v1",
        "id": format!("00000000-0000-4000-8000-{index:012}"),
        "kind": "troubleshooting",
        "title": format!("Generated flow {index}"),
        "tags": ["generated"],
        "start": "q0",
        "nodes": nodes
    })
}

fn write_library(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for index in 0..FLOWS {
        let path = dir.join(format!("flow-{index:04}.flow.json"));
        std::fs::write(
            path,
            serde_json::to_string_pretty(&generated_flow(index)).unwrap(),
        )
        .unwrap();
    }
}

fn import(library: &Path, data: &Path) -> std::process::Child {
    rf().arg("--data-dir")
        .arg(data)
        .args(["flow", "import"])
        .arg(library)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Checks the all-or-nothing property and returns how many flows are present.
fn check_database(data: &Path) -> usize {
    let database = data.join("replica.sqlite3");
    if !database.exists() {
        return 0;
    }
    let connection = rusqlite::Connection::open(&database).unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let migrated: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_migrations'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    if migrated == 0 {
        return 0;
    }
    let count = |sql: &str| -> i64 { connection.query_row(sql, [], |row| row.get(0)).unwrap() };
    let flows = count("SELECT COUNT(*) FROM flows");
    // No half-written flow: every flow row has exactly its version, search row and outbox row,
    // and nothing exists for a flow without its row.
    assert_eq!(count("SELECT COUNT(*) FROM flow_versions"), flows);
    assert_eq!(
        count("SELECT COUNT(*) FROM outbox WHERE entity = 'flow'"),
        flows
    );
    let search = count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'flow_search'");
    if search == 1 {
        assert_eq!(count("SELECT COUNT(*) FROM flow_search"), flows);
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM flows f WHERE NOT EXISTS (SELECT 1 FROM flow_search s WHERE s.rowid = f.rowid)"
            ),
            0
        );
    }
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM flow_versions v WHERE NOT EXISTS (SELECT 1 FROM flows f WHERE f.id = v.flow_id)"
        ),
        0
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM flows f WHERE f.id = o.entity_id)"
        ),
        0
    );
    // Each stored document is the complete flow from its file.
    let mut statement = connection
        .prepare("SELECT document, node_count FROM flow_versions")
        .unwrap();
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .unwrap();
    for row in rows {
        let (document, node_count) = row.unwrap();
        let stored: serde_json::Value = serde_json::from_str(&document).unwrap();
        let id = stored["id"].as_str().unwrap();
        let index: usize = id.rsplit('-').next().unwrap().parse().unwrap();
        assert_eq!(stored, generated_flow(index), "flow {index} is complete");
        assert_eq!(node_count, 41);
    }
    flows as usize
}

#[test]
fn sigkill_during_import_leaves_whole_flows_or_none() {
    let work = tempfile::tempdir().unwrap();
    let library = work.path().join("library");
    write_library(&library);

    // How long a full import takes here, so kills land throughout it.
    let warm = work.path().join("warm");
    let started = Instant::now();
    assert!(import(&library, &warm).wait().unwrap().success());
    let full = started.elapsed();
    assert_eq!(check_database(&warm), FLOWS);

    let mut partial_runs = 0;
    for seed in 0..SEEDS {
        let mut random = StdRng::seed_from_u64(seed);
        let data = work.path().join(format!("seed-{seed}"));
        // Two kills per seed, the second one on top of what the first left behind.
        for _ in 0..2 {
            let delay = Duration::from_micros(random.random_range(0..=full.as_micros() as u64));
            let mut child = import(&library, &data);
            std::thread::sleep(delay);
            child.kill().unwrap();
            child.wait().unwrap();
            let present = check_database(&data);
            if present > 0 && present < FLOWS {
                partial_runs += 1;
            }
        }
        // Finishing the import afterwards completes the library, with nothing doubled.
        assert!(import(&library, &data).wait().unwrap().success());
        assert_eq!(check_database(&data), FLOWS, "seed {seed}");
    }
    // The kills must actually interrupt imports part-way, or this test proves nothing.
    assert!(
        partial_runs >= 3,
        "only {partial_runs} kills landed mid-import"
    );
}
