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

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::version::VersionId;

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

/// One local change waiting in a replica's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mutation {
    /// Per-client, strictly increasing, never reused.
    pub mutation_id: i64,
    pub entity: String,
    pub entity_id: String,
    pub operation: String,
    /// The entity version the change was made against, when the entity is versioned.
    pub base_version: Option<i64>,
    pub payload: Value,
}

/// The operation name of a [`PutFlowVersion`] mutation (entity `flow`, entity id the flow id).
pub const PUT_FLOW_VERSION: &str = "put_version";

/// The payload of a `flow`/`put_version` mutation: "this document, made from `base`, is now
/// the flow's head". `version` must be the document's [`VersionId`]; `base` is the head the
/// author started from (none for a new flow). The server accepts it as the new head when `base`
/// is its head, and otherwise merges it with its head ([`merge_flow`]), recording conflicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutFlowVersion {
    pub version: VersionId,
    pub base: Option<VersionId>,
    pub document: Value,
}

/// The operation of a mutation its client withdrew (it could never be taken, e.g. larger than
/// the server's limit): the server settles its number as a rejection and changes nothing.
pub const WITHDRAWN: &str = "withdrawn";

/// What the server does with one pushed mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum PushDecision {
    /// The next mutation in order: apply it and advance the client's number in one transaction.
    Apply { mutation_id: i64 },
    /// Already applied earlier (a retried push): acknowledge, change nothing.
    Duplicate { mutation_id: i64 },
    /// A number was skipped: refuse this and everything after it in the batch; the client
    /// resends from `expected`.
    Gap { mutation_id: i64, expected: i64 },
}

/// Decides a batch in order, given the last mutation number applied for this client.
/// Mutations after a gap are not listed: the batch stops there.
pub fn plan_push(last_applied: i64, batch: &[Mutation]) -> Vec<PushDecision> {
    let mut decisions = Vec::with_capacity(batch.len());
    let mut last = last_applied;
    for mutation in batch {
        let id = mutation.mutation_id;
        if id <= last {
            decisions.push(PushDecision::Duplicate { mutation_id: id });
        } else if id == last + 1 {
            decisions.push(PushDecision::Apply { mutation_id: id });
            last = id;
        } else {
            decisions.push(PushDecision::Gap {
                mutation_id: id,
                expected: last + 1,
            });
            break;
        }
    }
    decisions
}

/// The outcome of a version handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Negotiation {
    Accepted,
    /// The client is older than the server supports: it must upgrade to sync, and keeps
    /// working offline (its pending work stays queued) until it does.
    UpgradeRequired {
        minimum: u32,
        client: u32,
    },
    /// The client is newer than this server: the server must be upgraded first.
    ServerTooOld {
        maximum: u32,
        client: u32,
    },
}

/// Compares a client's protocol version with the inclusive range a server supports.
pub fn negotiate(client: u32, supported: std::ops::RangeInclusive<u32>) -> Negotiation {
    if client < *supported.start() {
        Negotiation::UpgradeRequired {
            minimum: *supported.start(),
            client,
        }
    } else if client > *supported.end() {
        Negotiation::ServerTooOld {
            maximum: *supported.end(),
            client,
        }
    } else {
        Negotiation::Accepted
    }
}

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

/// A pushed session event, identified everywhere by its device and device sequence number, so a
/// retried upload is stored once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushedEvent {
    pub device_id: Uuid,
    pub device_seq: i64,
    pub session_id: Uuid,
    pub session_seq: i64,
    pub payload: Value,
}

/// One push from a replica: its outbox mutations in order and its unacknowledged events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    pub protocol: u32,
    /// The replica's schema version, so the server can refuse clients it cannot understand.
    pub schema: i64,
    /// The replica's device id: mutation numbers and event sequences are per device.
    pub client_id: Uuid,
    pub mutations: Vec<Mutation>,
    pub events: Vec<PushedEvent>,
    /// The documents of the flow versions this batch's events refer to (`started`,
    /// `subflow_entered`), so every session's version reaches the team even when its own
    /// `put_version` was refused. The server stores each once; they never move a flow's head.
    #[serde(default)]
    pub flow_versions: Vec<PushedFlowVersion>,
}

/// A flow document a pushed session refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushedFlowVersion {
    pub flow_id: Uuid,
    pub version: VersionId,
    pub document: Value,
}

