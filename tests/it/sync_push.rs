//! Pushing session events from real replicas to a real sync server over HTTP: stored once
//! whatever is retried, lost or reordered; owned by the engineer who recorded them; refused
//! (with nothing changed) when the role, the device or the session says no; an event that
//! breaks rf-core's rules refused alone, with its reason, never reaching the team; batches
//! split when a server finds them too large.

use reqwest::StatusCode;
use rf_core::sync::{PushRequest, PushResponse};
use rf_replica::{Replica, WriteSource};
use rf_tests::{Backend, TestServer, on_every_backend, printer_flow, replica_with_session};

const PUSH: &str = "/api/v1/sync/push";

async fn push(
    server: &TestServer,
    token: &str,
    request: &PushRequest,
) -> (StatusCode, serde_json::Value) {
    server.post(PUSH, Some(token), request).await
}

fn response(body: serde_json::Value) -> PushResponse {
    serde_json::from_value(body).unwrap()
}

async fn events_arrive_once_however_often_they_are_sent(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token("ada@contoso.example").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, _) = replica_with_session(dir.path());
    let batch = replica.next_push(100, 100).unwrap().unwrap();
    assert_eq!(batch.events.len(), 9);

    // The server stores everything, but the answer is lost on the way back.
    let (status, _) = push(&server, &token, &batch).await;
    assert_eq!(status, StatusCode::OK);
    // The replica retries with a smaller batch; the server says truthfully that all 9 are stored.
    let retry = replica.next_push(100, 3).unwrap().unwrap();
    let (status, body) = push(&server, &token, &retry).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = response(body);
    assert_eq!(answer.events_acknowledged_through, 9);
    // The flow version was applied by the first push too: the retry reports it settled.
    assert_eq!(answer.mutations_settled_through, 1);
    assert!(answer.rejected.is_empty());
    replica.apply_push_response(&retry, &answer).unwrap();
    assert_eq!(replica.pending_count().unwrap(), 0);
    assert_eq!(server.count("SELECT COUNT(*) FROM flow_versions").await, 1);
    // The whole first batch again, a third time: still acknowledged, nothing stored twice.
    let (_, body) = push(&server, &token, &batch).await;
    assert_eq!(response(body).events_acknowledged_through, 9);
    assert_eq!(server.count("SELECT COUNT(*) FROM session_events").await, 9);
    assert_eq!(
        server
            .count("SELECT COUNT(DISTINCT team_seq) FROM session_events")
            .await,
        9
    );
    server.stop().await;
}

async fn a_gap_holds_acknowledgement_until_it_is_filled(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token("ada@contoso.example").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, _) = replica_with_session(dir.path());
    let batch = replica.next_push(0, 100).unwrap().unwrap();
    // Events 3..9 arrive first (reordered in transit): stored, but nothing is acknowledged.
    let mut late = batch.clone();
    late.events.drain(..2);
    late.flow_versions.clear(); // its session start went with the first two events
    let (_, body) = push(&server, &token, &late).await;
    assert_eq!(response(body).events_acknowledged_through, 0);
    // Then 1..2: the prefix closes and everything is acknowledged at once.
    let mut early = batch.clone();
    early.events.truncate(2);
    let (_, body) = push(&server, &token, &early).await;
    assert_eq!(response(body).events_acknowledged_through, 9);
    assert_eq!(server.count("SELECT COUNT(*) FROM session_events").await, 9);
    server.stop().await;
}

