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

use crate::domain::users::{Actor, NewUser, Role, User, UserUpdate};
use crate::http::api::AppState;
use crate::http::error::{
    AppError, ErrorBody, Failed, MalformedJson, NotJson, TooLarge, Unauthorized,
};
use crate::http::extract::{Authenticated, bearer_token, unix_now};
use crate::http::limits::ClientAddress;
use crate::rules::accounts::{ONLY_ADMINS, checked_email};
use crate::rules::auth::{hash_password, token_hash};
use crate::storage::Store;

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

fn forbidden(message: &str) -> AppError {
    AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
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
        Unauthorized,
        (status = 403, description = "Only team admins manage users", body = ErrorBody),
        Failed,
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

/// The members of the caller's team, for any member: a replica keeps them to check a
/// hand-off while offline. Removed accounts are not listed.
#[utoipa::path(
    get,
    path = "/api/v1/team/members",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's team, by e-mail", body = Vec<rf_core::sync::TeamMember>),
        Unauthorized,
        Failed,
    )
)]
#[tracing::instrument(skip_all, fields(route = "team.members", user = %user.id))]
pub async fn team_members<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
) -> Result<Json<Vec<rf_core::sync::TeamMember>>, AppError> {
    Ok(Json(
        state
            .store
            .users()
            .await?
            .into_iter()
            .filter(|member| member.team_id == user.team_id)
            .map(|member| rf_core::sync::TeamMember {
                id: member.id,
                email: member.email,
                role: member.role.as_str().to_owned(),
            })
            .collect(),
    ))
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
        MalformedJson,
        NotJson,
        Unauthorized,
        (status = 403, description = "Not a team admin, another team, or a role above the caller's", body = ErrorBody),
        (status = 409, description = "An account with this e-mail exists (a removed account keeps its e-mail)", body = ErrorBody),
        TooLarge,
                (status = 422, description = "Missing or invalid fields: an e-mail address (one `@` after a non-empty name, a domain with a dot, no spaces, control or invisible characters, at most 254 bytes), a password of at least 12 characters, a known role", body = ErrorBody),
        Failed,
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
        Unauthorized,
        (status = 403, description = "Not a team admin, an account or a role above the caller's, or the caller's own role", body = ErrorBody),
        (status = 404, description = "No such account, removed, or (for a team admin) in another team", body = ErrorBody),
        TooLarge,
        NotJson,
        (status = 422, description = "Neither a role nor a password, a password shorter than 12 characters, an unknown role or field", body = ErrorBody),
        Failed,
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
        Unauthorized,
        (status = 403, description = "Not a team admin, an account above the caller's role, or the caller's own", body = ErrorBody),
        (status = 404, description = "No such account, already removed, or (for a team admin) in another team", body = ErrorBody),
        Failed,
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
        MalformedJson,
        NotJson,
        Unauthorized,
        (status = 403, description = "The current password is wrong (`wrong_password`)", body = ErrorBody),
        TooLarge,
                (status = 422, description = "Missing fields, or a new password shorter than 12 characters", body = ErrorBody),
        (
            status = 429,
            description = "Too many wrong passwords or failed logins for this account from this address lately; wait a few seconds",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until this address may try again")),
        ),
        Failed,
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
        .map_err(|wait| crate::http::login::too_many_attempts("wrong passwords", wait))?;
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
                crate::rules::auth::verify_password(&current, hash.as_deref()),
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
