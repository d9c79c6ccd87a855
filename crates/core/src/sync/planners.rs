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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
