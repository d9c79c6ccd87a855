//! FlowPilot through the server: next-step suggestions (the fast model) and the ticket
//! summary with next steps (the stronger one), streamed to the client as server-sent events
//! (`text` deltas, then `done` with what was read from the answer, or `error`). The session is
//! redacted before it leaves the server, the API key never leaves it, usage is metered per
//! team from the token counts the model reports, and a team admin's monthly cap is enforced.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use rf_core::ai::{
    PilotDone, PilotRequest, PilotTask, TeamAiUsage, read_suggestions, read_summary, session_prompt,
};
use rf_core::sse::SseReader;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::users::{Role, User};
use crate::http::api::AppState;
use crate::http::error::{
    AppError, ErrorBody, Failed, MalformedJson, NotJson, TooLarge, Unauthorized,
};
use crate::http::extract::{Authenticated, unix_now};
use crate::storage::Store;
use crate::vendors::anthropic::{AiError, StreamReader, StreamStep, open_stream, request_body};

/// What a FlowPilot request may answer before its stream starts, for the OpenAPI annotations.
#[derive(Debug, utoipa::IntoResponses)]
pub enum AiFailures {
    #[response(
        status = 422,
        description = "A flow document or session larger than FlowPilot reads"
    )]
    TooMuch(ErrorBody),
    #[response(
        status = 429,
        description = "The team's monthly cap is reached (`ai_cap_reached`), or the organisation's spend limit (`ai_spend_limit`)",
        headers(("Retry-After" = u64, description = "Seconds until the next month, for the cap"))
    )]
    Capped(ErrorBody),
    #[response(
        status = 502,
        description = "Anthropic refused the request (`ai_refused`)"
    )]
    Refused(ErrorBody),
    #[response(
        status = 503,
        description = "FlowPilot is not set up, or its model cannot be reached (`ai_unavailable`)",
        headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))
    )]
    Unavailable(ErrorBody),
}

impl From<AiError> for AppError {
    fn from(error: AiError) -> AppError {
        let message = error.to_string();
        match error {
            AiError::NotConfigured => AppError::unavailable("ai_unavailable", message, 3600),
            AiError::SpendLimit => {
                AppError::new(StatusCode::TOO_MANY_REQUESTS, "ai_spend_limit", message)
            }
            AiError::Refused(_) => AppError::new(StatusCode::BAD_GATEWAY, "ai_refused", message),
            AiError::Unavailable { retry_after, .. } => {
                AppError::unavailable("ai_unavailable", message, retry_after)
            }
        }
    }
}

/// The calendar month (UTC) usage is counted in, as `YYYY-MM`.
fn month(now: i64) -> String {
    let at =
        time::OffsetDateTime::from_unix_timestamp(now).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}", at.year(), u8::from(at.month()))
}

/// Seconds until the next calendar month (UTC) begins.
fn until_next_month(now: i64) -> u64 {
    let at =
        time::OffsetDateTime::from_unix_timestamp(now).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (year, next) = match at.month() {
        time::Month::December => (at.year() + 1, time::Month::January),
        month => (at.year(), month.next()),
    };
    time::Date::from_calendar_date(year, next, 1)
        .map(|date| date.midnight().assume_utc().unix_timestamp() - now)
        .ok()
        .and_then(|seconds| u64::try_from(seconds).ok())
        .unwrap_or(3600)
        .max(1)
}

fn usage_view(
    month: String,
    requests: i64,
    usage: rf_core::ai::PilotUsage,
    cap: Option<i64>,
) -> TeamAiUsage {
    TeamAiUsage {
        month,
        requests,
        total_tokens: usage.total(),
        usage,
        monthly_cap: cap,
    }
}

/// Asks FlowPilot for the next step: the current step's answers ranked, or a next action,
/// each with a one-line reason.
#[utoipa::path(
    post,
    path = "/api/v1/ai/suggest",
    operation_id = "ai_suggest",
    tag = "ai",
    security(("bearer" = [])),
    request_body = PilotRequest,
    responses(
        (status = 200, description = "Server-sent events: `text` ({\"text\"}) as the answer streams, then `done` (PilotDone) or `error` ({\"code\", \"message\"})", content_type = "text/event-stream", body = String),
        MalformedJson,
        Unauthorized,
        (status = 403, description = "Viewers do not run sessions", body = ErrorBody),
        TooLarge,
        NotJson,
        Failed,
        AiFailures,
    )
)]
#[tracing::instrument(skip_all, fields(route = "ai.suggest", user = %user.id))]
pub async fn suggest<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    body: Result<Json<PilotRequest>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(request) = body?;
    pilot(state, user, request, PilotTask::Suggest).await
}

