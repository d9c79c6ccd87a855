//! The messages a replica and the sync server exchange, and the names of mutation kinds.

use super::*;

/// A member of the caller's team, as every member may see it: what a replica keeps to check a
/// hand-off offline (`GET /api/v1/team/members`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamMember {
    pub id: Uuid,
    pub email: String,
    /// `super_admin`, `team_admin`, `engineer` or `viewer`.
    pub role: String,
}

impl TeamMember {
    /// Whether a session may be handed to this member (viewers only read).
    pub fn may_take_sessions(&self) -> bool {
        self.role != "viewer"
    }
}

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
    /// Team records (batches, target lists, schedules) changed in this range.
    #[serde(default)]
    pub records: Vec<PulledRecord>,
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

/// A pushed event the server will never store for the team, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusedEvent {
    pub device_seq: i64,
    pub session_id: Uuid,
    pub reason: String,
}
