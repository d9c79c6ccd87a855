//! Replica benchmarks: a durable answer with a note, and full-text search over a large library.
//!
//! Run: `cargo bench -p rf-replica --bench replica`. Besides criterion's estimates, the run
//! prints p50/p95/p99 over 2,000 timed calls of each operation, the figures docs/PERFORMANCE.md
//! quotes (criterion reports means and medians, the targets are percentiles).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rf_core::Flow;
use rf_core::session::{Choice, Command, StartRequest};
use rf_replica::{Replica, WriteSource};
use serde_json::json;
use uuid::Uuid;

/// The topics an MSP library covers; each generated flow belongs to one, as real flows do, and
/// draws most of its words from its topic.
const TOPICS: &[&[&str]] = &[
    &[
        "citrix",
        "vda",
        "registration",
        "controller",
        "delivery",
        "broker",
        "storefront",
        "ica",
    ],
    &[
        "fslogix",
        "profile",
        "container",
        "vhdx",
        "frxtray",
        "redirection",
        "ntuser",
        "temporary",
    ],
    &[
        "replication",
        "domain",
        "controller",
        "repadmin",
        "dcdiag",
        "usn",
        "tombstone",
        "sysvol",
    ],
    &[
        "kerberos",
        "ticket",
        "spn",
        "klist",
        "skew",
        "delegation",
        "krbtgt",
        "encryption",
    ],
    &[
        "dns",
        "resolution",
        "forwarder",
        "zone",
        "record",
        "nslookup",
        "suffix",
        "scavenging",
    ],
    &[
        "dhcp",
        "lease",
        "scope",
        "reservation",
        "exhausted",
        "relay",
        "option",
        "failover",
    ],
    &[
        "printer", "spooler", "queue", "driver", "port", "tray", "jam", "toner",
    ],
    &[
        "vpn", "tunnel", "phase", "ike", "proposal", "psk", "peer", "ipsec",
    ],
    &[
        "sonicwall",
        "firewall",
        "rule",
        "nat",
        "zone",
        "access",
        "policy",
        "object",
    ],
    &[
        "outlook",
        "exchange",
        "mailbox",
        "autodiscover",
        "ost",
        "prompt",
        "modern",
        "auth",
    ],
    &[
        "certificate",
        "expired",
        "tls",
        "chain",
        "renewal",
        "ssl",
        "thumbprint",
        "binding",
    ],
    &[
        "smb",
        "share",
        "ntfs",
        "permission",
        "mapped",
        "drive",
        "unc",
        "inheritance",
    ],
    &[
        "gpo",
        "group",
        "policy",
        "gpresult",
        "loopback",
        "filtering",
        "wmi",
        "precedence",
    ],
    &[
        "intune",
        "enrollment",
        "compliance",
        "autopilot",
        "configuration",
        "mdm",
        "device",
        "sync",
    ],
    &[
        "bitlocker",
        "recovery",
        "key",
        "tpm",
        "protector",
        "escrow",
        "encryption",
        "pin",
    ],
    &[
        "backup",
        "veeam",
        "job",
        "repository",
        "restore",
        "retention",
        "snapshot",
        "chain",
    ],
    &[
        "hyper-v",
        "vmware",
        "esxi",
        "datastore",
        "vmotion",
        "checkpoint",
        "host",
        "cluster",
    ],
    &[
        "disk", "space", "cleanup", "volume", "winsxs", "shadow", "quota", "growth",
    ],
    &[
        "cpu",
        "memory",
        "leak",
        "performance",
        "handle",
        "paged",
        "pool",
        "counter",
    ],
    &[
        "lockout",
        "password",
        "reset",
        "badpwdcount",
        "source",
        "credential",
        "stale",
        "4740",
    ],
    &[
        "mfa",
        "azure",
        "entra",
        "conditional",
        "signin",
        "authenticator",
        "token",
        "session",
    ],
    &[
        "teams", "meeting", "presence", "audio", "client", "cache", "calling", "webcam",
    ],
    &[
        "sharepoint",
        "onedrive",
        "sync",
        "library",
        "conflict",
        "version",
        "site",
        "permissions",
    ],
    &[
        "license",
        "assignment",
        "sku",
        "usage",
        "location",
        "subscription",
        "trial",
        "seat",
    ],
    &[
        "patch",
        "update",
        "wsus",
        "reboot",
        "rollback",
        "cumulative",
        "servicing",
        "kb",
    ],
    &[
        "switch", "vlan", "trunk", "port", "poe", "spanning", "tree", "uplink",
    ],
    &[
        "wifi", "ssid", "radius", "nps", "eap", "roaming", "channel", "802.1x",
    ],
    &[
        "rdp",
        "gateway",
        "remote",
        "desktop",
        "nla",
        "licensing",
        "session",
        "host",
    ],
    &[
        "sql",
        "database",
        "instance",
        "tempdb",
        "deadlock",
        "agent",
        "login",
        "transaction",
    ],
    &[
        "iis",
        "application",
        "pool",
        "worker",
        "binding",
        "site",
        "recycle",
        "503",
    ],
];

