//! Who may make or change which account, and which e-mail addresses are accepted: decided
//! once, for the HTTP layer and for the transactions that apply a change on the rows as they
//! are inside it.

use crate::domain::error::{StoreError, StoreResult};
use crate::domain::users::{Role, User};

/// The answer to an engineer or viewer who asks to manage accounts.
pub const ONLY_ADMINS: &str =
    "only team admins manage users; ask yours to add or change an account";

/// What a change to an account asks for, as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Perhaps a new role (a new password needs no rule of its own).
    Update {
        role: Option<Role>,
    },
    Remove,
}

/// The answer for an id that is unknown, removed, or of another team when a team admin asks:
/// the same in each case, so ids of other teams are not confirmed.
pub fn no_such_account() -> StoreError {
    StoreError::NotFound(
        "there is no account with this id among those you manage; GET /api/v1/users lists them"
            .into(),
    )
}

/// Longest e-mail address accepted (RFC 5321's path limit, less the angle brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// Characters that show nothing or reorder what is shown: rf-core's hidden characters (the
/// ones exports make visible), and besides them those an address must not hide behind either
/// (variation selectors, the combining grapheme joiner, blank-looking letters and tags).
/// Two addresses differing only in them would look the same.
fn is_invisible(c: char) -> bool {
    rf_core::text::is_hidden(c)
        || matches!(
            u32::from(c),
            0x034F
                | 0x17B4..=0x17B5
                | 0x180B..=0x180F
                | 0x2065
                | 0x2800
                | 0xFE00..=0xFE0F
                | 0xE0000..=0xE0FFF
        )
}

/// The account e-mail to store for `email` (trimmed, lowercased), or why it cannot be one:
/// exactly one `@` after a non-empty name, a domain with a dot between non-empty labels, no
/// whitespace, control or invisible characters, at most [`MAX_EMAIL_BYTES`].
pub fn checked_email(email: &str) -> Result<String, String> {
    let email = email.trim().to_lowercase();
    if email.is_empty() {
        return Err("it is empty".into());
    }
    if email.len() > MAX_EMAIL_BYTES {
        return Err(format!("it is longer than {MAX_EMAIL_BYTES} bytes"));
    }
    if let Some(c) = email
        .chars()
        .find(|&c| c.is_whitespace() || c.is_control() || is_invisible(c))
    {
        return Err(format!(
            "it contains U+{:04X}, a space, control or invisible character",
            u32::from(c)
        ));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("it has no `@`".into());
    };
    if domain.contains('@') {
        return Err("it has more than one `@`".into());
    }
    if local.is_empty() {
        return Err("nothing comes before the `@`".into());
    }
    if !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return Err("the part after the `@` is not a domain such as example.com".into());
    }
    Ok(email)
}

