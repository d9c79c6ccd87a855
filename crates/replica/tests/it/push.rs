//! The push half of sync against a real replica: batches in order, acknowledgements applied
//! atomically and idempotently, rejections kept visible, and hostile answers refused.

use rf_core::Flow;
use rf_core::session::{Choice, Command, StartRequest};
use rf_core::sync::{PushResponse, Rejection};
use rf_replica::{Replica, WriteSource};
use uuid::Uuid;

fn flow(title: &str) -> Flow {
    let document = serde_json::json!({
        "format": "resolutionflow/v1", "id": Uuid::new_v4().to_string(), "kind": "troubleshooting",
        "title": title, "start": "q",
        "nodes": [
            {"id": "q", "type": "question", "title": "Working?", "answers": [{"label": "Yes", "next": "ok"}]},
            {"id": "ok", "type": "resolution", "title": "Done", "outcome": "resolved"}
        ]
    });
    Flow::parse(&document.to_string()).unwrap()
}

/// A replica with three flow mutations and one session's events (2 + 2 + 1 = 5).
fn replica_with_work(dir: &std::path::Path) -> Replica {
    let mut replica = Replica::open(dir).unwrap();
    let mut first = None;
    for title in ["One", "Two", "Three"] {
        first.get_or_insert(
            replica
                .import_flow(flow(title), WriteSource::Import)
                .unwrap()
                .flow_id,
        );
    }
    let request = StartRequest {
        ticket: "T".into(),
        client: "C".into(),
        engineer: "E".into(),
        ..StartRequest::default()
    };
    let session = replica.start_session(first.unwrap(), request).unwrap().id;
    replica
        .run_command(
            session,
            Command::Answer {
                choice: Choice::parse("yes"),
            },
        )
        .unwrap();
    replica
        .run_command(
            session,
            Command::Finish {
                outcome: rf_core::Outcome::Resolved,
                summary: None,
                next_steps: None,
            },
        )
        .unwrap();
    replica
}

#[test]
fn batches_come_out_in_order_and_acknowledgements_remove_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    assert_eq!(replica.pending_count().unwrap(), 3 + 5);
    let batch = replica.next_push(2, 3).unwrap().unwrap();
    assert_eq!(batch.client_id, replica.device_id());
    assert_eq!(
        batch
            .mutations
            .iter()
            .map(|m| m.mutation_id)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        batch
            .events
            .iter()
            .map(|e| e.device_seq)
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(batch.events[0].payload["type"], "started");
    let response = PushResponse {
        mutations_settled_through: 2,
        rejected: vec![],
        events_acknowledged_through: 3,
        heads: vec![],
        refused_events: vec![],
        unknown_event_kinds: vec![],
        identity_clash: None,
        epoch: None,
    };
    let report = replica.apply_push_response(&batch, &response).unwrap();
    assert_eq!(
        (report.applied, report.rejected, report.events_acknowledged),
        (2, 0, 3)
    );
    assert_eq!(replica.pending_count().unwrap(), 1 + 2);
    // The same answer again (a retried round) changes nothing.
    let again = replica.apply_push_response(&batch, &response).unwrap();
    assert_eq!(
        (again.applied, again.rejected, again.events_acknowledged),
        (0, 0, 0)
    );
    let rest = replica.next_push(10, 10).unwrap().unwrap();
    assert_eq!(rest.mutations[0].mutation_id, 3);
    assert_eq!(
        rest.events.iter().map(|e| e.device_seq).collect::<Vec<_>>(),
        vec![4, 5]
    );
    replica
        .apply_push_response(
            &rest,
            &PushResponse {
                mutations_settled_through: 3,
                rejected: vec![],
                events_acknowledged_through: 5,
                heads: vec![],
                refused_events: vec![],
                unknown_event_kinds: vec![],
                identity_clash: None,
                epoch: None,
            },
        )
        .unwrap();
    assert_eq!(replica.pending_count().unwrap(), 0);
    assert!(replica.next_push(10, 10).unwrap().is_none());
}

