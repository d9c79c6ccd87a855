//! The three-way merge of a flow document: concurrent edits of different nodes or fields
//! merge; concurrent edits of one field keep the server's value and record the other as a
//! [`FieldConflict`], so nothing is dropped.

use super::*;

/// Where two concurrent edits touched the same field: the server's value was kept, the other
/// is stored here for an author to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldConflict {
    /// A JSON-pointer-like path: `/title`, `/nodes/<node id>/body`, `/nodes/<node id>`.
    pub path: String,
    pub base: Option<Value>,
    /// The value kept (the server's).
    pub kept: Option<Value>,
    /// The value not applied (the incoming edit).
    pub other: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeOutcome {
    pub merged: Value,
    pub conflicts: Vec<FieldConflict>,
}

/// Three-way merge of two flow documents edited concurrently from `base`.
///
/// Top-level fields merge field by field; `nodes` merge by node id (an array of nodes is a map
/// keyed by id, so two authors editing different nodes never collide), and within a node field
/// by field. A node added on one side is kept; a node deleted on one side and untouched on the
/// other is deleted; deleted on one side and edited on the other is a conflict that keeps the
/// server's side. Node order follows the server, with nodes only the other side added appended
/// in that side's order.
pub fn merge_flow(base: &Value, server: &Value, other: &Value) -> MergeOutcome {
    let mut conflicts = Vec::new();
    let merged = merge_object(
        "",
        base.as_object(),
        server.as_object(),
        other.as_object(),
        &mut conflicts,
        true,
    );
    MergeOutcome {
        merged: Value::Object(merged),
        conflicts,
    }
}

/// Merges one value that is not split further: equal edits agree, a one-sided edit wins, two
/// different edits keep the server's and record a conflict.
fn merge_leaf(
    path: &str,
    base: Option<&Value>,
    server: Option<&Value>,
    other: Option<&Value>,
    conflicts: &mut Vec<FieldConflict>,
) -> Option<Value> {
    if server == other || other == base {
        return server.cloned();
    }
    if server == base {
        return other.cloned();
    }
    conflicts.push(FieldConflict {
        path: path.to_owned(),
        base: base.cloned(),
        kept: server.cloned(),
        other: other.cloned(),
    });
    server.cloned()
}

fn merge_object(
    path: &str,
    base: Option<&Map<String, Value>>,
    server: Option<&Map<String, Value>>,
    other: Option<&Map<String, Value>>,
    conflicts: &mut Vec<FieldConflict>,
    top_level: bool,
) -> Map<String, Value> {
    let empty = Map::new();
    let (base, server, other) = (
        base.unwrap_or(&empty),
        server.unwrap_or(&empty),
        other.unwrap_or(&empty),
    );
    // Keys in the server's order, then keys only the other side has, in its order.
    let mut keys: Vec<&String> = server.keys().collect();
    keys.extend(other.keys().filter(|key| !server.contains_key(*key)));
    keys.extend(
        base.keys()
            .filter(|key| !server.contains_key(*key) && !other.contains_key(*key)),
    );
    let mut merged = Map::new();
    for key in keys {
        let child = format!("{path}/{key}");
        let (b, s, o) = (base.get(key), server.get(key), other.get(key));
        let value = if top_level && key == "nodes" {
            Some(Value::Array(merge_nodes(&child, b, s, o, conflicts)))
        } else {
            merge_leaf(&child, b, s, o, conflicts)
        };
        if let Some(value) = value {
            merged.insert(key.clone(), value);
        }
    }
    merged
}

/// Nodes keyed by id; entries without a string id are kept whole (they cannot be matched).
fn nodes_by_id(nodes: Option<&Value>) -> (Vec<String>, BTreeMap<String, &Map<String, Value>>) {
    let mut order = Vec::new();
    let mut by_id = BTreeMap::new();
    for node in nodes.and_then(Value::as_array).into_iter().flatten() {
        if let Some(object) = node.as_object()
            && let Some(id) = object.get("id").and_then(Value::as_str)
            && !by_id.contains_key(id)
        {
            order.push(id.to_owned());
            by_id.insert(id.to_owned(), object);
        }
    }
    (order, by_id)
}

