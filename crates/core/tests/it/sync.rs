//! Properties of the sync planners: the three-way flow merge never loses a one-sided edit and
//! never invents a conflict, and agrees field by field and node by node with an independent
//! three-way rule; push planning agrees with an independent model of a server that applies the
//! next number, acknowledges duplicates and stops at a gap, under any retry pattern.

use proptest::prelude::*;
use rf_core::sync::{Mutation, PushDecision, merge_flow, plan_push};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

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

/// The top-level fields and node fields the field-by-field property generates, and the node ids.
const TOP_FIELDS: [&str; 4] = ["title", "category", "description", "tags"];
const NODE_FIELDS: [&str; 4] = ["type", "title", "body", "next"];
const NODE_IDS: [&str; 4] = ["a", "b", "c", "d"];

/// A field's value over a tiny domain (absent, or one of two values), so the three sides agree,
/// edit alone or clash often.
fn field() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!("x"))),
        Just(Some(json!(["y", 1])))
    ]
}

/// A document with every top-level field and every node (each with every field) possibly
/// absent.
fn rich_document() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(field(), TOP_FIELDS.len()),
        prop::collection::vec(
            prop::option::weighted(0.75, prop::collection::vec(field(), NODE_FIELDS.len())),
            NODE_IDS.len(),
        ),
    )
        .prop_map(|(top, nodes)| {
            let mut document = Map::new();
            document.insert("format".into(), json!("resolutionflow/v1"));
            for (name, value) in TOP_FIELDS.iter().zip(top) {
                if let Some(value) = value {
                    document.insert((*name).into(), value);
                }
            }
            let nodes: Vec<Value> = NODE_IDS
                .iter()
                .zip(nodes)
                .filter_map(|(id, fields)| {
                    let fields = fields?;
                    let mut node = Map::new();
                    node.insert("id".into(), json!(id));
                    for (name, value) in NODE_FIELDS.iter().zip(fields) {
                        if let Some(value) = value {
                            node.insert((*name).into(), value);
                        }
                    }
                    Some(Value::Object(node))
                })
                .collect();
            document.insert("nodes".into(), Value::Array(nodes));
            Value::Object(document)
        })
}

/// The three-way rule for one value, written apart from the merge: both sides agree, or only one
/// side changed it (that side wins), or both changed it differently (the server's value is kept
/// and the clash is a conflict).
fn three_way(
    base: Option<&Value>,
    server: Option<&Value>,
    other: Option<&Value>,
) -> (Option<Value>, bool) {
    if server == other {
        (server.cloned(), false)
    } else if server == base {
        (other.cloned(), false)
    } else if other == base {
        (server.cloned(), false)
    } else {
        (server.cloned(), true)
    }
}

