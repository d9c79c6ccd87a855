//! What a team admin may store as the team's ConnectWise connection, checked before anything
//! is sent to ConnectWise: the parts of `Authorization: Basic base64(company+public:private)`
//! and the `clientId` header must be single printable tokens that cannot break the header.

use crate::domain::psa::{PostRow, PostState, PsaKeys};

/// The longest company id, key or client id accepted (ConnectWise's are far shorter).
pub const MAX_CREDENTIAL_CHARS: usize = 200;

/// Who may store, change or forget the team's connection.
pub const ONLY_ADMINS_CONNECT: &str =
    "only team admins connect the team to ConnectWise; ask yours to run `rf psa connect`";

/// A part of the credentials: printable ASCII without spaces, at most
/// [`MAX_CREDENTIAL_CHARS`], and (for the parts before the password) no `:` or `+`, which
/// would move where ConnectWise splits the company, the public key and the private key.
pub fn checked_part(name: &str, value: &str, separators_allowed: bool) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("give the {name}"));
    }
    if value.chars().count() > MAX_CREDENTIAL_CHARS {
        return Err(format!(
            "the {name} is longer than {MAX_CREDENTIAL_CHARS} characters; copy it again from ConnectWise"
        ));
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "the {name} holds spaces or characters ConnectWise never uses; copy it again from ConnectWise"
        ));
    }
    if !separators_allowed && value.contains([':', '+']) {
        return Err(format!("the {name} cannot contain `:` or `+`"));
    }
    Ok(value.to_owned())
}

/// The company id and keys of a connection, checked.
pub fn checked_credentials(
    company_id: &str,
    public_key: &str,
    private_key: &str,
) -> Result<(String, PsaKeys), String> {
    let company_id = checked_part("company id", company_id, false)?;
    let public_key = checked_part("public key", public_key, false)?;
    let private_key = checked_part("private key", private_key, true)?;
    Ok((
        company_id,
        PsaKeys {
            public_key,
            private_key,
        },
    ))
}

/// The last four characters of a public key, to tell keys apart without showing them.
pub fn key_hint(public_key: &str) -> String {
    let chars: Vec<char> = public_key.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("…{tail}")
}

/// What a request to post decides, given the post stored under its key (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimPlan {
    /// A new post: store it as being sent, and send it.
    Insert,
    /// Send it (again): `check_marker` when the note may already be on the ticket.
    Resume { check_marker: bool },
    /// Answer what is stored.
    Answer,
    /// Someone is sending it now; ask again in a moment.
    InProgress { retry_after: u64 },
    /// The key belongs to another post.
    KeyReused,
}

/// The rule of exactly once. A post is sent only when it is surely not on the ticket, or
/// after its marker was looked for (a new post too: see `storage::psa::claim_post`): a post being sent (within its lease) is left to its
/// sender; one whose sender stopped (lease over) or whose answer was lost is looked for first;
/// a posted note is answered as stored, unless the status change asked for with it is still
/// to make; a refused one may be tried again (ConnectWise did not take it).
pub fn plan_claim(
    existing: Option<&PostRow>,
    digest: &str,
    wants_status: bool,
    wants_time: bool,
    now: i64,
) -> ClaimPlan {
    let Some(row) = existing else {
        return ClaimPlan::Insert;
    };
    if row.digest != digest {
        return ClaimPlan::KeyReused;
    }
    match row.state {
        PostState::Sending if row.lease_until > now => ClaimPlan::InProgress {
            retry_after: u64::try_from(row.lease_until - now)
                .unwrap_or(1)
                .clamp(1, 60),
        },
        PostState::Sending | PostState::Ambiguous => ClaimPlan::Resume { check_marker: true },
        PostState::Posted
            if (wants_status && !row.status_done) || (wants_time && !row.time_done) =>
        {
            ClaimPlan::Resume {
                check_marker: false,
            }
        }
        PostState::Posted => ClaimPlan::Answer,
        PostState::Failed => ClaimPlan::Resume {
            check_marker: false,
        },
    }
}