fn merge_nodes(
    path: &str,
    base: Option<&Value>,
    server: Option<&Value>,
    other: Option<&Value>,
    conflicts: &mut Vec<FieldConflict>,
) -> Vec<Value> {
    let (base_order, base_nodes) = nodes_by_id(base);
    let (server_order, server_nodes) = nodes_by_id(server);
    let (other_order, other_nodes) = nodes_by_id(other);
    let mut merged = Vec::new();
    for id in &merged_order(&base_order, &server_order, &other_order) {
        let node_path = format!("{path}/{id}");
        let (b, s, o) = (
            base_nodes.get(id).copied(),
            server_nodes.get(id).copied(),
            other_nodes.get(id).copied(),
        );
        let node = match (b, s, o) {
            // Present on both sides: merge field by field.
            (_, Some(s), Some(o)) => Some(merge_object(
                &node_path,
                b,
                Some(s),
                Some(o),
                conflicts,
                false,
            )),
            // Deleted by the other side: gone if the server left it alone, else a conflict.
            (Some(b), Some(s), None) if b == s => None,
            // Deleted by the server: gone if the other side left it alone, else a conflict.
            (Some(b), None, Some(o)) if b == o => None,
            // Added on one side only.
            (None, s, o) => s.or(o).cloned(),
            // Deleted on one side and edited on the other: keep the server's side, record both.
            (Some(base_node), s, o) => {
                let as_value =
                    |node: Option<&Map<String, Value>>| node.map(|map| Value::Object(map.clone()));
                merge_leaf(
                    &node_path,
                    as_value(Some(base_node)).as_ref(),
                    as_value(s).as_ref(),
                    as_value(o).as_ref(),
                    conflicts,
                )
                .and_then(|value| value.as_object().cloned())
            }
        };
        if let Some(node) = node {
            merged.push(Value::Object(node));
        }
    }
    // Deleted on both sides: nothing to keep. Entries without ids on the server side are kept.
    merged.extend(
        server
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|node| node.get("id").and_then(Value::as_str).is_none())
            .cloned(),
    );
    merged
}

/// The order of the merged nodes. If the server kept the base's order, the other side's order
/// wins (so a one-sided reorder or insertion is taken whole); otherwise the server's order
/// stands. Ids only the other list has are then inserted after their nearest predecessor in
/// that list, so a step inserted mid-checklist stays where its author put it.
fn merged_order(base: &[String], server: &[String], other: &[String]) -> Vec<String> {
    let (skeleton, extra) = if server == base {
        (other, server)
    } else {
        (server, other)
    };
    let mut order: Vec<String> = skeleton.to_vec();
    for (position, id) in extra.iter().enumerate() {
        if order.contains(id) {
            continue;
        }
        let anchor = extra[..position]
            .iter()
            .rev()
            .find_map(|before| order.iter().position(|placed| placed == before));
        // After the anchor, step past what only the skeleton side added there: when both sides
        // insert at the same place, the server's insertions come first.
        let mut index = anchor.map_or(0, |index| index + 1);
        while index < order.len() && !extra.contains(&order[index]) && !base.contains(&order[index])
        {
            index += 1;
        }
        order.insert(index, id.clone());
    }
    order
}

/// Writes `value` (or removes the field, for `None`) at a conflict path of a flow document:
/// `/` (the whole document), `/<field>`, `/nodes/<node id>` or `/nodes/<node id>/<field>`.
/// A node that is gone is added back at the end. Returns false for a path it does not know.
pub fn set_at_path(document: &mut Value, path: &str, value: Option<Value>) -> bool {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [""] => match value {
            Some(value) => {
                *document = value;
                true
            }
            None => false,
        },
        ["nodes", node] | ["nodes", node, _] => {
            let Some(nodes) = document.get_mut("nodes").and_then(Value::as_array_mut) else {
                return false;
            };
            let index = nodes
                .iter()
                .position(|candidate| candidate.get("id").and_then(Value::as_str) == Some(node));
            match (parts.get(2), index, value) {
                (None, Some(index), Some(value)) => nodes[index] = value,
                (None, Some(index), None) => {
                    nodes.remove(index);
                }
                (None, None, Some(value)) => nodes.push(value),
                (None, None, None) => {}
                (Some(field), Some(index), value) => {
                    let Some(object) = nodes[index].as_object_mut() else {
                        return false;
                    };
                    match value {
                        Some(value) => object.insert((*field).to_owned(), value),
                        None => object.remove(*field),
                    };
                }
                (Some(_), None, _) => return false,
            }
            true
        }
        [field] => {
            let Some(object) = document.as_object_mut() else {
                return false;
            };
            match value {
                Some(value) => object.insert((*field).to_owned(), value),
                None => object.remove(*field),
            };
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
