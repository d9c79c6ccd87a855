//! Applying pull pages: another device's events that arrive before the events they follow wait,
//! then join the log in order; a page that does not follow the mark is refused whole; an item
//! this replica cannot use (a malformed event, a document not matching its version id) is set
//! aside while the rest applies; a newer client's event kinds are kept and skipped; the user's
//! pins follow their other devices; a replayed page changes nothing.

use rf_core::session::{Choice, Command, SessionEvent, SessionState, StartRequest};
use rf_core::sync::{PullResponse, PulledEvent, PulledFlow, PulledVersion};
use rf_core::{Flow, FlowRef, FlowSet, Outcome, VersionId};
use rf_replica::Replica;
use uuid::Uuid;

fn flow() -> Flow {
    Flow::parse(
        r#"{"format": "resolutionflow/v1", "id": "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b",
            "kind": "troubleshooting", "title": "Disk full", "start": "clean",
            "nodes": [
              {"id": "clean", "type": "question", "title": "Did Disk Cleanup free enough?",
               "answers": [{"label": "Yes", "next": "ok"}, {"label": "No", "next": "ok"}]},
              {"id": "ok", "type": "resolution", "title": "Space is back", "outcome": "resolved"}
            ]}"#,
    )
    .unwrap()
}

/// Another device's finished session, as the engine records it.
fn foreign_session(flow: &Flow) -> Vec<SessionEvent> {
    let flow_id = flow.id.unwrap();
    let mut flows = FlowSet::new();
    flows.insert(FlowRef::of(flow_id, flow), flow.clone());
    let at = time::OffsetDateTime::now_utc();
    let stamp = |kinds: Vec<rf_core::EventKind>| {
        kinds
            .into_iter()
            .map(|kind| SessionEvent { at, kind })
            .collect::<Vec<_>>()
    };
    let mut events =
        stamp(rf_core::session::start(&flows, flow_id, StartRequest::default()).unwrap());
    for command in [
        Command::Answer {
            choice: Choice::parse("yes"),
        },
        Command::Finish {
            outcome: Outcome::Resolved,
            summary: None,
            next_steps: None,
        },
    ] {
        let state = SessionState::replay(&events).unwrap();
        events.extend(stamp(
            rf_core::session::decide(&state, &flows, command).unwrap(),
        ));
    }
    events
}

fn page(since: i64, until: i64, latest: i64) -> PullResponse {
    PullResponse {
        protocol: 1,
        since,
        until,
        latest,
        versions: Vec::new(),
        flows: Vec::new(),
        events: Vec::new(),
        conflicts: Vec::new(),
        pins: Vec::new(),
        records: Vec::new(),
        epoch: None,
    }
}

fn logged_in(dir: &std::path::Path) -> Replica {
    let mut replica = Replica::open(dir).unwrap();
    replica
        .set_sync_account(
            "http://127.0.0.1:1",
            Uuid::new_v4(),
            Uuid::new_v4(),
            "a@b.example",
        )
        .unwrap();
    replica
}

#[test]
fn events_that_arrive_early_wait_for_the_ones_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = logged_in(dir.path());
    let flow = flow();
    let flow_id = flow.id.unwrap();
    let version = VersionId::of(&flow);
    let events = foreign_session(&flow);
    assert_eq!(events.len(), 5);
    let (device, session) = (Uuid::new_v4(), Uuid::new_v4());
    let pulled = |index: usize, team_seq: i64| PulledEvent {
        device_id: device,
        device_seq: index as i64 + 1,
        session_id: session,
        session_seq: index as i64,
        payload: serde_json::to_value(&events[index]).unwrap(),
        team_seq,
    };

    // The version and head, then events 2..4 (stored first on the server), then 0..1.
    let mut first = page(0, 5, 7);
    first.versions.push(PulledVersion {
        flow_id,
        version,
        number: 1,
        document: serde_json::to_value(&flow).unwrap(),
        team_seq: 1,
    });
    first.flows.push(PulledFlow {
        flow_id,
        head: version,
        author_id: Uuid::new_v4(),
        team_seq: 2,
    });
    first.events = vec![pulled(2, 3), pulled(3, 4), pulled(4, 5)];
    let report = replica.apply_pull(&first).unwrap();
    assert_eq!((report.versions, report.events), (1, 0));
    assert!(
        replica.sessions().unwrap().is_empty(),
        "nothing shows before it can replay"
    );
    let waiting: i64 = replica
        .connection()
        .query_row("SELECT COUNT(*) FROM pulled_events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(waiting, 3);

    // A replayed copy of the first page changes nothing.
    assert_eq!(replica.apply_pull(&first).unwrap().events, 0);

    let mut second = page(5, 7, 7);
    second.events = vec![pulled(0, 6), pulled(1, 7)];
    assert_eq!(replica.apply_pull(&second).unwrap().events, 5);
    let sessions = replica.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        (sessions[0].status.as_str(), sessions[0].event_count),
        ("finished", 5)
    );
    assert_eq!(replica.session_events(session).unwrap(), events);
    assert_eq!(replica.path_statistics(flow_id).unwrap().sessions, 1);
    let waiting: i64 = replica
        .connection()
        .query_row("SELECT COUNT(*) FROM pulled_events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(waiting, 0);
    assert_eq!(replica.sync_account().unwrap().unwrap().pulled_seq, 7);
}