/// The entity of a per-user pin (entity id: the flow id) and its operations; the payload is
/// empty. A pin is the user's own: it syncs to the user's other devices, never to teammates.
pub const PIN_ENTITY: &str = "pin";
pub const PIN: &str = "pin";
pub const UNPIN: &str = "unpin";

/// The entity and operation of a conflict resolution mutation; the payload is a
/// [`ResolveConflict`].
pub const CONFLICT_ENTITY: &str = "conflict";
pub const RESOLVE_CONFLICT: &str = "resolve";

/// Which side of a conflict an author keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Keep {
    /// The edit that was not applied (`other`). The replica publishes it as a new version
    /// before the resolution, so the resolution itself only closes the conflict.
    Mine,
    /// The value the team's head already has (`kept`).
    Theirs,
}

impl Keep {
    /// The stored and JSON name: `mine` or `theirs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Keep::Mine => "mine",
            Keep::Theirs => "theirs",
        }
    }

    pub fn parse(text: &str) -> Option<Keep> {
        [Keep::Mine, Keep::Theirs]
            .into_iter()
            .find(|keep| keep.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveConflict {
    pub keep: Keep,
}

/// One page of a team's changes, every row with `since < team_seq <= until`, read in one
/// consistent snapshot. `latest` is the team's highest number at that moment; the reader asks
/// again from `until` while `until < latest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    pub protocol: u32,
    pub since: i64,
    pub until: i64,
    pub latest: i64,
    pub versions: Vec<PulledVersion>,
    pub flows: Vec<PulledFlow>,
    pub events: Vec<PulledEvent>,
    pub conflicts: Vec<PulledConflict>,
    /// The asking user's own pins changed in this range (other users' pins are never sent).
    #[serde(default)]
    pub pins: Vec<PulledPin>,
    /// The server store's epoch: it changes only when the store is restored from a backup
    /// (`rf-sync-server new-epoch`). A replica that sees it change pulls everything again
    /// and sends again what it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// One of the user's pins as of `team_seq`: pinned or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PulledPin {
    pub flow_id: Uuid,
    pub pinned: bool,
    pub team_seq: i64,
}

/// A flow version the team holds. `number` is the server's label (1, 2, … per flow, in the
/// order it accepted them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PulledVersion {
    pub flow_id: Uuid,
    pub version: VersionId,
    pub number: i64,
    pub document: Value,
    pub team_seq: i64,
}

/// A flow's head as of `team_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PulledFlow {
    pub flow_id: Uuid,
    pub head: VersionId,
    pub author_id: Uuid,
    pub team_seq: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PulledEvent {
    pub device_id: Uuid,
    pub device_seq: i64,
    pub session_id: Uuid,
    pub session_seq: i64,
    pub payload: Value,
    pub team_seq: i64,
}

/// A recorded conflict: `kept` is in the head `kept_version`; `other` was in `other_version`,
/// pushed by `raised_by`, and was not applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PulledConflict {
    pub id: Uuid,
    pub flow_id: Uuid,
    pub conflict: FieldConflict,
    pub kept_version: VersionId,
    pub other_version: VersionId,
    pub raised_by: String,
    pub created_at: i64,
    pub resolution: Option<Keep>,
    pub team_seq: i64,
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

/// A mutation the server will never apply (invalid, forbidden), with the reason to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rejection {
    pub mutation_id: i64,
    pub reason: String,
}

