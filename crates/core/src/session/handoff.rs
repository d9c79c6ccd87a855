//! Who may write a session. A session has one writer at a time, so its log never forks: the
//! device (or, on the server, the engineer) that started it, until it records a hand-off;
//! from then nobody writes until the receiving engineer appends, and whatever appends first
//! for them holds it. The server applies this to every pushed event (its writer is an
//! account), a replica before it records anything (its writer is a device), with this one rule.

use super::*;

/// Who holds a session's pen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holder<W> {
    /// This writer appends.
    Writer(W),
    /// Handed to this account; nobody appends until one of its devices does.
    HandedTo(Uuid),
}

/// Why an append is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendRefused {
    #[error(
        "this session is worked by another engineer or device; it is theirs to continue or hand off"
    )]
    NotTheWriter,
    #[error("this session was handed to {0}; only they can continue it")]
    HandedToAnother(String),
    #[error("a session cannot be handed to the engineer who holds it")]
    HandOffToSelf,
}

impl<W: Copy> Holder<W> {
    /// The holder after `writer` (acting for account `user`) appends an event (`handoff_to`:
    /// the account a hand-off event hands to), or why it may not. `is_writer` tells whether a
    /// held writer is this one (a replica's device under any identity it had).
    pub fn append(
        &self,
        is_writer: impl Fn(&W) -> bool,
        writer: W,
        user: Uuid,
        handoff_to: Option<Uuid>,
        name_of: impl Fn(Uuid) -> String,
    ) -> Result<Holder<W>, AppendRefused> {
        let holder = match self {
            Holder::Writer(held) if is_writer(held) => *self,
            Holder::Writer(_) => return Err(AppendRefused::NotTheWriter),
            Holder::HandedTo(to) if *to == user => Holder::Writer(writer),
            Holder::HandedTo(to) => return Err(AppendRefused::HandedToAnother(name_of(*to))),
        };
        match handoff_to {
            Some(to) if to == user => Err(AppendRefused::HandOffToSelf),
            Some(to) => Ok(Holder::HandedTo(to)),
            None => Ok(holder),
        }
    }

    /// The holder after a log the server accepted: `events` in session order, each with its
    /// writer and, for a hand-off, the account it hands to. `None` for an empty log.
    pub fn of(events: impl IntoIterator<Item = (W, Option<Uuid>)>) -> Option<Holder<W>> {
        let mut holder = None;
        for (writer, handoff_to) in events {
            holder = Some(match (holder, handoff_to) {
                (_, Some(to)) => Holder::HandedTo(to),
                // The first event after a hand-off is the receiver's: it holds the session.
                (None | Some(Holder::HandedTo(_)), None) => Holder::Writer(writer),
                (Some(held @ Holder::Writer(_)), None) => held,
            });
        }
        holder
    }
}

impl EventKind {
    /// The account a hand-off event hands to.
    pub fn handoff_to(&self) -> Option<Uuid> {
        match self {
            EventKind::HandedOff { to_user, .. } => Some(*to_user),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADA: Uuid = Uuid::from_u128(1);
    const BOB: Uuid = Uuid::from_u128(2);
    const CY: Uuid = Uuid::from_u128(3);

    fn name(user: Uuid) -> String {
        format!("user {}", user.as_u128())
    }

    #[test]
    fn one_writer_at_a_time() {
        // (holder, writer, user, hand-off to, expected)
        fn writer(held: &'static str) -> Holder<&'static str> {
            Holder::Writer(held)
        }
        type Case = (
            Holder<&'static str>,
            &'static str,
            Uuid,
            Option<Uuid>,
            Result<Holder<&'static str>, AppendRefused>,
        );
        let cases: &[Case] = &[
            (
                writer("laptop-a"),
                "laptop-a",
                ADA,
                None,
                Ok(writer("laptop-a")),
            ),
            (
                writer("laptop-a"),
                "laptop-b",
                ADA,
                None,
                Err(AppendRefused::NotTheWriter),
            ),
            (
                writer("laptop-a"),
                "laptop-b",
                BOB,
                None,
                Err(AppendRefused::NotTheWriter),
            ),
            (
                writer("laptop-a"),
                "laptop-a",
                ADA,
                Some(BOB),
                Ok(Holder::HandedTo(BOB)),
            ),
            (
                writer("laptop-a"),
                "laptop-a",
                ADA,
                Some(ADA),
                Err(AppendRefused::HandOffToSelf),
            ),
            (
                Holder::HandedTo(BOB),
                "laptop-a",
                ADA,
                None,
                Err(AppendRefused::HandedToAnother(name(BOB))),
            ),
            (
                Holder::HandedTo(BOB),
                "bob-pc",
                BOB,
                None,
                Ok(writer("bob-pc")),
            ),
            (
                Holder::HandedTo(BOB),
                "bob-pc",
                BOB,
                Some(CY),
                Ok(Holder::HandedTo(CY)),
            ),
            (
                Holder::HandedTo(BOB),
                "cy-pc",
                CY,
                None,
                Err(AppendRefused::HandedToAnother(name(BOB))),
            ),
        ];
        for (holder, by, user, to, expected) in cases {
            let got = holder.append(|held| held == by, by, *user, *to, name);
            assert_eq!(&got, expected, "{holder:?} {by} {user} {to:?}");
        }
    }

    #[test]
    fn the_holder_of_an_accepted_log() {
        assert_eq!(Holder::<&str>::of([]), None);
        let log = [
            ("a", None),
            ("a", None),
            ("a", Some(BOB)),
            ("b", None),
            ("b", None),
        ];
        assert_eq!(Holder::of(log), Some(Holder::Writer("b")));
        let pending = [("a", None), ("a", Some(BOB))];
        assert_eq!(Holder::of(pending), Some(Holder::HandedTo(BOB)));
        // Each append the rule allows leads to the holder the fold computes.
        let mut holder = Holder::Writer("a");
        let mut log = vec![("a", None)];
        for (by, user, to) in [
            ("a", ADA, None),
            ("a", ADA, Some(BOB)),
            ("b", BOB, None),
            ("b", BOB, Some(ADA)),
            ("c", ADA, None),
        ] {
            holder = holder
                .append(|held| *held == by, by, user, to, name)
                .unwrap();
            log.push((by, to));
            assert_eq!(Holder::of(log.clone()), Some(holder));
        }
    }
}
