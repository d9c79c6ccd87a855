//! The team's ConnectWise Manage through the server: a team admin stores the connection (its
//! keys sealed at rest, checked against ConnectWise before they are kept), and the team looks
//! up and searches tickets and lists members. The keys never leave the server: no answer
//! carries them, and no log line.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::domain::psa::{
    Claimed, PostClaim, PostRow, PostSettle, PostState, PsaConnection, PsaKeys, StoredPsaConnection,
};
use crate::domain::users::{Role, User};
use crate::http::api::AppState;
use crate::http::error::{
    AppError, ErrorBody, Failed, MalformedJson, NotJson, TooLarge, Unauthorized,
};
use crate::http::extract::{Authenticated, unix_now};
use crate::rules::psa::{
    MAX_NOTE_CHARS, ONLY_ADMINS_CONNECT, checked_credentials, checked_part, key_hint, marker,
};
use crate::storage::Store;
use crate::vendors::connectwise::{ConnectWise, PsaError, TicketQuery, api_base, discover};
use crate::vendors::secrets::{SecretsError, SecretsKeys};
use rf_core::psa::{
    MappedMember, MemberMapping, PsaConnectRequest, PsaConnectionView, PsaPostOutcome,
    PsaPostRequest, SystemInfo, TicketSummary,
};

/// What every call that reaches the team's ConnectWise may answer besides its own statuses,
/// for the OpenAPI annotations.
#[derive(Debug, utoipa::IntoResponses)]
pub enum PsaFailures {
    #[response(
        status = 409,
        description = "The team is not connected (`psa_not_connected`)"
    )]
    NotConnected(ErrorBody),
    #[response(status = 422, description = "The stored connection lacks a client id")]
    NoClientId(ErrorBody),
    #[response(
        status = 502,
        description = "ConnectWise refused the team's keys or the request, or answered nonsense (`psa_credentials_refused`, `psa_forbidden`, `psa_refused`, `psa_bad_answer`)"
    )]
    Refused(ErrorBody),
    #[response(
        status = 503,
        description = "ConnectWise cannot be reached or is limiting requests (`psa_unavailable`, `psa_busy`), or the server cannot open the team's keys",
        headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))
    )]
    Unavailable(ErrorBody),
}

/// The view of a stored connection: never its keys.
fn view(stored: &StoredPsaConnection, checked: Option<SystemInfo>) -> PsaConnectionView {
    PsaConnectionView {
        api_url: stored.api_url.clone(),
        company_id: stored.company_id.clone(),
        client_id: stored.client_id.clone(),
        public_key_hint: stored.public_key_hint.clone(),
        updated_at: rfc3339(stored.updated_at),
        updated_by: stored.updated_by,
        checked,
    }
}