/// The server's answer to a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    /// Every mutation up to this number is settled: applied, or listed in `rejected`.
    pub mutations_settled_through: i64,
    /// Permanent rejections among the settled mutations; the replica keeps them visible and
    /// moves on, so one bad mutation never wedges the queue.
    pub rejected: Vec<Rejection>,
    /// Every event of this device up to this sequence number is stored on the server.
    pub events_acknowledged_through: i64,
    /// The team's current head of every flow the batch's flow mutations touched, so the
    /// replica learns at once what its edit became (accepted, merged or refused).
    #[serde(default)]
    pub heads: Vec<PulledFlow>,
    /// Events of this batch the server refused for good (they break rf-core's rules, see
    /// `received::read_event`), with the reason. They count as acknowledged, so the device's
    /// later events are not held behind them; the replica keeps them and shows them.
    #[serde(default)]
    pub refused_events: Vec<RefusedEvent>,
    /// Event kinds of this batch the server does not know yet (the client is newer). Those
    /// events are neither stored nor refused: they stay queued on the device, holding its
    /// later events, until the server is updated.
    #[serde(default)]
    pub unknown_event_kinds: Vec<String>,
    /// Another copy of this device (a replica restored from an older backup, or its data
    /// copied to a second machine) already used numbers this batch carries, for different
    /// content. Nothing from the first clashing number on was taken, and the numbers above
    /// stop before it; the replica takes a new device identity and sends the rest again under
    /// it ([`first_mutation_clash`], [`first_event_clash`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_clash: Option<IdentityClash>,
    /// The server store's epoch, as in [`PullResponse::epoch`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// Where a push met another copy's work under the same device id: the first mutation number
/// and the first event number whose stored content differs from what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentityClash {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_mutation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event: Option<i64>,
    /// With a mutation clash: the last mutation number the server has settled for this device
    /// id, so the replica can number its queue after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_mutation: Option<i64>,
}

/// The digest a server keeps of each mutation it settles, so a number sent again with other
/// content (a second copy of the device) is told from a retry: SHA-256 of the mutation's
/// canonical JSON (object keys sorted), its number excluded.
pub fn mutation_digest(mutation: &Mutation) -> String {
    let content = serde_json::json!([
        mutation.entity,
        mutation.entity_id,
        mutation.operation,
        mutation.base_version,
        canonical(&mutation.payload),
    ]);
    crate::version::sha256_hex(content.to_string().as_bytes())
}

/// The first mutation of `batch` whose number the server already settled (`stored` gives the
/// digest it kept, if any) for different content. A number settled before digests were kept
/// has none and cannot clash.
pub fn first_mutation_clash(
    batch: &[Mutation],
    stored: impl Fn(i64) -> Option<String>,
) -> Option<i64> {
    batch.iter().find_map(|mutation| {
        let kept = stored(mutation.mutation_id)?;
        (kept != mutation_digest(mutation)).then_some(mutation.mutation_id)
    })
}

/// An event as a server holds it under its device number: what a retry must repeat exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldEvent {
    pub session_id: Uuid,
    /// Not kept for an event the server refused; then the rest must match.
    pub session_seq: Option<i64>,
    pub payload: Value,
}

/// The lowest device number among `batch` that the server already holds (`held`) for a
/// different event: a second copy of the device wrote it. A retry of the same event is no clash.
pub fn first_event_clash(
    batch: &[&PushedEvent],
    held: &std::collections::HashMap<i64, HeldEvent>,
) -> Option<i64> {
    batch
        .iter()
        .filter(|event| {
            held.get(&event.device_seq).is_some_and(|stored| {
                !stored.is(event.session_id, event.session_seq, &event.payload)
            })
        })
        .map(|event| event.device_seq)
        .min()
}

impl HeldEvent {
    /// Whether this is the event at `session_seq` of `session_id` with `payload`: a retry of
    /// it, not another event under its number.
    pub fn is(&self, session_id: Uuid, session_seq: i64, payload: &Value) -> bool {
        self.session_id == session_id
            && self
                .session_seq
                .is_none_or(|held_seq| held_seq == session_seq)
            // Objects compare by their entries, whatever their order.
            && self.payload == *payload
    }
}

/// `value` with every object's keys in order, so equal content compares and hashes equal
/// however its keys were ordered when it was written.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|key| (key.clone(), canonical(&map[key])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// A pushed event the server will never store for the team, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusedEvent {
    pub device_seq: i64,
    pub session_id: Uuid,
    pub reason: String,
}

/// The contiguous prefix of a device's events the server can acknowledge: the highest
/// `device_seq` such that every number from 1 up to it is stored. A gap (an event lost in
/// transit) holds acknowledgement there, so the client resends from the gap and nothing is
/// skipped.
pub fn acknowledged_prefix(stored_before: i64, received: impl IntoIterator<Item = i64>) -> i64 {
    let received: BTreeSet<i64> = received.into_iter().collect();
    let mut acknowledged = stored_before;
    while received.contains(&(acknowledged + 1)) {
        acknowledged += 1;
    }
    acknowledged
}

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