/// Whether `actor` may make `change` to `target` (`None`: the server's operator at the command
/// line, who may change anyone). Decided without storage, so both back ends apply the same
/// rules inside the change's transaction, on the rows as they are then.
pub fn check_change(
    actor: Option<&User>,
    target: &User,
    target_removed: bool,
    change: Change,
) -> StoreResult<()> {
    if target_removed {
        return Err(no_such_account());
    }
    let Some(actor) = actor else {
        return Ok(());
    };
    // Everyone may set their own password (`POST /api/v1/me/password` asks for the current one
    // first; PATCH is for admins).
    if target.id == actor.id && change == (Change::Update { role: None }) {
        return Ok(());
    }
    match actor.role {
        Role::Engineer | Role::Viewer => return Err(StoreError::Forbidden(ONLY_ADMINS.into())),
        Role::TeamAdmin if target.team_id != actor.team_id => return Err(no_such_account()),
        Role::SuperAdmin | Role::TeamAdmin => {}
    }
    if target.id == actor.id {
        return match change {
            Change::Remove => Err(StoreError::Forbidden(
                "you cannot remove your own account; ask another admin to, so the team keeps one"
                    .into(),
            )),
            Change::Update { role: Some(role) } if role != actor.role => {
                Err(StoreError::Forbidden(
                    "you cannot change your own role; ask another admin to".into(),
                ))
            }
            Change::Update { .. } => Ok(()),
        };
    }
    // Roles order from super_admin (highest) to viewer.
    if target.role < actor.role {
        return Err(StoreError::Forbidden(
            "you cannot change or remove an account whose role is above yours".into(),
        ));
    }
    if let Change::Update { role: Some(role) } = change
        && role < actor.role
    {
        return Err(StoreError::Forbidden(
            "nobody can give an account a higher role than their own".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn account(name: &str, team: u128, role: Role) -> User {
        // Distinct names give distinct ids (the names here are short).
        let id = name
            .bytes()
            .fold(0u128, |id, byte| (id << 8) | u128::from(byte));
        User {
            id: Uuid::from_u128(id),
            email: format!("{name}@example.test"),
            team_id: Uuid::from_u128(team),
            team: format!("team {team}"),
            role,
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Answer {
        Allowed,
        Forbidden,
        NotFound,
    }

    fn answer(result: StoreResult<()>) -> Answer {
        match result {
            Ok(()) => Answer::Allowed,
            Err(StoreError::Forbidden(_)) => Answer::Forbidden,
            Err(StoreError::NotFound(_)) => Answer::NotFound,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn account_changes_follow_the_rules() {
        use Answer::{Allowed, Forbidden, NotFound};
        let root = account("root", 9, Role::SuperAdmin);
        let other_root = account("other-root", 9, Role::SuperAdmin);
        let tia = account("tia", 1, Role::TeamAdmin);
        let tom = account("tom", 1, Role::TeamAdmin);
        let ada = account("ada", 1, Role::Engineer);
        let vic = account("vic", 1, Role::Viewer);
        let boss = account("boss", 1, Role::SuperAdmin);
        let eve = account("eve", 2, Role::Engineer);
        let remove = Change::Remove;
        let password = Change::Update { role: None };
        let to = |role| Change::Update { role: Some(role) };
        let cases: &[(&User, &User, bool, Change, Answer)] = &[
            // Super admins change and remove anyone but themselves, in any team.
            (&root, &eve, false, to(Role::Viewer), Allowed),
            (&root, &eve, false, remove, Allowed),
            (&root, &tia, false, to(Role::SuperAdmin), Allowed),
            (&root, &other_root, false, remove, Allowed),
            (&root, &root, false, password, Allowed),
            (&root, &root, false, to(Role::SuperAdmin), Allowed),
            (&root, &root, false, to(Role::TeamAdmin), Forbidden),
            (&root, &root, false, remove, Forbidden),
            // Team admins: their own team, nobody above them, no role above theirs.
            (&tia, &ada, false, to(Role::Viewer), Allowed),
            (&tia, &ada, false, to(Role::TeamAdmin), Allowed),
            (&tia, &ada, false, password, Allowed),
            (&tia, &ada, false, remove, Allowed),
            (&tia, &tom, false, to(Role::Engineer), Allowed),
            (&tia, &tom, false, remove, Allowed),
            (&tia, &ada, false, to(Role::SuperAdmin), Forbidden),
            (&tia, &boss, false, password, Forbidden),
            (&tia, &boss, false, remove, Forbidden),
            (&tia, &eve, false, password, NotFound),
            (&tia, &eve, false, remove, NotFound),
            (&tia, &root, false, to(Role::Viewer), NotFound),
            (&tia, &tia, false, password, Allowed),
            (&tia, &tia, false, to(Role::Engineer), Forbidden),
            (&tia, &tia, false, remove, Forbidden),
            // Engineers and viewers manage nobody; they set only their own password.
            (&ada, &vic, false, password, Forbidden),
            (&ada, &ada, false, password, Allowed),
            (&vic, &vic, false, password, Allowed),
            (&ada, &ada, false, to(Role::TeamAdmin), Forbidden),
            (&ada, &ada, false, to(Role::Engineer), Forbidden),
            (&ada, &ada, false, remove, Forbidden),
            (&vic, &ada, false, remove, Forbidden),
            // A removed account is gone for everyone.
            (&root, &ada, true, password, NotFound),
            (&tia, &ada, true, remove, NotFound),
        ];
        for (actor, target, removed, change, expected) in cases {
            assert_eq!(
                answer(check_change(Some(actor), target, *removed, *change)),
                *expected,
                "{} {change:?} {}",
                actor.email,
                target.email
            );
        }
        // The operator at the command line may do anything to an account that exists.
        assert_eq!(answer(check_change(None, &root, false, remove)), Allowed);
        assert_eq!(answer(check_change(None, &root, true, remove)), NotFound);
    }

    #[test]
    fn account_emails_are_checked() {
        let good = [
            ("Ada@Contoso.example", "ada@contoso.example"),
            (
                "  ada.lovelace+sync@mail.contoso.example ",
                "ada.lovelace+sync@mail.contoso.example",
            ),
            ("jürgen@müller.example", "jürgen@müller.example"),
        ];
        for (email, stored) in good {
            assert_eq!(checked_email(email).as_deref(), Ok(stored), "{email:?}");
        }
        let long = format!("{}@contoso.example", "a".repeat(MAX_EMAIL_BYTES));
        let bad = [
            "",
            "@",
            "   ",
            "ada",
            "@contoso.example",
            "ada@",
            "ada@contoso",
            "ada@contoso.",
            "ada@.example",
            "ada@contoso..example",
            "ada@@contoso.example",
            "ada@bob@contoso.example",
            "ada lovelace@contoso.example",
            "ada@contoso.example\u{0}",
            "ada\u{7}@contoso.example",
            "ada\u{200B}@contoso.example",
            "ada@contoso\u{200D}.example",
            "ada\u{202E}@contoso.example",
            "ada\u{2066}@contoso.example",
            "ada\u{FEFF}@contoso.example",
            "ada\u{00AD}@contoso.example",
            "ada\u{00A0}@contoso.example",
            "ada\u{3164}@contoso.example",
            "ada\u{E0041}@contoso.example",
            long.as_str(),
        ];
        for email in bad {
            assert!(checked_email(email).is_err(), "{email:?} was accepted");
        }
    }

    #[test]
    fn another_teams_account_answers_like_an_unknown_one() {
        let tia = account("tia", 1, Role::TeamAdmin);
        let eve = account("eve", 2, Role::Engineer);
        let Err(StoreError::NotFound(message)) =
            check_change(Some(&tia), &eve, false, Change::Remove)
        else {
            panic!("not a 404");
        };
        let StoreError::NotFound(unknown) = no_such_account() else {
            panic!("not a 404");
        };
        assert_eq!(message, unknown);
    }
}