fn rfc3339(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// How many tickets a search answers at most.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchLimit {
    /// 1 to 100; 25 when left out.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

fn not_connected() -> AppError {
    AppError::new(
        StatusCode::CONFLICT,
        "psa_not_connected",
        "this team is not connected to ConnectWise; a team admin connects it with `rf psa connect`",
    )
}

impl From<PsaError> for AppError {
    fn from(error: PsaError) -> AppError {
        let message = error.to_string();
        match error {
            PsaError::BadAddress(_) | PsaError::UnknownCompany(_) => {
                AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
            }
            PsaError::NotFound(_) => AppError::new(StatusCode::NOT_FOUND, "not_found", message),
            PsaError::CredentialsRefused => {
                AppError::new(StatusCode::BAD_GATEWAY, "psa_credentials_refused", message)
            }
            PsaError::Forbidden { .. } => {
                AppError::new(StatusCode::BAD_GATEWAY, "psa_forbidden", message)
            }
            PsaError::Refused { .. } => {
                AppError::new(StatusCode::BAD_GATEWAY, "psa_refused", message)
            }
            PsaError::BadAnswer(_) => {
                AppError::new(StatusCode::BAD_GATEWAY, "psa_bad_answer", message)
            }
            PsaError::Busy { retry_after } => {
                AppError::unavailable("psa_busy", message, retry_after)
            }
            PsaError::Unavailable(_) | PsaError::Ambiguous(_) => {
                AppError::unavailable("psa_unavailable", message, 30)
            }
        }
    }
}

impl From<SecretsError> for AppError {
    fn from(error: SecretsError) -> AppError {
        tracing::error!(%error, "a team secret could not be opened");
        match error {
            SecretsError::Store(error) => error.into(),
            other => AppError::unavailable("secrets_unreadable", other.to_string(), 60),
        }
    }
}

/// The server's secrets keys, or why there are none.
fn keys<S: Store>(state: &AppState<S>) -> Result<&SecretsKeys, AppError> {
    state.config.psa.keys.as_deref().ok_or_else(|| {
        AppError::unavailable(
            "secrets_key_missing",
            "this server keeps no team secrets: its administrator must start it with --secrets-key-file",
            60,
        )
    })
}

/// The caller's team's connection with its keys opened.
async fn connection<S: Store>(state: &AppState<S>, user: &User) -> Result<PsaConnection, AppError> {
    let stored = state
        .store
        .psa_connection(user.team_id)
        .await?
        .ok_or_else(not_connected)?;
    let opened = keys(state)?.open(user.team_id, &stored.sealed_keys)?;
    let keys: PsaKeys = serde_json::from_slice(&opened)
        .map_err(|_| AppError::from(SecretsError::Damaged(stored.sealed_keys.key_id.clone())))?;
    let client_id = stored
        .client_id
        .clone()
        .or_else(|| state.config.psa.client_id.clone())
        .ok_or_else(missing_client_id)?;
    Ok(PsaConnection {
        api_url: stored.api_url,
        company_id: stored.company_id,
        client_id,
        keys,
    })
}

fn missing_client_id() -> AppError {
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        "ConnectWise needs the integration's client id: give the team's own (--client-id), or the server's administrator sets RF_CONNECTWISE_CLIENT_ID",
    )
}

fn client<'a, S: Store>(
    state: &'a AppState<S>,
    connection: &PsaConnection,
) -> Result<ConnectWise<'a>, AppError> {
    Ok(ConnectWise::new(
        &state.vendors,
        connection,
        &state.config.psa.retry,
        state.config.psa.allow_loopback,
    )?)
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

/// Stores the team's ConnectWise connection, once ConnectWise has accepted it.
#[utoipa::path(
    put,
    path = "/api/v1/psa/connection",
    operation_id = "psa_connect",
    tag = "psa",
    security(("bearer" = [])),
    request_body = PsaConnectRequest,
    responses(
        (status = 200, description = "Stored; ConnectWise answered with the keys given", body = PsaConnectionView),
        MalformedJson,
        Unauthorized,
        (status = 403, description = "Only team admins connect the team", body = ErrorBody),
        TooLarge,
        NotJson,
        (status = 422, description = "A missing or malformed part, an address that is not https, an unknown company, or keys ConnectWise refused (`invalid`, `psa_check_failed`)", body = ErrorBody),
        Failed,
        (status = 503, description = "ConnectWise cannot be reached or is limiting requests (`psa_unavailable`, `psa_busy`), or the server keeps no secrets (`secrets_key_missing`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
#[tracing::instrument(skip_all, fields(route = "psa.connect", user = %user.id))]
pub async fn connect<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    body: Result<Json<PsaConnectRequest>, JsonRejection>,
) -> Result<Json<PsaConnectionView>, AppError> {
    let Json(request) = body?;
    if !matches!(user.role, Role::TeamAdmin | Role::SuperAdmin) {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            ONLY_ADMINS_CONNECT,
        ));
    }
    let (company_id, keys_given) = checked_credentials(
        &request.company_id,
        &request.public_key,
        &request.private_key,
    )
    .map_err(invalid)?;
    let team_client_id = request
        .client_id
        .as_deref()
        .map(|id| checked_part("client id", id, false))
        .transpose()
        .map_err(invalid)?;
    let client_id = team_client_id
        .clone()
        .or_else(|| state.config.psa.client_id.clone())
        .ok_or_else(missing_client_id)?;
    let sealing = keys(&state)?;
    let allow_loopback = state.config.psa.allow_loopback;
    let api_url = match (request.api_url.as_deref(), request.site.as_deref()) {
        (Some(url), None) => api_base(url, allow_loopback)?,
        (None, Some(site)) => discover(&state.vendors, site, &company_id, allow_loopback)
            .await
            .map_err(checked_failure)?,
        _ => return Err(invalid("give either `api_url` or `site`, not both")),
    };
    let connection = PsaConnection {
        api_url: api_url.to_string(),
        company_id: company_id.clone(),
        client_id,
        keys: keys_given,
    };
    let info = client(&state, &connection)?
        .system_info()
        .await
        .map_err(checked_failure)?;
    let plaintext = serde_json::to_vec(&connection.keys).map_err(|_| AppError::internal())?;
    let stored = StoredPsaConnection {
        team_id: user.team_id,
        api_url: connection.api_url,
        company_id,
        client_id: team_client_id,
        sealed_keys: sealing.seal(user.team_id, &plaintext),
        public_key_hint: key_hint(&connection.keys.public_key),
        updated_at: unix_now(),
        updated_by: user.id,
    };
    state.store.put_psa_connection(stored.clone()).await?;
    tracing::info!(team = %user.team_id, api = %stored.api_url, "ConnectWise connection stored");
    Ok(Json(view(&stored, Some(info))))
}

