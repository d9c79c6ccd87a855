//! What the server does with a team record mutation (a batch, a saved target list, a
//! schedule), decided without storage: [`check_record_mutation`] reads the body once with
//! rf-core's rules, outside any transaction, and [`plan_record`] decides against the stored
//! record, inside one.

use rf_core::sync::{DELETE_RECORD, RecordKind, read_record};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::flows::Checked;

/// Reads a pushed record mutation into its checked form (the body in its canonical JSON), or
/// the reason it can never apply.
pub fn check_record_mutation(entity: &str, operation: &str, id: Uuid, payload: &Value) -> Checked {
    let Some(kind) = RecordKind::parse(entity) else {
        return Checked::Invalid(format!("there is no record kind {entity:?}"));
    };
    if operation == DELETE_RECORD {
        if !kind.deletable() {
            return Checked::Invalid(
                "a batch is kept with its sessions; it cannot be deleted".to_owned(),
            );
        }
        return Checked::Record {
            kind,
            id,
            body: None,
        };
    }
    match read_record(kind, id, payload) {
        Ok(record) => Checked::Record {
            kind,
            id,
            body: Some(record.to_value().to_string()),
        },
        Err(reason) => Checked::Invalid(reason),
    }
}

/// What a record mutation does to the stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordPlan {
    /// Store the new body (or the deletion) under the team's next number.
    Write,
    /// The record already is so (a retry, or a deletion of what is gone): nothing changes.
    Unchanged,
    /// Never applicable.
    Reject(String),
}

/// Decides a record mutation against what is stored (`None`: no such record; `Some(None)`:
/// deleted). A batch is written once: the same batch again is a retry, another one under its
/// id is refused.
pub fn plan_record(
    kind: RecordKind,
    id: Uuid,
    stored: Option<Option<&str>>,
    body: Option<&str>,
) -> RecordPlan {
    match (kind, stored, body) {
        (_, Some(stored), body) if stored == body => RecordPlan::Unchanged,
        (_, None, None) => RecordPlan::Unchanged,
        (RecordKind::Batch, Some(_), _) => RecordPlan::Reject(format!(
            "batch {id} already exists with other content; a started batch is never changed"
        )),
        _ => RecordPlan::Write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_written_once_and_the_rest_last_writer_wins() {
        let id = Uuid::nil();
        type Case<'a> = (
            RecordKind,
            Option<Option<&'a str>>,
            Option<&'a str>,
            RecordPlan,
        );
        let cases: &[Case<'_>] = &[
            (RecordKind::Batch, None, Some("a"), RecordPlan::Write),
            (
                RecordKind::Batch,
                Some(Some("a")),
                Some("a"),
                RecordPlan::Unchanged,
            ),
            (RecordKind::TargetList, None, Some("a"), RecordPlan::Write),
            (
                RecordKind::TargetList,
                Some(Some("a")),
                Some("b"),
                RecordPlan::Write,
            ),
            (
                RecordKind::TargetList,
                Some(Some("a")),
                None,
                RecordPlan::Write,
            ),
            (
                RecordKind::Schedule,
                Some(None),
                None,
                RecordPlan::Unchanged,
            ),
            (RecordKind::Schedule, None, None, RecordPlan::Unchanged),
            (
                RecordKind::Schedule,
                Some(None),
                Some("a"),
                RecordPlan::Write,
            ),
        ];
        for (kind, stored, body, expected) in cases {
            assert_eq!(
                &plan_record(*kind, id, *stored, *body),
                expected,
                "{kind:?} {stored:?} {body:?}"
            );
        }
        assert!(matches!(
            plan_record(RecordKind::Batch, id, Some(Some("a")), Some("b")),
            RecordPlan::Reject(_)
        ));
    }

    #[test]
    fn a_batch_cannot_be_deleted() {
        assert!(matches!(
            check_record_mutation("batch", DELETE_RECORD, Uuid::nil(), &Value::Null),
            Checked::Invalid(_)
        ));
        assert!(matches!(
            check_record_mutation("schedule", DELETE_RECORD, Uuid::nil(), &Value::Null),
            Checked::Record { body: None, .. }
        ));
    }
}
