//! Who may append to a session, decided without storage: rf-core's one-writer rule
//! ([`rf_core::session::Holder`]) over the session's stored row, with the server's own
//! check of a hand-off's receiver (an active engineer or admin of the team).

use std::collections::HashMap;

use rf_core::session::Holder;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::push::SessionRow;
use crate::domain::users::Role;

/// The account a pushed event hands its session to, when it is a hand-off.
pub fn handoff_target(payload: &Value) -> Option<Uuid> {
    if payload.get("type").and_then(Value::as_str) != Some("handed_off") {
        return None;
    }
    payload
        .get("to_user")
        .and_then(Value::as_str)
        .and_then(|text| Uuid::parse_str(text).ok())
}

/// The session's row after `user` of `team` appends the event at `session_seq` (a hand-off
/// to `handoff_to`), or the reason the event is refused. `stored` is the row as this push has
/// it so far (none: a new session); `roles` the team's active accounts. A device's events may
/// arrive out of order, so an event placed before the last hand-off is its giver's to send.
pub fn append(
    stored: Option<&SessionRow>,
    team: Uuid,
    user: Uuid,
    device: Uuid,
    session_seq: i64,
    handoff_to: Option<Uuid>,
    roles: &HashMap<Uuid, (String, Role)>,
) -> Result<SessionRow, String> {
    let name_of = |id: Uuid| {
        roles
            .get(&id)
            .map(|(email, _)| email.clone())
            .unwrap_or_else(|| "another engineer".to_owned())
    };
    if let Some(row) = stored
        && row.team == team
        && let Some((at, by)) = row.handoff
        && session_seq < at
    {
        return if by == user && handoff_to.is_none() {
            Ok(*row)
        } else {
            Err(format!(
                "this session was handed to {}; only they can continue it",
                name_of(row.handed_to.unwrap_or(row.owner))
            ))
        };
    }
    if let Some(row) = stored
        && row.handed_to.is_none()
        && row.writer_device.is_some_and(|writer| writer != device)
        && row.owner == user
    {
        return Err(
            "this session was taken up on another of your devices after it was handed to you; continue it there"
                .to_owned(),
        );
    }
    let holder = match stored {
        None => Holder::Writer(user),
        Some(row) if row.team != team => {
            return Err("this session belongs to another engineer".to_owned());
        }
        Some(row) => match row.handed_to {
            Some(to) => Holder::HandedTo(to),
            None => Holder::Writer(row.owner),
        },
    };
    if let Some(to) = handoff_to {
        match roles.get(&to) {
            Some((_, Role::Viewer)) => {
                return Err(
                    "a session cannot be handed to a viewer; viewers read sessions, they do not work them"
                        .to_owned(),
                );
            }
            Some(_) => {}
            None => {
                return Err(
                    "a session can only be handed to an active member of the team".to_owned(),
                );
            }
        }
    }
    // Whoever holds the pen once this event is in: the owner, or the receiver taking it.
    let writer = match holder {
        Holder::Writer(owner) => owner,
        Holder::HandedTo(_) => user,
    };
    match holder.append(|owner| *owner == user, user, user, handoff_to, name_of) {
        Ok(Holder::Writer(owner)) => Ok(SessionRow {
            team,
            owner,
            handed_to: None,
            handoff: stored.and_then(|row| row.handoff),
            // Taken up now: this device holds it. Otherwise as it was.
            writer_device: match holder {
                Holder::HandedTo(_) => Some(device),
                Holder::Writer(_) => stored.and_then(|row| row.writer_device),
            },
        }),
        Ok(Holder::HandedTo(to)) => Ok(SessionRow {
            team,
            owner: writer,
            handed_to: Some(to),
            handoff: Some((session_seq, writer)),
            writer_device: None,
        }),
        Err(refused) => Err(refused.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAM: Uuid = Uuid::from_u128(9);
    const ADA: Uuid = Uuid::from_u128(1);
    const BOB: Uuid = Uuid::from_u128(2);
    const VIC: Uuid = Uuid::from_u128(3);
    const GONE: Uuid = Uuid::from_u128(4);

    fn roles() -> HashMap<Uuid, (String, Role)> {
        [
            (ADA, ("ada@x".to_owned(), Role::Engineer)),
            (BOB, ("bob@x".to_owned(), Role::TeamAdmin)),
            (VIC, ("vic@x".to_owned(), Role::Viewer)),
        ]
        .into_iter()
        .collect()
    }

    fn row(owner: Uuid, handed_to: Option<Uuid>) -> SessionRow {
        SessionRow {
            team: TEAM,
            owner,
            handed_to,
            handoff: None,
            writer_device: None,
        }
    }

    /// The laptop each engineer works on in these cases.
    fn laptop(user: Uuid) -> Uuid {
        Uuid::from_u128(100 + user.as_u128())
    }

    /// `row` taken up on `by`'s laptop.
    fn taken(row: SessionRow, by: Uuid) -> SessionRow {
        SessionRow {
            writer_device: Some(laptop(by)),
            ..row
        }
    }

    /// A row whose last hand-off was at place 10, by `by`.
    fn handed(owner: Uuid, handed_to: Option<Uuid>, by: Uuid) -> SessionRow {
        SessionRow {
            handoff: Some((10, by)),
            ..row(owner, handed_to)
        }
    }

    #[test]
    fn hand_offs_move_the_pen_and_nobody_else_writes() {
        let roles = roles();
        // (stored, user, the event's place, hand-off to, expected)
        type Case = (
            Option<SessionRow>,
            Uuid,
            i64,
            Option<Uuid>,
            Result<SessionRow, &'static str>,
        );
        let cases: &[Case] = &[
            (None, ADA, 0, None, Ok(row(ADA, None))),
            (Some(row(ADA, None)), ADA, 5, None, Ok(row(ADA, None))),
            (Some(row(ADA, None)), BOB, 5, None, Err("worked by another")),
            (
                Some(row(ADA, None)),
                ADA,
                10,
                Some(BOB),
                Ok(handed(ADA, Some(BOB), ADA)),
            ),
            (
                Some(handed(ADA, Some(BOB), ADA)),
                ADA,
                11,
                None,
                Err("handed to bob@x"),
            ),
            // Ada's earlier events may arrive after her hand-off; nobody else's may.
            (
                Some(handed(ADA, Some(BOB), ADA)),
                ADA,
                7,
                None,
                Ok(handed(ADA, Some(BOB), ADA)),
            ),
            (
                Some(handed(ADA, Some(BOB), ADA)),
                BOB,
                7,
                None,
                Err("handed to bob@x"),
            ),
            (
                Some(handed(ADA, Some(BOB), ADA)),
                ADA,
                7,
                Some(BOB),
                Err("handed to bob@x"),
            ),
            (
                Some(handed(ADA, Some(BOB), ADA)),
                BOB,
                11,
                None,
                Ok(taken(handed(BOB, None, ADA), BOB)),
            ),
            (
                Some(taken(handed(BOB, None, ADA), BOB)),
                ADA,
                8,
                None,
                Ok(taken(handed(BOB, None, ADA), BOB)),
            ),
            (
                Some(taken(handed(BOB, None, ADA), BOB)),
                BOB,
                12,
                None,
                Ok(taken(handed(BOB, None, ADA), BOB)),
            ),
            (
                Some(handed(BOB, None, ADA)),
                ADA,
                12,
                None,
                Err("worked by another"),
            ),
            (
                Some(handed(ADA, Some(BOB), ADA)),
                BOB,
                11,
                Some(ADA),
                Ok(SessionRow {
                    handoff: Some((11, BOB)),
                    ..row(BOB, Some(ADA))
                }),
            ),
            (Some(row(ADA, None)), ADA, 5, Some(VIC), Err("viewer")),
            (
                Some(row(ADA, None)),
                ADA,
                5,
                Some(GONE),
                Err("active member"),
            ),
            (
                Some(row(ADA, None)),
                ADA,
                5,
                Some(ADA),
                Err("engineer who holds it"),
            ),
            (
                Some(SessionRow {
                    team: Uuid::from_u128(77),
                    ..row(ADA, None)
                }),
                ADA,
                5,
                None,
                Err("another engineer"),
            ),
        ];
        for (stored, user, place, to, expected) in cases {
            let got = append(
                stored.as_ref(),
                TEAM,
                *user,
                laptop(*user),
                *place,
                *to,
                &roles,
            );
            let case = format!("{stored:?} {user} at {place} to {to:?}");
            match (expected, &got) {
                (Ok(row), Ok(got)) => assert_eq!(got, row, "{case}"),
                (Err(words), Err(reason)) => assert!(reason.contains(words), "{case}: {reason}"),
                _ => panic!("{case}: expected {expected:?}, got {got:?}"),
            }
        }
        // Bob's other laptop pulled the hand-off too, but the first one took it up.
        let stored = taken(handed(BOB, None, ADA), BOB);
        let other_laptop = Uuid::from_u128(999);
        let refused = append(Some(&stored), TEAM, BOB, other_laptop, 12, None, &roles);
        assert!(refused.unwrap_err().contains("another of your devices"));
    }
}
