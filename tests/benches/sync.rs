//! Sync benchmarks: a load generator over real HTTP on loopback, printing figures for
//! docs/PERFORMANCE.md (on stderr). `cargo bench -p rf-tests --bench sync [-- initial|roundtrip|poke|ingest]`.
//! Runs on SQLite, and on PostgreSQL too when `RF_TEST_DATABASE_URL` is set (./dev starts one:
//! see docs/PERFORMANCE.md).
//!
//! - initial: a team with 1,000 flows (50 nodes each) and 20,000 finished sessions (~21 events
//!   each, ~420k events) synced into an empty replica, beside the time to bulk-insert the same
//!   rows straight into a replica database in one transaction (the ratio is the figure of merit).
//! - roundtrip: one finished session pushed by a replica and pulled by another; p50/p95/p99.
//! - poke: a change on one online replica visible on another waiting on the poke stream.
//! - ingest: 50 concurrent clients pushing session events; events per second.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark fails loudly on purpose.

use std::time::{Duration, Instant};

use rf_core::session::{Choice, Command, EventKind, SessionEvent, SessionState, StartRequest};
use rf_core::sync::{Mutation, PROTOCOL_VERSION, PushRequest, PushedEvent, PushedFlowVersion};
use rf_core::{Flow, FlowRef, FlowSet, Outcome, VersionId};
use rf_replica::client::{self, ClientOptions};
use rf_replica::tokens::{Credentials, FileTokenStore, TokenStore};
use rf_replica::{Replica, WriteSource};
use rf_tests::{Backend, TestServer};
use serde_json::json;
use uuid::Uuid;

const FLOWS: usize = 1_000;
const NODES: usize = 50;
const SESSIONS: usize = 20_000;

fn generated_flow(index: usize) -> Flow {
    let mut nodes = Vec::new();
    for step in 0..NODES - 1 {
        let next = if step + 2 == NODES {
            "done".to_owned()
        } else {
            format!("q{}", step + 1)
        };
        nodes.push(json!({
            "id": format!("q{step}"), "type": "question",
            "title": format!("Check {step} of flow {index}"),
            "body": "Look at the event log and the service state before deciding.",
            "commands": [{"label": "Inspect", "language": "powershell", "code": format!("Get-Service -Name svc{step}")}],
            "answers": [{"label": "Yes", "next": next}, {"label": "No", "next": "done"}]
        }));
    }
    nodes.push(json!({"id": "done", "type": "resolution", "title": "Done", "outcome": "resolved"}));
    Flow::parse(
        &json!({
            "format": "resolutionflow/v1",
            "id": Uuid::from_u128(index as u128 + 1).to_string(),
            "kind": "troubleshooting",
            "title": format!("Generated flow {index}"),
            "start": "q0",
            "nodes": nodes
        })
        .to_string(),
    )
    .unwrap()
}

/// A finished session's events, made by the real engine: start, nine "yes", finish.
fn session_events(flows: &FlowSet, flow_id: Uuid, ticket: usize) -> Vec<SessionEvent> {
    let at = time::OffsetDateTime::now_utc();
    let stamp = |kinds: Vec<EventKind>| {
        kinds
            .into_iter()
            .map(|kind| SessionEvent { at, kind })
            .collect::<Vec<_>>()
    };
    let request = StartRequest {
        ticket: format!("T-{ticket}"),
        client: "Contoso".into(),
        engineer: "bench".into(),
        ..StartRequest::default()
    };
    let mut events = stamp(rf_core::session::start(flows, flow_id, request).unwrap());
    let mut state = SessionState::replay(&events).unwrap();
    let mut commands: Vec<Command> = (0..9)
        .map(|_| Command::Answer {
            choice: Choice::parse("yes"),
        })
        .collect();
    commands.push(Command::Finish {
        outcome: Outcome::Resolved,
        summary: None,
        next_steps: None,
    });
    for command in commands {
        let new = stamp(rf_core::session::decide(&state, flows, command).unwrap());
        for event in &new {
            state.apply(event).unwrap();
        }
        events.extend(new);
    }
    events
}

