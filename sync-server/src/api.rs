//! The HTTP API under `/api/v1`: health, login, token refresh, and who-am-I.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::trace::TraceLayer;

use crate::auth::{LoginLimiter, new_token, token_hash, verify_password};
use crate::error::AppError;
use crate::flows::{check_mutation, check_session_version};
use crate::poke::{Poke, Pokes};
use crate::store::{IssuedTokens, MAX_PULL_LIMIT, PushBatch, Role, Rotation, Store, User};

/// Largest request body accepted (sync batches are paged well below this).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub login_window: Duration,
    pub login_max_failures: u32,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            login_window: Duration::from_secs(5 * 60),
            login_max_failures: 10,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AppState<S> {
    pub store: S,
    pub config: ApiConfig,
    pub limiter: Arc<LoginLimiter>,
    pub pokes: Pokes,
}

impl<S: Store> AppState<S> {
    pub fn new(store: S, config: ApiConfig) -> AppState<S> {
        let limiter = Arc::new(LoginLimiter::new(
            config.login_window,
            config.login_max_failures,
        ));
        let pokes = Pokes::new();
        store.forward_pokes(pokes.clone());
        AppState {
            store,
            config,
            limiter,
            pokes,
        }
    }
}

/// The whole API. Tests call it over a real socket through [`crate::serve`].
pub fn router<S: Store>(state: AppState<S>) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/auth/login", post(login::<S>))
        .route("/api/v1/auth/refresh", post(refresh::<S>))
        .route("/api/v1/me", get(me))
        .route("/api/v1/sync/push", post(push::<S>))
        .route("/api/v1/sync/pull", get(pull::<S>))
        .route("/api/v1/sync/stream", get(stream::<S>))
        .fallback(not_found)
        // Enforced by the body extractors, so an oversized body gets the usual JSON error.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; the API lives under /api/v1",
    )
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    protocol: u32,
    version: &'static str,
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        protocol: rf_core::sync::PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: User,
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
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

#[tracing::instrument(skip_all, fields(route = "login"))]
async fn login<S: Store>(
    State(state): State<AppState<S>>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, AppError> {
    let Json(request) = body?;
    // E-mails are stored lowercased; both back ends compare them that way.
    let email = request.email.trim().to_lowercase();
    if let Err(seconds) = state.limiter.check(&email) {
        let mut error = AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed logins for this account; try again in {seconds} s"),
        );
        error.retry_after_seconds = Some(seconds);
        return Err(error);
    }
    let found = state.store.credentials(email.clone()).await?;
    let password = request.password;
    let hash = found.as_ref().map(|(_, hash)| hash.clone());
    // Verification is deliberately slow; keep it off the async workers.
    let valid = tokio::task::spawn_blocking(move || verify_password(&password, hash.as_deref()))
        .await
        .map_err(|_| AppError::internal())?;
    let (Some((user, _)), true) = (found, valid) else {
        state.limiter.record_failure(&email);
        return Err(AppError::unauthorized("wrong e-mail or password"));
    };
    state.limiter.record_success(&email);
    let now = unix_now();
    let (access_token, refresh_token, issued) = issue(&state.config, now);
    state.store.create_login(user.id, issued, now).await?;
    tracing::info!(user = %user.id, "login");
    Ok(Json(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.config.access_ttl.as_secs(),
        user,
    }))
}

#[tracing::instrument(skip_all, fields(route = "refresh"))]
async fn refresh<S: Store>(
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

/// The user behind the request's bearer token; rejects the request otherwise.
#[derive(Debug, Clone)]
pub struct Authenticated(pub User);

impl<S: Store> FromRequestParts<AppState<S>> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<S>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                AppError::unauthorized("send the access token as `Authorization: Bearer <token>`")
            })?;
        match state
            .store
            .authenticate(token_hash(token), unix_now())
            .await?
        {
            Some(user) => Ok(Authenticated(user)),
            None => Err(AppError::unauthorized(
                "the access token is not valid or has expired; refresh it or log in again",
            )),
        }
    }
}

async fn me(Authenticated(user): Authenticated) -> Json<User> {
    Json(user)
}

/// Refuses a client whose protocol this server does not speak, saying who must upgrade.
fn negotiated(protocol: u32) -> Result<(), AppError> {
    use rf_core::sync::{Negotiation, negotiate};
    match negotiate(protocol, SUPPORTED_PROTOCOLS) {
        Negotiation::Accepted => Ok(()),
        Negotiation::UpgradeRequired { minimum, client } => Err(AppError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            format!(
                "this client speaks sync protocol {client}, the server needs {minimum} or later; \
                 update ResolutionFlow — your work stays saved on this device until then"
            ),
        )),
        Negotiation::ServerTooOld { maximum, client } => Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "server_too_old",
            format!(
                "this client speaks protocol {client}, the server only up to {maximum}; ask your administrator to update the server"
            ),
        )),
    }
}

/// Protocol versions this server speaks.
pub const SUPPORTED_PROTOCOLS: std::ops::RangeInclusive<u32> = 1..=rf_core::sync::PROTOCOL_VERSION;

/// Most events and mutations one push may carry; clients page larger backlogs.
pub const MAX_PUSH_EVENTS: usize = 5_000;
pub const MAX_PUSH_MUTATIONS: usize = 1_000;

