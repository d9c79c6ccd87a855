//! A seeded simulation of three replicas syncing through a real sync server (SQLite, real HTTP
//! on 127.0.0.1) over a hostile network: requests dropped, answers lost, requests duplicated,
//! delivered late and out of order, pages replayed, clients partitioned and restarted, the
//! server restarted. The schedule of every run is a pure function of its seed; ids (UUIDs,
//! tokens) are random and do not steer it.
//!
//! After the storm the network heals, and the test asserts what DESIGN.md promises:
//! every session event a replica wrote is on the server exactly once, every replica ends with
//! nothing pending, and all replicas are identical (flow heads, versions, session logs and
//! projections, conflicts).
//!
//! `RF_SIM_SEEDS=N` runs seeds 0..N (default 200); `RF_SIM_SEED=S` runs one seed, to replay a
//! failure; `RF_SIM_STEPS` sets the steps per run (default 60).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rf_core::session::{Choice, Command, StartRequest};
use rf_core::sync::{Keep, PullResponse, PushRequest, PushResponse};
use rf_core::{Flow, Outcome};
use rf_replica::{Replica, WriteSource};
use rf_tests::{Backend, TestServer, fingerprint};
use uuid::Uuid;

const FLOW_ID: &str = "0c6f4a1e-2b3d-4e5f-8a9b-1c2d3e4f5a6b";

fn flow() -> Flow {
    Flow::parse(&format!(
        r#"{{"format": "resolutionflow/v1", "id": "{FLOW_ID}",
            "kind": "troubleshooting", "title": "Outlook keeps asking for a password", "start": "mfa",
            "nodes": [
              {{"id": "mfa", "type": "question", "title": "Is MFA registration complete?",
               "answers": [{{"label": "Yes", "next": "profile"}}, {{"label": "No", "next": "register"}}]}},
              {{"id": "register", "type": "action", "title": "Walk the user through MFA registration", "next": "mfa"}},
              {{"id": "profile", "type": "action", "title": "Recreate the Outlook profile", "next": "fixed"}},
              {{"id": "fixed", "type": "resolution", "title": "Outlook stops prompting", "outcome": "resolved"}}
            ]}}"#
    ))
    .unwrap()
}

/// What the network does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Deliver,
    /// Never reaches the server.
    DropRequest,
    /// Reaches the server; the answer is lost.
    DropAnswer,
    /// Reaches the server twice; the second answer arrives.
    Duplicate,
    /// Held in the network and delivered later, after newer requests.
    Delay,
}

fn fate(rng: &mut StdRng) -> Fate {
    match rng.random_range(0..100) {
        0..55 => Fate::Deliver,
        55..65 => Fate::DropRequest,
        65..80 => Fate::DropAnswer,
        80..90 => Fate::Duplicate,
        _ => Fate::Delay,
    }
}

struct Client {
    email: &'static str,
    dir: tempfile::TempDir,
    replica: Option<Replica>,
    token: String,
    /// Steps left cut off from the server.
    partitioned: u32,
    held_pushes: Vec<PushRequest>,
    old_pages: Vec<PullResponse>,
}

impl Client {
    fn replica(&mut self) -> &mut Replica {
        if self.replica.is_none() {
            self.replica = Some(Replica::open(self.dir.path()).unwrap());
        }
        self.replica.as_mut().unwrap()
    }

    /// A restart: the process goes away and comes back on the same data directory.
    fn restart(&mut self) {
        self.replica = None;
    }
}

struct Net {
    http: reqwest::blocking::Client,
    base: String,
}

impl Net {
    fn push(&self, token: &str, batch: &PushRequest) -> PushResponse {
        let response = self
            .http
            .post(format!("{}/api/v1/sync/push", self.base))
            .bearer_auth(token)
            .json(batch)
            .send()
            .unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().unwrap();
        assert!(status.is_success(), "push refused: {status} {body}");
        serde_json::from_value(body).unwrap()
    }

    fn pull(&self, token: &str, since: i64, limit: i64) -> PullResponse {
        let response = self
            .http
            .get(format!("{}/api/v1/sync/pull", self.base))
            .bearer_auth(token)
            .query(&[("since", since), ("limit", limit)])
            .send()
            .unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().unwrap();
        assert!(status.is_success(), "pull refused: {status} {body}");
        serde_json::from_value(body).unwrap()
    }
}