fn post_push(http: &reqwest::blocking::Client, base: &str, token: &str, request: &PushRequest) {
    let response = http
        .post(format!("{base}/api/v1/sync/push"))
        .bearer_auth(token)
        .json(request)
        .send()
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().unwrap()
    );
}

/// Fills the server: the flows from one device, the sessions from 20 devices.
fn seed_team(server: &TestServer, runtime: &tokio::runtime::Runtime) -> (Vec<Flow>, usize) {
    let http = reqwest::blocking::Client::new();
    let token = runtime.block_on(server.issue_token("ada@contoso.example"));
    let flows: Vec<Flow> = (0..FLOWS).map(generated_flow).collect();
    let mutations: Vec<Mutation> = flows
        .iter()
        .enumerate()
        .map(|(index, flow)| Mutation {
            mutation_id: index as i64 + 1,
            entity: "flow".into(),
            entity_id: flow.id.unwrap().to_string(),
            operation: "put_version".into(),
            base_version: None,
            payload: json!({"version": VersionId::of(flow), "base": null, "document": flow}),
        })
        .collect();
    let author = Uuid::new_v4();
    // Pages of 200 flows stay under the server's 4 MiB request limit.
    for chunk in mutations.chunks(200) {
        post_push(
            &http,
            &server.base,
            &token,
            &PushRequest {
                protocol: PROTOCOL_VERSION,
                schema: 7,
                client_id: author,
                mutations: chunk.to_vec(),
                events: Vec::new(),
                flow_versions: Vec::new(),
            },
        );
    }
    let mut total = 0;
    let devices = 20;
    for device in 0..devices {
        let device_id = Uuid::new_v4();
        let mut seq = 0;
        let mut batch = Vec::new();
        for index in (device..SESSIONS).step_by(devices) {
            let flow = &flows[index % FLOWS];
            let flow_id = flow.id.unwrap();
            let mut set = FlowSet::new();
            set.insert(FlowRef::of(flow_id, flow), flow.clone());
            let session_id = Uuid::now_v7();
            for (session_seq, event) in session_events(&set, flow_id, index).iter().enumerate() {
                seq += 1;
                batch.push(PushedEvent {
                    device_id,
                    device_seq: seq,
                    session_id,
                    session_seq: session_seq as i64,
                    payload: serde_json::to_value(event).unwrap(),
                });
            }
            if batch.len() >= 4_000 {
                total += batch.len();
                push_events(
                    &http,
                    &server.base,
                    &token,
                    device_id,
                    std::mem::take(&mut batch),
                );
            }
        }
        total += batch.len();
        push_events(&http, &server.base, &token, device_id, batch);
    }
    (flows, total)
}

fn push_events(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    device_id: Uuid,
    events: Vec<PushedEvent>,
) {
    if events.is_empty() {
        return;
    }
    post_push(
        http,
        base,
        token,
        &PushRequest {
            protocol: PROTOCOL_VERSION,
            schema: 7,
            client_id: device_id,
            mutations: Vec::new(),
            events,
            flow_versions: Vec::new(),
        },
    );
}

/// A replica logged in to `server` as `email` with tokens in a file, without a password check.
fn logged_in(
    server: &TestServer,
    runtime: &tokio::runtime::Runtime,
    email: &str,
) -> (tempfile::TempDir, FileTokenStore) {
    let dir = tempfile::tempdir().unwrap();
    let token = runtime.block_on(server.issue_token(email));
    let me: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    replica
        .set_sync_account(
            &server.base,
            Uuid::parse_str(me["team_id"].as_str().unwrap()).unwrap(),
            Uuid::parse_str(me["id"].as_str().unwrap()).unwrap(),
            email,
        )
        .unwrap();
    let store = FileTokenStore::in_data_dir(dir.path());
    store
        .save(&Credentials {
            server_url: server.base.clone(),
            access_token: token,
            access_expires_at: time::OffsetDateTime::now_utc().unix_timestamp() + 3_000,
            refresh_token: "unused".into(),
        })
        .unwrap();
    (dir, store)
}