async fn nobody_writes_what_is_not_theirs(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.token("ada@contoso.example").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, _) = replica_with_session(dir.path());
    let batch = replica.next_push(0, 100).unwrap().unwrap();

    // Viewers read only.
    let viewer = server.token("vic@contoso.example").await;
    let (status, body) = push(&server, &viewer, &batch).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(server.count("SELECT COUNT(*) FROM session_events").await, 0);
    assert_eq!(server.count("SELECT COUNT(*) FROM devices").await, 0);

    // Ada's device pushes; then Bob (same team) and Eve (another team) try to use it.
    let (status, _) = push(&server, &ada, &batch).await;
    assert_eq!(status, StatusCode::OK);
    for intruder in ["bob@contoso.example", "eve@fabrikam.example"] {
        let token = server.token(intruder).await;
        let (status, body) = push(&server, &token, &batch).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{intruder}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
        // From their own device, appending to Ada's session is refused too.
        let mut forged = batch.clone();
        forged.client_id = uuid::Uuid::new_v4();
        for event in &mut forged.events {
            event.device_id = forged.client_id;
        }
        // Each event is refused on its own (kept aside with the reason), so the intruder's
        // device is not wedged and nothing reaches Ada's session.
        let (status, body) = push(&server, &token, &forged).await;
        assert_eq!(status, StatusCode::OK, "{intruder}: {body}");
        let answer = response(body);
        assert_eq!(answer.refused_events.len(), forged.events.len());
        assert!(
            answer
                .refused_events
                .iter()
                .all(|refused| refused.reason.contains("another engineer")),
            "{intruder}: {:?}",
            answer.refused_events
        );
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM session_events").await, 9);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM sessions WHERE handed_to IS NOT NULL")
            .await,
        0
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM session_events WHERE team_id <> (SELECT id FROM teams WHERE name = 'Contoso MSP')").await, 0);
    server.stop().await;
}

async fn malformed_pushes_and_old_clients_get_clear_answers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token("ada@contoso.example").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, _) = replica_with_session(dir.path());
    let batch = replica.next_push(100, 100).unwrap().unwrap();

    let mut old = batch.clone();
    old.protocol = 0;
    let (status, body) = push(&server, &token, &old).await;
    assert_eq!(status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(body["error"]["code"], "upgrade_required");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stays saved")
    );

    // A replica whose database predates content-addressed versions is told to update.
    let mut stale = batch.clone();
    stale.schema = 4;
    let (status, body) = push(&server, &token, &stale).await;
    assert_eq!(status, StatusCode::UPGRADE_REQUIRED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("schema 4")
    );

    let mut foreign = batch.clone();
    foreign.events[0].device_id = uuid::Uuid::new_v4();
    let (status, _) = push(&server, &token, &foreign).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, _) = server.post(PUSH, None, &batch).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Nothing of the refused pushes was stored, and the replica still holds all its work.
    assert_eq!(server.count("SELECT COUNT(*) FROM session_events").await, 0);
    assert_eq!(replica.pending_count().unwrap(), 1 + 9);
    let (status, body) = push(&server, &token, &batch).await;
    assert_eq!(status, StatusCode::OK);
    replica
        .apply_push_response(&batch, &response(body))
        .unwrap();
    assert_eq!(replica.pending_count().unwrap(), 0);

    // A flow version whose document does not match its name (altered in transit or on disk)
    // is refused for good with the reason, and changes nothing on the server.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = Replica::open(other_dir.path()).unwrap();
    let mut edited = printer_flow();
    edited.title = "Printer offline (edited)".into();
    other.import_flow(edited, WriteSource::Import).unwrap();
    let mut tampered = other.next_push(10, 10).unwrap().unwrap();
    tampered.mutations[0].payload["document"]["title"] = "Printer offline (tampered)".into();
    let (status, body) = push(&server, &token, &tampered).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = response(body);
    assert_eq!(answer.mutations_settled_through, 1);
    assert_eq!(answer.rejected.len(), 1);
    assert!(
        answer.rejected[0]
            .reason
            .contains("does not name this document"),
        "{}",
        answer.rejected[0].reason
    );
    other.apply_push_response(&tampered, &answer).unwrap();
    assert_eq!(other.rejected_mutations().unwrap().len(), 1);
    assert_eq!(server.count("SELECT COUNT(*) FROM flow_versions").await, 1);
    server.stop().await;
}

/// Many devices pushing sessions on the same flow version at once: every push is stored, the
/// version once (on PostgreSQL the pushes run in parallel transactions).
async fn concurrent_pushes_carrying_one_version_all_succeed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut batches = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let (mut replica, _) = replica_with_session(dir.path());
        let mut batch = replica.next_push(100, 100).unwrap().unwrap();
        batch.mutations.clear(); // only the session and its flow document
        assert_eq!(batch.flow_versions.len(), 1);
        batches.push(batch);
        dirs.push(dir);
    }
    let token = server.token("ada@contoso.example").await;
    let pushes = batches.iter().map(|batch| push(&server, &token, batch));
    for (status, body) in futures_util::future::join_all(pushes).await {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(response(body).events_acknowledged_through, 9);
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM flow_versions").await, 1);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM session_events").await,
        8 * 9
    );
    server.stop().await;
}

