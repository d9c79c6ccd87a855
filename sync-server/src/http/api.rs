//! The HTTP API under `/api/v1`: health, login, token refresh, who-am-I, push, pull and
//! snapshot, and the OpenAPI document of all of them, generated from the handlers below.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::push::PushBatch;
use crate::domain::users::{IssuedTokens, Role, Rotation, User};
use crate::http::error::{AppError, ErrorBody};
use crate::http::limits::{ClientAddress, Limits};
use crate::rules::auth::{
    LoginGuard, LoginLimits, PasswordWork, new_token, token_hash, verify_password,
};
use crate::rules::flows::{check_mutation, check_session_version};
use crate::rules::paging::MAX_PULL_LIMIT;
use crate::storage::Store;
use crate::storage::poke::{Poke, Pokes};

/// Largest request body accepted, counted after decompression (sync batches are paged well
/// below this).
pub const MAX_BODY_BYTES: usize = rf_core::sync::MAX_REQUEST_BYTES;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How failed logins are slowed down (`auth::LoginLimits`).
    pub login: LoginLimits,
    /// Connections, timeouts, head sizes, password work, trusted proxies (`limits.rs`).
    pub limits: Limits,
    /// Where session attachments are kept: a directory or an S3-compatible bucket
    /// (`storage/blobs.rs`).
    pub attachments: crate::storage::blobs::Attachments,
    /// Largest request body, counted after decompression. Below [`MAX_BODY_BYTES`] some items
    /// a replica accepts cannot sync (it splits batches on 413, and withdraws a single
    /// mutation that is still too large); tests lower it to see that happen.
    pub max_body_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            login: LoginLimits::default(),
            limits: Limits::default(),
            attachments: crate::storage::blobs::Attachments::in_directory(
                std::path::PathBuf::from("data").join("attachments"),
            ),
            max_body_bytes: MAX_BODY_BYTES,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AppState<S> {
    pub store: S,
    pub config: ApiConfig,
    pub logins: Arc<LoginGuard>,
    pub passwords: Arc<PasswordWork>,
    pub pokes: Pokes,
    pub attachments: crate::storage::blobs::Attachments,
}

impl<S: Store> AppState<S> {
    pub fn new(store: S, config: ApiConfig) -> AppState<S> {
        let logins = Arc::new(LoginGuard::new(config.login.clone()));
        let passwords = Arc::new(PasswordWork::new(
            config.limits.password_permits,
            config.limits.password_queue,
        ));
        let pokes = Pokes::new();
        store.forward_pokes(pokes.clone());
        let attachments = config.attachments.clone();
        AppState {
            store,
            config,
            logins,
            passwords,
            pokes,
            attachments,
        }
    }
}

/// The parts of the OpenAPI document that no handler states: title, tags, the bearer scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ResolutionFlow sync server",
        description = "Accounts, login and the sync protocol (docs/SYNC.md). Every error has the \
                       body `{\"error\": {\"code\", \"message\"}}`. Besides the statuses each \
                       operation lists, any request may be answered 414 (`uri_too_long`) or 431 \
                       (`headers_too_large`) when its head is over the server's limits, and 503 \
                       (`busy`, with `Retry-After`) when its answer takes longer than the \
                       server's request timeout."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "meta", description = "Health and this document"),
        (name = "auth", description = "Login and token refresh"),
        (name = "sync", description = "Push local changes, pull the team's"),
        (name = "users", description = "Team members: list, add, change and remove accounts"),
        (name = "attachments", description = "Files attached to sessions, named by their SHA-256"),
    )
)]
struct ApiDocument;

/// The name under which handlers ask for a bearer access token.
const BEARER: &str = "bearer";