/// CPU time read from Linux's /proc (in seconds; all zero elsewhere): this process (the
/// server's threads and the replica's), and the whole machine by kind, so a figure measured on
/// a shared machine says how much of its wall time others took.
#[derive(Debug, Clone, Copy, Default)]
struct CpuClock {
    process: f64,
    /// Every CPU's time (/proc/stat): busy (user at nice 0 or below, system of any nice,
    /// interrupts), user at a positive nice, idle, waiting for IO, stolen by the hypervisor.
    busy: f64,
    niced: f64,
    idle: f64,
    iowait: f64,
    steal: f64,
}

impl CpuClock {
    fn now() -> CpuClock {
        const TICKS: f64 = 100.0; // USER_HZ, 100 on every Linux architecture we run on
        let process = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|stat| {
                // After the name: state, ppid, …; utime and stime are fields 14 and 15 of
                // the line, the 12th and 13th after the name.
                let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
                let ticks = |index: usize| fields.get(index)?.parse::<f64>().ok();
                Some((ticks(11)? + ticks(12)?) / TICKS)
            })
            .unwrap_or(0.0);
        let machine: Vec<f64> = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| {
                let line = stat.lines().next()?.strip_prefix("cpu ")?.to_owned();
                Some(
                    line.split_whitespace()
                        .filter_map(|field| field.parse::<f64>().ok())
                        .map(|ticks| ticks / TICKS)
                        .collect(),
                )
            })
            .unwrap_or_default();
        let at = |index: usize| machine.get(index).copied().unwrap_or(0.0);
        // user nice system idle iowait irq softirq steal
        CpuClock {
            process,
            busy: at(0) + at(2) + at(5) + at(6),
            niced: at(1),
            idle: at(3),
            iowait: at(4),
            steal: at(7),
        }
    }

    /// What happened since `earlier`, as one phrase.
    fn since(self, earlier: CpuClock, wall: Duration) -> String {
        format!(
            "{:.1} s wall, this process {:.1} CPU-s; the rest of the machine: {:.1} CPU-s user \
             time at nice > 0, {:.1} other (user at nice ≤ 0, system of any nice, interrupts); \
             {:.1} idle, {:.1} iowait, {:.1} stolen",
            wall.as_secs_f64(),
            self.process - earlier.process,
            self.niced - earlier.niced,
            (self.busy - earlier.busy) - (self.process - earlier.process),
            self.idle - earlier.idle,
            self.iowait - earlier.iowait,
            self.steal - earlier.steal,
        )
    }
}