/// Events tampered on the way (or written by a broken client) are refused one by one with
/// their reason, before they are stored (one of a kind the server does not know yet is held
/// on its device instead); the rest of the batch is stored, the device's later
/// events are not held behind them, a retry is answered the same way, and teammates pulling
/// the session never see them.
async fn a_malformed_event_is_refused_alone_and_never_reaches_the_team(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token("ada@contoso.example").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, session) = replica_with_session(dir.path());
    let batch = replica.next_push(100, 100).unwrap().unwrap();
    assert_eq!(batch.events.len(), 9);
    let mut tampered = batch.clone();
    let bad_attachment = serde_json::json!({
        "at": "2026-12-01T10:00:00Z", "type": "attachment_added",
        "attachment": {"name": "x.txt", "sha256": "not-a-hash", "size": 3, "media_type": "text/plain"}
    });
    tampered.events[4].payload = bad_attachment;
    tampered.events[6].payload = serde_json::json!({"type": "teleported"});
    tampered.events[7].payload["text"] = "x".repeat(300 * 1024).into();
    let (status, body) = push(&server, &token, &tampered).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = response(body);
    // Event 7 is of a kind this server does not know (a newer client's): neither stored nor
    // refused, it holds the prefix at 6 and stays queued on the device until the server is
    // updated; the answer names the kind.
    assert_eq!(answer.events_acknowledged_through, 6);
    assert_eq!(answer.unknown_event_kinds, vec!["teleported".to_owned()]);
    let refused: Vec<(i64, &str)> = answer
        .refused_events
        .iter()
        .map(|refusal| (refusal.device_seq, refusal.reason.as_str()))
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!((refused[0].0, refused[1].0), (5, 8));
    assert!(refused[0].1.contains("SHA-256"), "{refused:?}");
    assert!(refused[1].1.contains("the limit is"), "{refused:?}");
    assert!(
        answer
            .refused_events
            .iter()
            .all(|refusal| refusal.session_id == session)
    );
    // Stored: the six good ones; kept aside: the two, never served.
    assert_eq!(server.count("SELECT COUNT(*) FROM session_events").await, 6);
    assert_eq!(server.count("SELECT COUNT(*) FROM refused_events").await, 2);
    // A retry (its answer was lost) is answered the same way and stores nothing twice.
    let (_, body) = push(&server, &token, &tampered).await;
    let again = response(body);
    assert_eq!(again.refused_events, answer.refused_events);
    assert_eq!(again.events_acknowledged_through, 6);
    assert_eq!(server.count("SELECT COUNT(*) FROM session_events").await, 6);
    replica.apply_push_response(&tampered, &again).unwrap();
    let backlog = replica.sync_backlog().unwrap();
    assert_eq!((backlog.events, backlog.refused_events), (3, 2));
    // Once the server takes event 7 (here: the device sends it alone, as it really is), the
    // prefix passes the refused 8 to the stored 9.
    let retry = replica.next_push(0, 1).unwrap().unwrap();
    assert_eq!(retry.events[0].device_seq, 7);
    let (_, body) = push(&server, &token, &retry).await;
    let answer = response(body);
    assert_eq!(answer.events_acknowledged_through, 9);
    replica.apply_push_response(&retry, &answer).unwrap();
    assert_eq!(replica.sync_backlog().unwrap().events, 0);
    // A teammate's pull carries the seven good ones and nothing of the two.
    let reader = server.token("bob@contoso.example").await;
    let (status, body) = server.get("/api/v1/sync/pull?since=0", Some(&reader)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: rf_core::sync::PullResponse = serde_json::from_value(body).unwrap();
    assert_eq!(page.events.len(), 7);
    assert!(
        page.events
            .iter()
            .all(|event| rf_core::received::read_event(&event.payload).is_ok())
    );
    server.stop().await;
}

