//! What the server does with flow mutations, decided without storage so both back ends share it:
//! [`check_mutation`] validates a pushed mutation once, outside any transaction, and
//! [`plan_put`] decides a `put_version` against the flow's current head, inside one.

use rf_core::sync::{
    CONFLICT_ENTITY, FieldConflict, Mutation, PIN, PIN_ENTITY, PUT_FLOW_VERSION, PushedFlowVersion,
    PutFlowVersion, RESOLVE_CONFLICT, ResolveConflict, UNPIN, WITHDRAWN, merge_flow,
};
use rf_core::sync::{DELETE_RECORD, PUT_RECORD, RecordKind};
use rf_core::{Flow, VersionId};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::flows::{Checked, CheckedDocument, Head, PutPlan};
use crate::domain::users::{Role, User};

/// Parses and validates a flow document of `flow_id`, naming it by its content.
pub fn parse_document(flow_id: Uuid, document: &Value) -> Result<CheckedDocument, String> {
    let mut flow = Flow::parse(&document.to_string())
        .map_err(|error| format!("the flow document is not valid: {error}"))?;
    match flow.id {
        Some(id) if id != flow_id => {
            return Err(format!(
                "the document's id {id} is not the flow {flow_id} it was pushed for"
            ));
        }
        _ => flow.id = Some(flow_id),
    }
    let text = flow.to_json_compact();
    let value = serde_json::from_str(&text).map_err(|error| error.to_string())?;
    Ok(CheckedDocument {
        flow_id,
        version: VersionId::of(&flow),
        text,
        value,
    })
}

/// Validates a flow document pushed for `flow_id` under the name `version`.
pub fn check_document(
    flow_id: Uuid,
    version: VersionId,
    document: &Value,
) -> Result<CheckedDocument, String> {
    let checked = parse_document(flow_id, document)?;
    if checked.version != version {
        return Err(format!(
            "the version id {} does not name this document; it was altered or corrupted",
            version.short()
        ));
    }
    Ok(checked)
}

/// Validates the flow documents a push carries for its sessions.
pub fn check_session_version(version: &PushedFlowVersion) -> Result<CheckedDocument, String> {
    check_document(version.flow_id, version.version, &version.document)
}

/// Validates one pushed mutation. Anything this server cannot apply is a permanent rejection,
/// so one bad mutation never wedges a replica's queue.
pub fn check_mutation(mutation: &Mutation) -> Checked {
    let entity_id = match Uuid::parse_str(&mutation.entity_id) {
        Ok(id) => id,
        Err(_) => {
            return Checked::Invalid(format!("{:?} is not an id", mutation.entity_id));
        }
    };
    match (mutation.entity.as_str(), mutation.operation.as_str()) {
        (_, WITHDRAWN) => Checked::Invalid(
            "withdrawn by its device: it was larger than this server accepts".to_owned(),
        ),
        ("flow", PUT_FLOW_VERSION) => {
            let put: PutFlowVersion = match PutFlowVersion::deserialize(&mutation.payload) {
                Ok(put) => put,
                Err(error) => {
                    return Checked::Invalid(format!("not a flow version: {error}"));
                }
            };
            match check_document(entity_id, put.version, &put.document) {
                Ok(document) => Checked::Put {
                    document,
                    base: put.base,
                },
                Err(reason) => Checked::Invalid(reason),
            }
        }
        (PIN_ENTITY, operation @ (PIN | UNPIN)) => Checked::Pin {
            flow_id: entity_id,
            pinned: operation == PIN,
        },
        (CONFLICT_ENTITY, RESOLVE_CONFLICT) => {
            match serde_json::from_value::<ResolveConflict>(mutation.payload.clone()) {
                Ok(resolve) => Checked::Resolve {
                    conflict_id: entity_id,
                    keep: resolve.keep,
                },
                Err(error) => Checked::Invalid(format!("not a conflict resolution: {error}")),
            }
        }
        (entity, operation @ (PUT_RECORD | DELETE_RECORD))
            if RecordKind::parse(entity).is_some() =>
        {
            crate::rules::records::check_record_mutation(
                entity,
                operation,
                entity_id,
                &mutation.payload,
            )
        }
        (entity, operation) => Checked::Invalid(format!(
            "this server does not know the change {entity}/{operation}; update the server"
        )),
    }
}

/// Whether `user` may change the flow whose head is `head` (none: a new flow).
pub fn may_write_flow(user: &User, head: Option<&Head>) -> bool {
    match user.role {
        Role::SuperAdmin | Role::TeamAdmin => true,
        Role::Engineer => head.is_none_or(|head| head.author_id == user.id),
        Role::Viewer => false,
    }
}

/// Decides a `put_version` made from `base` against the current `head`. `base_document` is
/// the base's document when the server holds it.
pub fn plan_put(
    user: &User,
    head: Option<&Head>,
    base: Option<VersionId>,
    base_document: Option<&Value>,
    incoming: &CheckedDocument,
) -> PutPlan {
    if !may_write_flow(user, head) {
        return PutPlan::Reject(
            "only the flow's author or a team admin can change this flow; your version stays on \
             this device — ask an admin to publish it"
                .into(),
        );
    }
    let Some(head) = head else {
        return PutPlan::Advance;
    };
    if head.version == incoming.version {
        return PutPlan::Merge {
            merged: None,
            conflicts: Vec::new(),
        };
    }
    if base == Some(head.version) {
        return PutPlan::Advance;
    }
    // Made from an older head (or one this server never saw): merge, never overwrite.
    let empty = Value::Object(serde_json::Map::new());
    let outcome = merge_flow(
        base_document.unwrap_or(&empty),
        &head.document,
        &incoming.value,
    );
    match parse_document(incoming.flow_id, &outcome.merged) {
        Ok(merged) if merged.version == head.version => PutPlan::Merge {
            merged: None,
            conflicts: outcome.conflicts,
        },
        Ok(merged) => PutPlan::Merge {
            merged: Some(merged),
            conflicts: outcome.conflicts,
        },
        // The merge of two valid documents can be invalid (one side removed a node the other
        // now links to): keep the head and record the whole document as the conflict.
        Err(_) => PutPlan::Merge {
            merged: None,
            conflicts: vec![FieldConflict {
                path: "/".into(),
                base: None,
                kept: None,
                other: None,
            }],
        },
    }
}

/// Whether `user` may decide a conflict: a team admin, the flow's author, or the engineer whose
/// edit clashed (`raised_by`). Viewers never.
pub fn may_resolve(user: &User, raised_by: &str, author: &str) -> bool {
    let me = user.id.to_string();
    match user.role {
        Role::SuperAdmin | Role::TeamAdmin => true,
        Role::Engineer => raised_by == me || author == me,
        Role::Viewer => false,
    }
}
