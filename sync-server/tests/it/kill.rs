//! The server process SIGKILLed at random moments (10 seeds) while a replica pushes a backlog
//! in small batches: after each restart the database passes `PRAGMA integrity_check`, and once
//! the replica's sync goes through, every event it wrote is on the server exactly once.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::{PASSWORD, add_user, count, flow, server, sessions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rf_replica::client::{self, ClientOptions};
use rf_replica::tokens::FileTokenStore;
use rf_replica::{Replica, WriteSource};

const SEEDS: u64 = 10;
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn start(data: &Path, address: &str) -> Child {
    let child = server(data)
        .args(["serve", "--listen", address])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let http = reqwest::blocking::Client::new();
    while http
        .get(format!("http://{address}/api/v1/health"))
        .send()
        .is_err()
    {
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn integrity(data: &Path) {
    let connection = rusqlite::Connection::open(data.join("server.sqlite3")).unwrap();
    let result: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(result, "ok");
}

fn options() -> ClientOptions {
    ClientOptions {
        attempts: 1,
        push_events: 20,
        pull_limit: 20,
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

#[test]
fn sigkill_of_the_server_mid_push_loses_and_doubles_nothing() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("server");
    let replica_dir: PathBuf = work.path().join("replica");
    add_user(&data, "ada@litware.example", "Litware", "engineer");
    let address = free_address();
    let mut process = start(&data, &address);
    let base = format!("http://{address}");
    let store = FileTokenStore::in_data_dir(&replica_dir);
    let mut replica = Replica::open(&replica_dir).unwrap();
    replica.import_flow(flow(), WriteSource::Import).unwrap();
    client::login(
        &mut replica,
        &store,
        &base,
        "ada@litware.example",
        PASSWORD,
        options(),
    )
    .unwrap();

    // How long pushing a backlog takes, so kills land throughout one.
    sessions(&mut replica, 20);
    let started = Instant::now();
    client::sync(&mut replica, &store, options()).unwrap();
    let full = started.elapsed();

    let mut interrupted = 0;
    for seed in 0..SEEDS {
        let mut random = StdRng::seed_from_u64(seed);
        sessions(&mut replica, 20);
        let delay = Duration::from_micros(random.random_range(0..=full.as_micros() as u64));
        let dir = replica_dir.clone();
        let pusher = std::thread::spawn(move || {
            let mut replica = Replica::open(&dir).unwrap();
            let store = FileTokenStore::in_data_dir(&dir);
            client::sync(&mut replica, &store, options()).is_ok()
        });
        std::thread::sleep(delay);
        process.kill().unwrap();
        process.wait().unwrap();
        if !pusher.join().unwrap() {
            interrupted += 1;
        }
        integrity(&data);
        process = start(&data, &address);
    }
    eprintln!("{interrupted} of {SEEDS} kills interrupted a sync");
    assert!(interrupted >= 3, "only {interrupted} kills landed mid-sync");

    let report = client::sync(&mut replica, &store, options()).unwrap();
    assert_eq!(report.pending, 0);
    let written: i64 = replica
        .connection()
        .query_row("SELECT last_event_seq FROM device", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count(&data, "SELECT COUNT(*) FROM session_events"), written);
    assert_eq!(
        count(&data, "SELECT COUNT(DISTINCT team_seq) FROM session_events"),
        written
    );
    assert_eq!(
        count(&data, "SELECT acked_event_seq FROM devices"),
        written,
        "the server acknowledges the whole log"
    );
    process.kill().unwrap();
    process.wait().unwrap();
}
