//! Checks of what arrives from elsewhere: a session event written by another device, read with
//! the same types and limits the engine applies when it records one. The sync server runs them
//! on every pushed event before storing it, and a replica on every pulled event before using
//! it, so one malformed item is refused (or set aside) with its reason and never stops the rest.
//!
//! An event of a kind this build does not know is not malformed: a newer client wrote it. It
//! is told apart ([`EventDefect::NewerKind`]) so a replica can keep it and say "needs a newer
//! version" instead of calling it damaged.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::session::{EventKind, MAX_TEXT_BYTES, SessionEvent};
use crate::version::is_sha256_hex;

/// The largest attachment file, in bytes, everywhere: the replica refuses a larger file at the
/// door, the server refuses a larger upload, and an event naming a larger one is malformed.
pub const MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;

/// The largest session event, as JSON. Every text in it is within `MAX_TEXT_BYTES`, but an
/// event may hold several (a start's variables), and escaping can grow them.
pub const MAX_EVENT_BYTES: usize = 2 * 1024 * 1024;

/// Longest attachment file name or media type, in bytes.
pub const MAX_ATTACHMENT_NAME_BYTES: usize = 255;

/// The event kinds this build reads, by their stored name (`EventKind::name`).
pub const EVENT_KINDS: &[&str] = &[
    "started",
    "step_entered",
    "answer_chosen",
    "note_added",
    "output_pasted",
    "attachment_added",
    "went_back",
    "custom_step_inserted",
    "subflow_entered",
    "subflow_left",
    "item_ticked",
    "checklist_completed",
    "finished",
    "handed_off",
];

/// Most variables a session may carry, and how deep an event's JSON may nest.
const MAX_VARIABLES: usize = 200;
const MAX_DEPTH: usize = 8;

/// Why an event from elsewhere cannot be used here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDefect {
    /// A kind this build does not know, written by a newer client: keep it, skip it.
    NewerKind(String),
    /// Not a valid event by this build's rules; the reason says what is wrong.
    Malformed(String),
}

impl fmt::Display for EventDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventDefect::NewerKind(kind) => write!(
                f,
                "an event of kind {kind:?}, written by a newer version of ResolutionFlow; update to use it"
            ),
            EventDefect::Malformed(reason) => write!(f, "a malformed event: {reason}"),
        }
    }
}

/// Reads an event's JSON as the engine would record it: its kind known, every field of the
/// right type, every text within the engine's limits, an attachment named by a SHA-256 and no
/// larger than [`MAX_ATTACHMENT_BYTES`].
pub fn read_event(payload: &Value) -> Result<SessionEvent, EventDefect> {
    let malformed = |reason: String| Err(EventDefect::Malformed(reason));
    let Some(kind) = payload.get("type").and_then(Value::as_str) else {
        return malformed("it has no `type`".to_owned());
    };
    if !EVENT_KINDS.contains(&kind) {
        if kind.is_empty()
            || kind.len() > 64
            || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            return malformed(format!("{kind:?} is not an event kind"));
        }
        return Err(EventDefect::NewerKind(kind.to_owned()));
    }
    check_json(payload, 0)?;
    let size = payload.to_string().len();
    if size > MAX_EVENT_BYTES {
        return malformed(format!(
            "it is {size} bytes as JSON; the limit is {MAX_EVENT_BYTES}"
        ));
    }
    let event = SessionEvent::deserialize(payload)
        .map_err(|error| EventDefect::Malformed(error.to_string()))?;
    check_fields(&event.kind).map_err(EventDefect::Malformed)?;
    Ok(event)
}

/// Every string within the engine's text limit, and no deep nesting.
fn check_json(value: &Value, depth: usize) -> Result<(), EventDefect> {
    if depth > MAX_DEPTH {
        return Err(EventDefect::Malformed(format!(
            "it nests deeper than {MAX_DEPTH} levels"
        )));
    }
    match value {
        Value::String(text) if text.len() > MAX_TEXT_BYTES => Err(EventDefect::Malformed(format!(
            "a text of {} bytes; the limit is {MAX_TEXT_BYTES}",
            text.len()
        ))),
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| check_json(item, depth + 1)),
        Value::Object(fields) => fields.iter().try_for_each(|(name, item)| {
            if name.len() > MAX_TEXT_BYTES {
                return Err(EventDefect::Malformed(
                    "a field name is too long".to_owned(),
                ));
            }
            check_json(item, depth + 1)
        }),
        _ => Ok(()),
    }
}