#[derive(Debug)]
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, document: &mut utoipa::openapi::OpenApi) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description =
            Some("An access token from /api/v1/auth/login or /api/v1/auth/refresh".into());
        document
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// Every route, each registered together with its OpenAPI operation, so the document lists
/// exactly what is served. Add routes here only through `routes!`.
fn documented_routes<S: Store>() -> OpenApiRouter<AppState<S>> {
    OpenApiRouter::with_openapi(ApiDocument::openapi())
        .routes(routes!(health))
        .routes(routes!(openapi_document))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(me))
        .routes(routes!(crate::http::users::change_own_password))
        .routes(routes!(push))
        .routes(routes!(pull))
        .routes(routes!(snapshot))
        .routes(routes!(stream))
        .routes(routes!(
            crate::http::attachments::put_attachment,
            crate::http::attachments::get_attachment
        ))
        .routes(routes!(crate::http::attachments::missing_attachments))
        .routes(routes!(
            crate::http::users::list_users,
            crate::http::users::add_user
        ))
        .routes(routes!(
            crate::http::users::update_user,
            crate::http::users::remove_user
        ))
}

/// The OpenAPI document of the API, as `/api/v1/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes::<crate::SqliteStore>().into_openapi()
}

/// The serialised OpenAPI document, made once when the router is built.
#[derive(Debug, Clone)]
struct OpenApiJson(Arc<str>);

/// The whole API. Tests call it over a real socket through [`crate::serve`].
pub fn router<S: Store>(state: AppState<S>) -> Router {
    let max_body_bytes = state.config.max_body_bytes;
    let limits = Arc::new(state.config.limits.clone());
    let (routes, document) = documented_routes::<S>().split_for_parts();
    let document = match document.to_json() {
        Ok(json) => json,
        Err(error) => {
            // Serialising plain structs of strings and maps does not fail; if it ever did,
            // the route answers 500 rather than the server refusing to start.
            tracing::error!(%error, "cannot serialise the OpenAPI document");
            String::new()
        }
    };
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(OpenApiJson(document.into())))
        // Enforced by the body extractors on the body as they read it, which is the
        // decompressed body: a small gzip bomb stops at the limit with the usual JSON 413.
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn(refuse_unknown_content_encoding))
        // Sync pages are JSON and compress many times over; gzip or br as the client accepts.
        .layer(CompressionLayer::new())
        // First of all: head sizes, the client address, body and answer time limits.
        .layer(axum::middleware::from_fn_with_state(
            limits,
            crate::http::limits::bound_requests,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Refuses a body in an encoding the server cannot read before the decompression layer does,
/// because that layer's refusal has no body and every error here has the JSON shape.
async fn refuse_unknown_content_encoding(request: Request, next: Next) -> Response {
    match request.headers().get(header::CONTENT_ENCODING) {
        Some(encoding) if !matches!(encoding.as_bytes(), b"gzip" | b"identity") => {
            let mut response = AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body uncompressed or with `Content-Encoding: gzip`",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
            response
        }
        _ => next.run(request).await,
    }
}

async fn not_found() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; the API lives under /api/v1",
    )
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /api/v1/openapi.json",
    )
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "This document", body = Object, content_type = "application/json"),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
    )
)]
async fn openapi_document(Extension(OpenApiJson(document)): Extension<OpenApiJson>) -> Response {
    if document.is_empty() {
        return AppError::internal().into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.to_string(),
    )
        .into_response()
}

#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// Always `ok` when the server answers.
    status: &'static str,
    /// The newest sync protocol version the server speaks.
    protocol: u32,
    /// The server's version.
    version: &'static str,
}

/// Liveness and the protocol version; needs no login.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "meta",
    responses((status = 200, description = "The server is up", body = Health))
)]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        protocol: rf_core::sync::PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION"),
    })
}

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

pub(crate) fn unix_now() -> i64 {
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
        (status = 400, description = "The body is not JSON, or not gzip as its `Content-Encoding` says", body = ErrorBody),
        (status = 401, description = "Wrong e-mail or password", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 MiB (after decompression)", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`, or in an encoding other than gzip", body = ErrorBody),
        (status = 422, description = "The JSON does not have the fields this endpoint needs", body = ErrorBody),
        (
            status = 429,
            description = "Too many failed logins for this account from this address, or too many logins from this address, lately; wait a few seconds",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until this address may try again")),
        ),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
        (
            status = 503,
            description = "The server is checking as many passwords as it can at once (`busy`); try again shortly",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")),
        ),
    )
)]
#[tracing::instrument(skip_all, fields(route = "login", client = %client))]
async fn login<S: Store>(
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
        (status = 400, description = "The body is not JSON, or not gzip as its `Content-Encoding` says", body = ErrorBody),
        (status = 401, description = "The refresh token is unknown, expired or already used", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 MiB (after decompression)", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`, or in an encoding other than gzip", body = ErrorBody),
        (status = 422, description = "The JSON does not have the fields this endpoint needs", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
    )
)]
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