fn mark(client: &mut Client) -> i64 {
    client.replica().sync_account().unwrap().unwrap().pulled_seq
}

/// One push under `fate`. A stale answer the replica refuses changes nothing; that is fine.
fn push(net: &Net, client: &mut Client, rng: &mut StdRng, fate: Fate) {
    let (mutations, events) = (rng.random_range(1..6), rng.random_range(1..20));
    let Some(batch) = client.replica().next_push(mutations, events).unwrap() else {
        return;
    };
    let token = client.token.clone();
    match fate {
        Fate::DropRequest => {}
        Fate::Deliver => {
            let answer = net.push(&token, &batch);
            client
                .replica()
                .apply_push_response(&batch, &answer)
                .unwrap();
        }
        Fate::DropAnswer => {
            net.push(&token, &batch);
        }
        Fate::Duplicate => {
            net.push(&token, &batch);
            let answer = net.push(&token, &batch);
            client
                .replica()
                .apply_push_response(&batch, &answer)
                .unwrap();
        }
        Fate::Delay => client.held_pushes.push(batch),
    }
}

/// Delivers a request the network held back; its answer may be stale by now.
fn deliver_held(net: &Net, client: &mut Client, rng: &mut StdRng) {
    if client.held_pushes.is_empty() {
        return;
    }
    let index = rng.random_range(0..client.held_pushes.len());
    let batch = client.held_pushes.remove(index);
    let answer = net.push(&client.token.clone(), &batch);
    if rng.random_bool(0.5) {
        // The replica checks a stale answer against what it holds now; refusing is allowed.
        let _ = client.replica().apply_push_response(&batch, &answer);
    }
}

fn pull(net: &Net, client: &mut Client, rng: &mut StdRng, fate: Fate) {
    let since = mark(client);
    let limit = rng.random_range(1..40);
    let token = client.token.clone();
    match fate {
        Fate::DropRequest => {}
        Fate::DropAnswer => {
            net.pull(&token, since, limit);
        }
        Fate::Deliver | Fate::Duplicate => {
            let page = net.pull(&token, since, limit);
            client.replica().apply_pull(&page).unwrap();
            if fate == Fate::Duplicate {
                client.replica().apply_pull(&page).unwrap();
            }
            client.old_pages.push(page);
        }
        Fate::Delay => {
            // An old page arriving again after newer ones must change nothing.
            if !client.old_pages.is_empty() {
                let index = rng.random_range(0..client.old_pages.len());
                let page = client.old_pages[index].clone();
                let before = fingerprint(client.replica());
                if page.since <= mark(client) {
                    client.replica().apply_pull(&page).unwrap();
                    assert_eq!(
                        fingerprint(client.replica()),
                        before,
                        "a replayed page changed the replica"
                    );
                }
            }
        }
    }
}

fn flow_here(client: &mut Client) -> bool {
    client
        .replica()
        .flow(Uuid::parse_str(FLOW_ID).unwrap())
        .is_ok()
}

/// A session: k rounds of "not yet", then through to the end; sometimes left open.
fn run_session(client: &mut Client, rng: &mut StdRng) {
    if !flow_here(client) {
        return;
    }
    let replica = client.replica();
    let request = StartRequest {
        ticket: format!("T-{}", rng.random_range(100..999)),
        client: "Fabrikam".into(),
        engineer: "sim".into(),
        ..StartRequest::default()
    };
    let id = replica
        .start_session(Uuid::parse_str(FLOW_ID).unwrap(), request)
        .unwrap()
        .id;
    let mut commands = Vec::new();
    for _ in 0..rng.random_range(0..3) {
        commands.push("no");
        commands.push("done");
    }
    commands.push("yes");
    commands.push("done");
    let stop = rng.random_range(0..=commands.len() + 2);
    for (index, choice) in commands.iter().enumerate() {
        if index == stop {
            return;
        }
        replica
            .run_command(
                id,
                Command::Answer {
                    choice: Choice::parse(choice),
                },
            )
            .unwrap();
    }
    if rng.random_bool(0.3) {
        replica
            .run_command(
                id,
                Command::Note {
                    text: "user confirmed".into(),
                },
            )
            .unwrap();
    }
    replica
        .run_command(
            id,
            Command::Finish {
                outcome: Outcome::Resolved,
                summary: None,
                next_steps: None,
            },
        )
        .unwrap();
}

