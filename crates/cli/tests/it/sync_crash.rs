//! `rf sync` SIGKILLed at random moments (20 seeds) while it pushes and pulls in small batches
//! against a real sync server, with another engineer's replica adding work in between. After
//! each kill the database passes `PRAGMA integrity_check`; at the end one more `rf sync` leaves
//! nothing pending, every event is on the server exactly once, and both replicas are identical.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rf_replica::client::{self, ClientOptions};
use rf_replica::tokens::FileTokenStore;
use rf_replica::{Replica, WriteSource};
use rf_tests::device::{flow, record_session};
use rf_tests::{Backend, PASSWORD, TestServer, fingerprint};

const SEEDS: u64 = 20;
/// Records `count` finished sessions of the test flow on the replica in `dir`.
fn sessions(dir: &Path, count: usize) {
    let mut replica = Replica::open(dir).unwrap();
    for index in 0..count {
        record_session(&mut replica, &format!("T-{index}"));
    }
}

fn rf(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rf"));
    command
        .arg("--data-dir")
        .arg(dir)
        .env("RF_TOKEN_STORE", "file")
        .env("RF_PASSWORD", PASSWORD)
        // Small batches: many requests and commits, so kills land between and inside them.
        .env("RF_SYNC_BATCH", "25")
        .env("RF_SYNC_PAGE", "25")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn sync(dir: &Path) -> Child {
    rf(dir).arg("sync").spawn().unwrap()
}

fn integrity(dir: &Path) {
    let connection = rusqlite::Connection::open(dir.join(rf_replica::DATABASE_FILE)).unwrap();
    let result: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(result, "ok");
}

#[test]
fn sigkill_during_sync_loses_and_doubles_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(TestServer::start(Backend::Sqlite));
    let work = tempfile::tempdir().unwrap();
    let (ada, bob) = (work.path().join("ada"), work.path().join("bob"));

    // Ada (the replica that gets killed) has a flow and a backlog of sessions.
    Replica::open(&ada)
        .unwrap()
        .import_flow(flow(), WriteSource::Import)
        .unwrap();
    let login = rf(&ada)
        .args([
            "login",
            "--server",
            &server.base,
            "--email",
            "ada@contoso.example",
        ])
        .status()
        .unwrap();
    assert!(login.success());
    // Bob works through the library API in this process.
    let bob_options = ClientOptions {
        push_events: 25,
        pull_limit: 25,
        ..ClientOptions::default()
    };
    {
        let mut replica = Replica::open(&bob).unwrap();
        let store = FileTokenStore::in_data_dir(&bob);
        client::login(
            &mut replica,
            &store,
            &server.base,
            "bob@contoso.example",
            PASSWORD,
            bob_options.clone(),
        )
        .unwrap();
        // Ada's flow reaches the server with her first push; Bob needs it to run sessions.
        assert!(sync(&ada).wait().unwrap().success());
        client::sync(&mut replica, &store, bob_options.clone()).unwrap();
    }
    sessions(&ada, 20);

    // How long an uninterrupted sync of a similar backlog takes, so kills land throughout one.
    let probe = work.path().join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    Replica::open(&probe)
        .unwrap()
        .import_flow(flow(), WriteSource::Import)
        .unwrap();
    sessions(&probe, 20);
    assert!(
        rf(&probe)
            .args([
                "login",
                "--server",
                &server.base,
                "--email",
                "ada@contoso.example"
            ])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    assert!(sync(&probe).wait().unwrap().success());
    let full = started.elapsed();

    let mut interrupted = 0;
    for seed in 0..SEEDS {
        let mut random = StdRng::seed_from_u64(seed);
        // More work on both sides between kills.
        sessions(&ada, random.random_range(1..4));
        sessions(&bob, random.random_range(0..3));
        {
            let mut replica = Replica::open(&bob).unwrap();
            let store = FileTokenStore::in_data_dir(&bob);
            client::sync(&mut replica, &store, bob_options.clone()).unwrap();
        }
        let delay = Duration::from_micros(random.random_range(0..=full.as_micros() as u64));
        let mut child = sync(&ada);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        integrity(&ada);
    }
    eprintln!("{interrupted} of {SEEDS} kills landed while rf sync was running");
    assert!(
        interrupted >= 5,
        "only {interrupted} of {SEEDS} kills landed while rf sync was running"
    );

    // One clean round each; then everything is everywhere, once.
    assert!(
        sync(&ada).wait().unwrap().success(),
        "rf sync after the kills"
    );
    let mut bob_replica = Replica::open(&bob).unwrap();
    let store = FileTokenStore::in_data_dir(&bob);
    client::sync(&mut bob_replica, &store, bob_options.clone()).unwrap();
    assert!(sync(&ada).wait().unwrap().success());
    let ada_replica = Replica::open(&ada).unwrap();
    let ada_state = fingerprint(&ada_replica);
    assert_eq!(ada_state.pending, 0);
    assert_eq!(fingerprint(&bob_replica), ada_state);
    let probe_replica = Replica::open(&probe).unwrap();
    let mut written = 0;
    for replica in [&ada_replica, &bob_replica, &probe_replica] {
        let device = replica.device_id();
        let last: i64 = replica
            .connection()
            .query_row("SELECT last_event_seq FROM device", [], |row| row.get(0))
            .unwrap();
        let stored = runtime.block_on(server.count_query(format!(
            "SELECT COUNT(*) FROM session_events WHERE device_id = '{device}'"
        )));
        assert_eq!(stored, last, "device {device}: every event once");
        written += last;
    }
    assert_eq!(ada_state.events.len() as i64, written);
    assert_eq!(
        runtime.block_on(server.count_query("SELECT COUNT(*) FROM flow_versions".into())),
        1
    );
    runtime.block_on(server.stop());
}