/// The token of an `Authorization: Bearer <token>` header. The scheme name is
/// case-insensitive (RFC 9110, section 11.1), so `bearer` and `BEARER` work too.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
        let token = bearer_token(&parts.headers).ok_or_else(|| {
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

/// The account behind the access token.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The logged-in user", body = User),
        (status = 401, description = "No bearer token, or one that is not valid or has expired", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
    )
)]
async fn me(Authenticated(user): Authenticated) -> Json<User> {
    Json(user)
}

/// The oldest replica database schema whose pushes this server understands: schema 7 names
/// flow versions by content (`VersionId`) in every event and mutation it sends.
pub const MIN_REPLICA_SCHEMA: i64 = 7;

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
#[utoipa::path(
    post,
    path = "/api/v1/sync/push",
    tag = "sync",
    security(("bearer" = [])),
    request_body = rf_core::sync::PushRequest,
    responses(
        (status = 200, description = "What the server now holds of this client's work", body = rf_core::sync::PushResponse),
        (status = 400, description = "The body is not JSON, or not gzip as its `Content-Encoding` says", body = ErrorBody),
        (status = 401, description = "No bearer token, or one that is not valid or has expired", body = ErrorBody),
        (status = 403, description = "A viewer tried to change something, or the device or a session belongs to another user", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 MiB (after decompression), or has more than 5000 events or 1000 mutations", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`, or in an encoding other than gzip", body = ErrorBody),
        (status = 422, description = "The push is malformed (its fields, or an event from another device or with an invalid number; events that break the session rules are refused one by one in the answer instead), or the client's protocol is newer than the server's (`server_too_old`)", body = ErrorBody),
        (status = 426, description = "The client's protocol (or, for a push, its replica schema) is older than the server supports; update the client", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(route = "sync.push", user = %user.id))]
async fn push<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    body: Result<Json<rf_core::sync::PushRequest>, JsonRejection>,
) -> Result<Json<rf_core::sync::PushResponse>, AppError> {
    use rf_core::sync::PushResponse;
    let Json(request) = body?;
    negotiated(request.protocol)?;
    if request.schema < MIN_REPLICA_SCHEMA {
        return Err(AppError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            format!(
                "this replica's database is schema {}, and the server needs {MIN_REPLICA_SCHEMA} or later (flow versions named by content); \
                 update ResolutionFlow — your work stays saved on this device until then",
                request.schema
            ),
        ));
    }
    // Viewers keep their own pins in step across their devices; they change nothing else.
    let only_own_settings = request
        .mutations
        .iter()
        .all(|mutation| mutation.entity == rf_core::sync::PIN_ENTITY);
    if user.role == Role::Viewer
        && !(request.events.is_empty() && only_own_settings && request.flow_versions.is_empty())
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
    }
    // Each event is read with rf-core's own types and limits; one that breaks them is refused
    // with its reason (kept aside, never served to the team) while the rest are stored.
    // Flow documents ride along only for the sessions in this batch: a version no accepted
    // event runs is not the client's to store (flows change through put_version).
    let mut events = Vec::with_capacity(request.events.len());
    let mut refused_events = Vec::new();
    let mut referenced = std::collections::HashSet::new();
    let mut unknown_kinds = Vec::new();
    for event in request.events {
        match rf_core::received::read_event(&event.payload) {
            Ok(parsed) => {
                if let rf_core::EventKind::Started { flow, .. }
                | rf_core::EventKind::SubflowEntered { flow, .. } = parsed.kind
                {
                    referenced.insert(flow);
                }
                events.push(event);
            }
            // A kind this server does not know yet (a newer client): neither stored nor
            // refused. It stays queued on its device, so the prefix stops before it, until the
            // server is updated; the answer says so.
            Err(rf_core::received::EventDefect::NewerKind(kind)) => {
                if !unknown_kinds.contains(&kind) {
                    unknown_kinds.push(kind);
                }
            }
            Err(defect) => refused_events.push((event, defect.to_string())),
        }
    }
    if !unknown_kinds.is_empty() {
        tracing::warn!(kinds = ?unknown_kinds, "a client sent event kinds this server does not know; update the server");
    }
    // A document no accepted event runs, or one that is not valid, is not stored (flows change
    // through put_version); it is skipped rather than refusing the push, so a refused event's
    // document cannot hold back the rest of the batch.
    let mut flow_versions = Vec::with_capacity(request.flow_versions.len());
    for version in &request.flow_versions {
        let reference = rf_core::FlowRef {
            flow_id: version.flow_id,
            version: version.version,
        };
        if !referenced.contains(&reference) {
            tracing::warn!(flow = %version.flow_id, version = %version.version.short(), "a pushed flow document no accepted event runs; not stored");
            continue;
        }
        match check_session_version(version) {
            Ok(checked) => flow_versions.push(checked),
            Err(reason) => {
                tracing::warn!(flow = %version.flow_id, version = %version.version.short(), %reason, "a pushed flow document is not valid; not stored");
            }
        }
    }
    let mutations = request
        .mutations
        .into_iter()
        .map(|mutation| {
            let checked = check_mutation(&mutation);
            (mutation, checked)
        })
        .collect();
    let device = request.client_id;
    let batch = PushBatch {
        device_id: request.client_id,
        mutations,
        flow_versions,
        events,
        refused_events,
    };
    let team = user.team_id;
    let settled = state.store.push(user, batch, unix_now()).await?.answer();
    if let Some(clash) = settled.identity_clash {
        tracing::warn!(device = %device, ?clash, "a second copy of a device pushed numbers the first already used; it is told to take a new identity");
    }
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
        refused_events: settled.refused_events,
        unknown_event_kinds: unknown_kinds,
        identity_clash: settled.identity_clash,
        epoch: Some(settled.epoch),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// The last team sequence number the client has applied (0 for none).
    #[serde(default)]
    #[param(minimum = 0)]
    pub since: i64,
    /// Most team changes to span, 1 to 5000 (the default).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<i64>,
    /// The client's protocol version.
    pub protocol: Option<u32>,
}

