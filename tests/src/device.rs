//! One engineer's laptop for cross-process tests: a real replica in its own data directory,
//! logged in to a [`TestServer`] and synced with `rf_replica::client`, as the CLI does.

use std::path::PathBuf;
use std::time::Duration;

use rf_core::session::{Choice, Command, StartRequest};
use rf_core::{Flow, Outcome};
use rf_replica::client::{self, ClientOptions, SyncReport};
use rf_replica::tokens::FileTokenStore;
use rf_replica::{Replica, ReplicaError, WriteSource};
use uuid::Uuid;

use crate::{Fingerprint, PASSWORD, TestServer, fingerprint};

pub const FLOW_ID: &str = "5b7c1d2e-3f40-4a51-8b62-7c8d9e0f1a2b";

pub fn flow() -> Flow {
    Flow::parse(&format!(
        r#"{{"format": "resolutionflow/v1", "id": "{FLOW_ID}",
            "kind": "troubleshooting", "title": "VPN will not connect", "start": "internet",
            "nodes": [
              {{"id": "internet", "type": "question", "title": "Does the laptop reach the internet?",
               "answers": [{{"label": "Yes", "next": "client"}}, {{"label": "No", "next": "wifi"}}]}},
              {{"id": "wifi", "type": "action", "title": "Fix the local connection first", "next": "internet"}},
              {{"id": "client", "type": "action", "title": "Reinstall the VPN client", "next": "done"}},
              {{"id": "done", "type": "resolution", "title": "VPN connects", "outcome": "resolved"}}
            ]}}"#
    ))
    .unwrap()
}

/// Quick retries, for tests.
pub fn fast() -> ClientOptions {
    ClientOptions {
        attempts: 2,
        backoff: Duration::from_millis(20),
        max_wait: Duration::from_millis(200),
        timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    }
}

/// One engineer's laptop: a data directory, opened afresh for each step (as the CLI does).
#[derive(Debug)]
pub struct Device {
    dir: tempfile::TempDir,
}

impl Default for Device {
    fn default() -> Device {
        Device::new()
    }
}

impl Device {
    pub fn new() -> Device {
        Device {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Another laptop holding a copy of this one's data directory as it is now (a backup
    /// restored later, or the folder copied to a second machine), login included.
    pub fn copy_of(original: &Device) -> Device {
        let copy = Device::new();
        crate::copy_dir(original.dir.path(), copy.dir.path());
        copy
    }

    /// Runs replica work on a blocking thread (the sync client is blocking HTTP).
    pub async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Replica) -> T + Send + 'static,
    ) -> T {
        let dir = self.path();
        tokio::task::spawn_blocking(move || {
            let mut replica = Replica::open(&dir).unwrap();
            work(&mut replica)
        })
        .await
        .unwrap()
    }

    pub async fn login(&self, server: &TestServer, email: &'static str) {
        self.login_at(&server.base, email).await;
    }

    /// Logs in at `base`, which may be a proxy in front of the server.
    pub async fn login_at(&self, base: &str, email: &'static str) {
        let base = base.to_owned();
        self.with(move |replica| {
            let store = FileTokenStore::in_data_dir(replica.data_dir());
            client::login(replica, &store, &base, email, PASSWORD, fast()).unwrap();
        })
        .await;
    }

    pub async fn sync(&self) -> Result<SyncReport, ReplicaError> {
        self.sync_with(fast()).await
    }

    pub async fn sync_with(&self, options: ClientOptions) -> Result<SyncReport, ReplicaError> {
        self.with(move |replica| {
            let store = FileTokenStore::in_data_dir(replica.data_dir());
            client::sync(replica, &store, options)
        })
        .await
    }

    pub async fn import(&self, flow: Flow) {
        self.with(move |replica| {
            replica.import_flow(flow, WriteSource::Import).unwrap();
        })
        .await;
    }

    /// A whole session of [`flow`]: see [`record_session`].
    pub async fn run_session(&self, ticket: &'static str) -> Uuid {
        self.with(move |replica| record_session(replica, ticket))
            .await
    }

    pub async fn fingerprint(&self) -> Fingerprint {
        self.with(|replica| fingerprint(replica)).await
    }

    /// Starts a session for `ticket` on the test flow, attaches a file with `content`, and
    /// finishes it. Returns the attachment's SHA-256.
    pub async fn session_with_attachment(
        &self,
        ticket: &'static str,
        content: &'static [u8],
    ) -> String {
        self.with(move |replica| {
            let request = StartRequest {
                ticket: ticket.into(),
                client: "Contoso".into(),
                engineer: "tester".into(),
                ..StartRequest::default()
            };
            let id = replica
                .start_session(Uuid::parse_str(FLOW_ID).unwrap(), request)
                .unwrap()
                .id;
            let file = replica.data_dir().join("ipconfig.txt");
            std::fs::write(&file, content).unwrap();
            let (_, attachment) = replica.attach_file(id, &file).unwrap();
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
            attachment.sha256
        })
        .await
    }

    pub async fn title(&self) -> String {
        self.with(|replica| {
            replica
                .flow(Uuid::parse_str(FLOW_ID).unwrap())
                .unwrap()
                .summary
                .title
        })
        .await
    }
}

/// Asserts that the devices agree on everything the team shares ([`Fingerprint::team`]) and
/// that nothing is pending; returns the first device's fingerprint.
pub async fn converged(devices: &[&Device]) -> Fingerprint {
    let first = devices[0].fingerprint().await;
    for device in &devices[1..] {
        let other = device.fingerprint().await;
        assert!(
            other.team() == first.team(),
            "the replicas differ: {}",
            first.team().differences(&other.team())
        );
    }
    assert_eq!(first.pending, 0);
    first
}

/// Records a whole session of [`flow`] on `replica`: start, answer "no", "done", "yes", "done",
/// a note, finish (12 events).
pub fn record_session(replica: &mut Replica, ticket: &str) -> Uuid {
    let request = StartRequest {
        ticket: ticket.into(),
        client: "Contoso".into(),
        engineer: "tester".into(),
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
                Command::Answer {
                    choice: Choice::parse(choice),
                },
            )
            .unwrap();
    }
    replica
        .run_command(
            id,
            Command::Note {
                text: format!("note on {ticket}"),
            },
        )
        .unwrap();
    replica
        .run_command(
            id,
            Command::Finish {
                outcome: Outcome::Resolved,
                summary: Some("reinstalled".into()),
                next_steps: None,
            },
        )
        .unwrap();
    id
}