/// Words every flow uses, whatever its topic.
const COMMON: &[&str] = &[
    "check",
    "verify",
    "service",
    "restart",
    "event",
    "log",
    "user",
    "server",
    "client",
    "error",
    "status",
    "confirm",
    "run",
    "open",
    "console",
    "settings",
    "network",
    "connection",
    "test",
];

fn word(random: &mut StdRng, topic: &[&str]) -> String {
    // About two words in three come from the flow's topic, the rest are common words or, now and
    // then, an identifier of the kind runbooks are full of (KB numbers, error codes, host names).
    match random.random_range(0..100) {
        0..65 => (*topic.choose(random).unwrap_or(&"check")).to_owned(),
        65..95 => (*COMMON.choose(random).unwrap_or(&"check")).to_owned(),
        95..97 => format!("kb{}", random.random_range(4_000_000..5_100_000)),
        97..99 => format!(
            "0x{:08x}",
            random.random_range(0x8000_0000_u32..0x8010_0000)
        ),
        _ => format!("srv{:04}", random.random_range(0..5000)),
    }
}

fn sentence(random: &mut StdRng, topic: &[&str], words: usize) -> String {
    (0..words)
        .map(|_| word(random, topic))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A troubleshooting flow of `questions` questions on one topic, each with a command.
fn generated_flow(random: &mut StdRng, index: usize, questions: usize) -> Flow {
    let topic = TOPICS[index % TOPICS.len()];
    let mut nodes = Vec::new();
    for step in 0..questions {
        let next = if step + 1 == questions {
            "fixed".to_owned()
        } else {
            format!("q{}", step + 1)
        };
        nodes.push(json!({
            "id": format!("q{step}"), "type": "question",
            "title": format!("Is the {} {}?", sentence(random, topic, 2), sentence(random, topic, 1)),
            "body": sentence(random, topic, 18),
            "commands": [{"label": sentence(random, topic, 2), "language": "powershell",
                          "code": format!("Get-{} -Name {} | Select {}", word(random, topic), word(random, topic), word(random, topic))}],
            "answers": [{"label": "Yes", "next": next}, {"label": "No", "next": "escalate"}]
        }));
    }
    nodes.push(
        json!({"id": "fixed", "type": "resolution", "title": "Fixed", "outcome": "resolved"}),
    );
    nodes.push(json!({"id": "escalate", "type": "resolution", "title": sentence(random, topic, 4), "outcome": "escalated"}));
    let document = json!({
        "format": "resolutionflow/v1",
        "id": Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 + index as u128).to_string(),
        "kind": "troubleshooting",
        "title": format!("{} {} ({index})", sentence(random, topic, 3), sentence(random, topic, 2)),
        "tags": [topic[0], word(random, topic)],
        "start": "q0",
        "nodes": nodes
    });
    Flow::parse(&document.to_string())
        .unwrap_or_else(|error| panic!("generated flow invalid: {error}"))
}

/// A flow that loops forever, so a session can take any number of answers.
fn looping_flow() -> Flow {
    Flow::parse(
        r#"{"format": "resolutionflow/v1", "kind": "troubleshooting", "title": "Loop", "start": "check",
            "nodes": [
              {"id": "check", "type": "question", "title": "Is the service healthy?",
               "answers": [{"label": "No", "next": "restart"}, {"label": "Yes", "next": "ok"}]},
              {"id": "restart", "type": "action", "title": "Restart it", "next": "check"},
              {"id": "ok", "type": "resolution", "title": "Healthy", "outcome": "resolved"}
            ]}"#,
    )
    .unwrap_or_else(|error| panic!("{error}"))
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |fraction: f64| {
        samples[((samples.len() as f64 * fraction) as usize).min(samples.len() - 1)]
    };
    eprintln!(
        "{label}: n={} p50={:.3} ms p95={:.3} ms p99={:.3} ms",
        samples.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
}