/// One page of the team's changes after `since`, read in one consistent snapshot. Every role
/// of the team may read; nothing of another team is visible.
#[utoipa::path(
    get,
    path = "/api/v1/sync/pull",
    tag = "sync",
    security(("bearer" = [])),
    params(PullQuery),
    responses(
        (status = 200, description = "One page of the team's changes; ask again from `until` while it is below `latest`", body = rf_core::sync::PullResponse),
        (status = 400, description = "A query parameter is malformed, unknown or out of range", body = ErrorBody),
        (status = 401, description = "No bearer token, or one that is not valid or has expired", body = ErrorBody),
        (status = 422, description = "The client's protocol is newer than the server's (`server_too_old`)", body = ErrorBody),
        (status = 426, description = "The client's protocol is older than the server supports; update the client", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(route = "sync.pull", user = %user.id))]
async fn pull<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    query: Result<Query<PullQuery>, QueryRejection>,
) -> Result<Json<rf_core::sync::PullResponse>, AppError> {
    let (since, limit) = pull_range(query)?;
    let page = state.store.pull(user, since, limit).await?;
    Ok(Json(page))
}

/// Checks a pull or snapshot query: `(since, limit)`. A malformed request is a 400 whoever
/// sends it; only a well-formed one is negotiated.
fn pull_range(query: Result<Query<PullQuery>, QueryRejection>) -> Result<(i64, i64), AppError> {
    let Query(query) = query.map_err(|rejection| AppError::bad_request(rejection.body_text()))?;
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
    if let Some(protocol) = query.protocol {
        negotiated(protocol)?;
    }
    Ok((query.since, limit))
}

/// The media type of a snapshot: one JSON document per line.
pub const NDJSON: &str = "application/x-ndjson";

