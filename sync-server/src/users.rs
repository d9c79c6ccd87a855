//! Team members over the API: team admins list and add the members of their own team; super
//! admins any team's. Engineers and viewers manage nobody, and nobody makes an account above
//! their own role.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::{AppState, Authenticated};
use crate::auth::hash_password;
use crate::error::{AppError, ErrorBody};
use crate::store::{NewUser, Role, Store, User};

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

fn forbidden(message: &str) -> AppError {
    AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// The members of the caller's team (a super admin: every team's).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The team's members, by team and e-mail", body = Vec<User>),
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
        Role::Engineer | Role::Viewer => Err(forbidden(
            "only team admins manage users; ask yours to add or change an account",
        )),
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
        (status = 409, description = "An account with this e-mail exists", body = ErrorBody),
        (status = 413, description = "The body is larger than 4 MiB (after decompression)", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`, or in an encoding other than gzip", body = ErrorBody),
        (status = 422, description = "Missing or invalid fields: an e-mail address, a password of at least 12 characters, a known role", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
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
            return Err(forbidden(
                "only team admins manage users; ask yours to add or change an account",
            ));
        }
    };
    // Roles order from super_admin (highest) to viewer: nobody grants more than they hold.
    if request.role < user.role {
        return Err(forbidden(
            "nobody can make an account with a higher role than their own",
        ));
    }
    let email = request.email.trim().to_lowercase();
    if !email.contains('@')
        || email.len() > 254
        || email.contains(|c: char| c.is_whitespace() || c.is_control())
    {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "the e-mail is not an e-mail address",
        ));
    }
    let password = request.password;
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| AppError::internal())??;
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
