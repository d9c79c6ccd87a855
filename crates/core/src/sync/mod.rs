//! The sync protocol: the messages a replica and the sync server exchange, and the pure
//! decisions both sides make about them (yaak's `compute_sync_ops`, atuin's `operations`).
//!
//! - [`plan_push`] decides, for one client's batch, which mutations to apply, which are
//!   duplicates to acknowledge again, and where a gap must stop the batch (Replicache's
//!   per-client mutation numbers, checked in the same transaction as the effect).
//! - [`merge_flow`] is the three-way merge of a flow document: concurrent edits of different
//!   nodes or fields merge; concurrent edits of the same field keep the server's value and
//!   record the other as a [`FieldConflict`], so nothing is dropped.
//! - [`negotiate`] answers a client's protocol and schema versions.
//!
//! No IO and no clock: order comes from sequence numbers, never from timestamps.
//!
//! Modules: [`messages`] (what crosses the wire), [`planners`] (the push decisions, identity
//! clashes, negotiation) and [`merge`] (the three-way flow merge).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::version::VersionId;

mod merge;
mod messages;
mod planners;

pub use merge::*;
pub use messages::*;
pub use planners::*;

/// The protocol this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The most JSON a replica puts in one push batch, unless its first item alone is larger.
pub const PUSH_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The largest single item a push may carry: a session event at its limit with the flow
/// document it runs at its limit (a `put_version` mutation is smaller: one document).
pub const MAX_PUSH_ITEM_BYTES: usize =
    crate::flow::MAX_FLOW_FILE_BYTES + crate::received::MAX_EVENT_BYTES + 64 * 1024;