#[test]
fn a_partial_event_acknowledgement_resends_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    let batch = replica.next_push(0, 10).unwrap().unwrap();
    assert!(batch.mutations.is_empty());
    // The server stored only a prefix (event 3 was lost in transit).
    replica
        .apply_push_response(
            &batch,
            &PushResponse {
                mutations_settled_through: 0,
                rejected: vec![],
                events_acknowledged_through: 2,
                heads: vec![],
                refused_events: vec![],
                unknown_event_kinds: vec![],
                identity_clash: None,
                epoch: None,
            },
        )
        .unwrap();
    let resend = replica.next_push(0, 10).unwrap().unwrap();
    assert_eq!(resend.events.first().unwrap().device_seq, 3);
}

#[test]
fn rejections_are_kept_visible_and_do_not_wedge_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    let batch = replica.next_push(10, 0).unwrap().unwrap();
    let response = PushResponse {
        mutations_settled_through: 3,
        rejected: vec![Rejection {
            mutation_id: 2,
            reason: "viewers cannot change flows".into(),
        }],
        events_acknowledged_through: 0,
        heads: vec![],
        refused_events: vec![],
        unknown_event_kinds: vec![],
        identity_clash: None,
        epoch: None,
    };
    let report = replica.apply_push_response(&batch, &response).unwrap();
    assert_eq!((report.applied, report.rejected), (2, 1));
    let rejected = replica.rejected_mutations().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0].mutation_id, rejected[0].reason.as_str()),
        (2, "viewers cannot change flows")
    );
    assert_eq!(rejected[0].entity, "flow");
    let next = replica.next_push(10, 0).unwrap();
    assert!(
        next.is_none_or(|batch| batch.mutations.is_empty()),
        "the outbox moved past the rejection"
    );
}