/// The author edits the title or a step title of the current head.
fn edit_flow(client: &mut Client, rng: &mut StdRng, step: usize) {
    if !flow_here(client) {
        return;
    }
    let replica = client.replica();
    let mut document = replica
        .flow(Uuid::parse_str(FLOW_ID).unwrap())
        .unwrap()
        .document;
    match rng.random_range(0..3) {
        0 => document.title = format!("Outlook password prompts (edit {step})"),
        1 => document.nodes[1].title = format!("Register MFA (edit {step})"),
        _ => document.nodes[2].title = format!("Recreate the profile (edit {step})"),
    }
    replica.import_flow(document, WriteSource::Editor).unwrap();
}

fn resolve_a_conflict(client: &mut Client, rng: &mut StdRng) {
    let open = client.replica().conflicts(false).unwrap();
    if open.is_empty() {
        return;
    }
    let conflict = &open[rng.random_range(0..open.len())];
    let keep = if rng.random_bool(0.5) {
        Keep::Mine
    } else {
        Keep::Theirs
    };
    // Keeping "mine" can be refused locally (the field is gone); that changes nothing.
    let result = client.replica().resolve_conflict(conflict.id, keep);
    if std::env::var("RF_SIM_DEBUG").is_ok() {
        eprintln!("resolve {keep:?}: {:?}", result.map(|_| ()));
    }
}

/// Pushes and pulls with a perfect network until nothing moves.
fn heal(net: &Net, clients: &mut [Client]) {
    for _ in 0..3 {
        for client in clients.iter_mut() {
            let token = client.token.clone();
            while let Some(batch) = client.replica().next_push(1_000, 5_000).unwrap() {
                let answer = net.push(&token, &batch);
                let report = client
                    .replica()
                    .apply_push_response(&batch, &answer)
                    .unwrap();
                assert!(
                    report.applied + report.rejected + report.events_acknowledged > 0,
                    "a push with a perfect network settled nothing"
                );
            }
            loop {
                let page = net.pull(&token, mark(client), 500);
                client.replica().apply_pull(&page).unwrap();
                if page.until >= page.latest {
                    break;
                }
            }
        }
    }
}

/// What the runs exercised, so a run that never merges or conflicts cannot pass unnoticed.
#[derive(Debug, Default)]
struct Totals {
    events: usize,
    versions: usize,
    conflicts: usize,
    resolved: usize,
}