/// The sync server's request body limit (after decompression). It holds a full batch or a
/// batch of one item at the largest size the replica accepts, so nothing recorded locally can
/// be too large to sync; `tests` below hold the sum.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// The most JSON the server puts in one pull page (or snapshot line), unless one change alone
/// is larger (a flow document, at most `MAX_FLOW_FILE_BYTES`).
pub const PULL_PAGE_BYTES: usize = 4 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_limits_line_up() {
        // A batch of one item at its largest, or a full batch, fits the server's body limit.
        const {
            assert!(MAX_REQUEST_BYTES >= MAX_PUSH_ITEM_BYTES + PUSH_BATCH_BYTES);
            assert!(MAX_PUSH_ITEM_BYTES > crate::flow::MAX_FLOW_FILE_BYTES);
        }
    }

    fn mutation(id: i64) -> Mutation {
        Mutation {
            mutation_id: id,
            entity: "flow".into(),
            entity_id: "f".into(),
            operation: "put_version".into(),
            base_version: None,
            payload: json!({}),
        }
    }

    #[test]
    fn a_number_sent_again_with_other_content_is_a_clash_and_a_retry_is_not() {
        let mut first = mutation(1);
        first.payload = json!({"b": 1, "a": [1, {"y": 2, "x": 1}]});
        // The same content with its keys in another order is the same mutation.
        let mut reordered = first.clone();
        reordered.payload = json!({"a": [1, {"x": 1, "y": 2}], "b": 1});
        assert_eq!(mutation_digest(&first), mutation_digest(&reordered));
        let kept = std::collections::HashMap::from([(1, mutation_digest(&first))]);
        let stored = |id: i64| kept.get(&id).cloned();
        assert_eq!(first_mutation_clash(&[reordered.clone()], stored), None);
        // Any field changed is other content; its number is not part of the digest.
        let changes: [fn(&mut Mutation); 5] = [
            |m| m.entity = "pin".into(),
            |m| m.entity_id = "g".into(),
            |m| m.operation = "withdrawn".into(),
            |m| m.base_version = Some(1),
            |m| m.payload = json!({"b": 2, "a": [1, {"y": 2, "x": 1}]}),
        ];
        for change in changes {
            let mut other = first.clone();
            change(&mut other);
            assert_eq!(
                first_mutation_clash(&[mutation(2), other.clone()], stored),
                Some(1),
                "{other:?}"
            );
        }
        let mut renumbered = first.clone();
        renumbered.mutation_id = 7;
        assert_eq!(mutation_digest(&renumbered), mutation_digest(&first));
        // A number settled before digests were kept cannot be told apart.
        assert_eq!(first_mutation_clash(&[mutation(3)], |_| None), None);
    }

    #[test]
    fn an_event_number_held_for_another_event_is_a_clash() {
        let session = Uuid::from_u128(5);
        let event = |seq: i64, session_seq: i64, text: &str| PushedEvent {
            device_id: Uuid::from_u128(1),
            device_seq: seq,
            session_id: session,
            session_seq,
            payload: json!({"type": "note", "text": text, "at": "2026-01-01T00:00:00Z"}),
        };
        let held_as = |event: &PushedEvent| HeldEvent {
            session_id: event.session_id,
            session_seq: Some(event.session_seq),
            payload: event.payload.clone(),
        };
        let stored = [event(1, 1, "a"), event(2, 2, "b"), event(3, 3, "c")];
        let held: std::collections::HashMap<i64, HeldEvent> = stored
            .iter()
            .map(|event| (event.device_seq, held_as(event)))
            .collect();
        let retry = [event(2, 2, "b"), event(3, 3, "c"), event(4, 4, "d")];
        assert_eq!(
            first_event_clash(&retry.iter().collect::<Vec<_>>(), &held),
            None
        );
        // Other text, another place in the session, another session: each is another event;
        // the lowest clashing number is reported.
        let mut elsewhere = event(2, 2, "b");
        elsewhere.session_id = Uuid::from_u128(6);
        for (batch, expected) in [
            (vec![event(3, 3, "C"), event(2, 2, "b")], Some(3)),
            (vec![event(3, 4, "c"), event(2, 9, "b")], Some(2)),
            (vec![elsewhere, event(9, 9, "new")], Some(2)),
        ] {
            assert_eq!(
                first_event_clash(&batch.iter().collect::<Vec<_>>(), &held),
                expected
            );
        }
    }

    #[test]
    fn push_decisions() {
        use PushDecision::{Apply, Duplicate, Gap};
        let cases: Vec<(&str, i64, Vec<i64>, Vec<PushDecision>)> = vec![
            (
                "first push",
                0,
                vec![1, 2],
                vec![Apply { mutation_id: 1 }, Apply { mutation_id: 2 }],
            ),
            (
                "retried whole batch",
                2,
                vec![1, 2],
                vec![Duplicate { mutation_id: 1 }, Duplicate { mutation_id: 2 }],
            ),
            (
                "overlapping retry",
                1,
                vec![1, 2, 3],
                vec![
                    Duplicate { mutation_id: 1 },
                    Apply { mutation_id: 2 },
                    Apply { mutation_id: 3 },
                ],
            ),
            (
                "gap at start",
                3,
                vec![5, 6],
                vec![Gap {
                    mutation_id: 5,
                    expected: 4,
                }],
            ),
            (
                "gap in the middle stops the batch",
                0,
                vec![1, 3, 4],
                vec![
                    Apply { mutation_id: 1 },
                    Gap {
                        mutation_id: 3,
                        expected: 2,
                    },
                ],
            ),
            ("empty batch", 7, vec![], vec![]),
        ];
        for (name, last, ids, expected) in cases {
            let batch: Vec<Mutation> = ids.into_iter().map(mutation).collect();
            assert_eq!(plan_push(last, &batch), expected, "case {name:?}");
        }
    }

    #[test]
    fn version_negotiation() {
        assert_eq!(negotiate(1, 1..=2), Negotiation::Accepted);
        assert_eq!(negotiate(2, 1..=2), Negotiation::Accepted);
        assert_eq!(
            negotiate(0, 1..=2),
            Negotiation::UpgradeRequired {
                minimum: 1,
                client: 0
            }
        );
        assert_eq!(
            negotiate(3, 1..=2),
            Negotiation::ServerTooOld {
                maximum: 2,
                client: 3
            }
        );
    }

    #[test]
    fn acknowledgement_stops_at_the_first_gap() {
        assert_eq!(acknowledged_prefix(0, [1, 2, 3]), 3);
        assert_eq!(acknowledged_prefix(0, [2, 3]), 0);
        assert_eq!(acknowledged_prefix(5, [6, 8, 9]), 6);
        assert_eq!(
            acknowledged_prefix(5, [3, 4, 5]),
            5,
            "duplicates change nothing"
        );
        assert_eq!(acknowledged_prefix(5, []), 5);
    }

    fn flow(title: &str, nodes: Value) -> Value {
        json!({"format": "resolutionflow/v1", "kind": "troubleshooting", "title": title, "start": "a", "nodes": nodes})
    }

    /// Each case: base, server, other, the merged document, and the conflict paths.
    #[test]
    fn flow_merge_cases() {
        let a = json!({"id": "a", "type": "action", "title": "A", "next": "z"});
        let z = json!({"id": "z", "type": "resolution", "title": "Z", "outcome": "resolved"});
        let base = flow("T", json!([a, z]));
        let cases: Vec<(&str, Value, Value, Value, Vec<&str>)> = vec![
            (
                "nothing changed",
                base.clone(),
                base.clone(),
                base.clone(),
                vec![],
            ),
            (
                "only the other side changed",
                base.clone(),
                flow("T2", json!([a, z])),
                flow("T2", json!([a, z])),
                vec![],
            ),
            (
                "only the server changed",
                flow("T3", json!([a, z])),
                base.clone(),
                flow("T3", json!([a, z])),
                vec![],
            ),
            (
                "both made the same change",
                flow("T4", json!([a, z])),
                flow("T4", json!([a, z])),
                flow("T4", json!([a, z])),
                vec![],
            ),
            (
                "different fields merge",
                {
                    let mut server = flow("Server title", json!([a, z]));
                    server["category"] = json!("Files");
                    server
                },
                flow(
                    "T",
                    json!([{"id": "a", "type": "action", "title": "A", "next": "z", "body": "new body"}, z]),
                ),
                {
                    let mut merged = flow(
                        "Server title",
                        json!([{"id": "a", "type": "action", "title": "A", "next": "z", "body": "new body"}, z]),
                    );
                    merged["category"] = json!("Files");
                    merged
                },
                vec![],
            ),
            (
                "same field: server kept, other recorded",
                flow("Server", json!([a, z])),
                flow("Other", json!([a, z])),
                flow("Server", json!([a, z])),
                vec!["/title"],
            ),
            (
                "same node, different fields",
                flow(
                    "T",
                    json!([{"id": "a", "type": "action", "title": "A server", "next": "z"}, z]),
                ),
                flow(
                    "T",
                    json!([{"id": "a", "type": "action", "title": "A", "next": "z", "warning": "careful"}, z]),
                ),
                flow(
                    "T",
                    json!([{"id": "a", "type": "action", "title": "A server", "next": "z", "warning": "careful"}, z]),
                ),
                vec![],
            ),
            (
                "same node, same field",
                flow(
                    "T",
                    json!([{"id": "a", "type": "action", "title": "A1", "next": "z"}, z]),
                ),
                flow(
                    "T",
                    json!([{"id": "a", "type": "action", "title": "A2", "next": "z"}, z]),
                ),
                flow(
                    "T",
                    json!([{"id": "a", "type": "action", "title": "A1", "next": "z"}, z]),
                ),
                vec!["/nodes/a/title"],
            ),
            (
                "nodes added on both sides are both kept",
                flow(
                    "T",
                    json!([a, z, {"id": "s", "type": "action", "title": "S", "next": "z"}]),
                ),
                flow(
                    "T",
                    json!([a, z, {"id": "o", "type": "action", "title": "O", "next": "z"}]),
                ),
                flow(
                    "T",
                    json!([a, z, {"id": "s", "type": "action", "title": "S", "next": "z"}, {"id": "o", "type": "action", "title": "O", "next": "z"}]),
                ),
                vec![],
            ),
            (
                "node deleted on one side, untouched on the other",
                flow("T", json!([z])),
                base.clone(),
                flow("T", json!([z])),
                vec![],
            ),
            (
                "node deleted by the other side but edited on the server",
                flow(
                    "T",
                    json!([{"id": "a", "type": "action", "title": "A edited", "next": "z"}, z]),
                ),
                flow("T", json!([z])),
                flow(
                    "T",
                    json!([{"id": "a", "type": "action", "title": "A edited", "next": "z"}, z]),
                ),
                vec!["/nodes/a"],
            ),
            (
                "node deleted by the server but edited by the other side",
                flow("T", json!([z])),
                flow(
                    "T",
                    json!([{"id": "a", "type": "action", "title": "A edited", "next": "z"}, z]),
                ),
                flow("T", json!([z])),
                vec!["/nodes/a"],
            ),
        ];
        for (name, server, other, expected, conflict_paths) in cases {
            let outcome = merge_flow(&base, &server, &other);
            assert_eq!(outcome.merged, expected, "case {name:?}");
            let paths: Vec<&str> = outcome
                .conflicts
                .iter()
                .map(|conflict| conflict.path.as_str())
                .collect();
            assert_eq!(paths, conflict_paths, "case {name:?}");
            for conflict in &outcome.conflicts {
                assert_ne!(
                    conflict.kept, conflict.other,
                    "a conflict records two different values"
                );
            }
        }
    }

    #[test]
    fn set_at_path_applies_each_kind_of_conflict_path() {
        let base = json!({"title": "A", "nodes": [{"id": "n1", "title": "x", "body": "b"}]});
        let server = json!({"title": "B", "nodes": [{"id": "n1", "title": "y", "body": "b"}]});
        let other = json!({"title": "C", "nodes": [{"id": "n1", "title": "z"}, {"id": "n2", "title": "new"}]});
        let outcome = merge_flow(&base, &server, &other);
        let mut document = outcome.merged.clone();
        for conflict in &outcome.conflicts {
            assert!(
                set_at_path(&mut document, &conflict.path, conflict.other.clone()),
                "{}",
                conflict.path
            );
        }
        // With every conflict resolved for the other side, the document is the other side's.
        assert_eq!(document, other);
        let mut removed = server.clone();
        assert!(set_at_path(&mut removed, "/nodes/n1", None));
        assert_eq!(removed["nodes"], json!([]));
        assert!(set_at_path(
            &mut removed,
            "/nodes/n1",
            Some(json!({"id": "n1"}))
        ));
        assert_eq!(removed["nodes"], json!([{"id": "n1"}]));
        let mut whole = server.clone();
        assert!(set_at_path(&mut whole, "/", Some(other.clone())));
        assert_eq!(whole, other);
        assert!(!set_at_path(
            &mut whole,
            "/nodes/missing/title",
            Some(json!("t"))
        ));
        assert!(!set_at_path(&mut whole, "/a/b/c/d", None));
    }
}