#[test]
fn pages_that_do_not_fit_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = logged_in(dir.path());
    let flow = flow();
    // A gap: this replica has applied nothing, the page starts at 3.
    let error = replica.apply_pull(&page(3, 5, 5)).unwrap_err();
    assert!(error.to_string().contains("nothing was changed"), "{error}");
    // A document that does not match its version id.
    let mut altered = page(0, 1, 1);
    let mut document = serde_json::to_value(&flow).unwrap();
    document["title"] = "Tampered".into();
    altered.versions.push(PulledVersion {
        flow_id: flow.id.unwrap(),
        version: VersionId::of(&flow),
        number: 1,
        document,
        team_seq: 1,
    });
    // Set aside, not applied; the page itself moves the mark on (see below).
    let report = replica.apply_pull(&altered).unwrap();
    assert_eq!((report.versions, report.set_aside), (0, 1));
    assert!(replica.flows().unwrap().is_empty());
    assert_eq!(replica.sync_account().unwrap().unwrap().pulled_seq, 1);
    assert_eq!(replica.sync_backlog().unwrap().set_aside, 1);
    // Without a login there is nothing to pull into.
    let other = tempfile::tempdir().unwrap();
    let mut fresh = Replica::open(other.path()).unwrap();
    assert!(
        fresh
            .apply_pull(&page(0, 0, 0))
            .unwrap_err()
            .to_string()
            .contains("log in")
    );
}

/// A page of one version, its head, and the given sessions' events (each session's events
/// numbered from 0, one team number each after the version and head).
fn page_with_sessions(
    flow: &Flow,
    sessions: &[(Uuid, Uuid, Vec<serde_json::Value>)],
) -> PullResponse {
    let flow_id = flow.id.unwrap();
    let version = VersionId::of(flow);
    let mut events = Vec::new();
    let mut team_seq = 2;
    for (device, session, payloads) in sessions {
        for (index, payload) in payloads.iter().enumerate() {
            team_seq += 1;
            events.push(PulledEvent {
                device_id: *device,
                device_seq: index as i64 + 1,
                session_id: *session,
                session_seq: index as i64,
                payload: payload.clone(),
                team_seq,
            });
        }
    }
    let mut page = page(0, team_seq, team_seq);
    page.versions.push(PulledVersion {
        flow_id,
        version,
        number: 1,
        document: serde_json::to_value(flow).unwrap(),
        team_seq: 1,
    });
    page.flows.push(PulledFlow {
        flow_id,
        head: version,
        author_id: Uuid::new_v4(),
        team_seq: 2,
    });
    page.events = events;
    page
}

fn payloads(events: &[SessionEvent]) -> Vec<serde_json::Value> {
    events
        .iter()
        .map(|event| serde_json::to_value(event).unwrap())
        .collect()
}

