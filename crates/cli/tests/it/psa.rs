//! `rf psa` against a real sync server in front of the ConnectWise stand-in (Prism serving the
//! vendor's spec): a team admin connects the team with the private key from the environment,
//! anyone in the team looks up a ticket and lists members, and the key is never printed nor
//! kept on the device.

use std::path::Path;
use std::process::{Command, Output};

use rf_tests::vendors::{ConnectWiseSite, vendor_config};
use rf_tests::{Backend, PASSWORD, TestServer};

const PRIVATE_KEY: &str = "S3cr3t-Priv/9";

fn rf(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rf"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RF_TOKEN_STORE", "file")
        .env("RF_PASSWORD", PASSWORD)
        .env("RF_PSA_PRIVATE_KEY", PRIVATE_KEY)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every byte of every file under `dir`.
fn holds(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            holds(&path, needle)
        } else {
            std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|window| window == needle)
        }
    })
}

#[test]
fn a_team_admin_connects_and_engineers_look_up_tickets_without_ever_holding_the_key() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start_with(Backend::Sqlite, vendor_config()));
    let site = runtime.block_on(ConnectWiseSite::start("contoso"));
    let work = tempfile::tempdir().unwrap();
    let (tia, ada, eve) = (
        work.path().join("tia"),
        work.path().join("ada"),
        work.path().join("eve"),
    );
    for (dir, email) in [
        (&tia, "tia@contoso.example"),
        (&ada, "ada@contoso.example"),
        (&eve, "eve@fabrikam.example"),
    ] {
        let login = rf(dir, &["login", "--server", &server.base, "--email", email]);
        assert!(login.status.success(), "{}", text(&login));
    }
    let connect_args = [
        "psa",
        "connect",
        "--site",
        &site.site,
        "--company",
        "contoso",
        "--public-key",
        "PubKey1234",
    ];

    // An engineer cannot connect the team.
    let refused = rf(&ada, &connect_args);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("only team admins"),
        "{}",
        text(&refused)
    );

    let connected = rf(&tia, &connect_args);
    assert!(connected.status.success(), "{}", text(&connected));
    let said = text(&connected);
    assert!(
        said.contains(&format!("ConnectWise: {}", site.api_url)),
        "{said}"
    );
    assert!(said.contains("public key: …1234"), "{said}");
    assert!(said.contains("checked: ConnectWise"), "{said}");
    assert!(!said.contains(PRIVATE_KEY), "{said}");

    let shown = rf(&ada, &["psa", "show", "--json"]);
    assert!(shown.status.success(), "{}", text(&shown));
    let view: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(view["company_id"], "contoso");

    let ticket = rf(&ada, &["psa", "ticket", "123"]);
    assert!(ticket.status.success(), "{}", text(&ticket));
    let said = text(&ticket);
    for line in ["company: ", "board: ", "status: ", "priority: "] {
        assert!(said.contains(line), "{line} in {said}");
    }
    let json = rf(&ada, &["psa", "ticket", "123", "--json"]);
    let ticket: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(ticket["id"].is_i64(), "{ticket}");

    let members = rf(&tia, &["psa", "members"]);
    assert!(members.status.success(), "{}", text(&members));
    assert!(text(&members).starts_with("MEMBER"), "{}", text(&members));

    // Another team is not connected, and is told what to do.
    let other = rf(&eve, &["psa", "ticket", "123"]);
    assert!(!other.status.success());
    assert!(text(&other).contains("rf psa connect"), "{}", text(&other));

    // The key went to the server once and stays there: no device holds it.
    for dir in [&tia, &ada, &eve] {
        assert!(!holds(dir, PRIVATE_KEY.as_bytes()), "{}", dir.display());
    }
    site.assert_no_violations();
    runtime.block_on(server.stop());
}

/// A finished session on the replica in `dir` (the test flow), with a password in a note.
fn session_with_a_secret(dir: &Path, ticket: &str) -> String {
    use rf_core::session::{Choice, Command, StartRequest};
    let mut replica = rf_replica::Replica::open(dir).unwrap();
    replica
        .import_flow(rf_tests::device::flow(), rf_replica::WriteSource::Import)
        .unwrap();
    let request = StartRequest {
        ticket: ticket.into(),
        client: "Contoso".into(),
        engineer: "ada".into(),
        ..StartRequest::default()
    };
    let flow = uuid::Uuid::parse_str(rf_tests::device::FLOW_ID).unwrap();
    let id = replica.start_session(flow, request).unwrap().id;
    let mut commands: Vec<Command> = ["no", "done", "yes"]
        .into_iter()
        .map(|choice| Command::Answer {
            choice: Choice::parse(choice),
        })
        .collect();
    commands.push(Command::Note {
        text: "local admin password: Hunter2!xQ".into(),
    });
    commands.push(Command::Answer {
        choice: Choice::parse("done"),
    });
    commands.push(Command::Finish {
        outcome: rf_core::Outcome::Resolved,
        summary: Some("reinstalled the VPN client".into()),
        next_steps: None,
    });
    for command in commands {
        replica.run_command(id, command).unwrap();
    }
    id.to_string()
}

