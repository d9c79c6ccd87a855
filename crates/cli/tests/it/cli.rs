//! The `rf` binary end to end, as a script or an engineer over SSH would use it.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

struct Rf {
    data: tempfile::TempDir,
}

impl Rf {
    fn new() -> Rf {
        Rf {
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs with extra environment variables.
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_rf"))
            .arg("--data-dir")
            .arg(self.data.path())
            .args(args)
            .env("RF_ENGINEER", "Ada Lovelace")
            .env_remove("RF_DATA_DIR")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Runs and insists on success.
    fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, 0, "rf {args:?} failed: {}", run.stderr);
        run.stdout
    }

    fn db_count(&self, sql: &str) -> i64 {
        let connection =
            rusqlite::Connection::open(self.data.path().join("replica.sqlite3")).unwrap();
        connection.query_row(sql, [], |row| row.get(0)).unwrap()
    }
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/flows")
}

const SHARE: &str = r#"{
  "format": "resolutionflow/v1",
  "id": "6c0d8f0e-3b1a-4f7e-9a55-1d2e3f4a5b6c",
  "kind": "troubleshooting",
  "title": "User cannot open a mapped drive",
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

const BROKEN: &str = r#"{
  "format": "resolutionflow/v1", "kind": "troubleshooting", "title": "Broken", "start": "a",
  "nodes": [
    {"id": "a", "type": "question", "title": "Q", "answers": [{"label": "Yes", "next": "ghost"}]},
    {"id": "b", "type": "action", "title": "B", "next": "a"},
    {"id": "b", "type": "question", "title": "B again"}
  ]
}"#;

