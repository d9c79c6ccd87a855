//! Team records: the small documents a team shares besides flows and sessions (batches,
//! saved target lists, schedules). Each is a mutation `put` or `delete` of entity kind and
//! id, its body one of rf-core's types; the server keeps the latest body per record under the
//! team's numbers and sends it in pull pages ([`PulledRecord`]). Both sides read a body with
//! [`read_record`], so a malformed one from a peer is refused with its reason.

use super::*;
use crate::batch::{Batch, TargetList};
use crate::schedule::Schedule;

/// The operations of a record mutation (entity: the record's kind, entity id: its id).
pub const PUT_RECORD: &str = "put";
pub const DELETE_RECORD: &str = "delete";

/// The largest record body, as JSON: a batch of the most targets at their longest, with room
/// for its values.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The kinds of team record, by their entity name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RecordKind {
    /// Written once, never changed or deleted: its sessions point at it.
    Batch,
    TargetList,
    Schedule,
}

impl RecordKind {
    pub const ALL: [RecordKind; 3] = [
        RecordKind::Batch,
        RecordKind::TargetList,
        RecordKind::Schedule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Batch => "batch",
            RecordKind::TargetList => "target_list",
            RecordKind::Schedule => "schedule",
        }
    }

    pub fn parse(text: &str) -> Option<RecordKind> {
        RecordKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    /// Whether a record of this kind may be deleted.
    pub fn deletable(self) -> bool {
        !matches!(self, RecordKind::Batch)
    }
}

/// A record's body, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Batch(Batch),
    TargetList(TargetList),
    Schedule(Schedule),
}

impl Record {
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Batch(_) => RecordKind::Batch,
            Record::TargetList(_) => RecordKind::TargetList,
            Record::Schedule(_) => RecordKind::Schedule,
        }
    }

    /// The body as stored and sent.
    pub fn to_value(&self) -> Value {
        let value = match self {
            Record::Batch(batch) => serde_json::to_value(batch),
            Record::TargetList(list) => serde_json::to_value(list),
            Record::Schedule(schedule) => serde_json::to_value(schedule),
        };
        // These types serialise to JSON objects whatever they hold (no maps with non-string
        // keys), so this cannot fail.
        value.unwrap_or(Value::Null)
    }
}

/// Reads a record body of `kind` named `id` with the rules every peer applies.
pub fn read_record(kind: RecordKind, id: Uuid, body: &Value) -> Result<Record, String> {
    let size = serde_json::to_string(body)
        .map(|text| text.len())
        .unwrap_or(usize::MAX);
    if size > MAX_RECORD_BYTES {
        return Err(format!(
            "the {} is {size} bytes as JSON; the limit is {MAX_RECORD_BYTES}",
            kind.as_str()
        ));
    }
    let record = match kind {
        RecordKind::Batch => {
            let batch: Batch = serde_json::from_value(body.clone())
                .map_err(|error| format!("not a batch: {error}"))?;
            batch.check()?;
            Record::Batch(batch)
        }
        RecordKind::TargetList => {
            let list: TargetList = serde_json::from_value(body.clone())
                .map_err(|error| format!("not a target list: {error}"))?;
            list.check(id)?;
            Record::TargetList(list)
        }
        RecordKind::Schedule => {
            let schedule: Schedule = serde_json::from_value(body.clone())
                .map_err(|error| format!("not a schedule: {error}"))?;
            schedule.check()?;
            Record::Schedule(schedule)
        }
    };
    Ok(record)
}

/// A team record as of `team_seq`: its body, or `None` once deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PulledRecord {
    pub kind: RecordKind,
    pub id: Uuid,
    pub body: Option<Value>,
    pub author_id: Uuid,
    pub team_seq: i64,
}
