//! The HTTP API under `/api/v1`: its configuration and state, the router with every route
//! and its OpenAPI operation (handlers by resource: `login`, `sync`, `users`, `attachments`;
//! health and the document itself here).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde::Serialize;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{AppError, Failed};
use crate::http::limits::Limits;
use crate::rules::auth::{LoginGuard, LoginLimits, PasswordWork};
use crate::storage::Store;
use crate::storage::poke::Pokes;

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
    /// ConnectWise through the server: the client id, the secrets keys, retries.
    pub psa: PsaSettings,
    /// FlowPilot's model: Anthropic's address and key, the models, the `max_tokens` cap.
    pub ai: crate::vendors::anthropic::AiSettings,
}

/// How the server reaches a team's ConnectWise.
#[derive(Debug, Clone)]
pub struct PsaSettings {
    /// The integration's client id (from ConnectWise's developer portal), sent on every call
    /// of a team that gives none of its own.
    pub client_id: Option<String>,
    /// The keys team secrets are sealed with; without them no connection is stored.
    pub keys: Option<Arc<crate::vendors::secrets::SecretsKeys>>,
    /// Whether upstream addresses may be this machine (plain HTTP then): local stand-ins and
    /// tests only.
    pub allow_loopback: bool,
    pub retry: crate::vendors::connectwise::RetryPolicy,
    /// The longest one call to a vendor may take.
    pub timeout: Duration,
    /// How long a server may take to post a note before another attempt may take the post
    /// over (after a server stopped half-way); longer than any post takes.
    pub post_lease: Duration,
}

impl Default for PsaSettings {
    fn default() -> PsaSettings {
        PsaSettings {
            client_id: None,
            keys: None,
            allow_loopback: false,
            retry: crate::vendors::connectwise::RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            post_lease: Duration::from_secs(600),
        }
    }
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
            psa: PsaSettings::default(),
            ai: crate::vendors::anthropic::AiSettings::default(),
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
    /// The HTTP client for the vendors' APIs: no redirects followed (an answer cannot send
    /// the team's keys elsewhere), bounded connect and total times.
    pub vendors: reqwest::Client,
}

/// The client the server calls vendors with.
fn vendor_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .user_agent(concat!(
            "ResolutionFlow-sync-server/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .unwrap_or_else(|error| {
            // Only a TLS back end that cannot start fails here; calls will then fail, saying so.
            tracing::error!(%error, "cannot set up the HTTP client for vendors");
            reqwest::Client::new()
        })
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
        let vendors = vendor_client(config.psa.timeout);
        AppState {
            vendors,
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
        (name = "ai", description = "FlowPilot: next-step suggestions and ticket summaries from the team's sessions, redacted first"),
        (name = "psa", description = "The team's ConnectWise Manage through the server: its connection, tickets, members"),
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
        .routes(routes!(crate::http::login::login))
        .routes(routes!(crate::http::login::refresh))
        .routes(routes!(crate::http::login::me))
        .routes(routes!(crate::http::users::change_own_password))
        .routes(routes!(crate::http::users::team_members))
        .routes(routes!(crate::http::sync::push))
        .routes(routes!(crate::http::sync::pull))
        .routes(routes!(crate::http::sync::snapshot))
        .routes(routes!(crate::http::sync::stream))
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
        .routes(routes!(
            crate::http::psa::connect,
            crate::http::psa::show_connection,
            crate::http::psa::disconnect
        ))
        .routes(routes!(crate::http::psa::ticket))
        .routes(routes!(crate::http::psa::search_tickets))
        .routes(routes!(crate::http::psa::members))
        .routes(routes!(crate::http::psa::map_member))
        .routes(routes!(crate::http::psa::post_note))
        .routes(routes!(crate::http::ai::suggest))
        .routes(routes!(crate::http::ai::summarize))
        .routes(routes!(crate::http::ai::usage))
        .routes(routes!(crate::http::ai::set_cap))
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
        Failed,
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