#[test]
fn answers_that_settle_or_store_unsent_numbers_move_the_work_to_a_new_identity() {
    // Numbers settled or stored beyond what this replica ever sent were another copy's (or a
    // hostile server's): nothing of this replica's is dropped for them.
    let answer = |settled: i64, acknowledged: i64| PushResponse {
        mutations_settled_through: settled,
        rejected: vec![],
        events_acknowledged_through: acknowledged,
        heads: vec![],
        refused_events: vec![],
        unknown_event_kinds: vec![],
        identity_clash: None,
        epoch: None,
    };

    // Mutations settled past what was sent: the sent one is settled, the queue is numbered
    // again after the server's last (same identity).
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    let old = replica.device_id();
    let batch = replica.next_push(1, 2).unwrap().unwrap();
    let report = replica.apply_push_response(&batch, &answer(3, 2)).unwrap();
    assert_eq!(report.new_identity, None);
    assert_eq!(report.mutations_renumbered, 2);
    assert_eq!(replica.device_id(), old);
    let next = replica.next_push(10, 0).unwrap().unwrap();
    assert_eq!(
        next.mutations
            .iter()
            .map(|m| m.mutation_id)
            .collect::<Vec<_>>(),
        vec![4, 5]
    );

    // Events stored past what this replica wrote: only what the push carried counts as
    // acknowledged, and the rest is compared by the next pushes before the work moves (so
    // nothing the server already holds goes up twice under a new id).
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    let old = replica.device_id();
    let batch = replica.next_push(1, 2).unwrap().unwrap();
    let report = replica.apply_push_response(&batch, &answer(1, 6)).unwrap();
    assert_eq!(report.new_identity, None);
    assert_eq!(report.events_acknowledged, 2);
    let batch = replica.next_push(0, 10).unwrap().unwrap();
    assert_eq!(
        batch
            .events
            .iter()
            .map(|e| e.device_seq)
            .collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    let report = replica.apply_push_response(&batch, &answer(1, 6)).unwrap();
    let identity = report.new_identity.expect("a new identity");
    assert_ne!(replica.device_id(), old);
    assert_eq!(identity.device_id, replica.device_id());
    // All five events are on the server as written here: nothing moves; the new identity's
    // numbers start at 1 for what comes next.
    assert_eq!((identity.events, identity.mutations), (0, 2));
    let backlog = replica.sync_backlog().unwrap();
    assert_eq!((backlog.mutations, backlog.events), (2, 0));
    let next = replica.next_push(10, 10).unwrap().unwrap();
    assert_eq!(next.client_id, replica.device_id());
    assert_eq!(
        next.mutations
            .iter()
            .map(|m| m.mutation_id)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );

    // A clash named by the server moves everything from it on; a session this copy went on
    // with after the clash point becomes a session of its own that repeats the shared start.
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    let batch = replica.next_push(1, 10).unwrap().unwrap();
    let mut clash = answer(1, 2);
    clash.identity_clash = Some(rf_core::sync::IdentityClash {
        first_mutation: None,
        first_event: Some(3),
        last_mutation: None,
    });
    let report = replica.apply_push_response(&batch, &clash).unwrap();
    let identity = report.new_identity.expect("a new identity");
    assert_eq!((identity.events, identity.forked_sessions), (5, 1));
    assert_eq!(replica.sessions().unwrap().len(), 2);
    let next = replica.next_push(10, 10).unwrap().unwrap();
    assert_eq!(
        next.events.iter().map(|e| e.device_seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert!(
        next.events
            .iter()
            .all(|e| e.device_id == replica.device_id())
    );

    // A mutation clash while this replica's events are still to compare: the queue is numbered
    // after the server's last, under the same id, until they are.
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    let old = replica.device_id();
    let batch = replica.next_push(3, 0).unwrap().unwrap();
    let mut clash = answer(1, 0);
    clash.identity_clash = Some(rf_core::sync::IdentityClash {
        first_mutation: Some(2),
        first_event: None,
        last_mutation: Some(7),
    });
    let report = replica.apply_push_response(&batch, &clash).unwrap();
    assert_eq!(
        (report.new_identity, report.mutations_renumbered),
        (None, 2)
    );
    assert_eq!(replica.device_id(), old);
    let next = replica.next_push(10, 0).unwrap().unwrap();
    assert_eq!(
        next.mutations
            .iter()
            .map(|m| m.mutation_id)
            .collect::<Vec<_>>(),
        vec![8, 9]
    );

    // A refusal of a mutation no push carried is still refused whole.
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    let batch = replica.next_push(1, 2).unwrap().unwrap();
    let mut hostile = answer(1, 0);
    hostile.rejected = vec![Rejection {
        mutation_id: 2,
        reason: "x".into(),
    }];
    let error = replica.apply_push_response(&batch, &hostile).unwrap_err();
    assert!(error.to_string().contains("nothing was changed"), "{error}");
    assert_eq!(replica.pending_count().unwrap(), 3 + 5);
    assert!(replica.rejected_mutations().unwrap().is_empty());
}

#[test]
fn an_answer_covering_more_than_this_batch_is_accepted_after_a_lost_reply() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    // The server stored all five events, but its reply never arrived; the retry carries only
    // two (a smaller batch), and the server truthfully acknowledges all five.
    let retry = replica.next_push(0, 2).unwrap().unwrap();
    assert_eq!(retry.events.len(), 2);
    let report = replica
        .apply_push_response(
            &retry,
            &PushResponse {
                mutations_settled_through: 0,
                rejected: vec![],
                events_acknowledged_through: 5,
                heads: vec![],
                refused_events: vec![],
                unknown_event_kinds: vec![],
                identity_clash: None,
                epoch: None,
            },
        )
        .unwrap();
    assert_eq!(report.events_acknowledged, 5);
    assert_eq!(
        replica.pending_count().unwrap(),
        3,
        "only the flow mutations remain"
    );
}

/// A session with `outputs` pasted outputs of `bytes` bytes each.
fn replica_with_large_outputs(dir: &std::path::Path, outputs: usize, bytes: usize) -> Replica {
    let mut replica = Replica::open(dir).unwrap();
    let flow_id = replica
        .import_flow(flow("Logs"), WriteSource::Import)
        .unwrap()
        .flow_id;
    let session = replica
        .start_session(flow_id, StartRequest::default())
        .unwrap()
        .id;
    for index in 0..outputs {
        let text = format!("{index}: {}", "x".repeat(bytes));
        replica
            .run_command(session, Command::PasteOutput { text })
            .unwrap();
    }
    replica
}

#[test]
fn batches_are_bounded_in_bytes_and_one_large_item_goes_alone() {
    let dir = tempfile::tempdir().unwrap();
    // 40 outputs of 200 KiB: 8 MB of events, each within the engine's limit.
    let mut replica = replica_with_large_outputs(dir.path(), 40, 200 * 1024);
    let budget = 1024 * 1024;
    let mut sent = 0;
    let mut acknowledged = 0;
    while let Some(batch) = replica.next_push_within(100, 1_000, budget).unwrap() {
        let size = serde_json::to_vec(&batch).unwrap().len();
        let items = batch.mutations.len() + batch.events.len();
        assert!(
            size <= budget || items == 1,
            "a batch of {items} items is {size} bytes"
        );
        sent += 1;
        acknowledged = batch.events.last().map_or(acknowledged, |e| e.device_seq);
        replica
            .apply_push_response(
                &batch,
                &PushResponse {
                    mutations_settled_through: batch.mutations.last().map_or(0, |m| m.mutation_id),
                    rejected: vec![],
                    events_acknowledged_through: acknowledged,
                    heads: vec![],
                    refused_events: vec![],
                    unknown_event_kinds: vec![],
                    identity_clash: None,
                    epoch: None,
                },
            )
            .unwrap();
    }
    assert!(sent >= 8, "{sent} batches");
    assert_eq!(replica.pending_count().unwrap(), 0);

    // Below the size of one item, each batch is that item alone: nothing is ever stuck.
    let other = tempfile::tempdir().unwrap();
    let mut replica = replica_with_large_outputs(other.path(), 3, 200 * 1024);
    let batch = replica.next_push_within(100, 1_000, 1).unwrap().unwrap();
    assert_eq!(batch.mutations.len() + batch.events.len(), 1);
}

#[test]
fn the_engine_refuses_at_the_door_what_could_never_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let flow_id = replica
        .import_flow(flow("Variables"), WriteSource::Import)
        .unwrap()
        .flow_id;
    // A ticket field longer than any text a peer accepts.
    let request = StartRequest {
        ticket: "T".repeat(rf_core::session::MAX_TEXT_BYTES + 1),
        ..StartRequest::default()
    };
    let error = replica.start_session(flow_id, request).unwrap_err();
    assert!(error.to_string().contains("cannot be recorded"), "{error}");
    assert!(replica.sessions().unwrap().is_empty());
    assert_eq!(
        replica.pending_count().unwrap(),
        1,
        "only the flow is queued"
    );
}

#[test]
fn events_the_server_refuses_are_kept_visible_and_do_not_hold_back_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    let batch = replica.next_push(0, 10).unwrap().unwrap();
    let session = batch.events[0].session_id;
    let refusing = |seq: i64| PushResponse {
        mutations_settled_through: 0,
        rejected: vec![],
        events_acknowledged_through: 5,
        heads: vec![],
        refused_events: vec![rf_core::sync::RefusedEvent {
            device_seq: seq,
            session_id: session,
            reason: "a malformed event: test".into(),
        }],
        unknown_event_kinds: vec![],
        identity_clash: None,
        epoch: None,
    };
    // An answer refusing an event this push did not carry changes nothing.
    let error = replica
        .apply_push_response(&batch, &refusing(9))
        .unwrap_err();
    assert!(error.to_string().contains("did not carry"), "{error}");
    assert_eq!(replica.sync_backlog().unwrap().refused_events, 0);
    replica.apply_push_response(&batch, &refusing(3)).unwrap();
    let backlog = replica.sync_backlog().unwrap();
    assert_eq!((backlog.events, backlog.refused_events), (0, 1));
    // The event itself stays in the session here.
    assert_eq!(replica.session_events(session).unwrap().len(), 5);
}

