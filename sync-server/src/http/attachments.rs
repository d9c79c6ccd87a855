//! Session attachments (screenshots, logs) over HTTP: upload, download, and which names the
//! team lacks. Files are named by their SHA-256 and kept per team by the storage layer
//! ([`crate::storage::blobs`]: a directory or an S3-compatible bucket), which checks an upload
//! against its name before it becomes visible, so a retried or duplicated upload changes
//! nothing.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::users::Role;
use crate::http::api::AppState;
use crate::http::error::{AppError, ErrorBody};
use crate::http::extract::Authenticated;
use crate::storage::Store;
use crate::storage::blobs::{BlobError, Stored};

pub use crate::storage::blobs::MAX_ATTACHMENT_BYTES;
/// Most names one `missing` question may carry.
pub const MAX_MISSING_QUERY: usize = 1_000;

fn bad_name() -> AppError {
    AppError::bad_request(
        "an attachment is named by the SHA-256 of its content: 64 lowercase hex digits",
    )
}

/// The answer to a failed upload: each cause keeps its status and message.
fn upload_failed(error: BlobError) -> AppError {
    match error {
        BlobError::CutShort(_) => AppError::bad_request(error.to_string()),
        BlobError::TooLarge => AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            error.to_string(),
        ),
        BlobError::HashMismatch => AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "hash_mismatch",
            error.to_string(),
        ),
        BlobError::Storage(_) => {
            tracing::error!(%error, "attachment storage failed");
            AppError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_failed",
                "the server could not store the attachment; nothing was kept, try again later",
            )
        }
    }
}

/// The answer when the attachment store (a directory or a bucket) cannot be read: a 503 the
/// replica retries later, saying where the fault is (the cause goes to the log).
fn storage_unreachable(what: &str, error: BlobError) -> AppError {
    tracing::error!(%error, "{what}");
    AppError::unavailable(
        "storage_unavailable",
        "the server cannot reach its attachment storage just now; try again in a minute, and \
         tell your administrator if it persists",
        30,
    )
}

fn checked_name(name: Result<UrlPath<String>, PathRejection>) -> Result<String, AppError> {
    let UrlPath(name) = name?;
    if rf_core::is_sha256_hex(&name) {
        Ok(name)
    } else {
        Err(bad_name())
    }
}

/// Uploads an attachment of one of the team's sessions, named by its SHA-256. Uploading what
/// the team already has changes nothing. Engineers and admins may upload; viewers may not.
#[utoipa::path(
    put,
    path = "/api/v1/attachments/{sha256}",
    tag = "attachments",
    security(("bearer" = [])),
    params(("sha256" = String, Path, description = "The SHA-256 of the content, 64 lowercase hex digits", pattern = "^[0-9a-f]{64}$")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes, at most 25 MiB"),
    responses(
        (status = 200, description = "The team already had it; nothing changed"),
        (status = 201, description = "Stored"),
        (status = 400, description = "The name is not a SHA-256, or the upload was cut short", body = ErrorBody),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Viewers do not upload", body = ErrorBody),
        (status = 413, description = "Larger than 25 MiB", body = ErrorBody),
        (status = 422, description = "The content's SHA-256 is not its name (`hash_mismatch`); nothing was kept", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
        (status = 507, description = "The server could not store it (a full disk); nothing was kept", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(route = "attachments.put", user = %user.id))]
pub async fn put_attachment<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    name: Result<UrlPath<String>, PathRejection>,
    body: Body,
) -> Result<StatusCode, AppError> {
    let sha256 = checked_name(name)?;
    if user.role == Role::Viewer {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "viewers read the team's sessions but do not add to them",
        ));
    }
    let upload = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    let created = state
        .attachments
        .blobs()
        .put(user.team_id, &sha256, upload)
        .await
        .map_err(upload_failed)?
        == Stored::New;
    tracing::info!(%sha256, created, "attachment");
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

/// Downloads one of the team's attachments.
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{sha256}",
    tag = "attachments",
    security(("bearer" = [])),
    params(("sha256" = String, Path, description = "The SHA-256 of the content, 64 lowercase hex digits", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "The name is not a SHA-256", body = ErrorBody),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 404, description = "The team has no attachment of that name (yet)", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
        (status = 503, description = "The attachment storage cannot be reached just now (`storage_unavailable`, with `Retry-After`)", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(route = "attachments.get", user = %user.id))]
pub async fn get_attachment<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    name: Result<UrlPath<String>, PathRejection>,
) -> Result<Response, AppError> {
    let sha256 = checked_name(name)?;
    match state.attachments.blobs().open(user.team_id, &sha256).await {
        Ok(Some(blob)) => Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                ),
                (header::CONTENT_LENGTH, HeaderValue::from(blob.length)),
            ],
            Body::from_stream(blob.content),
        )
            .into_response()),
        Ok(None) => Err(AppError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the team has no attachment of that name; the device that recorded it has not uploaded it yet",
        )),
        Err(error) => Err(storage_unreachable("cannot read an attachment", error)),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MissingRequest {
    /// Attachment names (SHA-256, 64 lowercase hex digits), at most 1,000.
    pub sha256: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MissingResponse {
    /// Those of the names asked about that the team does not have, in the order asked.
    pub missing: Vec<String>,
}

/// Which of these attachments the team does not have yet: a replica uploads only those.
#[utoipa::path(
    post,
    path = "/api/v1/attachments/missing",
    tag = "attachments",
    security(("bearer" = [])),
    request_body = MissingRequest,
    responses(
        (status = 200, description = "The names the team does not have", body = MissingResponse),
        (status = 400, description = "The body is not JSON, or not gzip as its `Content-Encoding` says", body = ErrorBody),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 MiB (after decompression)", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`, or in an encoding other than gzip", body = ErrorBody),
        (status = 422, description = "A name that is not a SHA-256, or more than 1,000 names", body = ErrorBody),
        (status = 500, description = "The server failed; the cause is in its log", body = ErrorBody),
        (status = 503, description = "The attachment storage cannot be reached just now (`storage_unavailable`, with `Retry-After`)", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(route = "attachments.missing", user = %user.id))]
pub async fn missing_attachments<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    body: Result<Json<MissingRequest>, JsonRejection>,
) -> Result<Json<MissingResponse>, AppError> {
    let Json(request) = body?;
    if request.sha256.len() > MAX_MISSING_QUERY
        || !request
            .sha256
            .iter()
            .all(|name| rf_core::is_sha256_hex(name))
    {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!(
                "ask about at most {MAX_MISSING_QUERY} names, each a SHA-256 in 64 lowercase hex digits"
            ),
        ));
    }
    let existing = match state
        .attachments
        .blobs()
        .existing(user.team_id, &request.sha256)
        .await
    {
        Ok(existing) => existing,
        Err(error) => {
            return Err(storage_unreachable(
                "cannot tell which attachments the team has",
                error,
            ));
        }
    };
    let mut missing = Vec::new();
    for name in request.sha256 {
        if !existing.contains(&name) && !missing.contains(&name) {
            missing.push(name);
        }
    }
    Ok(Json(MissingResponse { missing }))
}