/// A check of a connection that failed: what the admin gave is wrong (422), unless
/// ConnectWise could not be asked just now (503).
fn checked_failure(error: PsaError) -> AppError {
    match error {
        PsaError::Busy { .. } | PsaError::Unavailable(_) | PsaError::Ambiguous(_) => error.into(),
        PsaError::BadAddress(_) | PsaError::UnknownCompany(_) => error.into(),
        other => AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "psa_check_failed",
            format!("the connection was not stored: {other}"),
        ),
    }
}

/// The team's ConnectWise connection, without its keys.
#[utoipa::path(
    get,
    path = "/api/v1/psa/connection",
    tag = "psa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The team's connection", body = PsaConnectionView),
        Unauthorized,
        (status = 409, description = "The team is not connected (`psa_not_connected`)", body = ErrorBody),
        Failed,
    )
)]
#[tracing::instrument(skip_all, fields(route = "psa.connection", user = %user.id))]
pub async fn show_connection<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
) -> Result<Json<PsaConnectionView>, AppError> {
    let stored = state
        .store
        .psa_connection(user.team_id)
        .await?
        .ok_or_else(not_connected)?;
    Ok(Json(view(&stored, None)))
}

/// Forgets the team's ConnectWise connection and its keys.
#[utoipa::path(
    delete,
    path = "/api/v1/psa/connection",
    tag = "psa",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Forgotten"),
        Unauthorized,
        (status = 403, description = "Only team admins disconnect the team", body = ErrorBody),
        (status = 409, description = "The team is not connected (`psa_not_connected`)", body = ErrorBody),
        Failed,
    )
)]
#[tracing::instrument(skip_all, fields(route = "psa.disconnect", user = %user.id))]
pub async fn disconnect<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
) -> Result<StatusCode, AppError> {
    if !matches!(user.role, Role::TeamAdmin | Role::SuperAdmin) {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            ONLY_ADMINS_CONNECT,
        ));
    }
    if !state.store.remove_psa_connection(user.team_id).await? {
        return Err(not_connected());
    }
    tracing::info!(team = %user.team_id, "ConnectWise connection forgotten");
    Ok(StatusCode::NO_CONTENT)
}

/// A ticket: what a session is prefilled with.
#[utoipa::path(
    get,
    path = "/api/v1/psa/tickets/{id}",
    tag = "psa",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket number", minimum = 1)),
    responses(
        (status = 200, description = "The ticket", body = TicketSummary),
        (status = 400, description = "The ticket number is not a positive whole number", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "ConnectWise has no such ticket, or the API member cannot see it", body = ErrorBody),
        Failed,
        PsaFailures,
    )
)]
#[tracing::instrument(skip_all, fields(route = "psa.ticket", user = %user.id))]
pub async fn ticket<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<TicketSummary>, AppError> {
    let Path(id) = id?;
    if id < 1 {
        return Err(AppError::bad_request(
            "a ticket number is a positive whole number",
        ));
    }
    let connection = connection(&state, &user).await?;
    Ok(Json(client(&state, &connection)?.ticket(id).await?))
}