#[test]
fn a_note_is_posted_once_redacted_now_or_when_the_server_is_back_and_from_a_copied_replica() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut server = runtime.block_on(TestServer::start_with(Backend::Sqlite, vendor_config()));
    let site = runtime.block_on(ConnectWiseSite::start("contoso"));
    let work = tempfile::tempdir().unwrap();
    let (tia, ada) = (work.path().join("tia"), work.path().join("ada"));
    for (dir, email) in [(&tia, "tia@contoso.example"), (&ada, "ada@contoso.example")] {
        let login = rf(dir, &["login", "--server", &server.base, "--email", email]);
        assert!(login.status.success(), "{}", text(&login));
    }
    let connect = rf(
        &tia,
        &[
            "psa",
            "connect",
            "--site",
            &site.site,
            "--company",
            "contoso",
            "--public-key",
            "PubKey1234",
        ],
    );
    assert!(connect.status.success(), "{}", text(&connect));
    let session = session_with_a_secret(&ada, "T-123");

    // The preview is what will be posted: redacted.
    let preview = rf(
        &ada,
        &["session", "post", &session, "--ticket", "123", "--preview"],
    );
    assert!(preview.status.success(), "{}", text(&preview));
    let previewed = String::from_utf8_lossy(&preview.stdout).into_owned();
    assert!(previewed.contains("local admin password:"), "{previewed}");
    assert!(!previewed.contains("Hunter2!xQ"), "{previewed}");
    assert!(site.notes(123).is_empty(), "a preview posts nothing");

    // A team admin maps Ada's account to her member (their e-mails differ).
    let mapped = rf(
        &tia,
        &["psa", "members", "--map", "ada@contoso.example=alovelace"],
    );
    assert!(mapped.status.success(), "{}", text(&mapped));
    assert!(
        text(&mapped).contains("now records time as alovelace"),
        "{}",
        text(&mapped)
    );

    // Online: posted now, with its flags, status and Ada's time.
    let posted = rf(
        &ada,
        &[
            "session",
            "post",
            &session,
            "--ticket",
            "123",
            "--flags",
            "internal,resolution",
            "--status",
            "Completed",
            "--time",
        ],
    );
    assert!(posted.status.success(), "{}", text(&posted));
    let said = text(&posted);
    assert!(said.starts_with("posted to ticket #123 at "), "{said}");
    assert!(said.contains("status set to Completed"), "{said}");
    let notes = site.notes(123);
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].text.starts_with(previewed.trim_end()),
        "{}",
        notes[0].text
    );
    assert!(!notes[0].text.contains("Hunter2!xQ"));
    assert!(notes[0].internal && notes[0].resolution && !notes[0].discussion);
    let entries = site.time_entries(123);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].member, "alovelace");
    assert!(
        said.contains(&format!("time entry {} recorded", entries[0].id)),
        "{said}"
    );

    // The same session to the same ticket again: refused unless asked for twice.
    let twice = rf(&ada, &["session", "post", &session, "--ticket", "123"]);
    assert_eq!(twice.status.code(), Some(2), "{}", text(&twice));
    assert!(
        text(&twice).contains("already posted to ticket #123") && text(&twice).contains("--again"),
        "{}",
        text(&twice)
    );
    assert_eq!(site.notes(123).len(), 1);

    // Offline: queued, and posted once by the next sync; later syncs post nothing more.
    runtime.block_on(server.pause());
    let queued = rf(&ada, &["session", "post", &session, "--ticket", "124"]);
    assert!(queued.status.success(), "{}", text(&queued));
    assert!(
        text(&queued).starts_with("queued for ticket #124"),
        "{}",
        text(&queued)
    );
    let listed = rf(&ada, &["session", "posts", &session, "--json"]);
    let posts: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(posts[1]["state"], "queued", "{posts}");
    assert!(
        posts[1]["error"].as_str().unwrap().contains("cannot reach"),
        "{posts}"
    );
    // A copy of this replica (restored from a backup, copied to a second laptop) holds the
    // same queued post, under the same key.
    let copy = work.path().join("ada-copy");
    std::fs::create_dir_all(&copy).unwrap();
    rf_tests::copy_dir(&ada, &copy);
    runtime.block_on(server.resume());
    let synced = rf(&ada, &["sync", "--json"]);
    assert!(synced.status.success(), "{}", text(&synced));
    let report: serde_json::Value = serde_json::from_slice(&synced.stdout).unwrap();
    assert_eq!(report["posts_posted"], 1, "{report}");
    assert_eq!(report["posts_waiting"], 0, "{report}");
    assert_eq!(site.notes(124).len(), 1);
    let again = rf(&ada, &["sync", "--json"]);
    assert!(again.status.success(), "{}", text(&again));
    let login = rf(
        &copy,
        &[
            "login",
            "--server",
            &server.base,
            "--email",
            "ada@contoso.example",
        ],
    );
    assert!(login.status.success(), "{}", text(&login));
    let from_copy = rf(&copy, &["sync", "--json"]);
    assert!(from_copy.status.success(), "{}", text(&from_copy));
    let report: serde_json::Value = serde_json::from_slice(&from_copy.stdout).unwrap();
    assert_eq!(
        report["posts_posted"], 1,
        "the copy learns it is posted: {report}"
    );
    assert_eq!(
        site.notes(124).len(),
        1,
        "posted once, whichever copy delivers it"
    );
    let listed = rf(&copy, &["session", "posts", "--json"]);
    let posts: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(posts[1]["note_id"], site.notes(124)[0].id, "{posts}");

    // A ticket ConnectWise does not have: refused for good, said, nothing posted.
    site.script(
        rf_tests::vendors::Method::POST,
        "service/tickets/125/notes",
        rf_tests::vendors::Scripted::Answer {
            status: 404,
            headers: vec![],
            body: r#"{"code":"NotFound","message":"Ticket not found"}"#.into(),
        },
    );
    let refused = rf(&ada, &["session", "post", &session, "--ticket", "125"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).starts_with("not posted to ticket #125: ConnectWise has no ticket 125"),
        "{}",
        text(&refused)
    );
    site.assert_no_violations();
    runtime.block_on(server.stop());
}