#[test]
fn a_withdrawn_mutation_keeps_its_number_and_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    replica
        .reject_queued_mutation(2, "larger than the sync server accepts")
        .unwrap();
    let batch = replica.next_push(10, 0).unwrap().unwrap();
    let numbers: Vec<(i64, &str)> = batch
        .mutations
        .iter()
        .map(|m| (m.mutation_id, m.operation.as_str()))
        .collect();
    assert_eq!(
        numbers,
        vec![
            (1, "put_version"),
            (2, rf_core::sync::WITHDRAWN),
            (3, "put_version")
        ]
    );
    assert_eq!(batch.mutations[1].payload, serde_json::json!({}));
    // The server settles it as a rejection; the original change and its reason stay visible.
    replica
        .apply_push_response(
            &batch,
            &PushResponse {
                mutations_settled_through: 3,
                rejected: vec![Rejection {
                    mutation_id: 2,
                    reason: "withdrawn by its device".into(),
                }],
                events_acknowledged_through: 0,
                heads: vec![],
                refused_events: vec![],
                unknown_event_kinds: vec![],
                identity_clash: None,
                epoch: None,
            },
        )
        .unwrap();
    let rejected = replica.rejected_mutations().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].operation, "put_version");
    assert!(rejected[0].reason.contains("larger than"));
}