/// A server with a smaller body limit than the replica expects (an older or stricter one):
/// batches are split until they fit, a single change still too large is withdrawn with its
/// reason while every later change settles, and nothing recorded is dropped.
async fn a_server_with_a_smaller_body_limit_gets_smaller_batches(backend: Backend) {
    use rf_core::session::Command;
    let config = rf_sync_server::ApiConfig {
        max_body_bytes: 256 * 1024,
        ..rf_sync_server::ApiConfig::default()
    };
    let server = TestServer::start_with(backend, config).await;
    let device = rf_tests::device::Device::new();
    device.login(&server, "ada@contoso.example").await;
    device.import(rf_tests::device::flow()).await;
    // Twenty outputs of 60 KiB (1.2 MB of events) in one session, and a flow far larger than
    // the server's limit, queued between two small changes.
    device
        .with(|replica| {
            let flow_id = uuid::Uuid::parse_str(rf_tests::device::FLOW_ID).unwrap();
            let session = replica
                .start_session(flow_id, rf_core::StartRequest::default())
                .unwrap()
                .id;
            for index in 0..20 {
                let text = format!("{index} {}", "log line\n".repeat(6 * 1024));
                replica
                    .run_command(session, Command::PasteOutput { text })
                    .unwrap();
            }
        })
        .await;
    let mut huge = printer_flow();
    huge.id = Some(uuid::Uuid::new_v4());
    huge.description = Some("d".repeat(400 * 1024));
    device.import(huge).await;
    device.import(printer_flow()).await;
    let report = device.sync().await.unwrap();
    assert_eq!(report.pending, 0, "{report:?}");
    assert_eq!(report.mutations_rejected, 1, "{report:?}");
    let rejected = device
        .with(|replica| replica.rejected_mutations().unwrap())
        .await;
    assert!(
        rejected[0].reason.contains("larger than"),
        "{}",
        rejected[0].reason
    );
    // Started (2 events) and twenty outputs, all stored; both small flows, not the huge one.
    assert_eq!(
        server.count("SELECT COUNT(*) FROM session_events").await,
        22
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM flows").await, 2);
    server.stop().await;
}

/// A replica restored from an older backup, or its data copied to a second machine, sends
/// numbers the first copy already used, for other work: the server tells it so (and takes
/// nothing from the first clashing number on) instead of taking its work for a retry.
async fn a_second_copy_of_a_device_is_told_and_not_taken_for_a_retry(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token("ada@contoso.example").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, _) = replica_with_session(dir.path());
    let first = replica.next_push(100, 100).unwrap().unwrap();
    let (status, body) = push(&server, &token, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = server.count("SELECT COUNT(*) FROM session_events").await;
    assert_eq!(stored, 9);

    // The copy recorded other events under numbers 5.. and another change under number 1.
    let mut copy = first.clone();
    for event in &mut copy.events[4..] {
        event.payload["at"] = serde_json::json!("2031-01-01T00:00:00Z");
    }
    copy.mutations[0].operation = rf_core::sync::WITHDRAWN.into();
    copy.mutations[0].payload = serde_json::json!({});
    let (status, body) = push(&server, &token, &copy).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = response(body);
    assert_eq!(
        answer.identity_clash,
        Some(rf_core::sync::IdentityClash {
            first_mutation: Some(1),
            first_event: Some(5),
            last_mutation: Some(1),
        })
    );
    // Nothing at or beyond the clash is reported as settled or stored for this copy.
    assert_eq!(answer.mutations_settled_through, 0);
    assert_eq!(answer.events_acknowledged_through, 4);
    assert_eq!(server.count("SELECT COUNT(*) FROM session_events").await, 9);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM session_events WHERE payload LIKE '%2031-01-01%'")
            .await,
        0
    );

    // Keys in another order are the same content: a real retry is no clash.
    let mut retry = first.clone();
    for event in &mut retry.events {
        let reordered: serde_json::Map<String, serde_json::Value> = event
            .payload
            .as_object()
            .unwrap()
            .iter()
            .rev()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        event.payload = serde_json::Value::Object(reordered);
    }
    let (_, body) = push(&server, &token, &retry).await;
    let answer = response(body);
    assert_eq!(answer.identity_clash, None);
    assert_eq!(answer.mutations_settled_through, 1);
    assert_eq!(answer.events_acknowledged_through, 9);

    // A clash at a number the server refused is told the same way.
    let mut bad = replica.next_push(0, 100).unwrap().unwrap();
    bad.events.truncate(1);
    let refused_seq = 10;
    bad.events[0].device_seq = refused_seq;
    bad.events[0].payload["type"] = serde_json::json!("note_added");
    bad.events[0].payload["text"] = serde_json::json!(7);
    bad.flow_versions.clear();
    let (_, body) = push(&server, &token, &bad).await;
    assert_eq!(response(body).refused_events.len(), 1);
    bad.events[0].payload["text"] = serde_json::json!(8);
    let (_, body) = push(&server, &token, &bad).await;
    let answer = response(body);
    assert_eq!(
        answer.identity_clash.and_then(|clash| clash.first_event),
        Some(refused_seq)
    );
    assert!(answer.refused_events.is_empty());
    assert_eq!(answer.events_acknowledged_through, refused_seq - 1);
    server.stop().await;
}