fn run(seed: u64, steps: usize, runtime: &tokio::runtime::Runtime, totals: &mut Totals) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut server = runtime.block_on(TestServer::start(Backend::Sqlite));
    let net = Net {
        http: reqwest::blocking::Client::new(),
        base: server.base.clone(),
    };
    // Ada on two devices (the flow's author, so her edits race each other) and Bob.
    let mut clients: Vec<Client> = [
        "ada@contoso.example",
        "ada@contoso.example",
        "bob@contoso.example",
    ]
    .into_iter()
    .map(|email| {
        let token = runtime.block_on(server.issue_token(email));
        let mut client = Client {
            email,
            dir: tempfile::tempdir().unwrap(),
            replica: None,
            token,
            partitioned: 0,
            held_pushes: Vec::new(),
            old_pages: Vec::new(),
        };
        let me: serde_json::Value = net
            .http
            .get(format!("{}/api/v1/me", net.base))
            .bearer_auth(&client.token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let base = net.base.clone();
        client
            .replica()
            .set_sync_account(
                &base,
                Uuid::parse_str(me["team_id"].as_str().unwrap()).unwrap(),
                Uuid::parse_str(me["id"].as_str().unwrap()).unwrap(),
                email,
            )
            .unwrap();
        client
    })
    .collect();
    clients[0]
        .replica()
        .import_flow(flow(), WriteSource::Import)
        .unwrap();

    for step in 0..steps {
        let index = rng.random_range(0..clients.len());
        let action = rng.random_range(0..100);
        let client = &mut clients[index];
        let online = client.partitioned == 0;
        client.partitioned = client.partitioned.saturating_sub(1);
        let is_author = client.email.starts_with("ada");
        match action {
            0..20 => run_session(client, &mut rng),
            20..28 if is_author => edit_flow(client, &mut rng, step),
            28..34 if is_author => resolve_a_conflict(client, &mut rng),
            34..60 if online => {
                let fate = fate(&mut rng);
                push(&net, client, &mut rng, fate);
            }
            60..85 if online => {
                let fate = fate(&mut rng);
                pull(&net, client, &mut rng, fate);
            }
            85..89 if online => deliver_held(&net, client, &mut rng),
            89..93 => client.partitioned = rng.random_range(1..10),
            93..97 => client.restart(),
            97..100 => {
                runtime.block_on(server.pause());
                runtime.block_on(server.resume());
            }
            _ => {}
        }
    }

    // The network heals; held requests still arrive late, then everyone syncs.
    for client in &mut clients {
        client.partitioned = 0;
        client.restart();
        while !client.held_pushes.is_empty() {
            deliver_held(&net, client, &mut rng);
        }
    }
    heal(&net, &mut clients);
    // The author decides what is still open, and everyone syncs again.
    for _ in 0..4 {
        resolve_a_conflict(&mut clients[0], &mut rng);
    }
    heal(&net, &mut clients);

    let context = format!("seed {seed} (rerun with RF_SIM_SEED={seed})");
    let first = fingerprint(clients[0].replica());
    assert_eq!(first.pending, 0, "{context}: work left unacknowledged");
    for (index, client) in clients.iter_mut().enumerate().skip(1) {
        let other = fingerprint(client.replica());
        if other != first {
            let diff = |name: &str,
                        a: &std::collections::BTreeSet<String>,
                        b: &std::collections::BTreeSet<String>| {
                let only_a: Vec<_> = a
                    .difference(b)
                    .map(|row| row.chars().take(160).collect::<String>())
                    .collect();
                let only_b: Vec<_> = b
                    .difference(a)
                    .map(|row| row.chars().take(160).collect::<String>())
                    .collect();
                if only_a.is_empty() && only_b.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\n{name}: only on replica 0: {only_a:#?}\n  only on replica {index}: {only_b:#?}"
                    )
                }
            };
            panic!(
                "{context}: replicas differ (pending {} vs {}){}{}{}{}{}",
                first.pending,
                other.pending,
                diff("heads", &first.heads, &other.heads),
                diff("versions", &first.versions, &other.versions),
                diff("events", &first.events, &other.events),
                diff("sessions", &first.sessions, &other.sessions),
                diff("conflicts", &first.conflicts, &other.conflicts),
            );
        }
    }
    // Every event each device wrote is on the server exactly once.
    for client in &mut clients {
        let replica = client.replica();
        let device = replica.device_id();
        let written: i64 = replica
            .connection()
            .query_row("SELECT last_event_seq FROM device", [], |row| row.get(0))
            .unwrap();
        let stored = runtime.block_on(server.count_query(format!(
            "SELECT COUNT(*) FROM session_events WHERE device_id = '{device}'"
        )));
        let distinct_max = runtime.block_on(server.count_query(format!(
            "SELECT COALESCE(MAX(device_seq), 0) FROM session_events WHERE device_id = '{device}'"
        )));
        assert_eq!(
            (stored, distinct_max),
            (written, written),
            "{context}: device {device}"
        );
    }
    totals.events += first.events.len();
    totals.versions += first.versions.len();
    totals.conflicts += first.conflicts.len();
    totals.resolved += first
        .conflicts
        .iter()
        .filter(|row| !row.ends_with("open"))
        .count();
    let total = runtime.block_on(server.count_query("SELECT COUNT(*) FROM session_events".into()));
    assert_eq!(
        total as usize,
        first.events.len(),
        "{context}: server and replicas disagree"
    );
    runtime.block_on(server.stop());
}

#[test]
fn three_replicas_survive_a_hostile_network() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let steps = std::env::var("RF_SIM_STEPS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(60);
    let seeds: Vec<u64> = match std::env::var("RF_SIM_SEED") {
        Ok(seed) => vec![seed.parse().unwrap()],
        Err(_) => {
            let count = std::env::var("RF_SIM_SEEDS")
                .ok()
                .and_then(|value| value.parse().ok())
                .unwrap_or(200);
            (0..count).collect()
        }
    };
    let mut totals = Totals::default();
    let runs = seeds.len();
    for seed in seeds {
        run(seed, steps, &runtime, &mut totals);
    }
    eprintln!("{runs} runs of {steps} steps: {totals:?}");
    if runs >= 50 {
        assert!(
            totals.conflicts > 0 && totals.resolved > 0 && totals.versions > 2 * runs,
            "the runs never exercised merges and conflicts: {totals:?}"
        );
    }
}