#[test]
fn a_malformed_event_is_set_aside_and_the_rest_of_the_page_applies() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = logged_in(dir.path());
    let flow = flow();
    let events = foreign_session(&flow);
    let mut damaged = payloads(&events);
    // An attachment "named" by a path: once stored, every download round used to fail on it.
    damaged[2] = serde_json::json!({
        "at": "2026-12-01T10:00:00Z", "type": "attachment_added",
        "attachment": {"name": "x.txt", "sha256": "../../../../etc/passwd", "size": 3, "media_type": "text/plain"}
    });
    let (bad_session, good_session) = (Uuid::new_v4(), Uuid::new_v4());
    let page = page_with_sessions(
        &flow,
        &[
            (Uuid::new_v4(), bad_session, damaged),
            (Uuid::new_v4(), good_session, payloads(&events)),
        ],
    );
    let report = replica.apply_pull(&page).unwrap();
    assert_eq!(report.set_aside, 1);
    // The good session is whole; the damaged one waits after its gap, and nothing is lost.
    assert_eq!(report.events, 5 + 2);
    assert_eq!(replica.session_events(good_session).unwrap(), events);
    assert_eq!(replica.session_events(bad_session).unwrap(), events[..2]);
    assert_eq!(replica.attachment_downloads().unwrap(), Vec::new());
    assert_eq!(replica.sync_backlog().unwrap().set_aside, 1);
    let (reason, kept): (String, String) = replica
        .connection()
        .query_row("SELECT reason, payload FROM set_aside", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert!(reason.contains("SHA-256"), "{reason}");
    assert!(
        kept.contains("etc/passwd"),
        "the item is kept whole: {kept}"
    );
    // The same page again changes nothing and sets nothing more aside.
    let again = replica.apply_pull(&page).unwrap();
    assert_eq!((again.events, again.set_aside), (0, 0));
    assert_eq!(replica.sync_backlog().unwrap().set_aside, 1);
}

#[test]
fn events_of_a_newer_kind_are_kept_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = logged_in(dir.path());
    let flow = flow();
    let events = foreign_session(&flow);
    let mut written = payloads(&events);
    // A newer client recorded a kind this build does not know, in the middle of the session,
    // with a field this build does not know on a kind it does.
    written.insert(
        2,
        serde_json::json!({"at": "2026-12-01T10:00:00Z", "type": "vendor_escalated", "to": "bob@contoso.example"}),
    );
    written[3]["mood"] = "calm".into();
    let session = Uuid::new_v4();
    let page = page_with_sessions(&flow, &[(Uuid::new_v4(), session, written.clone())]);
    let report = replica.apply_pull(&page).unwrap();
    assert_eq!((report.events, report.set_aside), (6, 0));
    let sessions = replica.sessions().unwrap();
    assert_eq!(sessions[0].status.as_str(), "finished");
    // Replayed without the unknown kind; the unknown field is kept in the stored payload.
    assert_eq!(replica.session_events(session).unwrap(), events);
    let kept: String = replica
        .connection()
        .query_row(
            "SELECT payload FROM session_events WHERE session_seq = 3",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(kept.contains("calm"), "{kept}");
    assert_eq!(replica.sync_backlog().unwrap().needs_newer_version, 1);
    assert_eq!(
        replica.path_statistics(flow.id.unwrap()).unwrap().sessions,
        1
    );
}

#[test]
fn pins_follow_the_users_other_devices() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = logged_in(dir.path());
    let flow = flow();
    let flow_id = flow.id.unwrap();
    let mut first = page_with_sessions(&flow, &[]);
    first.pins.push(rf_core::sync::PulledPin {
        flow_id,
        pinned: true,
        team_seq: 2,
    });
    assert_eq!(replica.apply_pull(&first).unwrap().pins, 1);
    let pinned: Vec<Uuid> = replica
        .pinned_flows()
        .unwrap()
        .into_iter()
        .map(|flow| flow.id)
        .collect();
    assert_eq!(pinned, vec![flow_id]);
    // A pin change still queued here wins over an older one from elsewhere.
    replica.unpin_flow(flow_id).unwrap();
    let mut stale = page(2, 3, 3);
    stale.pins.push(rf_core::sync::PulledPin {
        flow_id,
        pinned: true,
        team_seq: 3,
    });
    assert_eq!(replica.apply_pull(&stale).unwrap().pins, 0);
    assert!(replica.pinned_flows().unwrap().is_empty());
}