on_every_backend!(
    a_second_copy_of_a_device_is_told_and_not_taken_for_a_retry,
    a_reader_never_skips_past_a_late_commit,
    concurrent_pushes_carrying_one_version_all_succeed,
    events_arrive_once_however_often_they_are_sent,
    a_gap_holds_acknowledgement_until_it_is_filled,
    nobody_writes_what_is_not_theirs,
    malformed_pushes_and_old_clients_get_clear_answers,
    a_malformed_event_is_refused_alone_and_never_reaches_the_team,
    a_server_with_a_smaller_body_limit_gets_smaller_batches
);

/// Readers page by team sequence number while many devices push at once: a reader that pulls
/// from its mark over and over must end with every stored event, none skipped because a number
/// became visible before a smaller one (on PostgreSQL the pushes commit in parallel).
async fn a_reader_never_skips_past_a_late_commit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut batches = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        let (mut replica, _) = replica_with_session(dir.path());
        // Each event alone, so every push is its own transaction racing the others.
        for _ in 0..9 {
            let batch = replica.next_push(0, 1).unwrap().unwrap();
            replica
                .apply_push_response(
                    &batch,
                    &PushResponse {
                        mutations_settled_through: 0,
                        rejected: Vec::new(),
                        events_acknowledged_through: batch.events[0].device_seq,
                        heads: Vec::new(),
                        refused_events: vec![],
                        unknown_event_kinds: vec![],
                        identity_clash: None,
                        epoch: None,
                    },
                )
                .unwrap();
            batches.push(batch);
        }
        dirs.push(dir);
    }
    let writer = server.token("ada@contoso.example").await;
    let reader = server.token("bob@contoso.example").await;
    let total = batches.len();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pushes = {
        let done = done.clone();
        let server = &server;
        let writer = &writer;
        async move {
            let all = batches.iter().map(|batch| push(server, writer, batch));
            for (status, body) in futures_util::future::join_all(all).await {
                assert_eq!(status, StatusCode::OK, "{body}");
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    };
    let reads = async {
        let mut mark = 0;
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst);
            let (status, body) = server
                .get(
                    &format!("/api/v1/sync/pull?since={mark}&limit=3"),
                    Some(&reader),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let page: rf_core::sync::PullResponse = serde_json::from_value(body).unwrap();
            for event in &page.events {
                assert!(
                    seen.insert(event.team_seq),
                    "team_seq {} twice",
                    event.team_seq
                );
            }
            mark = page.until;
            if finished && page.until == page.latest {
                break seen;
            }
            tokio::task::yield_now().await;
        }
    };
    let ((), seen) = tokio::join!(pushes, reads);
    assert_eq!(seen.len(), total, "the reader saw every event exactly once");
    assert_eq!(
        server.count("SELECT COUNT(*) FROM session_events").await as usize,
        total
    );
    server.stop().await;
}
