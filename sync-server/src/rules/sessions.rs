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

/// The session's row after `user` of `team` appends an event (a hand-off to `handoff_to`),
/// or the reason the event is refused. `stored` is the row as this push has it so far (none:
/// a new session); `roles` the team's active accounts.
pub fn append(
    stored: Option<&SessionRow>,
    team: Uuid,
    user: Uuid,
    handoff_to: Option<Uuid>,
    roles: &HashMap<Uuid, (String, Role)>,
) -> Result<SessionRow, String> {
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
    let name_of = |id: Uuid| {
        roles
            .get(&id)
            .map(|(email, _)| email.clone())
            .unwrap_or_else(|| "another engineer".to_owned())
    };
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
        }),
        Ok(Holder::HandedTo(to)) => Ok(SessionRow {
            team,
            owner: writer,
            handed_to: Some(to),
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
        }
    }

    #[test]
    fn hand_offs_move_the_pen_and_nobody_else_writes() {
        let roles = roles();
        type Case = (
            Option<SessionRow>,
            Uuid,
            Option<Uuid>,
            Result<SessionRow, &'static str>,
        );
        let cases: &[Case] = &[
            (None, ADA, None, Ok(row(ADA, None))),
            (Some(row(ADA, None)), ADA, None, Ok(row(ADA, None))),
            (Some(row(ADA, None)), BOB, None, Err("worked by another")),
            (
                Some(row(ADA, None)),
                ADA,
                Some(BOB),
                Ok(row(ADA, Some(BOB))),
            ),
            (Some(row(ADA, Some(BOB))), ADA, None, Err("handed to bob@x")),
            (Some(row(ADA, Some(BOB))), BOB, None, Ok(row(BOB, None))),
            (
                Some(row(ADA, Some(BOB))),
                BOB,
                Some(ADA),
                Ok(row(BOB, Some(ADA))),
            ),
            (Some(row(ADA, None)), ADA, Some(VIC), Err("viewer")),
            (Some(row(ADA, None)), ADA, Some(GONE), Err("active member")),
            (
                Some(row(ADA, None)),
                ADA,
                Some(ADA),
                Err("engineer who holds it"),
            ),
            (
                Some(SessionRow {
                    team: Uuid::from_u128(77),
                    owner: ADA,
                    handed_to: None,
                }),
                ADA,
                None,
                Err("another engineer"),
            ),
        ];
        for (stored, user, to, expected) in cases {
            let got = append(stored.as_ref(), TEAM, *user, *to, &roles);
            match (expected, &got) {
                (Ok(row), Ok(got)) => assert_eq!(got, row, "{stored:?} {user} {to:?}"),
                (Err(words), Err(reason)) => {
                    assert!(reason.contains(words), "{stored:?} {user} {to:?}: {reason}")
                }
                _ => panic!("{stored:?} {user} {to:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }
}