fn check_fields(kind: &EventKind) -> Result<(), String> {
    match kind {
        EventKind::Started { variables, .. } if variables.len() > MAX_VARIABLES => Err(format!(
            "{} variables; the limit is {MAX_VARIABLES}",
            variables.len()
        )),
        EventKind::Started {
            batch: Some(link), ..
        } if link.target.trim().is_empty()
            || link.target.len() > crate::batch::MAX_TARGET_BYTES =>
        {
            Err(format!(
                "a batch target of {} bytes; a target is 1 to {} bytes",
                link.target.len(),
                crate::batch::MAX_TARGET_BYTES
            ))
        }
        EventKind::NoteAdded { text } | EventKind::OutputPasted { text }
            if text.trim().is_empty() =>
        {
            Err("an empty note or output".to_owned())
        }
        EventKind::AttachmentAdded { attachment } => {
            if !is_sha256_hex(&attachment.sha256) {
                return Err(format!(
                    "attachment {:?} is named {:?}, not by its SHA-256 (64 lowercase hex digits)",
                    attachment.name, attachment.sha256
                ));
            }
            if attachment.size > MAX_ATTACHMENT_BYTES {
                return Err(format!(
                    "attachment {:?} is {} bytes; the limit is {MAX_ATTACHMENT_BYTES}",
                    attachment.name, attachment.size
                ));
            }
            check_file_name(&attachment.name)?;
            if attachment.media_type.len() > MAX_ATTACHMENT_NAME_BYTES
                || !attachment.media_type.contains('/')
                || attachment.media_type.chars().any(char::is_control)
            {
                return Err(format!(
                    "attachment {:?} has the media type {:?}, which is not one",
                    attachment.name, attachment.media_type
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Checks an event this device is about to record with the rules every peer will apply to
/// it, so nothing recorded here can be refused by the server or set aside by a teammate.
pub fn check_own_event(event: &SessionEvent) -> Result<(), String> {
    let payload = serde_json::to_value(event).map_err(|error| error.to_string())?;
    read_event(&payload)
        .map(|_| ())
        .map_err(|defect| match defect {
            EventDefect::NewerKind(kind) => {
                format!("{kind:?} is not an event kind of this version")
            }
            EventDefect::Malformed(reason) => reason,
        })
}

/// A file name a replica can show and save: not empty, not a path, no control characters.
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty()
        || name.len() > MAX_ATTACHMENT_NAME_BYTES
        || name.contains(['/', '\\'])
        || name == "."
        || name == ".."
        || name.chars().any(char::is_control)
    {
        return Err(format!(
            "{name:?} is not a file name (1 to {MAX_ATTACHMENT_NAME_BYTES} bytes, no path separators or control characters)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attachment(sha256: &str, size: u64, name: &str, media_type: &str) -> Value {
        json!({
            "at": "2026-12-01T10:00:00Z",
            "type": "attachment_added",
            "attachment": {"name": name, "sha256": sha256, "size": size, "media_type": media_type}
        })
    }

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn every_event_kind_is_listed() {
        let names = [
            EventKind::NoteAdded { text: "x".into() }.name(),
            EventKind::ChecklistCompleted {}.name(),
        ];
        for name in names {
            assert!(EVENT_KINDS.contains(&name), "{name}");
        }
        assert_eq!(EVENT_KINDS.len(), 14, "a new EventKind must be added here");
    }

    #[test]
    fn events_are_read_or_refused_with_a_reason() {
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        let cases: Vec<(&str, Value, Result<(), &str>)> = vec![
            (
                "a note",
                json!({"at": "2026-12-01T10:00:00Z", "type": "note_added", "text": "rebooted"}),
                Ok(()),
            ),
            (
                "an attachment",
                attachment(SHA, 10, "ipconfig.txt", "text/plain"),
                Ok(()),
            ),
            (
                "unknown fields are kept, not refused",
                json!({"at": "2026-12-01T10:00:00Z", "type": "note_added", "text": "x", "mood": "calm"}),
                Ok(()),
            ),
            (
                "an attachment not named by a SHA-256",
                attachment("../../etc/passwd", 10, "a.txt", "text/plain"),
                Err("not by its SHA-256"),
            ),
            (
                "an upper-case hash",
                attachment(&SHA.to_uppercase(), 10, "a.txt", "text/plain"),
                Err("not by its SHA-256"),
            ),
            (
                "an attachment over the limit",
                attachment(SHA, MAX_ATTACHMENT_BYTES + 1, "a.txt", "text/plain"),
                Err("the limit is"),
            ),
            (
                "a path as a file name",
                attachment(SHA, 10, "..\\windows\\win.ini", "text/plain"),
                Err("not a file name"),
            ),
            (
                "an empty file name",
                attachment(SHA, 10, " ", "text/plain"),
                Err("not a file name"),
            ),
            (
                "no media type",
                attachment(SHA, 10, "a.txt", "plain"),
                Err("media type"),
            ),
            (
                "a note over the text limit",
                json!({"at": "2026-12-01T10:00:00Z", "type": "note_added", "text": long}),
                Err("the limit is"),
            ),
            (
                "an empty note",
                json!({"at": "2026-12-01T10:00:00Z", "type": "note_added", "text": "  "}),
                Err("empty"),
            ),
            (
                "a wrong field type",
                json!({"at": "2026-12-01T10:00:00Z", "type": "note_added", "text": 5}),
                Err("invalid type"),
            ),
            (
                "a bad timestamp",
                json!({"at": "yesterday", "type": "note_added", "text": "x"}),
                Err("malformed"),
            ),
            (
                "no type",
                json!({"at": "2026-12-01T10:00:00Z"}),
                Err("no `type`"),
            ),
            (
                "a type that cannot be a kind",
                json!({"at": "2026-12-01T10:00:00Z", "type": "DROP TABLE"}),
                Err("not an event kind"),
            ),
        ];
        for (name, payload, expected) in cases {
            let got = read_event(&payload);
            match (expected, got) {
                (Ok(()), Ok(_)) => {}
                (Err(needle), Err(defect)) => {
                    let text = defect.to_string();
                    assert!(
                        matches!(defect, EventDefect::Malformed(_)),
                        "{name}: {text}"
                    );
                    assert!(text.contains(needle), "{name}: {text:?} lacks {needle:?}");
                }
                (expected, got) => panic!("{name}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_newer_kind_is_told_apart_from_a_malformed_event() {
        let payload = json!({"at": "2026-12-01T10:00:00Z", "type": "vendor_escalated", "to": "x"});
        assert_eq!(
            read_event(&payload),
            Err(EventDefect::NewerKind("vendor_escalated".into()))
        );
        assert!(
            read_event(&payload)
                .unwrap_err()
                .to_string()
                .contains("newer version")
        );
    }
}