/// One step of a session as an engineer records it: a note and an answer, one durable commit.
struct AnswerBench {
    replica: Replica,
    flow_id: Uuid,
    session: Uuid,
    commands_in_session: usize,
}

impl AnswerBench {
    fn new(dir: &std::path::Path) -> AnswerBench {
        let mut replica = Replica::open(dir).unwrap_or_else(|error| panic!("{error}"));
        let flow_id = replica
            .import_flow(looping_flow(), WriteSource::Import)
            .unwrap_or_else(|error| panic!("{error}"))
            .flow_id;
        let session = Uuid::nil();
        let mut bench = AnswerBench {
            replica,
            flow_id,
            session,
            commands_in_session: 0,
        };
        bench.new_session();
        bench
    }

    fn new_session(&mut self) {
        let request = StartRequest {
            ticket: "T-1".into(),
            client: "Bench".into(),
            engineer: "bench".into(),
            ..StartRequest::default()
        };
        self.session = self
            .replica
            .start_session(self.flow_id, request)
            .unwrap_or_else(|error| panic!("{error}"))
            .id;
        self.commands_in_session = 0;
    }

    /// Sessions are rotated every 30 answers (~90 events), the size of a long real session.
    fn answer(&mut self) -> Duration {
        if self.commands_in_session >= 30 {
            self.new_session();
        }
        let choice = if self.commands_in_session.is_multiple_of(2) {
            "no"
        } else {
            "done"
        };
        let commands = vec![
            Command::Note {
                text: "Service restarted; event 7036 logged, users back in".into(),
            },
            Command::Answer {
                choice: Choice::parse(choice),
            },
        ];
        let started = Instant::now();
        self.replica
            .run_commands(self.session, commands)
            .unwrap_or_else(|error| panic!("{error}"));
        let elapsed = started.elapsed();
        self.commands_in_session += 1;
        elapsed
    }
}

fn answer_with_note(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let mut bench = AnswerBench::new(dir.path());
    c.bench_function("answer_with_note_durable", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| bench.answer()).sum())
    });
    percentiles(
        "answer_with_note_durable",
        (0..2000).map(|_| bench.answer()).collect(),
    );
}

/// What engineers type: topic words, prefixes, a command fragment, an error code prefix.
const QUERIES: &[&str] = &[
    "citrix registration",
    "spooler",
    "vpn tunnel phase",
    "get-password",
    "lock",
    "dns scope",
    "0x8000",
    "bitlocker recovery key",
];

/// A word in every flow: the worst case, where every flow matches and all are ranked.
const EVERY_FLOW_QUERY: &str = "check";

fn search(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let mut replica = Replica::open(dir.path()).unwrap_or_else(|error| panic!("{error}"));
    let mut random = StdRng::seed_from_u64(7);
    let started = Instant::now();
    let mut nodes = 0;
    for chunk in 0..10 {
        let flows: Vec<Flow> = (chunk * 500..(chunk + 1) * 500)
            .map(|index| generated_flow(&mut random, index, 48))
            .collect();
        nodes += flows.iter().map(|flow| flow.nodes.len()).sum::<usize>();
        replica
            .import_flows(flows, WriteSource::Import)
            .unwrap_or_else(|error| panic!("{error}"));
    }
    eprintln!(
        "library: 5000 flows, {nodes} nodes, imported in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut group = c.benchmark_group("search_5000_flows");
    for query in QUERIES {
        group.bench_function(*query, |b| {
            b.iter(|| {
                replica
                    .search_flows(query, 20)
                    .unwrap_or_else(|error| panic!("{error}"))
            })
        });
    }
    group.finish();
    let mut samples = Vec::new();
    for round in 0..2000 {
        let query = QUERIES[round % QUERIES.len()];
        let started = Instant::now();
        let hits = replica
            .search_flows(query, 20)
            .unwrap_or_else(|error| panic!("{error}"));
        samples.push(started.elapsed());
        std::hint::black_box(hits);
    }
    percentiles("search_5000_flows (mixed queries, top 20)", samples);
    let matches = replica
        .search_flows(EVERY_FLOW_QUERY, 10_000)
        .unwrap_or_else(|error| panic!("{error}"))
        .len();
    let worst: Vec<Duration> = (0..200)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(
                replica
                    .search_flows(EVERY_FLOW_QUERY, 20)
                    .unwrap_or_else(|error| panic!("{error}")),
            );
            started.elapsed()
        })
        .collect();
    percentiles(
        &format!("search_5000_flows worst case ({EVERY_FLOW_QUERY:?} matches {matches} flows)"),
        worst,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = answer_with_note, search
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