/// Asks FlowPilot for the ticket summary and the next steps.
#[utoipa::path(
    post,
    path = "/api/v1/ai/summarize",
    operation_id = "ai_summarize",
    tag = "ai",
    security(("bearer" = [])),
    request_body = PilotRequest,
    responses(
        (status = 200, description = "Server-sent events: `text` ({\"text\"}) as the answer streams, then `done` (PilotDone, with `summary` and `next_steps`) or `error` ({\"code\", \"message\"})", content_type = "text/event-stream", body = String),
        MalformedJson,
        Unauthorized,
        (status = 403, description = "Viewers do not run sessions", body = ErrorBody),
        TooLarge,
        NotJson,
        Failed,
        AiFailures,
    )
)]
#[tracing::instrument(skip_all, fields(route = "ai.summarize", user = %user.id))]
pub async fn summarize<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    body: Result<Json<PilotRequest>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(request) = body?;
    pilot(state, user, request, PilotTask::Summarize).await
}

async fn pilot<S: Store>(
    state: AppState<S>,
    user: User,
    request: PilotRequest,
    task: PilotTask,
) -> Result<Response, AppError> {
    if user.role == Role::Viewer {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "viewers do not run sessions, so FlowPilot has nothing to help with",
        ));
    }
    let invalid =
        |message: String| AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message);
    let flow_text = request.flow.to_string();
    if flow_text.len() > rf_core::ai::MAX_FLOW_BYTES {
        return Err(invalid(format!(
            "the flow document is larger than FlowPilot reads ({} KiB)",
            rf_core::ai::MAX_FLOW_BYTES / 1024
        )));
    }
    let (prompt, redactions) = session_prompt(&request);
    if prompt.len() > rf_core::ai::MAX_SESSION_BYTES {
        return Err(invalid(format!(
            "the session is larger than FlowPilot reads ({} KiB); attach long outputs as files",
            rf_core::ai::MAX_SESSION_BYTES / 1024
        )));
    }
    let now = unix_now();
    let month = month(now);
    if let Some(cap) = state.store.ai_cap(user.team_id).await? {
        let (_, used) = state.store.ai_usage(user.team_id, month.clone()).await?;
        if used.total() >= cap {
            let mut error = AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "ai_cap_reached",
                format!(
                    "the team has used its FlowPilot allowance for {month} ({cap} tokens); a team admin can raise it, and the team's path statistics still guide you"
                ),
            );
            error.retry_after_seconds = Some(until_next_month(now));
            return Err(error);
        }
    }
    let settings = &state.config.ai;
    let body = request_body(settings, task, &request.flow, &prompt);
    let upstream = open_stream(&state.vendors, settings, &body).await?;
    let answers = request
        .current
        .as_ref()
        .map(|current| current.answers.clone())
        .unwrap_or_default();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Event>(64);
    let store = state.store.clone();
    let team = user.team_id;
    let redacted = redactions.total();
    tokio::spawn(async move {
        let mut reader = SseReader::new();
        let mut stream = StreamReader::default();
        let mut text = String::new();
        let mut ended = None::<Result<(), (String, String)>>;
        let mut chunks = upstream.bytes_stream();
        while ended.is_none() {
            let chunk = match chunks.next().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(_)) | None => {
                    ended = Some(Err((
                        "ai_interrupted".to_owned(),
                        "the answer stopped short: the connection to the model dropped; ask again"
                            .to_owned(),
                    )));
                    break;
                }
            };
            let events = match reader.push(&chunk) {
                Ok(events) => events,
                Err(error) => {
                    ended = Some(Err(("ai_interrupted".to_owned(), error.to_string())));
                    break;
                }
            };
            for event in events {
                match stream.step(&event.event, &event.data) {
                    StreamStep::Text(delta) => {
                        text.push_str(&delta);
                        // A client that went away does not stop the answer being read to
                        // its end, so its usage is counted.
                        let _ = sender
                            .send(
                                Event::default()
                                    .event("text")
                                    .json_data(serde_json::json!({"text": delta}))
                                    .unwrap_or_default(),
                            )
                            .await;
                    }
                    StreamStep::Done => {
                        ended = Some(Ok(()));
                        break;
                    }
                    StreamStep::Failed { kind, message } => {
                        let code = if kind == "overloaded_error" {
                            "ai_overloaded"
                        } else {
                            "ai_failed"
                        };
                        ended = Some(Err((
                            code.to_owned(),
                            format!(
                                "the model stopped with an error ({kind}: {message}); ask again in a moment"
                            ),
                        )));
                        break;
                    }
                    StreamStep::Nothing => {}
                }
            }
        }
        if let Err(error) = store.add_ai_usage(team, month, stream.usage).await {
            tracing::error!(%error, "FlowPilot usage not recorded");
        }
        let ended = ended.unwrap_or_else(|| {
            Err((
                "ai_interrupted".to_owned(),
                "the answer stopped short; ask again".to_owned(),
            ))
        });
        let last = match ended {
            Ok(()) => {
                let mut done = PilotDone {
                    text: text.clone(),
                    model: stream.model.clone(),
                    usage: stream.usage,
                    redactions: redacted,
                    ..PilotDone::default()
                };
                match task {
                    PilotTask::Suggest => done.suggestions = read_suggestions(&text, &answers),
                    PilotTask::Summarize => {
                        let (summary, next_steps) = read_summary(&text);
                        done.summary = Some(summary);
                        done.next_steps = next_steps;
                    }
                }
                Event::default().event("done").json_data(&done)
            }
            Err((code, message)) => Event::default()
                .event("error")
                .json_data(serde_json::json!({"code": code, "message": message})),
        };
        if let Ok(last) = last {
            let _ = sender.send(last).await;
        }
    });
    let events = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|event| (Ok::<Event, Infallible>(event), receiver))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The team's FlowPilot usage this month, and its cap.