/// Applies a replica's outbox mutations (flow versions, conflict resolutions) in order and stores
/// its session events (each once), then answers what is settled.
#[tracing::instrument(skip_all, fields(route = "sync.push", user = %user.id))]
async fn push<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    body: Result<Json<rf_core::sync::PushRequest>, JsonRejection>,
) -> Result<Json<rf_core::sync::PushResponse>, AppError> {
    use rf_core::sync::PushResponse;
    let Json(request) = body?;
    negotiated(request.protocol)?;
    if user.role == Role::Viewer
        && !(request.events.is_empty()
            && request.mutations.is_empty()
            && request.flow_versions.is_empty())
    {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "viewers can read the team's flows and sessions but not change them",
        ));
    }
    if request.events.len() > MAX_PUSH_EVENTS || request.mutations.len() > MAX_PUSH_MUTATIONS {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "push at most {MAX_PUSH_EVENTS} events and {MAX_PUSH_MUTATIONS} mutations at a time"
            ),
        ));
    }
    for (index, event) in request.events.iter().enumerate() {
        if event.device_id != request.client_id {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!(
                    "event {index} comes from device {}, not from this client",
                    event.device_id
                ),
            ));
        }
        if event.device_seq < 1 || event.session_seq < 0 {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("event {index} has an invalid sequence number"),
            ));
        }
        if let Err(error) = serde_json::from_value::<rf_core::SessionEvent>(event.payload.clone()) {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("event {index} is not a session event: {error}"),
            ));
        }
    }
    // Flow documents ride along only for the sessions in this batch: a version no event of the
    // batch runs is not the client's to store (flows change through put_version).
    let referenced: std::collections::HashSet<rf_core::FlowRef> = request
        .events
        .iter()
        .filter(|event| {
            matches!(
                event
                    .payload
                    .get("type")
                    .and_then(serde_json::Value::as_str),
                Some("started" | "subflow_entered")
            )
        })
        .filter_map(|event| serde_json::from_value(event.payload.get("flow")?.clone()).ok())
        .collect();
    let mut flow_versions = Vec::with_capacity(request.flow_versions.len());
    for (index, version) in request.flow_versions.iter().enumerate() {
        let reference = rf_core::FlowRef {
            flow_id: version.flow_id,
            version: version.version,
        };
        if !referenced.contains(&reference) {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!(
                    "flow version {index} is not run by any session event of this push; send a flow change as a put_version mutation"
                ),
            ));
        }
        flow_versions.push(check_session_version(version).map_err(|reason| {
            AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("flow version {index} cannot be stored: {reason}"),
            )
        })?);
    }
    let mutations = request
        .mutations
        .into_iter()
        .map(|mutation| {
            let checked = check_mutation(&mutation);
            (mutation, checked)
        })
        .collect();
    let batch = PushBatch {
        device_id: request.client_id,
        mutations,
        flow_versions,
        events: request.events,
    };
    let team = user.team_id;
    let settled = state.store.push(user, batch, unix_now()).await?;
    if settled.latest > settled.latest_before {
        state.pokes.send(Poke {
            team,
            latest: settled.latest,
        });
    }
    tracing::info!(
        stored = settled.events_stored,
        acknowledged = settled.events_acknowledged_through,
        mutations = settled.last_mutation_id,
        rejected = settled.rejected.len(),
        conflicts = settled.conflicts,
        "push"
    );
    Ok(Json(PushResponse {
        mutations_settled_through: settled.last_mutation_id,
        rejected: settled.rejected,
        events_acknowledged_through: settled.events_acknowledged_through,
        heads: settled.heads,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    /// The last team sequence number the client has applied (0 for none).
    #[serde(default)]
    pub since: i64,
    /// Most team changes to span; at most [`MAX_PULL_LIMIT`].
    pub limit: Option<i64>,
    /// The client's protocol version.
    pub protocol: Option<u32>,
}

/// One page of the team's changes after `since`, read in one consistent snapshot. Every role
/// of the team may read; nothing of another team is visible.
#[tracing::instrument(skip_all, fields(route = "sync.pull", user = %user.id))]
async fn pull<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    query: Result<Query<PullQuery>, QueryRejection>,
) -> Result<Json<rf_core::sync::PullResponse>, AppError> {
    let Query(query) = query.map_err(|rejection| AppError::bad_request(rejection.body_text()))?;
    if let Some(protocol) = query.protocol {
        negotiated(protocol)?;
    }
    if query.since < 0 {
        return Err(AppError::bad_request(
            "`since` must be 0 or a sequence number",
        ));
    }
    let limit = query.limit.unwrap_or(MAX_PULL_LIMIT);
    if !(1..=MAX_PULL_LIMIT).contains(&limit) {
        return Err(AppError::bad_request(format!(
            "`limit` must be between 1 and {MAX_PULL_LIMIT}"
        )));
    }
    let page = state.store.pull(user, query.since, limit).await?;
    Ok(Json(page))
}

/// Server-sent events telling the team's online replicas to pull (see `poke.rs`). Every role of
/// the team may listen; a poke carries no data of the team.
#[tracing::instrument(skip_all, fields(route = "sync.stream", user = %user.id))]
async fn stream<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
) -> Result<impl axum::response::IntoResponse, AppError> {
    let receiver = state.pokes.subscribe();
    let latest = state.store.team_latest(user.team_id).await?;
    Ok(state.pokes.stream(user.team_id, latest, receiver))
}
