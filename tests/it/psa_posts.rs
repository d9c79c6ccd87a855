//! Posting a session's note to a ConnectWise ticket through the sync server, exactly once:
//! the note with the flags asked for and its marker line, then the status; the same request
//! again answers the stored outcome; an answer lost on the way back is looked for on the
//! ticket before anything is sent again; a server stopped half-way leaves a post the next
//! attempt finishes, once. Against Prism serving the vendor's spec behind the stand-in site,
//! which keeps the notes posted so they can be read back.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use rf_sync_server::rules::psa::marker;
use rf_tests::vendors::{ConnectWiseSite, Scripted, vendor_config};
use rf_tests::{Backend, TestServer, assert_error_shape, on_every_backend};
use serde_json::{Value, json};
use uuid::Uuid;

const ADMIN: &str = "tia@contoso.example";
const ENGINEER: &str = "ada@contoso.example";
const VIEWER: &str = "vic@contoso.example";

async fn connected(backend: Backend, timeout: Duration) -> (TestServer, ConnectWiseSite) {
    let mut config = vendor_config();
    config.psa.timeout = timeout;
    let server = TestServer::start_with(backend, config).await;
    let site = ConnectWiseSite::start("contoso").await;
    let admin = server.token(ADMIN).await;
    let (status, body) = server
        .put(
            "/api/v1/psa/connection",
            Some(&admin),
            json!({"site": site.site, "company_id": "contoso", "public_key": "PubKey1234",
                   "private_key": "S3cr3t-Priv/9"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (server, site)
}

fn post(key: Uuid, ticket: i64, text: &str, flags: &[&str], status: Option<&str>) -> Value {
    let mut body = json!({"key": key, "ticket_id": ticket, "text": text, "flags": flags});
    if let Some(status) = status {
        body["status"] = status.into();
    }
    body
}

fn posts_sent(site: &ConnectWiseSite, ticket: i64) -> usize {
    site.seen()
        .iter()
        .filter(|seen| {
            seen.method == Method::POST && seen.path == format!("service/tickets/{ticket}/notes")
        })
        .count()
}

async fn a_note_is_posted_once_with_its_flags_and_status(backend: Backend) {
    let (server, site) = connected(backend, Duration::from_secs(10)).await;
    let engineer = server.token(ENGINEER).await;
    let key = Uuid::new_v4();
    let text = "Printer offline\n\nRestarted the spooler; test page printed.";
    let request = post(key, 123, text, &["internal"], Some("Completed"));

    let (status, first) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["ticket_id"], 123);
    assert_eq!(first["status_set"], "Completed");
    let notes = site.notes(123);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(first["note_id"], notes[0].id);
    assert_eq!(notes[0].text, format!("{text}\n\n{}", marker(key)));
    assert!(notes[0].internal && !notes[0].discussion && !notes[0].resolution);
    let patch = site
        .seen()
        .into_iter()
        .find(|seen| seen.method == Method::PATCH)
        .unwrap();
    assert_eq!(patch.path, "service/tickets/123");
    assert_eq!(
        serde_json::from_slice::<Value>(&patch.body).unwrap(),
        json!([{"op": "replace", "path": "status", "value": {"name": "Completed"}}])
    );

    // Sent again (the replica never heard the answer): the same outcome, nothing posted.
    for _ in 0..3 {
        let (status, again) = server
            .post("/api/v1/psa/posts", Some(&engineer), &request)
            .await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again, first);
    }
    assert_eq!(posts_sent(&site, 123), 1);
    assert_eq!(site.notes(123).len(), 1);

    // The key cannot be spent on another note.
    let (status, body) = server
        .post(
            "/api/v1/psa/posts",
            Some(&engineer),
            post(key, 123, "another note", &["internal"], None),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Discussion and resolution when asked for; repeats of a flag count once.
    let (status, body) = server
        .post(
            "/api/v1/psa/posts",
            Some(&engineer),
            post(
                Uuid::new_v4(),
                123,
                "Resolved.",
                &["resolution", "discussion", "resolution"],
                None,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("status_set").is_none(), "{body}");
    let last = site.notes(123).pop().unwrap();
    assert!(
        !last.internal && last.discussion && last.resolution,
        "{last:?}"
    );

    // Refused before anything is sent.
    let viewer = server.token(VIEWER).await;
    let (status, _) = server
        .post(
            "/api/v1/psa/posts",
            Some(&viewer),
            post(Uuid::new_v4(), 123, "x", &["internal"], None),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (body, code) in [
        (post(Uuid::new_v4(), 123, "x", &[], None), "invalid"),
        (
            post(Uuid::new_v4(), 123, " \n ", &["internal"], None),
            "invalid",
        ),
        (post(Uuid::new_v4(), 0, "x", &["internal"], None), "invalid"),
        (
            post(Uuid::new_v4(), 123, "x", &["internal"], Some("\u{7}")),
            "invalid",
        ),
        (
            post(
                Uuid::new_v4(),
                123,
                &"x".repeat(60_001),
                &["internal"],
                None,
            ),
            "invalid",
        ),
    ] {
        let (status, answer) = server
            .post("/api/v1/psa/posts", Some(&engineer), &body)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_error_shape(&answer, code);
    }
    let (status, _) = server
        .post(
            "/api/v1/psa/posts",
            Some(&engineer),
            json!({"key": Uuid::new_v4(), "ticket_id": 123, "text": "x", "flags": ["none"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(site.notes(123).len(), 2);
    site.assert_no_violations();
    server.stop().await;
}

async fn a_lost_answer_is_looked_for_before_anything_is_sent_again(backend: Backend) {
    let (server, site) = connected(backend, Duration::from_secs(2)).await;
    let engineer = server.token(ENGINEER).await;

    // The note lands, its answer never comes: found by its marker at once, posted once.
    site.script(
        Method::POST,
        "service/tickets/200/notes",
        Scripted::ForwardThenHang,
    );
    let key = Uuid::new_v4();
    let (status, body) = server
        .post(
            "/api/v1/psa/posts",
            Some(&engineer),
            post(key, 200, "Hung answer", &["internal"], None),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(site.notes(200).len(), 1);
    assert_eq!(body["note_id"], site.notes(200)[0].id);

    // A 5xx from ConnectWise may or may not have landed (here it did not): said, and sent
    // again only after looking for it.
    site.script(
        Method::POST,
        "service/tickets/201/notes",
        Scripted::Answer {
            status: 502,
            headers: vec![],
            body: String::new(),
        },
    );
    let key = Uuid::new_v4();
    let request = post(key, 201, "Gateway trouble", &["internal"], None);
    let (status, body) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error_shape(&body, "psa_unavailable");
    assert!(site.notes(201).is_empty());
    let looked = site
        .seen()
        .iter()
        .filter(|seen| seen.method == Method::GET && seen.path == "service/tickets/201/notes")
        .count();
    assert_eq!(
        looked, 2,
        "looked for before it was sent, and once after the lost answer"
    );
    let (status, body) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(site.notes(201).len(), 1);

    // The note lands, the answer is lost, and looking for it fails too: the next attempt looks
    // again, finds it, and posts nothing.
    site.script(
        Method::POST,
        "service/tickets/202/notes",
        Scripted::ForwardThenHang,
    );
    // The look before sending finds nothing (as it should); the looks after fail.
    site.script(Method::GET, "service/tickets/202/notes", Scripted::Forward);
    for _ in 0..3 {
        site.script(
            Method::GET,
            "service/tickets/202/notes",
            Scripted::Answer {
                status: 503,
                headers: vec![],
                body: String::new(),
            },
        );
    }
    let request = post(Uuid::new_v4(), 202, "Twice unlucky", &["internal"], None);
    let (status, body) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(site.notes(202).len(), 1);
    let (status, body) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["note_id"], site.notes(202)[0].id);
    assert_eq!(posts_sent(&site, 202), 1);
    assert_eq!(site.notes(202).len(), 1);

    // A refusal is not retried, and the note is not on the ticket; a later attempt may post.
    site.script(
        Method::POST,
        "service/tickets/203/notes",
        Scripted::Answer {
            status: 400,
            headers: vec![],
            body: r#"{"code":"InvalidObject","message":"Ticket is closed for notes"}"#.into(),
        },
    );
    let request = post(Uuid::new_v4(), 203, "Refused once", &["internal"], None);
    let (status, body) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("closed for notes")
    );
    assert_eq!(posts_sent(&site, 203), 1);
    let (status, body) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(site.notes(203).len(), 1);

    // A status the board does not have: the note stays posted, the status error is said, and
    // sending again tries the status alone.
    site.script(
        Method::PATCH,
        "service/tickets/204",
        Scripted::Answer {
            status: 400,
            headers: vec![],
            body: r#"{"code":"InvalidObject","message":"Status not found on board"}"#.into(),
        },
    );
    let request = post(
        Uuid::new_v4(),
        204,
        "Status later",
        &["internal"],
        Some("Closd"),
    );
    let (status, first) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first.get("status_set").is_none(), "{first}");
    assert!(
        first["status_error"]
            .as_str()
            .unwrap()
            .contains("Status not found"),
        "{first}"
    );
    let (status, again) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["status_set"], "Closd");
    assert_eq!(again["note_id"], first["note_id"]);
    assert_eq!(site.notes(204).len(), 1);
    site.assert_no_violations();
    server.stop().await;
}

/// A server restored from a backup taken before a post was made no longer knows the post; a
/// replica that never heard the answer sends it again, and the server finds the note on the
/// ticket by its marker rather than posting it twice.
async fn a_server_restored_from_an_older_backup_does_not_post_twice(backend: Backend) {
    let (mut server, site) = connected(backend, Duration::from_secs(10)).await;
    let backup = server.backup().await;
    let engineer = server.token(ENGINEER).await;
    let request = post(
        Uuid::new_v4(),
        700,
        "Before the restore",
        &["internal"],
        None,
    );
    let (status, first) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    server.restore(&backup).await;
    let engineer = server.token(ENGINEER).await;
    let (status, again) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["note_id"], first["note_id"]);
    assert_eq!(site.notes(700).len(), 1);
    assert_eq!(posts_sent(&site, 700), 1);
    server.stop().await;
}

/// Two requests with one key at once (a replica's retry racing its first attempt): one posts,
/// the other is told it is in progress or gets the same outcome; one note.
async fn concurrent_requests_with_one_key_post_once(backend: Backend) {
    let (server, site) = connected(backend, Duration::from_secs(10)).await;
    let engineer = server.token(ENGINEER).await;
    let request = post(Uuid::new_v4(), 300, "Raced", &["internal"], None);
    let attempts = (0..8).map(|_| server.post("/api/v1/psa/posts", Some(&engineer), &request));
    let answers = futures_util::future::join_all(attempts).await;
    let mut posted = None;
    for (status, body) in answers {
        match status {
            StatusCode::OK => {
                let note = body["note_id"].clone();
                assert!(posted.get_or_insert(note.clone()) == &note, "{body}");
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_error_shape(&body, "psa_post_in_progress");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(posted.is_some());
    assert_eq!(site.notes(300).len(), 1);
    assert_eq!(posts_sent(&site, 300), 1);
    server.stop().await;
}

/// A server on a runtime of its own, so it can be stopped the way a killed process stops:
/// every task it runs, a post half-way included, ends where it is.
struct Crashable {
    runtime: tokio::runtime::Runtime,
    base: String,
}

fn serve_crashable(backend: Backend, data: &std::path::Path, url: &str, seed: bool) -> Crashable {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut config = vendor_config();
    config.psa.timeout = Duration::from_secs(30);
    config.psa.post_lease = Duration::from_secs(2);
    config.attachments = rf_sync_server::Attachments::in_directory(data.join("attachments"));
    let config = CONFIG.get_or_init(|| config).clone();
    let base = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let never = std::future::pending::<()>();
        match backend {
            Backend::Sqlite => {
                let store = rf_sync_server::SqliteStore::open(data).unwrap();
                if seed {
                    rf_tests::seed_accounts(&store).await;
                }
                let state = rf_sync_server::AppState::new(store, config);
                tokio::spawn(rf_sync_server::serve(listener, state, never));
            }
            _ => {
                let store = rf_sync_server::PostgresStore::connect(url).await.unwrap();
                if seed {
                    rf_tests::seed_accounts(&store).await;
                }
                let state = rf_sync_server::AppState::new(store, config);
                tokio::spawn(rf_sync_server::serve(listener, state, never));
            }
        }
        base
    });
    Crashable { runtime, base }
}

/// One configuration (and so one secrets key) for every start of the crashable server.
static CONFIG: std::sync::OnceLock<rf_sync_server::ApiConfig> = std::sync::OnceLock::new();

async fn send(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let response = client
        .post(format!("{base}/api/v1/psa/posts"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn token(client: &reqwest::Client, base: &str, email: &str) -> String {
    let answer: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": rf_tests::PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

/// The server is killed while its post waits for ConnectWise (the note has landed); started
/// again on the same store, the next attempt waits out the dead server's lease, finds the
/// note by its marker, and posts nothing more.
fn a_post_left_half_way_by_a_killed_server_is_finished_once(backend: Backend) {
    let client_side = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => String::new(),
        _ => client_side.block_on(rf_tests::fresh_postgres_database()),
    };
    let site = client_side.block_on(ConnectWiseSite::start("contoso"));
    let first = serve_crashable(backend, data.path(), &url, true);
    let client = reqwest::Client::new();
    let request = post(Uuid::new_v4(), 400, "Across a crash", &["internal"], None);
    let pending = client_side.block_on(async {
        let admin = token(&client, &first.base, ADMIN).await;
        let response = client
            .put(format!("{}/api/v1/psa/connection", first.base))
            .bearer_auth(&admin)
            .json(&json!({"site": site.site, "company_id": "contoso",
                          "public_key": "PubKey1234", "private_key": "S3cr3t-Priv/9"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        site.script(
            Method::POST,
            "service/tickets/400/notes",
            Scripted::ForwardThenHang,
        );
        let engineer = token(&client, &first.base, ENGINEER).await;
        let pending = {
            let (client, base, engineer, request) = (
                client.clone(),
                first.base.clone(),
                engineer.clone(),
                request.clone(),
            );
            tokio::spawn(async move {
                client
                    .post(format!("{base}/api/v1/psa/posts"))
                    .bearer_auth(engineer)
                    .json(&request)
                    .send()
                    .await
                    .map(|response| response.status())
            })
        };
        while site.notes(400).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (pending, engineer)
    });
    let (pending, engineer) = pending;
    first.runtime.shutdown_background();
    let second = serve_crashable(backend, data.path(), &url, false);
    let outcome = client_side.block_on(async {
        // The first request never gets its answer.
        let cut = pending.await.unwrap();
        assert!(cut.is_err(), "{cut:?}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = send(&client, &second.base, &engineer, &request).await;
            match status {
                StatusCode::OK => break body,
                StatusCode::SERVICE_UNAVAILABLE
                    if body["error"]["code"] == "psa_post_in_progress"
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => panic!("{other}: {body}"),
            }
        }
    });
    assert_eq!(site.notes(400).len(), 1);
    assert_eq!(posts_sent(&site, 400), 1);
    assert_eq!(outcome["note_id"], site.notes(400)[0].id);
    second.runtime.shutdown_background();
}

#[test]
fn a_post_left_half_way_by_a_killed_sqlite_server_is_finished_once() {
    a_post_left_half_way_by_a_killed_server_is_finished_once(Backend::Sqlite);
}

#[test]
fn a_post_left_half_way_by_a_killed_postgres_server_is_finished_once() {
    a_post_left_half_way_by_a_killed_server_is_finished_once(Backend::Postgres);
}

/// The engineer's time goes with the note as a time entry, once, for the member their account
/// maps to (by e-mail, or as a team admin mapped it); no member is said, the note posted anyway.
async fn time_is_recorded_once_for_the_engineers_member(backend: Backend) {
    let (server, site) = connected(backend, Duration::from_secs(2)).await;
    let engineer = server.token(ENGINEER).await;
    let admin = server.token(ADMIN).await;
    let time = json!({"start": "2026-12-07T09:00:00Z", "end": "2026-12-07T09:47:30+00:00"});
    site.script(
        Method::GET,
        "system/members",
        Scripted::Answer {
            status: 200,
            headers: vec![],
            body: json!([{"id": 11, "identifier": "alovelace", "firstName": "Ada",
                          "primaryEmail": "ADA@contoso.example"}])
            .to_string(),
        },
    );
    let mut request = post(Uuid::new_v4(), 600, "With time", &["internal"], None);
    request["time"] = time.clone();
    let (status, first) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let entries = site.time_entries(600);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(first["time_entry_id"], entries[0].id);
    assert_eq!(entries[0].member, "alovelace");
    assert_eq!(entries[0].start, "2026-12-07T09:00:00Z");
    assert_eq!(entries[0].end, "2026-12-07T09:47:30Z");
    assert!(entries[0].notes.contains(&marker(
        Uuid::parse_str(request["key"].as_str().unwrap()).unwrap()
    )));
    let (status, again) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);
    assert_eq!(site.time_entries(600).len(), 1);

    // A team admin maps the account by hand: no lookup by e-mail, that member.
    let ada = server.get("/api/v1/me", Some(&engineer)).await.1;
    let path = format!("/api/v1/psa/members/{}", ada["id"].as_str().unwrap());
    let (status, _) = server
        .put(
            &path,
            Some(&engineer),
            json!({"member_identifier": "ada.l"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = server
        .put(&path, Some(&admin), json!({"member_identifier": "ada.l"}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = server
        .put(
            &format!("/api/v1/psa/members/{}", Uuid::new_v4()),
            Some(&admin),
            json!({"member_identifier": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Its answer is lost: found by its marker, not made twice.
    site.script(Method::POST, "time/entries", Scripted::ForwardThenHang);
    let mut request = post(Uuid::new_v4(), 601, "Mapped by hand", &["internal"], None);
    request["time"] = time.clone();
    let (status, body) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = site.time_entries(601);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].member, "ada.l");
    assert_eq!(body["time_entry_id"], entries[0].id);

    // No member with Bob's e-mail: the note is posted, the time is not, and it says why.
    let bob = server.token("bob@contoso.example").await;
    let mut request = post(Uuid::new_v4(), 602, "No member", &["internal"], None);
    request["time"] = time.clone();
    let (status, body) = server.post("/api/v1/psa/posts", Some(&bob), &request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(site.notes(602).len(), 1);
    assert!(site.time_entries(602).is_empty());
    assert!(
        body["time_error"]
            .as_str()
            .unwrap()
            .contains("bob@contoso.example"),
        "{body}"
    );

    // A time that cannot be one.
    let mut request = post(Uuid::new_v4(), 603, "Bad time", &["internal"], None);
    request["time"] = json!({"start": "2026-12-07T10:00:00Z", "end": "2026-12-07T09:00:00Z"});
    let (status, _) = server
        .post("/api/v1/psa/posts", Some(&engineer), &request)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    site.assert_no_violations();
    server.stop().await;
}

on_every_backend!(
    a_server_restored_from_an_older_backup_does_not_post_twice,
    time_is_recorded_once_for_the_engineers_member,
    a_note_is_posted_once_with_its_flags_and_status,
    a_lost_answer_is_looked_for_before_anything_is_sent_again,
    concurrent_requests_with_one_key_post_once,
);
