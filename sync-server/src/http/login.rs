//! Login, token refresh and who-am-I.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::users::{IssuedTokens, Rotation, User};
use crate::http::api::{ApiConfig, AppState};
use crate::http::error::{
    AppError, ErrorBody, Failed, MalformedJson, NotJson, TooLarge, Unauthorized,
};
use crate::http::extract::{Authenticated, unix_now};
use crate::http::limits::ClientAddress;
use crate::rules::auth::{new_token, token_hash, verify_password};
use crate::storage::Store;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Sent as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Works once, at /api/v1/auth/refresh, for the next pair.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: User,
}

/// A new token pair: the tokens for the client, their hashes for the store.
fn issue(config: &ApiConfig, now: i64) -> (String, String, IssuedTokens) {
    let access = new_token("rfa_");
    let refresh = new_token("rfr_");
    let seconds = |ttl: Duration| i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let issued = IssuedTokens {
        access_hash: token_hash(&access),
        access_expires_at: now.saturating_add(seconds(config.access_ttl)),
        refresh_hash: token_hash(&refresh),
        refresh_expires_at: now.saturating_add(seconds(config.refresh_ttl)),
    };
    (access, refresh, issued)
}

/// The login limits' answer: 429 with `Retry-After`, in whole seconds (at least 1).
pub fn too_many_attempts(what: &str, wait: Duration) -> AppError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut error = AppError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("too many {what} from this address lately; try again in {seconds} s"),
    );
    error.retry_after_seconds = Some(seconds);
    error
}

/// Exchanges an e-mail and password for an access token and a refresh token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        MalformedJson,
        NotJson,
        (status = 401, description = "Wrong e-mail or password", body = ErrorBody),
        TooLarge,
                (status = 422, description = "The JSON does not have the fields this endpoint needs", body = ErrorBody),
        (
            status = 429,
            description = "Too many failed logins for this account from this address, or too many logins from this address, lately; wait a few seconds",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until this address may try again")),
        ),
        Failed,
        (
            status = 503,
            description = "The server is checking as many passwords as it can at once (`busy`); try again shortly",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")),
        ),
    )
)]
#[tracing::instrument(skip_all, fields(route = "login", client = %client))]
pub async fn login<S: Store>(
    State(state): State<AppState<S>>,
    ClientAddress(client): ClientAddress,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, AppError> {
    let Json(request) = body?;
    // E-mails are stored lowercased; both back ends compare them that way.
    let email = request.email.trim().to_lowercase();
    state
        .logins
        .admit(&email, client, std::time::Instant::now())
        .map_err(|wait| too_many_attempts("failed logins", wait))?;
    // A removed account has no credentials: it gets the wrong-password answer, after the same
    // time, so answers do not tell which accounts exist.
    let found = match state.store.credentials(email.clone()).await {
        Ok(found) => found,
        Err(error) => {
            state.logins.not_tried(client, std::time::Instant::now());
            return Err(error.into());
        }
    };
    let password = request.password;
    let hash = found.as_ref().map(|(_, hash)| hash.clone());
    // Verification is deliberately slow and memory-hungry: a bounded number at once, off the
    // async workers.
    let valid = match state
        .passwords
        .run(move || verify_password(&password, hash.as_deref()))
        .await
    {
        Ok(valid) => valid,
        Err(error) => {
            state.logins.not_tried(client, std::time::Instant::now());
            return Err(error.into());
        }
    };
    let (Some((user, verified_hash)), true) = (found, valid) else {
        state
            .logins
            .failed(&email, client, std::time::Instant::now());
        return Err(AppError::unauthorized("wrong e-mail or password"));
    };
    let now = unix_now();
    let (access_token, refresh_token, issued) = issue(&state.config, now);
    // The store starts the login only if the account is still active with this password: one
    // removed or given a new password while the hash was checked is refused like a wrong one.
    if !state
        .store
        .create_login(user.id, verified_hash, issued, now)
        .await?
    {
        state
            .logins
            .failed(&email, client, std::time::Instant::now());
        return Err(AppError::unauthorized("wrong e-mail or password"));
    }
    state
        .logins
        .succeeded(&email, client, std::time::Instant::now());
    tracing::info!(user = %user.id, "login");
    Ok(Json(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.config.access_ttl.as_secs(),
        user,
    }))
}

/// Spends a refresh token for a new token pair. A refresh token works once; presenting a spent
/// one ends its login.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenResponse),
        MalformedJson,
        NotJson,
        (status = 401, description = "The refresh token is unknown, expired or already used", body = ErrorBody),
        TooLarge,
                (status = 422, description = "The JSON does not have the fields this endpoint needs", body = ErrorBody),
        Failed,
    )
)]
#[tracing::instrument(skip_all, fields(route = "refresh"))]
pub async fn refresh<S: Store>(
    State(state): State<AppState<S>>,
    body: Result<Json<RefreshRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, AppError> {
    let Json(request) = body?;
    let now = unix_now();
    let (access_token, refresh_token, issued) = issue(&state.config, now);
    match state
        .store
        .rotate_refresh(token_hash(request.refresh_token.trim()), issued, now)
        .await?
    {
        Rotation::Rotated(user) => Ok(Json(TokenResponse {
            access_token,
            refresh_token,
            token_type: "Bearer",
            expires_in: state.config.access_ttl.as_secs(),
            user,
        })),
        Rotation::ReuseDetected => {
            tracing::warn!("refresh token reuse; login revoked");
            Err(AppError::unauthorized(
                "this refresh token was already used, so the login was ended for safety; log in again",
            ))
        }
        Rotation::Invalid => Err(AppError::unauthorized(
            "the refresh token is not valid; log in again",
        )),
    }
}

/// The account behind the access token.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The logged-in user", body = User),
        Unauthorized,
        Failed,
    )
)]
pub async fn me(Authenticated(user): Authenticated) -> Json<User> {
    Json(user)
}