/// Tickets matching a search, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/psa/tickets",
    tag = "psa",
    security(("bearer" = [])),
    params(TicketQuery, SearchLimit),
    responses(
        (status = 200, description = "The tickets found, newest first", body = Vec<TicketSummary>),
        (status = 400, description = "A malformed query", body = ErrorBody),
        Unauthorized,
        Failed,
        PsaFailures,
    )
)]
#[tracing::instrument(skip_all, fields(route = "psa.search", user = %user.id))]
pub async fn search_tickets<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    query: Result<Query<TicketQuery>, QueryRejection>,
    limit: Result<Query<SearchLimit>, QueryRejection>,
) -> Result<Json<Vec<TicketSummary>>, AppError> {
    let Query(query) = query.map_err(|rejection| AppError::bad_request(rejection.body_text()))?;
    let Query(limit) = limit.map_err(|rejection| AppError::bad_request(rejection.body_text()))?;
    let limit = limit.limit.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return Err(AppError::bad_request("`limit` must be between 1 and 100"));
    }
    let connection = connection(&state, &user).await?;
    Ok(Json(
        client(&state, &connection)?
            .search_tickets(&query, limit)
            .await?,
    ))
}

/// ConnectWise's active members, each with the team account it maps to by e-mail.
#[utoipa::path(
    get,
    path = "/api/v1/psa/members",
    tag = "psa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The members, by identifier", body = Vec<MappedMember>),
        Unauthorized,
        Failed,
        PsaFailures,
    )
)]
#[tracing::instrument(skip_all, fields(route = "psa.members", user = %user.id))]
pub async fn members<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
) -> Result<Json<Vec<MappedMember>>, AppError> {
    let connection = connection(&state, &user).await?;
    let members = client(&state, &connection)?.members().await?;
    let team: Vec<User> = state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|account| account.team_id == user.team_id)
        .collect();
    let overrides = state.store.member_overrides(user.team_id).await?;
    // An account the team mapped by hand is not also matched by e-mail.
    let mapped_by_hand = |account: &User| overrides.iter().any(|(id, _)| *id == account.id);
    Ok(Json(
        members
            .into_iter()
            .map(|member| {
                let by_hand = overrides
                    .iter()
                    .find(|(_, identifier)| identifier.eq_ignore_ascii_case(&member.identifier))
                    .and_then(|(id, _)| team.iter().find(|account| account.id == *id));
                let account = by_hand.or_else(|| {
                    member.email.as_deref().and_then(|email| {
                        team.iter().find(|account| {
                            !mapped_by_hand(account)
                                && account.email.eq_ignore_ascii_case(email.trim())
                        })
                    })
                });
                MappedMember {
                    user_id: account.map(|account| account.id),
                    user_email: account.map(|account| account.email.clone()),
                    member,
                }
            })
            .collect(),
    ))
}

/// A post's outcome as stored.
fn outcome(row: &PostRow, request: &PsaPostRequest) -> PsaPostOutcome {
    let status = request.status.as_deref();
    PsaPostOutcome {
        key: row.key,
        ticket_id: row.ticket_id,
        note_id: row.note_id.unwrap_or_default(),
        posted_at: rfc3339(row.posted_at.unwrap_or(row.updated_at)),
        status_set: status.filter(|_| row.status_done).map(str::to_owned),
        status_error: status.filter(|_| !row.status_done).and(row.error.clone()),
        time_entry_id: row.time_entry_id,
        time_error: request
            .time
            .as_ref()
            .filter(|_| !row.time_done)
            .and(row.error.clone()),
    }
}

/// A time span as ConnectWise takes it: RFC 3339 in UTC to the second, the end after the
/// start, at most a day long.
fn checked_time(time: &rf_core::psa::PostTime) -> Result<rf_core::psa::PostTime, AppError> {
    use time::format_description::well_known::Rfc3339;
    let read = |text: &str| {
        time::OffsetDateTime::parse(text.trim(), &Rfc3339)
            .map_err(|_| invalid(format!("{text:?} is not an RFC 3339 time")))
    };
    let (start, end) = (read(&time.start)?, read(&time.end)?);
    if end < start || end - start > time::Duration::days(1) {
        return Err(invalid(
            "a time entry ends after it starts and lasts at most a day",
        ));
    }
    let write = |at: time::OffsetDateTime| {
        at.to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .ok()
            .and_then(|at| at.format(&Rfc3339).ok())
            .unwrap_or_default()
    };
    Ok(rf_core::psa::PostTime {
        start: write(start),
        end: write(end),
    })
}