fn initial(backend: Backend, runtime: &tokio::runtime::Runtime) {
    let server = runtime.block_on(TestServer::start(backend));
    let started = Instant::now();
    let (flows, events) = seed_team(&server, runtime);
    let seeding = started.elapsed();
    let (dir, store) = logged_in(&server, runtime, "bob@contoso.example");
    let mut replica = Replica::open(dir.path()).unwrap();
    let cpu_started = CpuClock::now();
    let started = Instant::now();
    let report = client::sync(&mut replica, &store, ClientOptions::default()).unwrap();
    let sync = started.elapsed();
    let sync_cpu = CpuClock::now().since(cpu_started, sync);
    assert_eq!(report.pulled.events, events, "every event arrived");
    assert_eq!(report.pulled.versions, FLOWS);
    assert!(report.snapshot_pages > 0, "a first sync takes the snapshot");

    // The same first sync paging with pull (as before the snapshot, and as a replica that has
    // synced before catches up), for comparison.
    let (paged_dir, paged_store) = logged_in(&server, runtime, "vic@contoso.example");
    let mut paged_replica = Replica::open(paged_dir.path()).unwrap();
    let started = Instant::now();
    let paging = ClientOptions {
        snapshot: false,
        ..ClientOptions::default()
    };
    let paged_report = client::sync(&mut paged_replica, &paged_store, paging).unwrap();
    let paged = started.elapsed();
    assert_eq!(paged_report.pulled.events, events);

    // The same rows straight into a fresh replica database, one transaction.
    let bulk_dir = tempfile::tempdir().unwrap();
    let pulled: Vec<(String, i64, String, i64, String)> = replica
        .connection()
        .prepare(
            "SELECT device_id, device_seq, session_id, session_seq, payload FROM session_events",
        )
        .unwrap()
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let sessions: Vec<Vec<String>> = {
        let mut statement = replica.connection().prepare("SELECT id, flow_id, flow_title, ticket, client, engineer, status, started_at, updated_at FROM sessions").unwrap();
        statement
            .query_map([], |row| {
                (0..9)
                    .map(|index| row.get::<_, String>(index))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let bulk = {
        let mut target = Replica::open(bulk_dir.path()).unwrap();
        drop(target.import_flows(Vec::new(), WriteSource::Sync));
        drop(target);
        let mut connection =
            rusqlite::Connection::open(bulk_dir.path().join(rf_replica::DATABASE_FILE)).unwrap();
        connection
            .pragma_update(None, "synchronous", "FULL")
            .unwrap();
        let cpu_started = CpuClock::now();
        let started = Instant::now();
        let transaction = connection.transaction().unwrap();
        {
            let mut flow_row = transaction.prepare("INSERT INTO flows (id, kind, title, tags, latest_version, created_at, updated_at) VALUES (?1, 'troubleshooting', ?2, '[]', 1, 'now', 'now')").unwrap();
            let mut version_row = transaction.prepare("INSERT INTO flow_versions (flow_id, version, document, content_hash, node_count, source, created_at) VALUES (?1, 1, ?2, ?3, ?4, 'sync', 'now')").unwrap();
            for flow in &flows {
                let id = flow.id.unwrap().to_string();
                flow_row.execute(rusqlite::params![id, flow.title]).unwrap();
                version_row
                    .execute(rusqlite::params![
                        id,
                        flow.to_json_compact(),
                        VersionId::of(flow).to_string(),
                        flow.nodes.len() as i64
                    ])
                    .unwrap();
            }
            let mut session_row = transaction.prepare("INSERT INTO sessions (id, flow_id, flow_version, flow_title, ticket, client, engineer, status, started_at, updated_at, event_count) VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 21)").unwrap();
            for row in &sessions {
                session_row
                    .execute(rusqlite::params_from_iter(row.iter()))
                    .unwrap();
            }
            let mut event_row = transaction.prepare("INSERT INTO session_events (device_id, device_seq, session_id, session_seq, kind, at, payload) VALUES (?1, ?2, ?3, ?4, 'event', 'now', ?5)").unwrap();
            for (device, seq, session, session_seq, payload) in &pulled {
                event_row
                    .execute(rusqlite::params![
                        device,
                        seq,
                        session,
                        session_seq,
                        payload
                    ])
                    .unwrap();
            }
        }
        transaction.commit().unwrap();
        let elapsed = started.elapsed();
        (elapsed, CpuClock::now().since(cpu_started, elapsed))
    };
    let (bulk, bulk_cpu) = bulk;
    eprintln!(
        "initial sync [{backend:?}]: {FLOWS} flows ({} nodes), {} sessions, {events} events: {:.2} s by snapshot \
         ({} pages streamed), {:.2} s paging with pull ({} pages); \
         bulk insert of the same rows: {:.2} s; ratio {:.1}x (seeding the server took {:.1} s)",
        FLOWS * NODES,
        sessions.len(),
        sync.as_secs_f64(),
        report.snapshot_pages,
        paged.as_secs_f64(),
        paged_report.pages,
        bulk.as_secs_f64(),
        sync.as_secs_f64() / bulk.as_secs_f64(),
        seeding.as_secs_f64()
    );
    eprintln!(
        "initial sync [{backend:?}], CPU time: snapshot: {sync_cpu}; bulk insert: {bulk_cpu}"
    );
    runtime.block_on(server.stop());
}

/// Prints `what [backend]: n=… p50=… p95=… p99=…` for the timings.
fn print_percentiles(what: &str, backend: Backend, times: &mut [Duration]) {
    times.sort();
    let ms = |fraction| percentile(times, fraction).as_secs_f64() * 1e3;
    eprintln!(
        "{what} [{backend:?}]: n={} p50={:.1} ms p95={:.1} ms p99={:.1} ms",
        times.len(),
        ms(0.5),
        ms(0.95),
        ms(0.99),
    );
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() as f64 * fraction) as usize).min(sorted.len() - 1)]
}