/// The team's state as of this request (`as_of`, its latest change number), for a replica's
/// first sync: every change after `since` up to `as_of`, streamed in one answer as pull pages,
/// one JSON `PullResponse` per line, in order, the last one ending at `as_of`.
///
/// Each page is read in its own short consistent read, exactly as `pull` reads it (the
/// embedded store has one connection, so one long read would stall every other request), and
/// is written while the client applies the one before: no round trip per page. A replica
/// applies each page as it arrives, atomically, so a stream cut short loses nothing: it pages
/// on from the last page it applied with `pull`, and pulls the changes made after `as_of` the
/// same way.
#[utoipa::path(
    get,
    path = "/api/v1/sync/snapshot",
    tag = "sync",
    security(("bearer" = [])),
    params(PullQuery),
    responses(
        (
            status = 200,
            description = "Newline-delimited JSON: one pull page per line (the schema is one line's), from `since` to the team's latest change when asked, each page spanning at most `limit` changes; the last line's `until` is that change number. Continue with `/api/v1/sync/pull` from the last `until` applied",
            content_type = "application/x-ndjson",
            body = rf_core::sync::PullResponse
        ),
        (status = 400, description = "A query parameter is malformed, unknown or out of range", body = ErrorBody),
        (status = 401, description = "No bearer token, or one that is not valid or has expired", body = ErrorBody),
        (status = 422, description = "The client's protocol is newer than the server's (`server_too_old`)", body = ErrorBody),
        (status = 426, description = "The client's protocol is older than the server supports; update the client", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(route = "sync.snapshot", user = %user.id))]
async fn snapshot<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    query: Result<Query<PullQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    use tracing::Instrument;
    let (since, limit) = pull_range(query)?;
    let as_of = state.store.team_latest(user.team_id).await?;
    let epoch = state.store.epoch().await?;
    let store = state.store.clone();
    let span = tracing::Span::current();
    // State: where the next page starts, or `None` once the page ending at `as_of` is sent.
    let pages = futures_util::stream::unfold(Some(since), move |next| {
        let (store, user, epoch) = (store.clone(), user.clone(), epoch.clone());
        async move {
            let since = next?;
            let page = if since >= as_of {
                // Nothing (more) up to `as_of`: one empty page says so.
                Ok(rf_core::sync::PullResponse {
                    protocol: rf_core::sync::PROTOCOL_VERSION,
                    since,
                    until: since,
                    latest: as_of,
                    versions: Vec::new(),
                    flows: Vec::new(),
                    events: Vec::new(),
                    conflicts: Vec::new(),
                    pins: Vec::new(),
                    epoch: Some(epoch),
                })
            } else {
                store.pull(user, since, limit.min(as_of - since)).await
            };
            let line = page.map_err(|error| error.to_string()).and_then(|page| {
                let mut line = serde_json::to_vec(&page).map_err(|error| error.to_string())?;
                line.push(b'\n');
                Ok((line, page.until))
            });
            match line {
                Ok((line, until)) => {
                    let next = (until < as_of).then_some(until);
                    Some((Ok(axum::body::Bytes::from(line)), next))
                }
                Err(message) => {
                    // Ends the answer without its last line: the client sees a cut stream and
                    // pages on with `pull`, losing nothing.
                    tracing::error!(%message, since, as_of, "snapshot page failed; stream cut");
                    Some((Err(std::io::Error::other(message)), None))
                }
            }
        }
        .instrument(span.clone())
    });
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON))],
        // Fused: `Unfold` panics when polled after its end, which the body machinery may do.
        axum::body::Body::from_stream(futures_util::StreamExt::fuse(pages)),
    )
        .into_response())
}

/// Server-sent events telling the team's online replicas to pull (see `poke.rs`). Every role of
/// the team may listen; a poke carries no data of the team.
#[utoipa::path(
    get,
    path = "/api/v1/sync/stream",
    tag = "sync",
    security(("bearer" = [])),
    responses(
        (
            status = 200,
            description = "An endless stream of server-sent events: `ready` (data `{\"latest\": N}`, the team's latest change number) once, then `poke` (data `{\"latest\": N}`, or `{\"latest\": null}` when some were missed) after each change of the team; a comment every 15 s keeps it open",
            content_type = "text/event-stream",
            body = String
        ),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(route = "sync.stream", user = %user.id))]
async fn stream<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
) -> Result<impl axum::response::IntoResponse, AppError> {
    let receiver = state.pokes.subscribe();
    let latest = state.store.team_latest(user.team_id).await?;
    Ok(state.pokes.stream(user.team_id, latest, receiver))
}