/// The request, checked: its flags without repeats.
fn checked_post(mut request: PsaPostRequest) -> Result<PsaPostRequest, AppError> {
    if request.ticket_id < 1 {
        return Err(invalid("a ticket number is a positive whole number"));
    }
    if request.text.trim().is_empty() {
        return Err(invalid("the note is empty"));
    }
    if request.text.chars().count() > MAX_NOTE_CHARS {
        return Err(invalid(format!(
            "the note is longer than {MAX_NOTE_CHARS} characters; shorten it"
        )));
    }
    request.flags.sort();
    request.flags.dedup();
    if request.flags.is_empty() {
        return Err(invalid(
            "give the note at least one flag: internal, discussion or resolution",
        ));
    }
    if let Some(status) = &request.status {
        let status = status.trim();
        if status.is_empty() || status.chars().count() > 50 || status.chars().any(char::is_control)
        {
            return Err(invalid(
                "a status is the name of one of the ticket's board's statuses (at most 50 characters)",
            ));
        }
        request.status = Some(status.to_owned());
    }
    if let Some(time) = &request.time {
        request.time = Some(checked_time(time)?);
    }
    Ok(request)
}

/// Posts a note to a ticket exactly once under the request's key, then sets the status asked
/// for. Sent again with the same key, it answers the stored outcome and never posts twice:
/// a post whose answer from ConnectWise was lost is looked for on the ticket (its marker line)
/// before it is sent again.
#[utoipa::path(
    post,
    path = "/api/v1/psa/posts",
    tag = "psa",
    security(("bearer" = [])),
    request_body = PsaPostRequest,
    responses(
        (status = 200, description = "The note is on the ticket (now, or already under this key)", body = PsaPostOutcome),
        MalformedJson,
        Unauthorized,
        (status = 403, description = "Viewers do not post to tickets", body = ErrorBody),
        (status = 404, description = "ConnectWise has no such ticket, or the API member cannot see it", body = ErrorBody),
        (status = 409, description = "The team is not connected (`psa_not_connected`), or the key was used for another post (`conflict`)", body = ErrorBody),
        TooLarge,
        NotJson,
        (status = 422, description = "An empty or overlong note, no flag, a malformed status or ticket number", body = ErrorBody),
        Failed,
        (status = 502, description = "ConnectWise refused the team's keys or the note, or answered nonsense", body = ErrorBody),
        (status = 503, description = "ConnectWise cannot be reached, is limiting requests, did not answer (the post is looked for on the ticket before it is sent again), or this post is being sent now (`psa_post_in_progress`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
#[tracing::instrument(skip_all, fields(route = "psa.post", user = %user.id))]
pub async fn post_note<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    body: Result<Json<PsaPostRequest>, JsonRejection>,
) -> Result<Json<PsaPostOutcome>, AppError> {
    let Json(request) = body?;
    if user.role == Role::Viewer {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "viewers do not post to tickets; ask an engineer",
        ));
    }
    let request = checked_post(request)?;
    let connection = connection(&state, &user).await?;
    let digest = {
        use sha2::Digest;
        let canonical = serde_json::to_vec(&request).map_err(|_| AppError::internal())?;
        hex::encode(sha2::Sha256::digest(canonical))
    };
    let claim = PostClaim {
        team_id: user.team_id,
        key: request.key,
        requested_by: user.id,
        ticket_id: request.ticket_id,
        digest,
        wants_status: request.status.is_some(),
        wants_time: request.time.is_some(),
        now: unix_now(),
        lease_seconds: i64::try_from(state.config.psa.post_lease.as_secs()).unwrap_or(600),
    };
    match state.store.claim_psa_post(claim).await? {
        Claimed::KeyReused => Err(AppError::new(
            StatusCode::CONFLICT,
            "conflict",
            "this post's key was used for a different post; queue the post again",
        )),
        Claimed::InProgress { retry_after } => Err(AppError::unavailable(
            "psa_post_in_progress",
            "this note is being posted now; ask again in a moment",
            retry_after,
        )),
        Claimed::Answer(row) => Ok(Json(outcome(&row, &request))),
        Claimed::Go { row, check_marker } => {
            // The member the engineer's time goes to: the team's mapping, else by e-mail.
            let mapped = state
                .store
                .member_overrides(user.team_id)
                .await?
                .into_iter()
                .find(|(account, _)| *account == user.id)
                .map(|(_, member)| member);
            let engineer = Engineer {
                email: user.email.clone(),
                mapped,
            };
            // On its own task: a client that hangs up does not stop a post half-way.
            let task = tokio::spawn(async move {
                drive_post(&state, &connection, row, check_marker, &request, &engineer).await
            });
            task.await.map_err(|error| {
                tracing::error!(%error, "the post task failed");
                AppError::internal()
            })?
        }
    }
}

