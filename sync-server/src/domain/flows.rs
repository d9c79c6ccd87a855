//! Flow mutations as the server holds them once validated, and what a push decides for one.

use rf_core::VersionId;
use rf_core::sync::{FieldConflict, Keep};
use serde_json::Value;
use uuid::Uuid;

/// A flow document that passed validation, in its stored (compact, id filled in) form.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedDocument {
    pub flow_id: Uuid,
    pub version: VersionId,
    /// The compact JSON text stored and served.
    pub text: String,
    pub value: Value,
}

/// A pushed mutation after validation.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    Put {
        document: CheckedDocument,
        base: Option<VersionId>,
    },
    Resolve {
        conflict_id: Uuid,
        keep: Keep,
    },
    /// The pushing user pins (or unpins) a flow; their own setting, for their devices.
    Pin {
        flow_id: Uuid,
        pinned: bool,
    },
    /// A team record written (`body`: its checked, compact JSON) or deleted (`None`).
    Record {
        kind: rf_core::sync::RecordKind,
        id: Uuid,
        body: Option<String>,
    },
    /// Never applicable: settled as a permanent rejection with this reason.
    Invalid(String),
}

/// A flow's current head, as the store read it inside the push transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub version: VersionId,
    pub document: Value,
    pub author_id: Uuid,
}

/// What to do with one `put_version`.
#[derive(Debug, Clone, PartialEq)]
pub enum PutPlan {
    Reject(String),
    /// Store the incoming version (if new) and make it the head.
    Advance,
    /// Store the incoming version (if new) without moving the head; then store `merged` (if
    /// any) and make it the head; record `conflicts`.
    Merge {
        merged: Option<CheckedDocument>,
        conflicts: Vec<FieldConflict>,
    },
}