#[utoipa::path(
    get,
    path = "/api/v1/ai/usage",
    tag = "ai",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "This month's usage (UTC calendar month) and the cap", body = TeamAiUsage),
        Unauthorized,
        Failed,
    )
)]
#[tracing::instrument(skip_all, fields(route = "ai.usage", user = %user.id))]
pub async fn usage<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
) -> Result<Json<TeamAiUsage>, AppError> {
    let month = month(unix_now());
    let (requests, used) = state.store.ai_usage(user.team_id, month.clone()).await?;
    let cap = state.store.ai_cap(user.team_id).await?;
    Ok(Json(usage_view(month, requests, used, cap)))
}

/// A team's monthly FlowPilot cap, in tokens (none: no cap).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiCapRequest {
    /// Tokens per calendar month (UTC) the team may use; `null` removes the cap.
    #[schema(minimum = 0)]
    pub monthly_tokens: Option<i64>,
}

/// Sets the team's monthly FlowPilot cap (team admins).
#[utoipa::path(
    put,
    path = "/api/v1/ai/cap",
    tag = "ai",
    security(("bearer" = [])),
    request_body = AiCapRequest,
    responses(
        (status = 200, description = "This month's usage with the new cap", body = TeamAiUsage),
        MalformedJson,
        Unauthorized,
        (status = 403, description = "Only team admins set the cap", body = ErrorBody),
        TooLarge,
        NotJson,
        (status = 422, description = "A negative cap", body = ErrorBody),
        Failed,
    )
)]
#[tracing::instrument(skip_all, fields(route = "ai.cap", user = %user.id))]
pub async fn set_cap<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    body: Result<Json<AiCapRequest>, JsonRejection>,
) -> Result<Json<TeamAiUsage>, AppError> {
    let Json(request) = body?;
    if !matches!(user.role, Role::TeamAdmin | Role::SuperAdmin) {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only team admins set the team's FlowPilot cap",
        ));
    }
    if request.monthly_tokens.is_some_and(|cap| cap < 0) {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "a cap is 0 or more tokens a month, or null for none",
        ));
    }
    let now = unix_now();
    state
        .store
        .set_ai_cap(user.team_id, request.monthly_tokens, user.id, now)
        .await?;
    let month = month(now);
    let (requests, used) = state.store.ai_usage(user.team_id, month.clone()).await?;
    Ok(Json(usage_view(
        month,
        requests,
        used,
        request.monthly_tokens,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_counted_by_utc_calendar_month() {
        // 2026-12-31T23:59:59Z, then the first second of 2027.
        assert_eq!(month(1_798_761_599), "2026-12");
        assert_eq!(month(1_798_761_600), "2027-01");
        assert_eq!(until_next_month(1_798_761_599), 1);
        assert_eq!(until_next_month(1_798_761_600), 31 * 24 * 3600);
    }
}