/// Sends a claimed post: looks for it first when it may be on the ticket, posts it if not,
/// sets the status asked for, and stores each step's outcome as it is learned.
async fn drive_post<S: Store>(
    state: &AppState<S>,
    connection: &PsaConnection,
    mut row: PostRow,
    check_marker: bool,
    request: &PsaPostRequest,
    engineer: &Engineer,
) -> Result<Json<PsaPostOutcome>, AppError> {
    let cw = client(state, connection)?;
    let (team, key, ticket) = (row.team_id, row.key, row.ticket_id);
    let marker = marker(key);
    let settle = |state: PostState, row: &PostRow, error: Option<String>| PostSettle {
        state,
        note_id: row.note_id,
        posted_at: row.posted_at,
        status_done: row.status_done,
        time_done: row.time_done,
        time_entry_id: row.time_entry_id,
        error,
        now: unix_now(),
    };
    if row.note_id.is_none() {
        let mut found = None;
        if check_marker {
            match cw.find_marker(ticket, &marker).await {
                Ok(note) => found = note,
                Err(error) => {
                    let stored = settle(PostState::Ambiguous, &row, Some(error.to_string()));
                    state.store.settle_psa_post(team, key, stored).await?;
                    return Err(error.into());
                }
            }
        }
        let note = match found {
            Some(note) => note,
            None => {
                let text = format!("{}\n\n{marker}", request.text.trim_end());
                match cw.post_note(ticket, &text, &request.flags).await {
                    Ok(note) => note,
                    Err(PsaError::Ambiguous(why)) => {
                        // Looked for at once: the note often landed and only the answer was lost.
                        match cw.find_marker(ticket, &marker).await {
                            Ok(Some(note)) => note,
                            _ => {
                                let error = PsaError::Ambiguous(why);
                                let stored =
                                    settle(PostState::Ambiguous, &row, Some(error.to_string()));
                                state.store.settle_psa_post(team, key, stored).await?;
                                tracing::warn!(%key, ticket, "post answer lost; it will be looked for before it is sent again");
                                return Err(AppError::unavailable(
                                    "psa_unavailable",
                                    format!(
                                        "{error}; the note will be looked for on the ticket before it is sent again, so it is never posted twice"
                                    ),
                                    30,
                                ));
                            }
                        }
                    }
                    Err(error) => {
                        // Surely not on the ticket: a later attempt may post it.
                        let stored = settle(PostState::Failed, &row, Some(error.to_string()));
                        state.store.settle_psa_post(team, key, stored).await?;
                        return Err(error.into());
                    }
                }
            }
        };
        row.note_id = Some(note);
        row.posted_at = Some(unix_now());
        state
            .store
            .settle_psa_post(team, key, settle(PostState::Posted, &row, None))
            .await?;
        tracing::info!(%key, ticket, note, "note posted to the ticket");
    }
    row.state = PostState::Posted;
    if let Some(status) = request.status.as_deref().filter(|_| !row.status_done) {
        let error = match cw.set_status(ticket, status).await {
            Ok(()) => {
                row.status_done = true;
                None
            }
            Err(error) => Some(format!("the status was not set to {status:?}: {error}")),
        };
        row.error.clone_from(&error);
        state
            .store
            .settle_psa_post(team, key, settle(PostState::Posted, &row, error))
            .await?;
    }
    if let Some(time) = request.time.as_ref().filter(|_| !row.time_done) {
        let error = match record_time(&cw, ticket, time, engineer, &marker).await {
            Ok(entry) => {
                row.time_done = true;
                row.time_entry_id = Some(entry);
                None
            }
            Err(error) => Some(format!("the time was not recorded: {error}")),
        };
        // One message for what is still to do after the note.
        row.error = match (row.error.take().filter(|_| !row.status_done), error) {
            (Some(status), Some(time)) => Some(format!("{status}; {time}")),
            (status, time) => time.or(status),
        };
        state
            .store
            .settle_psa_post(
                team,
                key,
                settle(PostState::Posted, &row, row.error.clone()),
            )
            .await?;
    }
    Ok(Json(outcome(&row, request)))
}