#[test]
fn events_a_restored_server_lost_are_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    let events = replica.next_push(0, 10).unwrap().unwrap();
    let answer = |settled: i64, acknowledged: i64| PushResponse {
        mutations_settled_through: settled,
        rejected: vec![],
        events_acknowledged_through: acknowledged,
        heads: vec![],
        refused_events: vec![],
        unknown_event_kinds: vec![],
        identity_clash: None,
        epoch: None,
    };
    replica.apply_push_response(&events, &answer(0, 5)).unwrap();
    assert_eq!(replica.sync_backlog().unwrap().events, 0);
    // The server is restored from a backup taken after the second event: its answer to the
    // next push holds only two of this device's five events.
    let mutations = replica.next_push(10, 0).unwrap().unwrap();
    let report = replica
        .apply_push_response(&mutations, &answer(3, 2))
        .unwrap();
    assert_eq!(
        (report.events_acknowledged, report.events_to_resend),
        (0, 3)
    );
    assert_eq!(replica.sync_backlog().unwrap().events, 3);
    let again = replica.next_push(0, 10).unwrap().unwrap();
    let numbers: Vec<i64> = again.events.iter().map(|event| event.device_seq).collect();
    assert_eq!(numbers, vec![3, 4, 5]);
}

#[test]
fn a_server_gone_back_is_pulled_again_from_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    replica
        .set_sync_account(
            "http://127.0.0.1:1",
            Uuid::new_v4(),
            Uuid::new_v4(),
            "a@b.example",
        )
        .unwrap();
    let page = rf_core::sync::PullResponse {
        protocol: 1,
        since: 0,
        until: 40,
        latest: 40,
        versions: vec![],
        flows: vec![],
        events: vec![],
        conflicts: vec![],
        pins: vec![],
        records: vec![],
        epoch: None,
    };
    replica.apply_pull(&page).unwrap();
    let batch = replica.next_push(0, 10).unwrap().unwrap();
    replica
        .apply_push_response(
            &batch,
            &PushResponse {
                mutations_settled_through: 0,
                rejected: vec![],
                events_acknowledged_through: 5,
                heads: vec![],
                refused_events: vec![],
                unknown_event_kinds: vec![],
                identity_clash: None,
                epoch: None,
            },
        )
        .unwrap();
    replica.server_went_back(25).unwrap();
    assert_eq!(replica.sync_account().unwrap().unwrap().pulled_seq, 25);
    // Every event of this device goes up again; the server keeps each once.
    assert_eq!(replica.sync_backlog().unwrap().events, 5);
}