/// The line that ends every posted note: the post's key, read back to tell whether a note
/// whose answer was lost reached the ticket.
pub fn marker(key: uuid::Uuid) -> String {
    format!("ResolutionFlow ref rf-{}", key.simple())
}

/// The longest note text accepted (ConnectWise notes hold far more; a session's note is a few
/// kilobytes).
pub const MAX_NOTE_CHARS: usize = 60_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_that_would_break_the_basic_header_are_refused() {
        assert!(checked_credentials("acme", "Pub123", "Pri:va+te").is_ok());
        for (company, public, private) in [
            ("", "p", "q"),
            ("ac me", "p", "q"),
            ("acme+x", "p", "q"),
            ("acme", "p:x", "q"),
            ("acme", "p", "q\r\nX-Injected: 1"),
            ("acme", "p", "é"),
        ] {
            assert!(
                checked_credentials(company, public, private).is_err(),
                "{company:?} {public:?} {private:?}"
            );
        }
        let long = "x".repeat(MAX_CREDENTIAL_CHARS + 1);
        assert!(checked_credentials("acme", &long, "q").is_err());
    }

    fn row(state: PostState, lease_until: i64, status_done: bool) -> PostRow {
        PostRow {
            team_id: uuid::Uuid::nil(),
            key: uuid::Uuid::nil(),
            requested_by: uuid::Uuid::nil(),
            ticket_id: 5,
            digest: "d".into(),
            state,
            lease_until,
            attempts: 1,
            note_id: None,
            posted_at: None,
            status_done,
            time_done: true,
            time_entry_id: None,
            error: None,
            updated_at: 0,
        }
    }

    #[test]
    fn a_post_is_sent_only_when_surely_absent_or_after_its_marker_is_looked_for() {
        use PostState::*;
        let now = 1000;
        let cases = [
            (None, false, ClaimPlan::Insert),
            (
                Some(row(Sending, now + 30, true)),
                false,
                ClaimPlan::InProgress { retry_after: 30 },
            ),
            (
                Some(row(Sending, now + 3600, true)),
                false,
                ClaimPlan::InProgress { retry_after: 60 },
            ),
            (
                Some(row(Sending, now, true)),
                false,
                ClaimPlan::Resume { check_marker: true },
            ),
            (
                Some(row(Ambiguous, 0, true)),
                false,
                ClaimPlan::Resume { check_marker: true },
            ),
            (Some(row(Posted, 0, true)), false, ClaimPlan::Answer),
            (Some(row(Posted, 0, true)), true, ClaimPlan::Answer),
            (
                Some(row(Posted, 0, false)),
                true,
                ClaimPlan::Resume {
                    check_marker: false,
                },
            ),
            (
                Some(row(Failed, 0, true)),
                false,
                ClaimPlan::Resume {
                    check_marker: false,
                },
            ),
        ];
        for (existing, wants_status, plan) in cases {
            assert_eq!(
                plan_claim(existing.as_ref(), "d", wants_status, false, now),
                plan,
                "{existing:?}"
            );
        }
        // A time entry still to make resumes a posted note, like a status change.
        let mut waiting = row(Posted, 0, true);
        waiting.time_done = false;
        assert_eq!(
            plan_claim(Some(&waiting), "d", false, true, now),
            ClaimPlan::Resume {
                check_marker: false
            }
        );
        waiting.time_done = true;
        assert_eq!(
            plan_claim(Some(&waiting), "d", false, true, now),
            ClaimPlan::Answer
        );
        // Whatever its state, a key spent on another post is refused.
        for state in [Sending, Ambiguous, Posted, Failed] {
            assert_eq!(
                plan_claim(Some(&row(state, 0, true)), "other", false, false, now),
                ClaimPlan::KeyReused
            );
        }
    }

    #[test]
    fn a_key_hint_shows_the_last_four_characters_only() {
        assert_eq!(key_hint("abcdefgh1234"), "…1234");
        assert_eq!(key_hint("ab"), "…ab");
    }
}
