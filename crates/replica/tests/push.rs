//! The push half of sync against a real replica: batches in order, acknowledgements applied
//! atomically and idempotently, rejections kept visible, and hostile answers refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

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
fn answers_that_settle_unsent_work_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = replica_with_work(dir.path());
    let batch = replica.next_push(1, 2).unwrap().unwrap();
    let hostile = [
        PushResponse {
            mutations_settled_through: 3,
            rejected: vec![],
            events_acknowledged_through: 0,
            heads: vec![],
        },
        PushResponse {
            mutations_settled_through: 1,
            rejected: vec![],
            events_acknowledged_through: 6,
            heads: vec![],
        },
        PushResponse {
            mutations_settled_through: 1,
            rejected: vec![Rejection {
                mutation_id: 2,
                reason: "x".into(),
            }],
            events_acknowledged_through: 0,
            heads: vec![],
        },
    ];
    for response in hostile {
        let error = replica.apply_push_response(&batch, &response).unwrap_err();
        assert!(error.to_string().contains("nothing was changed"), "{error}");
        assert_eq!(replica.pending_count().unwrap(), 3 + 5);
        assert!(replica.rejected_mutations().unwrap().is_empty());
    }
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