#[test]
fn import_reports_every_problem_and_keeps_the_valid_files() {
    let rf = Rf::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.flow.json"), SHARE).unwrap();
    std::fs::write(dir.path().join("broken.flow.json"), BROKEN).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a flow").unwrap();
    let run = rf.run(&["flow", "import", dir.path().to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "6c0d8f0e-3b1a-4f7e-9a55-1d2e3f4a5b6c\tUser cannot open a mapped drive\n"
    );
    let broken = dir.path().join("broken.flow.json");
    let problems: Vec<&str> = run.stderr.lines().collect();
    let expected = [
        "b: duplicate node id",
        "a: answer \"Yes\" names node \"ghost\"",
        "b: question without answers",
        "b: unreachable",
        "(flow): no resolution node is reachable",
    ];
    assert_eq!(problems.len(), expected.len(), "{}", run.stderr);
    for (line, want) in problems.iter().zip(expected) {
        assert!(
            line.starts_with(&format!("{}: {want}", broken.display())),
            "{line:?} vs {want:?}"
        );
    }
    assert_eq!(
        rf.db_count("SELECT COUNT(*) FROM flows"),
        1,
        "nothing from the broken file"
    );
    // A missing path is a problem too, in the same format.
    let missing = rf.run(&["flow", "import", "/nonexistent/x.flow.json"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .starts_with("/nonexistent/x.flow.json: (flow): no such file"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_whole_session_from_start_to_ticket_note() {
    let rf = Rf::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("share.flow.json");
    std::fs::write(&file, SHARE).unwrap();
    rf.ok(&["flow", "import", file.to_str().unwrap()]);

    let missing_var = rf.run(&[
        "session", "start", "6c0d", "--ticket", "T-1", "--client", "Contoso",
    ]);
    assert_eq!(missing_var.code, 2);
    assert!(
        missing_var.stderr.contains("server (File server)"),
        "{}",
        missing_var.stderr
    );
    assert_eq!(
        rf.db_count("SELECT COUNT(*) FROM sessions"),
        0,
        "a refused start leaves nothing"
    );

    let started = rf.ok(&[
        "session",
        "start",
        "user cannot open a mapped drive",
        "--ticket",
        "T-20931",
        "--client",
        "Contoso Ltd",
        "--var",
        "server=fs01.contoso.local",
    ]);
    assert!(
        started.contains("Does fs01.contoso.local answer on port 445?"),
        "{started}"
    );
    assert!(started.contains("Test-NetConnection fs01.contoso.local -Port 445"));
    let id = started.lines().last().unwrap().to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&id).unwrap().to_string(),
        id,
        "the id is the last line"
    );
    let session = &id[..8];

    let step = rf.ok(&[
        "session",
        "answer",
        session,
        "no",
        "--note",
        "Port 445 filtered from VLAN 20",
    ]);
    assert!(step.contains("Allow SMB from the user's VLAN"), "{step}");
    rf.ok(&[
        "session",
        "custom-step",
        session,
        "Asked the network team for a change",
        "--note",
        "CHG-1182",
    ]);
    rf.ok(&[
        "session",
        "output",
        session,
        "TcpTestSucceeded : False\nRemoteAddress : 10.20.0.5",
    ]);
    let back = rf.ok(&["session", "back", session]);
    assert!(back.contains("Does fs01.contoso.local answer"), "{back}");
    rf.ok(&["session", "answer", session, "2"]);
    rf.ok(&["session", "answer", session, "done"]);
    let at_resolution = rf.ok(&["session", "answer", session, "YES"]);
    assert!(
        at_resolution.contains("Suggested outcome: resolved"),
        "{at_resolution}"
    );
    let wrong = rf.run(&["session", "answer", session, "1"]);
    assert_eq!(wrong.code, 2);
    assert!(
        wrong.stderr.contains("finish the session"),
        "{}",
        wrong.stderr
    );
    rf.ok(&[
        "session",
        "finish",
        session,
        "--outcome",
        "resolved",
        "--summary",
        "Firewall rule added; user's password: Winter2026! was reset too",
        "--next-steps",
        "Monitor for a week",
    ]);
    let late = rf.run(&["session", "note", session, "late"]);
    assert_eq!(late.code, 2);
    assert!(late.stderr.contains("finished"), "{}", late.stderr);

    let markdown = rf.ok(&["session", "export", session, "--format", "md"]);
    for expected in [
        "T-20931",
        "Contoso Ltd",
        "Ada Lovelace",
        "Does fs01.contoso.local answer on port 445?** → No",
        "Port 445 filtered from VLAN 20",
        "Custom step: **Asked the network team for a change**",
        "CHG-1182",
        "TcpTestSucceeded : False",
        "Went back to:",
        "Outcome:** resolved",
        "Monitor for a week",
    ] {
        assert!(
            markdown.contains(expected),
            "markdown lacks {expected:?}:\n{markdown}"
        );
    }
    let redacted = rf.run(&["session", "export", session, "--format", "txt", "--redact"]);
    assert_eq!(redacted.code, 0);
    assert!(
        !redacted.stdout.contains("Winter2026!"),
        "{}",
        redacted.stdout
    );
    assert!(!redacted.stdout.contains("10.20.0.5"));
    assert!(
        redacted.stderr.contains("redaction:"),
        "{}",
        redacted.stderr
    );
    let html_file = dir.path().join("note.html");
    rf.ok(&[
        "session",
        "export",
        session,
        "--format",
        "html",
        "--output",
        html_file.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&html_file).unwrap();
    assert!(html.starts_with("<article"));
    assert!(html.contains("Asked the network team for a change"));

    let shown: serde_json::Value =
        serde_json::from_str(&rf.ok(&["session", "show", session, "--json"])).unwrap();
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["status"], "finished");
    assert_eq!(shown["outcome"], "resolved");
    assert_eq!(shown["ticket"], "T-20931");
    let listed: serde_json::Value =
        serde_json::from_str(&rf.ok(&["session", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    let stats = rf.ok(&["flow", "stats", "6c0d"]);
    assert!(
        stats.contains("1 finished session(s), 1 resolved"),
        "{stats}"
    );
}

#[test]
fn flow_commands_print_stable_json_and_round_trip_files() {
    let rf = Rf::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("share.flow.json");
    std::fs::write(&file, SHARE).unwrap();
    rf.ok(&["flow", "import", file.to_str().unwrap()]);
    let shown: serde_json::Value =
        serde_json::from_str(&rf.ok(&["flow", "show", "6c0d8f", "--json"])).unwrap();
    assert_eq!(shown["title"], "User cannot open a mapped drive");
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["document"]["nodes"].as_array().unwrap().len(), 3);
    let listed: serde_json::Value =
        serde_json::from_str(&rf.ok(&["flow", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["kind"], "troubleshooting");
    let found = rf.ok(&["flow", "search", "netconnection"]);
    assert!(found.starts_with("6c0d8f0e-"), "{found}");
    let exported = dir.path().join("out.flow.json");
    rf.ok(&[
        "flow",
        "export",
        "6c0d",
        "--output",
        exported.to_str().unwrap(),
    ]);
    let original: serde_json::Value = serde_json::from_str(SHARE).unwrap();
    let round: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    assert_eq!(original, round);
    // Re-importing the export changes nothing.
    rf.ok(&["flow", "import", exported.to_str().unwrap()]);
    assert_eq!(rf.db_count("SELECT COUNT(*) FROM flow_versions"), 1);
    let unknown = rf.run(&["flow", "show", "zzz"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no flow matches"),
        "{}",
        unknown.stderr
    );
    rf.ok(&["flow", "pin", "6c0d"]);
    assert!(rf.ok(&["flow", "pinned"]).contains("pinned"));
}

#[test]
fn the_sample_library_imports_cleanly_and_covers_every_kind() {
    let rf = Rf::new();
    let run = rf.run(&["flow", "import", samples().to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.is_empty(),
        "no warnings (every subflow is in the library): {}",
        run.stderr
    );
    let flows: serde_json::Value =
        serde_json::from_str(&rf.ok(&["flow", "list", "--json"])).unwrap();
    let flows = flows.as_array().unwrap();
    assert!(flows.len() >= 8, "{} samples", flows.len());
    for kind in ["troubleshooting", "procedural", "maintenance"] {
        assert!(
            flows.iter().any(|flow| flow["kind"] == kind),
            "no {kind} sample"
        );
    }
    for title in [
        "Citrix",
        "FSLogix",
        "replication",
        "SonicWall",
        "file share",
        "lockout",
        "onboarding",
        "patching",
    ] {
        assert!(
            flows.iter().any(|flow| flow["title"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(&title.to_lowercase())),
            "no sample about {title}"
        );
    }
}

#[test]
fn concurrent_writers_to_one_session_lose_nothing() {
    let rf = Rf::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("share.flow.json");
    std::fs::write(&file, SHARE).unwrap();
    rf.ok(&["flow", "import", file.to_str().unwrap()]);
    let started = rf.ok(&[
        "session",
        "start",
        "6c0d",
        "--ticket",
        "T",
        "--client",
        "C",
        "--var",
        "server=fs01",
    ]);
    let id = started.lines().last().unwrap().to_owned();
    // Twelve processes note on the same session at once, as a script and the desktop app might.
    let writers: Vec<_> = (0..12)
        .map(|index| {
            Command::new(env!("CARGO_BIN_EXE_rf"))
                .arg("--data-dir")
                .arg(rf.data.path())
                .args(["session", "note", &id, &format!("note {index}")])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut writer in writers {
        assert!(writer.wait().unwrap().success());
    }
    let shown: serde_json::Value =
        serde_json::from_str(&rf.ok(&["session", "show", &id, "--json"])).unwrap();
    let mut notes: Vec<String> = shown["path"][0]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|note| note["text"].as_str().unwrap().to_owned())
        .collect();
    notes.sort();
    let mut expected: Vec<String> = (0..12).map(|index| format!("note {index}")).collect();
    expected.sort();
    assert_eq!(notes, expected);
    // The log is gap-free and numbered once per event, per session and per device.
    assert_eq!(rf.db_count("SELECT COUNT(*) FROM session_events"), 14);
    assert_eq!(
        rf.db_count("SELECT MAX(session_seq) - MIN(session_seq) + 1 FROM session_events"),
        14
    );
    assert_eq!(
        rf.db_count("SELECT COUNT(DISTINCT device_seq) FROM session_events"),
        14
    );
    assert_eq!(rf.db_count("SELECT event_count FROM sessions"), 14);
}

#[test]
fn each_error_is_printed_once_with_what_to_do() {
    let rf = Rf::new();
    let missing = rf.run(&["session", "show", "nope"]);
    assert_eq!(missing.code, 2);
    assert_eq!(
        missing.stderr.matches("no session matches").count(),
        1,
        "{}",
        missing.stderr
    );
    // An empty database file (a failed copy): refused, said once, the file left alone.
    std::fs::write(rf.data.path().join("replica.sqlite3"), b"").unwrap();
    let empty = rf.run(&["status"]);
    assert_eq!(empty.code, 2, "{}", empty.stderr);
    assert_eq!(empty.stderr.lines().count(), 1, "{}", empty.stderr);
    assert_eq!(empty.stderr.matches("is empty (0 bytes)").count(), 1);
    assert!(empty.stderr.contains("Restore it from a backup"));
}

#[test]
fn status_counts_what_is_waiting_for_the_server() {
    let rf = Rf::new();
    let empty: serde_json::Value = serde_json::from_str(&rf.ok(&["status", "--json"])).unwrap();
    assert_eq!(
        empty["pending"],
        serde_json::json!({"mutations": 0, "events": 0, "rejected": 0, "refused_events": 0, "set_aside": 0, "needs_newer_version": 0})
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("share.flow.json");
    std::fs::write(&file, SHARE).unwrap();
    rf.ok(&["flow", "import", file.to_str().unwrap()]);
    rf.ok(&["flow", "pin", "6c0d"]);
    let started = rf.ok(&[
        "session",
        "start",
        "6c0d",
        "--ticket",
        "T",
        "--client",
        "C",
        "--var",
        "server=fs01",
    ]);
    let id = started.lines().last().unwrap().to_owned();
    rf.ok(&["session", "note", &id, "checked the switch port"]);
    let status: serde_json::Value = serde_json::from_str(&rf.ok(&["status", "--json"])).unwrap();
    assert_eq!(
        status["pending"],
        serde_json::json!({"mutations": 2, "events": 3, "rejected": 0, "refused_events": 0, "set_aside": 0, "needs_newer_version": 0})
    );
    assert_eq!(
        status["schema_version"],
        rf_replica::migrate::latest_version()
    );
    assert!(
        rf.ok(&["status"])
            .contains("pending: 5 (2 flow/pin changes, 3 session events)")
    );
}

/// `rf` with the login commands' token store left at its default (the keyring), under the given
/// D-Bus session address.
fn rf_with_session_bus(rf: &Rf, bus: &str, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_rf"))
        .arg("--data-dir")
        .arg(rf.data.path())
        .args(args)
        .env("RF_ENGINEER", "Ada Lovelace")
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env_remove("RF_DATA_DIR")
        .env_remove("RF_TOKEN_STORE")
        // Without a display, libdbus cannot try to start a session bus of its own.
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[test]
fn without_a_secret_service_the_keyring_is_refused_and_the_file_store_is_offered() {
    let rf = Rf::new();
    let nowhere = rf.data.path().join("no-such-bus-socket");
    let bus = format!("unix:path={}", nowhere.display());

    let run = rf_with_session_bus(&rf, &bus, &["logout"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("the OS keyring is not available"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--token-store file"), "{}", run.stderr);
    assert!(run.stderr.contains("RF_TOKEN_STORE=file"), "{}", run.stderr);
    assert!(
        !rf.data.path().join("login.json").exists(),
        "the keyring never falls back to a file by itself"
    );

    // The file store is one flag away and needs no keyring.
    let run = rf_with_session_bus(&rf, &bus, &["logout", "--token-store", "file"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "not logged in\n");
}

#[test]
fn logout_through_the_keyring_on_a_fresh_replica_finds_no_login() {
    // Needs a Secret Service: `./dev test` provides one and sets RF_TEST_KEYRING.
    if std::env::var_os("RF_TEST_KEYRING").is_none() {
        eprintln!("skipped: RF_TEST_KEYRING is unset (`./dev test` sets it)");
        return;
    }
    let rf = Rf::new();
    assert_eq!(
        rf.ok(&["logout", "--token-store", "keyring"]),
        "not logged in\n"
    );
}

#[test]
fn login_sync_status_and_logout_through_the_keyring_against_a_real_server() {
    // Needs a Secret Service: `./dev test` provides one and sets RF_TEST_KEYRING.
    if std::env::var_os("RF_TEST_KEYRING").is_none() {
        eprintln!("skipped: RF_TEST_KEYRING is unset (`./dev test` sets it)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(rf_tests::TestServer::start(rf_tests::Backend::Sqlite));
    let keyring = [
        ("RF_PASSWORD", rf_tests::PASSWORD),
        ("RF_TOKEN_STORE", "keyring"),
    ];
    let status = |rf: &Rf| -> serde_json::Value {
        let run = rf.run_env(&["status", "--json"], &keyring);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str(&run.stdout).unwrap()
    };
    let (ada, bob) = (Rf::new(), Rf::new());
    let before = status(&ada);
    assert!(before["sync"].is_null() && before["online"].is_null());
    for (rf, email) in [(&ada, "ada@contoso.example"), (&bob, "bob@contoso.example")] {
        let run = rf.run_env(
            &["login", "--server", &server.base, "--email", email],
            &keyring,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            !rf.data.path().join("login.json").exists(),
            "the tokens are in the keyring, not in a file"
        );
    }

    // Ada's flow and session reach the server, and Bob's replica.
    let file = ada.data.path().join("share.flow.json");
    std::fs::write(&file, SHARE).unwrap();
    ada.ok(&["flow", "import", file.to_str().unwrap()]);
    let started = ada.ok(&[
        "session",
        "start",
        "6c0d",
        "--ticket",
        "T-9",
        "--client",
        "C",
        "--var",
        "server=fs01",
    ]);
    let id = started.lines().last().unwrap().to_owned();
    ada.ok(&["session", "note", &id, "checked the switch port"]);
    let run = ada.run_env(&["sync", "--json"], &keyring);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["pending"], 0, "{report}");
    let online = status(&ada);
    assert_eq!(online["online"], true);
    assert_eq!(online["sync"]["email"], "ada@contoso.example");
    assert!(online["sync"]["last_sync_at"].is_string(), "{online}");
    assert_eq!(
        online["pending"],
        serde_json::json!({"mutations": 0, "events": 0, "rejected": 0, "refused_events": 0, "set_aside": 0, "needs_newer_version": 0})
    );
    let run = bob.run_env(&["sync"], &keyring);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        bob.ok(&["flow", "list"])
            .contains("User cannot open a mapped drive")
    );

    // Ada changes her password: a wrong current one changes nothing; then Bob's device (another
    // account) is untouched, and this device's login goes on.
    let run = ada.run_env(
        &["password"],
        &[
            ("RF_PASSWORD", "not the password"),
            ("RF_NEW_PASSWORD", "a brand new passphrase"),
            ("RF_TOKEN_STORE", "keyring"),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the current password is wrong"),
        "{}",
        run.stderr
    );
    let run = ada.run_env(
        &["password"],
        &[
            ("RF_PASSWORD", rf_tests::PASSWORD),
            ("RF_NEW_PASSWORD", "a brand new passphrase"),
            ("RF_TOKEN_STORE", "keyring"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(ada.run_env(&["sync"], &keyring).code, 0);
    let (answer, _) =
        runtime.block_on(server.login("ada@contoso.example", "a brand new passphrase"));
    assert_eq!(answer.as_u16(), 200);

    // The server goes away: status says so at once, sync fails clearly, nothing is lost.
    runtime.block_on(server.stop());
    ada.ok(&["session", "note", &id, "written offline"]);
    let offline = status(&ada);
    assert_eq!(offline["online"], false);
    assert!(
        ada.run_env(&["status"], &keyring)
            .stdout
            .contains("server: offline")
    );
    let run = ada.run_env(&["sync"], &keyring);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot reach the sync server"),
        "{}",
        run.stderr
    );
    let offline = status(&ada);
    assert!(offline["sync"]["last_error"].is_string(), "{offline}");
    assert_eq!(offline["pending"]["events"], 1);

    // Logging out removes the keyring's entry; the pending note stays.
    let run = ada.run_env(&["logout"], &keyring);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = ada.run_env(&["sync"], &keyring);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("rf login"), "{}", run.stderr);
    assert_eq!(status(&ada)["pending"]["events"], 1);
}