fn roundtrip(backend: Backend, runtime: &tokio::runtime::Runtime) {
    let server = runtime.block_on(TestServer::start(backend));
    let (writer_dir, writer_store) = logged_in(&server, runtime, "ada@contoso.example");
    let (reader_dir, reader_store) = logged_in(&server, runtime, "bob@contoso.example");
    let mut writer = Replica::open(writer_dir.path()).unwrap();
    let mut reader = Replica::open(reader_dir.path()).unwrap();
    let flow = generated_flow(0);
    let flow_id = flow.id.unwrap();
    writer.import_flow(flow, WriteSource::Import).unwrap();
    client::sync(&mut writer, &writer_store, ClientOptions::default()).unwrap();
    client::sync(&mut reader, &reader_store, ClientOptions::default()).unwrap();
    // Kept between rounds, as the desktop's background sync keeps them.
    let writer_syncer = client::Syncer::new(&server.base, ClientOptions::default()).unwrap();
    let reader_syncer = client::Syncer::new(&server.base, ClientOptions::default()).unwrap();
    let mut times = Vec::new();
    for round in 0..200 {
        let id = writer
            .start_session(
                flow_id,
                StartRequest {
                    ticket: format!("T-{round}"),
                    client: "Contoso".into(),
                    engineer: "bench".into(),
                    ..StartRequest::default()
                },
            )
            .unwrap()
            .id;
        let mut commands: Vec<Command> = (0..9)
            .map(|_| Command::Answer {
                choice: Choice::parse("yes"),
            })
            .collect();
        commands.push(Command::Finish {
            outcome: Outcome::Resolved,
            summary: None,
            next_steps: None,
        });
        writer.run_commands(id, commands).unwrap();
        let started = Instant::now();
        writer_syncer.sync(&mut writer, &writer_store).unwrap();
        let report = reader_syncer.sync(&mut reader, &reader_store).unwrap();
        times.push(started.elapsed());
        assert_eq!(report.pulled.events, 21);
    }
    print_percentiles(
        "one finished session pushed and pulled",
        backend,
        &mut times,
    );
    runtime.block_on(server.stop());
}

/// A change on one online replica visible on another that waits on the poke stream: from the
/// writer starting its push to the reader having pulled the session.
fn poke(backend: Backend, runtime: &tokio::runtime::Runtime) {
    let server = runtime.block_on(TestServer::start(backend));
    let (writer_dir, writer_store) = logged_in(&server, runtime, "ada@contoso.example");
    let (reader_dir, reader_store) = logged_in(&server, runtime, "bob@contoso.example");
    let mut writer = Replica::open(writer_dir.path()).unwrap();
    let flow = generated_flow(0);
    let flow_id = flow.id.unwrap();
    writer.import_flow(flow, WriteSource::Import).unwrap();
    let writer_syncer = client::Syncer::new(&server.base, ClientOptions::default()).unwrap();
    writer_syncer.sync(&mut writer, &writer_store).unwrap();
    let rounds = 100;
    let (started_tx, started_rx) = std::sync::mpsc::channel::<Instant>();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<Duration>();
    let base = server.base.clone();
    let reader = std::thread::spawn(move || {
        let mut replica = Replica::open(reader_dir.path()).unwrap();
        let syncer = client::Syncer::new(&base, ClientOptions::default()).unwrap();
        syncer.sync(&mut replica, &reader_store).unwrap();
        seen_tx.send(Duration::ZERO).unwrap(); // ready
        let mut done = 0;
        while done < rounds {
            syncer
                .wait_for_changes(&replica, &reader_store, Duration::from_secs(30))
                .unwrap();
            let report = syncer.sync(&mut replica, &reader_store).unwrap();
            if report.pulled.events > 0 {
                let started = started_rx.recv().unwrap();
                seen_tx.send(started.elapsed()).unwrap();
                done += 1;
            }
        }
    });
    seen_rx.recv().unwrap();
    let mut times = Vec::new();
    for round in 0..rounds {
        let id = writer
            .start_session(
                flow_id,
                StartRequest {
                    ticket: format!("P-{round}"),
                    client: "Contoso".into(),
                    engineer: "bench".into(),
                    ..StartRequest::default()
                },
            )
            .unwrap()
            .id;
        writer
            .run_commands(
                id,
                vec![Command::Finish {
                    outcome: Outcome::Resolved,
                    summary: None,
                    next_steps: None,
                }],
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(20)); // the reader is waiting on its stream
        started_tx.send(Instant::now()).unwrap();
        writer_syncer.sync(&mut writer, &writer_store).unwrap();
        times.push(seen_rx.recv().unwrap());
    }
    reader.join().unwrap();
    print_percentiles(
        "change on one replica visible on another (poke, pull)",
        backend,
        &mut times,
    );
    runtime.block_on(server.stop());
}

