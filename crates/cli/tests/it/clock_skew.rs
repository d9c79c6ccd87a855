//! Devices whose clocks are ±1 hour and ±10 years off sync through a real server with `rf`:
//! logins and token refresh keep working, every session arrives whole, all replicas end
//! identical, and the later edit of a flow wins by the server's order, not by whose clock says
//! later (a last-writer-wins-by-wall-clock design would let the +10-year device win).

use std::path::{Path, PathBuf};
use std::process::Command;

use rf_replica::Replica;
use rf_tests::{Backend, PASSWORD, TestServer, fingerprint};

const HOUR: i64 = 3_600;
const DECADE: i64 = 10 * 365 * 24 * HOUR;

const FLOW: &str = r#"{"format": "resolutionflow/v1", "id": "4b3a2918-0766-4554-8433-221100ffeedd",
  "kind": "troubleshooting", "title": "Teams calls drop", "start": "net",
  "nodes": [
    {"id": "net", "type": "question", "title": "Is the user on Wi-Fi?",
     "answers": [{"label": "Yes", "next": "cable"}, {"label": "No", "next": "ok"}]},
    {"id": "cable", "type": "action", "title": "Try a cable", "next": "ok"},
    {"id": "ok", "type": "resolution", "title": "Calls are stable", "outcome": "resolved"}
  ]}"#;

struct Device {
    dir: tempfile::TempDir,
    skew: i64,
}

impl Device {
    fn new(skew: i64) -> Device {
        Device {
            dir: tempfile::tempdir().unwrap(),
            skew,
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    fn rf(&self, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_rf"))
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .env("RF_CLOCK_SKEW_SECONDS", self.skew.to_string())
            .env("RF_TOKEN_STORE", "file")
            .env("RF_PASSWORD", PASSWORD)
            .env("RF_ENGINEER", "skewed")
            .env_remove("RF_DATA_DIR")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "rf {args:?} (skew {}): {stderr}",
            self.skew
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn session(&self) {
        let started = self.rf(&[
            "session", "start", "4b3a2918", "--ticket", "T-7", "--client", "Adatum",
        ]);
        let id = started.lines().last().unwrap().to_owned();
        self.rf(&["session", "answer", &id, "yes"]);
        self.rf(&["session", "note", &id, "moved to ethernet"]);
        self.rf(&["session", "answer", &id, "done"]);
        self.rf(&["session", "finish", &id, "--outcome", "resolved"]);
    }

    fn import(&self, title: &str) {
        let file = self.dir.path().join("flow.flow.json");
        let mut document: serde_json::Value = serde_json::from_str(FLOW).unwrap();
        document["title"] = title.into();
        std::fs::write(&file, document.to_string()).unwrap();
        self.rf(&["flow", "import", file.to_str().unwrap()]);
    }
}

fn title(dir: &Path) -> String {
    Replica::open(dir).unwrap().flows().unwrap().remove(0).title
}

#[test]
fn skewed_clocks_change_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Access tokens that expire in seconds, so the skewed devices also refresh them.
    let config = rf_sync_server::ApiConfig {
        access_ttl: std::time::Duration::from_secs(2),
        ..rf_sync_server::ApiConfig::default()
    };
    let server = runtime.block_on(TestServer::start_with(Backend::Sqlite, config));
    // Two devices of the flow's author (ten years ahead, ten years behind) and three others.
    let ahead = Device::new(DECADE);
    let behind = Device::new(-DECADE);
    let others = [Device::new(HOUR), Device::new(-HOUR), Device::new(0)];
    for device in [&ahead, &behind] {
        device.rf(&[
            "login",
            "--server",
            &server.base,
            "--email",
            "ada@contoso.example",
        ]);
    }
    for device in &others {
        device.rf(&[
            "login",
            "--server",
            &server.base,
            "--email",
            "bob@contoso.example",
        ]);
    }

    ahead.import("Teams calls drop");
    ahead.rf(&["sync"]);
    for device in [&behind, &others[0], &others[1], &others[2]] {
        device.rf(&["sync"]);
        device.session();
    }
    ahead.session();
    // The device ten years ahead edits first; the one ten years behind edits after seeing it.
    ahead.import("Teams calls drop (edited ahead)");
    ahead.rf(&["sync"]);
    std::thread::sleep(std::time::Duration::from_secs(3)); // every access token has expired
    behind.rf(&["sync"]);
    assert_eq!(title(&behind.path()), "Teams calls drop (edited ahead)");
    behind.import("Teams calls drop (edited behind, later)");
    for _ in 0..2 {
        for device in [&ahead, &behind, &others[0], &others[1], &others[2]] {
            device.rf(&["sync"]);
        }
    }

    let first = fingerprint(&Replica::open(ahead.path()).unwrap());
    assert_eq!(first.pending, 0);
    assert_eq!(first.sessions.len(), 5);
    assert!(
        first
            .sessions
            .iter()
            .all(|row| row.contains("finished resolved"))
    );
    assert!(
        first.conflicts.is_empty(),
        "a later edit from the head is no conflict"
    );
    for device in [&behind, &others[0], &others[1], &others[2]] {
        assert_eq!(fingerprint(&Replica::open(device.path()).unwrap()), first);
    }
    assert_eq!(
        title(&ahead.path()),
        "Teams calls drop (edited behind, later)"
    );
    // The skew was real: events carry the devices' own (wrong) clocks.
    for (shift, device) in [(10, &ahead), (-10, &behind)] {
        let id = Replica::open(device.path())
            .unwrap()
            .device_id()
            .to_string();
        let year = (time::OffsetDateTime::now_utc() + time::Duration::seconds(device.skew)).year();
        let stamped = format!("\"at\":\"{year}-");
        assert!(
            first
                .events
                .iter()
                .any(|row| row.starts_with(&id) && row.contains(&stamped)),
            "events of the device {shift} years off carry its clock"
        );
    }
    let events = runtime.block_on(server.count_query("SELECT COUNT(*) FROM session_events".into()));
    assert_eq!(events as usize, first.events.len());
    runtime.block_on(server.stop());
}