/// Who asks to post, for the time entry: their e-mail and the team's mapping, if any.
#[derive(Debug, Clone)]
struct Engineer {
    email: String,
    mapped: Option<String>,
}

/// Records the engineer's time on the ticket once: looked for by its marker first (an earlier
/// attempt, or a server restored from an older backup, may have made it), and once more when
/// the answer to making it was lost.
async fn record_time(
    cw: &ConnectWise<'_>,
    ticket: i64,
    time: &rf_core::psa::PostTime,
    engineer: &Engineer,
    marker: &str,
) -> Result<i64, String> {
    if let Some(entry) = cw
        .find_time_entry(ticket, marker)
        .await
        .map_err(|error| error.to_string())?
    {
        return Ok(entry);
    }
    let member = match &engineer.mapped {
        Some(member) => member.clone(),
        None => cw
            .member_by_email(&engineer.email)
            .await
            .map_err(|error| error.to_string())?
            .ok_or_else(|| {
                format!(
                    "no active ConnectWise member has the e-mail {}; a team admin maps the account to its member (rf psa members --map)",
                    engineer.email
                )
            })?,
    };
    let notes = format!("Troubleshooting session by ResolutionFlow.\n{marker}");
    match cw.create_time_entry(ticket, &member, time, &notes).await {
        Ok(entry) => Ok(entry),
        Err(PsaError::Ambiguous(why)) => match cw.find_time_entry(ticket, marker).await {
            Ok(Some(entry)) => Ok(entry),
            _ => Err(format!(
                "ConnectWise did not answer ({why}); it will be looked for before it is sent again"
            )),
        },
        Err(error) => Err(error.to_string()),
    }
}

/// Maps a team account to a ConnectWise member by hand, for the time entries its posts record
/// (where the account's e-mail is not the member's); `null` goes back to matching by e-mail.
#[utoipa::path(
    put,
    path = "/api/v1/psa/members/{user_id}",
    tag = "psa",
    security(("bearer" = [])),
    params(("user_id" = uuid::Uuid, Path, description = "The team account")),
    request_body = MemberMapping,
    responses(
        (status = 204, description = "Mapped"),
        (status = 400, description = "The account id is not a UUID", body = ErrorBody),
        MalformedJson,
        Unauthorized,
        (status = 403, description = "Only team admins map members", body = ErrorBody),
        (status = 404, description = "No such account in the team", body = ErrorBody),
        TooLarge,
        NotJson,
        (status = 422, description = "A member identifier that cannot be one", body = ErrorBody),
        Failed,
    )
)]
#[tracing::instrument(skip_all, fields(route = "psa.map_member", user = %user.id))]
pub async fn map_member<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    account: Result<Path<uuid::Uuid>, PathRejection>,
    body: Result<Json<MemberMapping>, JsonRejection>,
) -> Result<StatusCode, AppError> {
    let Path(account) = account?;
    let Json(mapping) = body?;
    if !matches!(user.role, Role::TeamAdmin | Role::SuperAdmin) {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only team admins map accounts to ConnectWise members",
        ));
    }
    let member = mapping
        .member_identifier
        .as_deref()
        .map(|identifier| checked_part("member identifier", identifier, false))
        .transpose()
        .map_err(invalid)?;
    let in_team = state
        .store
        .users()
        .await?
        .into_iter()
        .any(|member| member.id == account && member.team_id == user.team_id);
    if !in_team {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no account of this team has that id",
        ));
    }
    state
        .store
        .set_member_override(user.team_id, account, member, user.id, unix_now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