fn nodes_of(document: &Value) -> BTreeMap<String, Value> {
    document["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| (node["id"].as_str().unwrap().to_owned(), node.clone()))
        .collect()
}

/// What the merge of `base`, `server` and `other` must give, field by field and node by node:
/// the expected top-level fields, the expected nodes (by id, each field by field) and the paths
/// of the expected conflicts.
#[allow(clippy::type_complexity)]
fn expected_merge(
    base: &Value,
    server: &Value,
    other: &Value,
) -> (
    BTreeMap<String, Value>,
    BTreeMap<String, Value>,
    BTreeSet<String>,
) {
    let mut fields = BTreeMap::new();
    let mut conflicts = BTreeSet::new();
    for name in std::iter::once("format").chain(TOP_FIELDS) {
        let (value, clash) = three_way(base.get(name), server.get(name), other.get(name));
        if let Some(value) = value {
            fields.insert(name.to_owned(), value);
        }
        if clash {
            conflicts.insert(format!("/{name}"));
        }
    }
    let (base_nodes, server_nodes, other_nodes) =
        (nodes_of(base), nodes_of(server), nodes_of(other));
    let mut nodes = BTreeMap::new();
    for id in NODE_IDS {
        let (b, s, o) = (
            base_nodes.get(id),
            server_nodes.get(id),
            other_nodes.get(id),
        );
        match (s, o) {
            // Both sides have the node: each field by the three-way rule.
            (Some(s), Some(o)) => {
                let mut node = Map::new();
                for name in std::iter::once("id").chain(NODE_FIELDS) {
                    let (value, clash) =
                        three_way(b.and_then(|node| node.get(name)), s.get(name), o.get(name));
                    if let Some(value) = value {
                        node.insert(name.to_owned(), value);
                    }
                    if clash {
                        conflicts.insert(format!("/nodes/{id}/{name}"));
                    }
                }
                nodes.insert(id.to_owned(), Value::Object(node));
            }
            // One side deleted it (or neither has it): the node as a whole, three-way.
            _ => {
                let (node, clash) = three_way(b, s, o);
                if let Some(node) = node {
                    nodes.insert(id.to_owned(), node);
                }
                if clash {
                    conflicts.insert(format!("/nodes/{id}"));
                }
            }
        }
    }
    (fields, nodes, conflicts)
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

    /// Every top-level field and every field of every node of the merge is what the three-way
    /// rule says, no node is invented or lost, and the conflicts are exactly the clashes.
    #[test]
    fn every_field_and_node_follows_the_three_way_rule(base in rich_document(), server in rich_document(), other in rich_document()) {
        let outcome = merge_flow(&base, &server, &other);
        let (fields, nodes, conflicts) = expected_merge(&base, &server, &other);
        let merged = outcome.merged.as_object().unwrap();
        let merged_fields: BTreeMap<String, Value> = merged
            .iter()
            .filter(|(name, _)| *name != "nodes")
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        prop_assert_eq!(merged_fields, fields);
        let merged_nodes = outcome.merged["nodes"].as_array().unwrap();
        let ids: Vec<&str> = merged_nodes.iter().map(|node| node["id"].as_str().unwrap()).collect();
        let distinct: BTreeSet<&str> = ids.iter().copied().collect();
        prop_assert_eq!(ids.len(), distinct.len(), "a node appears twice: {:?}", ids);
        prop_assert_eq!(nodes_of(&outcome.merged), nodes);
        let paths: BTreeSet<String> = outcome.conflicts.iter().map(|conflict| conflict.path.clone()).collect();
        prop_assert_eq!(paths.len(), outcome.conflicts.len(), "a conflict is recorded twice");
        prop_assert_eq!(paths, conflicts);
        // Each conflict keeps the server's value and carries the three sides as they were.
        for conflict in &outcome.conflicts {
            let side = |document: &Value| -> Option<Value> {
                let mut parts = conflict.path.trim_start_matches('/').split('/');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some("nodes"), Some(id), field) => {
                        let node = nodes_of(document).remove(id)?;
                        match field {
                            Some(field) => node.get(field).cloned(),
                            None => Some(node),
                        }
                    }
                    (Some(name), None, None) => document.get(name).cloned(),
                    _ => panic!("unexpected conflict path {}", conflict.path),
                }
            };
            prop_assert_eq!(&conflict.base, &side(&base));
            prop_assert_eq!(&conflict.kept, &side(&server));
            prop_assert_eq!(&conflict.other, &side(&other));
        }
    }

    /// Any retry pattern (duplicates, overlaps, gaps, reordering within a batch) is decided
    /// exactly as a model server decides it: it keeps the set of numbers it applied, applies
    /// the number after the highest, acknowledges one it holds as a duplicate, and stops the
    /// batch at any other. Each mutation is applied once, in order.
    #[test]
    fn push_planning_agrees_with_a_model_server(batches in prop::collection::vec(prop::collection::vec(1i64..12, 0..8), 1..8)) {
        let mut applied_by_model: BTreeSet<i64> = BTreeSet::new();
        let mut applied_in_order = Vec::new();
        for batch in batches {
            let mutations: Vec<Mutation> = batch.iter().map(|id| Mutation {
                mutation_id: *id,
                entity: "flow".into(),
                entity_id: "f".into(),
                operation: "put_version".into(),
                base_version: None,
                payload: json!({}),
            }).collect();
            // The planner is given only the highest number the model applied.
            let last = applied_by_model.len() as i64;
            let decisions = plan_push(last, &mutations);
            let mut expected = Vec::new();
            for id in &batch {
                let next = applied_by_model.len() as i64 + 1;
                if applied_by_model.contains(id) {
                    expected.push(PushDecision::Duplicate { mutation_id: *id });
                } else if *id == next {
                    applied_by_model.insert(*id);
                    applied_in_order.push(*id);
                    expected.push(PushDecision::Apply { mutation_id: *id });
                } else {
                    expected.push(PushDecision::Gap { mutation_id: *id, expected: next });
                    break;
                }
            }
            prop_assert_eq!(decisions, expected);
        }
        // The model applied each number once, in order, with none skipped.
        let contiguous: Vec<i64> = (1..=applied_in_order.len() as i64).collect();
        prop_assert_eq!(applied_in_order, contiguous);
    }
}
