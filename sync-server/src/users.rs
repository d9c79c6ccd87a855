//! Team members over the API: team admins list, add, change and remove the members of their
//! own team; super admins any team's. Engineers and viewers manage nobody, nobody makes or
//! touches an account above their own role, and nobody changes their own role or removes
//! themselves, so a team cannot lock itself out by accident.

use std::time::Instant;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::{AppState, Authenticated, bearer_token, unix_now};
use crate::auth::{hash_password, token_hash};
use crate::error::{AppError, ErrorBody, StoreError, StoreResult};
use crate::limits::ClientAddress;
use crate::store::{Actor, NewUser, Role, Store, User, UserUpdate};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub email: String,
    /// At least 12 characters.
    pub password: String,
    pub role: Role,
    /// The team's name; a team admin may leave it out or give their own. A super admin may
    /// name a new team, which is created.
    pub team: Option<String>,
}

/// A change to an account: its role, its password, or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdateRequest {
    /// The new role: not above the caller's, and not for the caller's own account.
    pub role: Option<Role>,
    /// A new password of at least 12 characters. It ends every login of the account (for the
    /// caller's own account, every login but the one asking).
    pub password: Option<String>,
}

/// A change of the caller's own password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// The password in use now.
    pub current_password: String,
    /// The new one, at least 12 characters.
    pub new_password: String,
}

const ONLY_ADMINS: &str = "only team admins manage users; ask yours to add or change an account";

fn forbidden(message: &str) -> AppError {
    AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

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

/// The caller as the store's rules see them, with the login they ask from.
fn actor(user: &User, headers: &HeaderMap) -> Actor {
    Actor::Account {
        user_id: user.id,
        access_hash: bearer_token(headers).map(token_hash).unwrap_or_default(),
    }
}

/// The members of the caller's team (a super admin: every team's).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The team's members, by team and e-mail; removed accounts are not listed", body = Vec<User>),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Only team admins manage users", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(route = "users.list", user = %user.id))]
pub async fn list_users<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
) -> Result<Json<Vec<User>>, AppError> {
    let all = state.store.users().await?;
    match user.role {
        Role::SuperAdmin => Ok(Json(all)),
        Role::TeamAdmin => Ok(Json(
            all.into_iter()
                .filter(|member| member.team_id == user.team_id)
                .collect(),
        )),
        Role::Engineer | Role::Viewer => Err(forbidden(ONLY_ADMINS)),
    }
}

/// Adds an account.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    security(("bearer" = [])),
    request_body = NewUserRequest,
    responses(
        (status = 201, description = "The new account", body = User),
        (status = 400, description = "The body is not JSON, or not gzip as its `Content-Encoding` says", body = ErrorBody),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not a team admin, another team, or a role above the caller's", body = ErrorBody),
        (status = 409, description = "An account with this e-mail exists (a removed account keeps its e-mail)", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 MiB (after decompression)", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`, or in an encoding other than gzip", body = ErrorBody),
        (status = 422, description = "Missing or invalid fields: an e-mail address (one `@` after a non-empty name, a domain with a dot, no spaces, control or invisible characters, at most 254 bytes), a password of at least 12 characters, a known role", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
        (
            status = 503,
            description = "The server is hashing as many passwords as it can at once (`busy`); try again shortly",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")),
        ),
    )
)]
#[tracing::instrument(skip_all, fields(route = "users.add", user = %user.id))]
pub async fn add_user<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    body: Result<Json<NewUserRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<User>), AppError> {
    let Json(request) = body?;
    let team = match (user.role, request.team.as_deref().map(str::trim)) {
        (Role::SuperAdmin, Some(team)) if !team.is_empty() => team.to_owned(),
        (Role::SuperAdmin | Role::TeamAdmin, None) => user.team.clone(),
        (Role::TeamAdmin, Some(team)) if team == user.team => user.team.clone(),
        (Role::TeamAdmin, Some(_)) => {
            return Err(forbidden("team admins add members to their own team only"));
        }
        (Role::SuperAdmin, Some(_)) => {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "the team name is empty",
            ));
        }
        (Role::Engineer | Role::Viewer, _) => {
            return Err(forbidden(ONLY_ADMINS));
        }
    };
    // Roles order from super_admin (highest) to viewer: nobody grants more than they hold.
    if request.role < user.role {
        return Err(forbidden(
            "nobody can make an account with a higher role than their own",
        ));
    }
    let email = checked_email(&request.email).map_err(|reason| {
        AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("`email` is not usable: {reason}"),
        )
    })?;
    let password = request.password;
    let password_hash = state
        .passwords
        .run(move || hash_password(&password))
        .await??;
    let created = state
        .store
        .create_user(NewUser {
            email,
            team,
            role: request.role,
            password_hash,
        })
        .await?;
    tracing::info!(created = %created.id, role = created.role.as_str(), "user added");
    Ok((StatusCode::CREATED, Json(created)))
}

