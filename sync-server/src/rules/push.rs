//! What a pushed request may carry, decided once before any storage: who may push what, the
//! request's limits, and each event, flow document and mutation read with rf-core's own types.
//! A bad event is refused with its reason (kept aside by the store, never served), a kind this
//! server does not know yet is left on its device, and the rest go on as a [`PushBatch`].

use std::collections::HashSet;

use rf_core::received::EventDefect;
use rf_core::sync::{PIN_ENTITY, PushRequest};
use rf_core::{EventKind, FlowRef};

use crate::domain::push::PushBatch;
use crate::domain::users::Role;
use crate::rules::flows::{check_mutation, check_session_version};

/// The oldest replica database schema whose pushes this server understands: schema 7 names
/// flow versions by content (`VersionId`) in every event and mutation it sends.
pub const MIN_REPLICA_SCHEMA: i64 = 7;

/// Most events and mutations one push may carry; clients page larger backlogs.
pub const MAX_PUSH_EVENTS: usize = 5_000;
pub const MAX_PUSH_MUTATIONS: usize = 1_000;

/// Why a whole push is refused (before anything of it is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRefused {
    /// The replica is too old for this server.
    UpgradeRequired(String),
    /// The caller may not change what the push would change.
    Forbidden(String),
    /// More than one push may carry.
    TooLarge(String),
    /// The request is malformed.
    Invalid(String),
}

/// A push that passed: the batch for the store, and the event kinds this server does not
/// know yet (neither stored nor refused: they stay queued on their device).
#[derive(Debug, Clone)]
pub struct CheckedPush {
    pub batch: PushBatch,
    pub unknown_kinds: Vec<String>,
}

pub fn check_push(role: Role, request: PushRequest) -> Result<CheckedPush, PushRefused> {
    if request.schema < MIN_REPLICA_SCHEMA {
        return Err(PushRefused::UpgradeRequired(format!(
            "this replica's database is schema {}, and the server needs {MIN_REPLICA_SCHEMA} or later (flow versions named by content); \
             update ResolutionFlow — your work stays saved on this device until then",
            request.schema
        )));
    }
    // Viewers keep their own pins in step across their devices; they change nothing else.
    let only_own_settings = request
        .mutations
        .iter()
        .all(|mutation| mutation.entity == PIN_ENTITY);
    if role == Role::Viewer
        && !(request.events.is_empty() && only_own_settings && request.flow_versions.is_empty())
    {
        return Err(PushRefused::Forbidden(
            "viewers can read the team's flows and sessions but not change them".into(),
        ));
    }
    if request.events.len() > MAX_PUSH_EVENTS || request.mutations.len() > MAX_PUSH_MUTATIONS {
        return Err(PushRefused::TooLarge(format!(
            "push at most {MAX_PUSH_EVENTS} events and {MAX_PUSH_MUTATIONS} mutations at a time"
        )));
    }
    for (index, event) in request.events.iter().enumerate() {
        if event.device_id != request.client_id {
            return Err(PushRefused::Invalid(format!(
                "event {index} comes from device {}, not from this client",
                event.device_id
            )));
        }
        if event.device_seq < 1 || event.session_seq < 0 {
            return Err(PushRefused::Invalid(format!(
                "event {index} has an invalid sequence number"
            )));
        }
    }
    // Each event is read with rf-core's own types and limits; one that breaks them is refused
    // with its reason while the rest are stored. Flow documents ride along only for the
    // sessions in this batch: a version no accepted event runs is not the client's to store
    // (flows change through put_version).
    let mut events = Vec::with_capacity(request.events.len());
    let mut refused_events = Vec::new();
    let mut referenced = HashSet::new();
    let mut unknown_kinds = Vec::new();
    for event in request.events {
        match rf_core::received::read_event(&event.payload) {
            Ok(parsed) => {
                if let EventKind::Started { flow, .. } | EventKind::SubflowEntered { flow, .. } =
                    parsed.kind
                {
                    referenced.insert(flow);
                }
                events.push(event);
            }
            // A kind this server does not know yet (a newer client): neither stored nor
            // refused. It stays queued on its device, so the prefix stops before it, until
            // the server is updated; the answer says so.
            Err(EventDefect::NewerKind(kind)) => {
                if !unknown_kinds.contains(&kind) {
                    unknown_kinds.push(kind);
                }
            }
            Err(defect) => refused_events.push((event, defect.to_string())),
        }
    }
    if !unknown_kinds.is_empty() {
        tracing::warn!(kinds = ?unknown_kinds, "a client sent event kinds this server does not know; update the server");
    }
    // A document no accepted event runs, or one that is not valid, is not stored; it is
    // skipped rather than refusing the push, so a refused event's document cannot hold back
    // the rest of the batch.
    let mut flow_versions = Vec::with_capacity(request.flow_versions.len());
    for version in &request.flow_versions {
        let reference = FlowRef {
            flow_id: version.flow_id,
            version: version.version,
        };
        if !referenced.contains(&reference) {
            tracing::warn!(flow = %version.flow_id, version = %version.version.short(), "a pushed flow document no accepted event runs; not stored");
            continue;
        }
        match check_session_version(version) {
            Ok(checked) => flow_versions.push(checked),
            Err(reason) => {
                tracing::warn!(flow = %version.flow_id, version = %version.version.short(), %reason, "a pushed flow document is not valid; not stored");
            }
        }
    }
    let mutations = request
        .mutations
        .into_iter()
        .map(|mutation| {
            let checked = check_mutation(&mutation);
            (mutation, checked)
        })
        .collect();
    Ok(CheckedPush {
        batch: PushBatch {
            device_id: request.client_id,
            mutations,
            flow_versions,
            events,
            refused_events,
        },
        unknown_kinds,
    })
}
