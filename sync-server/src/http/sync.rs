//! The sync protocol over HTTP: push, pull, the first sync's snapshot stream and the poke
//! stream (docs/SYNC.md).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::http::api::AppState;
use crate::http::error::{AppError, ErrorBody, Failed, MalformedJson, NotJson, Unauthorized};
use crate::http::extract::{Authenticated, unix_now};
use crate::rules::paging::MAX_PULL_LIMIT;
use crate::rules::push::{CheckedPush, check_push};
use crate::storage::Store;
use crate::storage::poke::Poke;

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
        MalformedJson,
        NotJson,
        Unauthorized,
        (status = 403, description = "A viewer tried to change something, or the device or a session belongs to another user", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 MiB (after decompression), or has more than 5000 events or 1000 mutations", body = ErrorBody),
                (status = 422, description = "The push is malformed (its fields, or an event from another device or with an invalid number; events that break the session rules are refused one by one in the answer instead), or the client's protocol is newer than the server's (`server_too_old`)", body = ErrorBody),
        (status = 426, description = "The client's protocol (or, for a push, its replica schema) is older than the server supports; update the client", body = ErrorBody),
        Failed,
    )
)]
#[tracing::instrument(skip_all, fields(route = "sync.push", user = %user.id))]
pub async fn push<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    body: Result<Json<rf_core::sync::PushRequest>, JsonRejection>,
) -> Result<Json<rf_core::sync::PushResponse>, AppError> {
    use rf_core::sync::PushResponse;
    let Json(request) = body?;
    negotiated(request.protocol)?;
    let device = request.client_id;
    let CheckedPush {
        batch,
        unknown_kinds,
    } = check_push(user.role, request)?;
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
        Unauthorized,
        (status = 422, description = "The client's protocol is newer than the server's (`server_too_old`)", body = ErrorBody),
        (status = 426, description = "The client's protocol is older than the server supports; update the client", body = ErrorBody),
        Failed,
    )
)]
#[tracing::instrument(skip_all, fields(route = "sync.pull", user = %user.id))]
pub async fn pull<S: Store>(
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
        Unauthorized,
        (status = 422, description = "The client's protocol is newer than the server's (`server_too_old`)", body = ErrorBody),
        (status = 426, description = "The client's protocol is older than the server supports; update the client", body = ErrorBody),
        Failed,
    )
)]
#[tracing::instrument(skip_all, fields(route = "sync.snapshot", user = %user.id))]
pub async fn snapshot<S: Store>(
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
                    records: Vec::new(),
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
        Unauthorized,
        Failed,
    )
)]
#[tracing::instrument(skip_all, fields(route = "sync.stream", user = %user.id))]
pub async fn stream<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
) -> Result<impl axum::response::IntoResponse, AppError> {
    let receiver = state.pokes.subscribe();
    let latest = state.store.team_latest(user.team_id).await?;
    Ok(state.pokes.stream(user.team_id, latest, receiver))
}
