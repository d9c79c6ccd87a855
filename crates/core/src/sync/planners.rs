//! The pure decisions both sides make about a push: which mutations apply, which are
//! duplicates, where a gap stops the batch; whether a number's content clashes with what the
//! server holds (a second copy of a device); and protocol negotiation.

use super::*;

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
pub fn plan_push<'a>(
    last_applied: i64,
    batch: impl IntoIterator<Item = &'a Mutation>,
) -> Vec<PushDecision> {
    let mut decisions = Vec::new();
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
pub fn first_mutation_clash<'a>(
    batch: impl IntoIterator<Item = &'a Mutation>,
    stored: impl Fn(i64) -> Option<String>,
) -> Option<i64> {
    batch.into_iter().find_map(|mutation| {
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
