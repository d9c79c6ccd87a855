//! Properties of the sync planners: the three-way flow merge never loses a one-sided edit and
//! never invents a conflict, and push planning is idempotent under any retry pattern.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use proptest::prelude::*;
use rf_core::sync::{Mutation, PushDecision, merge_flow, plan_push};
use serde_json::{Value, json};

/// Flow-like documents over a small id space, so edits collide often.
fn document() -> impl Strategy<Value = Value> {
    let node = |id: &'static str| {
        (prop::option::of("[a-c]{1,2}"), prop::option::of("[a-c]{1,2}")).prop_map(move |(title, body)| {
            let mut node = json!({"id": id, "type": "action", "title": title.unwrap_or_default(), "next": "z"});
            if let Some(body) = body {
                node["body"] = json!(body);
            }
            node
        })
    };
    (
        "[a-c]{1,2}",
        prop::option::of("[a-c]{1,2}"),
        prop::option::of(node("a")),
        prop::option::of(node("b")),
        prop::option::of(node("c")),
    )
        .prop_map(|(title, category, a, b, c)| {
            let nodes: Vec<Value> = [a, b, c].into_iter().flatten().collect();
            let mut document =
                json!({"format": "resolutionflow/v1", "title": title, "nodes": nodes});
            if let Some(category) = category {
                document["category"] = json!(category);
            }
            document
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_one_sided_edit_is_taken_whole(base in document(), edited in document()) {
        let server_only = merge_flow(&base, &edited, &base);
        prop_assert_eq!(&server_only.merged, &edited);
        prop_assert!(server_only.conflicts.is_empty());
        let other_only = merge_flow(&base, &base, &edited);
        prop_assert_eq!(&other_only.merged, &edited);
        prop_assert!(other_only.conflicts.is_empty());
    }

    #[test]
    fn the_same_edit_on_both_sides_agrees(base in document(), edited in document()) {
        let outcome = merge_flow(&base, &edited, &edited);
        prop_assert_eq!(&outcome.merged, &edited);
        prop_assert!(outcome.conflicts.is_empty());
    }

    /// Whatever both sides did, every value the other side wrote is either in the merged
    /// document or recorded in a conflict: nothing is silently dropped.
    #[test]
    fn nothing_the_other_side_wrote_is_lost(base in document(), server in document(), other in document()) {
        let outcome = merge_flow(&base, &server, &other);
        if other.get("title") != base.get("title") {
            let kept = outcome.merged.get("title") == other.get("title");
            let recorded = outcome.conflicts.iter().any(|conflict| conflict.path == "/title" && conflict.other.as_ref() == other.get("title"));
            prop_assert!(kept || recorded);
        }
        // Merging is deterministic.
        prop_assert_eq!(merge_flow(&base, &server, &other), outcome);
    }

    /// Any retry pattern (duplicates, overlaps, reordering within a batch) applies each
    /// mutation exactly once and in order.
    #[test]
    fn pushes_apply_each_mutation_once(batches in prop::collection::vec(prop::collection::vec(1i64..12, 0..8), 1..8)) {
        let mut last = 0;
        let mut applied = Vec::new();
        for batch in batches {
            let mutations: Vec<Mutation> = batch.iter().map(|id| Mutation {
                mutation_id: *id,
                entity: "flow".into(),
                entity_id: "f".into(),
                operation: "put_version".into(),
                base_version: None,
                payload: json!({}),
            }).collect();
            for decision in plan_push(last, &mutations) {
                if let PushDecision::Apply { mutation_id } = decision {
                    applied.push(mutation_id);
                    last = mutation_id;
                }
            }
        }
        let expected: Vec<i64> = (1..=last).collect();
        prop_assert_eq!(applied, expected);
    }
}