/// Changes an account's role, password or both. A new password ends every login of the
/// account at once (changing your own keeps the login you ask from).
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The account's id")),
    request_body = UserUpdateRequest,
    responses(
        (status = 200, description = "The changed account", body = User),
        (status = 400, description = "The id is not a UUID, or the body is not JSON, or not gzip as its `Content-Encoding` says", body = ErrorBody),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not a team admin, an account or a role above the caller's, or the caller's own role", body = ErrorBody),
        (status = 404, description = "No such account, removed, or (for a team admin) in another team", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 MiB (after decompression)", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`, or in an encoding other than gzip", body = ErrorBody),
        (status = 422, description = "Neither a role nor a password, a password shorter than 12 characters, an unknown role or field", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
        (
            status = 503,
            description = "The server is hashing as many passwords as it can at once (`busy`); try again shortly",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")),
        ),
    )
)]
#[tracing::instrument(skip_all, fields(route = "users.update", user = %user.id))]
pub async fn update_user<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    headers: HeaderMap,
    id: Result<Path<Uuid>, PathRejection>,
    body: Result<Json<UserUpdateRequest>, JsonRejection>,
) -> Result<Json<User>, AppError> {
    let Path(id) = id?;
    let Json(request) = body?;
    // Refused before the slow hashing; the store checks every rule again in its transaction.
    if matches!(user.role, Role::Engineer | Role::Viewer) {
        return Err(forbidden(ONLY_ADMINS));
    }
    if request.role.is_none() && request.password.is_none() {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "give a new `role`, a new `password`, or both",
        ));
    }
    let password_hash = match request.password {
        Some(password) => Some(
            state
                .passwords
                .run(move || hash_password(&password))
                .await??,
        ),
        None => None,
    };
    let password_changed = password_hash.is_some();
    let updated = state
        .store
        .update_user(
            actor(&user, &headers),
            id,
            UserUpdate {
                role: request.role,
                password_hash,
            },
            unix_now(),
        )
        .await?;
    tracing::info!(
        changed = %updated.id,
        role = updated.role.as_str(),
        password_changed,
        "user changed"
    );
    Ok(Json(updated))
}

/// Removes an account's access: it can no longer log in and its tokens stop working at once.
/// Its sessions, events, devices and flows stay, as the team's records; its e-mail stays
/// taken (adding it again answers 409).
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The account's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not a team admin, an account above the caller's role, or the caller's own", body = ErrorBody),
        (status = 404, description = "No such account, already removed, or (for a team admin) in another team", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(route = "users.remove", user = %user.id))]
pub async fn remove_user<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    headers: HeaderMap,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<StatusCode, AppError> {
    let Path(id) = id?;
    state
        .store
        .remove_user(actor(&user, &headers), id, unix_now())
        .await?;
    tracing::info!(removed = %id, "user removed");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

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

/// Changes the caller's own password; any role may. The current password is asked for, so a
/// borrowed access token cannot lock its owner out, and wrong ones count toward the same
/// limit as failed logins. Every other login of the account ends; the asking one goes on.
#[utoipa::path(
    post,
    path = "/api/v1/me/password",
    tag = "users",
    security(("bearer" = [])),
    request_body = PasswordChangeRequest,
    responses(
        (status = 204, description = "Changed; the account's other logins have ended"),
        (status = 400, description = "The body is not JSON, or not gzip as its `Content-Encoding` says", body = ErrorBody),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "The current password is wrong (`wrong_password`)", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 MiB (after decompression)", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`, or in an encoding other than gzip", body = ErrorBody),
        (status = 422, description = "Missing fields, or a new password shorter than 12 characters", body = ErrorBody),
        (
            status = 429,
            description = "Too many wrong passwords or failed logins for this account from this address lately; wait a few seconds",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until this address may try again")),
        ),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
        (
            status = 503,
            description = "The server is hashing as many passwords as it can at once (`busy`); try again shortly",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")),
        ),
    )
)]
#[tracing::instrument(skip_all, fields(route = "me.password", user = %user.id))]
pub async fn change_own_password<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    body: Result<Json<PasswordChangeRequest>, JsonRejection>,
) -> Result<StatusCode, AppError> {
    let Json(request) = body?;
    state
        .logins
        .admit(&user.email, client, Instant::now())
        .map_err(|wait| crate::api::too_many_attempts("wrong passwords", wait))?;
    let hash = state
        .store
        .credentials(user.email.clone())
        .await?
        .map(|(_, hash)| hash);
    let (current, new) = (request.current_password, request.new_password);
    // Both are deliberately slow and memory-hungry: a bounded number at once, off the async
    // workers.
    let checked = state
        .passwords
        .run(move || {
            (
                crate::auth::verify_password(&current, hash.as_deref()),
                hash_password(&new),
            )
        })
        .await;
    let (valid, new_hash) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            state.logins.not_tried(client, Instant::now());
            return Err(error.into());
        }
    };
    if !valid {
        state.logins.failed(&user.email, client, Instant::now());
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "wrong_password",
            "the current password is wrong; nothing was changed",
        ));
    }
    let update = UserUpdate {
        role: None,
        password_hash: Some(new_hash?),
    };
    state
        .store
        .update_user(actor(&user, &headers), user.id, update, unix_now())
        .await?;
    tracing::info!("own password changed");
    Ok(StatusCode::NO_CONTENT)
}