fn ingest(backend: Backend, runtime: &tokio::runtime::Runtime) {
    let server = runtime.block_on(TestServer::start(backend));
    let flow = generated_flow(0);
    let flow_id = flow.id.unwrap();
    let mut set = FlowSet::new();
    set.insert(FlowRef::of(flow_id, &flow), flow.clone());
    let clients = 50;
    let pushes_per_client = 20;
    let sessions_per_push = 10; // 210 events per push
    // Every request is prepared first, so the timing is the server's work and the network's.
    let mut work = Vec::new();
    for _ in 0..clients {
        let token = runtime.block_on(server.issue_token("ada@contoso.example"));
        let device_id = Uuid::new_v4();
        let mut seq = 0;
        let mut requests = Vec::new();
        for push in 0..pushes_per_client {
            let mut events = Vec::new();
            for session in 0..sessions_per_push {
                let session_id = Uuid::now_v7();
                for (session_seq, event) in session_events(&set, flow_id, push * 100 + session)
                    .iter()
                    .enumerate()
                {
                    seq += 1;
                    events.push(PushedEvent {
                        device_id,
                        device_seq: seq,
                        session_id,
                        session_seq: session_seq as i64,
                        payload: serde_json::to_value(event).unwrap(),
                    });
                }
            }
            let flow_versions = vec![PushedFlowVersion {
                flow_id,
                version: VersionId::of(&flow),
                document: serde_json::to_value(&flow).unwrap(),
            }];
            requests.push(
                serde_json::to_vec(&PushRequest {
                    protocol: PROTOCOL_VERSION,
                    schema: 7,
                    client_id: device_id,
                    mutations: Vec::new(),
                    events,
                    flow_versions,
                })
                .unwrap(),
            );
        }
        work.push((token, requests));
    }
    let total_events = clients * pushes_per_client * sessions_per_push * 21;
    let base = server.base.clone();
    let started = Instant::now();
    let threads: Vec<_> = work
        .into_iter()
        .map(|(token, requests)| {
            let base = base.clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                for body in requests {
                    let response = http
                        .post(format!("{base}/api/v1/sync/push"))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .unwrap();
                    assert!(response.status().is_success());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let elapsed = started.elapsed();
    let stored = runtime.block_on(server.count("SELECT COUNT(*) FROM session_events"));
    assert_eq!(stored as usize, total_events);
    eprintln!(
        "ingest [{backend:?}]: {clients} concurrent clients, {total_events} events in {:.2} s: {:.0} events/s",
        elapsed.as_secs_f64(),
        total_events as f64 / elapsed.as_secs_f64()
    );
    runtime.block_on(server.stop());
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let wanted =
        |name: &str| filter.is_empty() || filter.iter().any(|given| name.contains(given.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut backends = vec![Backend::Sqlite];
    if std::env::var("RF_TEST_DATABASE_URL").is_ok() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        if wanted("roundtrip") {
            roundtrip(backend, &runtime);
        }
        if wanted("poke") {
            poke(backend, &runtime);
        }
        if wanted("ingest") {
            ingest(backend, &runtime);
        }
        if wanted("initial") {
            initial(backend, &runtime);
        }
    }
}
