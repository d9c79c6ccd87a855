//! Session attachments (screenshots, logs) on the server: files named by their SHA-256, kept
//! per team under `<attachments dir>/<team id>/<aa>/<sha256>`. The name is the content's hash,
//! so an upload is checked against its name as it streams in and a retried or duplicated upload
//! changes nothing; a file is written to a temporary name, synced and renamed, so a crash never
//! leaves half a file under a real name. The team's directory is the only record, so both
//! database back ends share it (several servers on one PostgreSQL need one shared directory).

use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::users::Role;
use crate::http::api::AppState;
use crate::http::error::{AppError, ErrorBody};
use crate::http::extract::Authenticated;
use crate::storage::Store;

/// Largest attachment accepted: the replica's own limit.
pub const MAX_ATTACHMENT_BYTES: u64 = rf_core::received::MAX_ATTACHMENT_BYTES;
/// Most names one `missing` question may carry.
pub const MAX_MISSING_QUERY: usize = 1_000;

/// Where the team's attachment files live.
#[derive(Debug, Clone)]
pub struct Attachments {
    root: PathBuf,
}

fn bad_name() -> AppError {
    AppError::bad_request(
        "an attachment is named by the SHA-256 of its content: 64 lowercase hex digits",
    )
}

fn storage_failed(error: &std::io::Error) -> AppError {
    tracing::error!(%error, "attachment storage failed");
    AppError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        "storage_failed",
        "the server could not store the attachment; nothing was kept, try again later",
    )
}

impl Attachments {
    pub fn new(root: PathBuf) -> Attachments {
        Attachments { root }
    }

    fn team_dir(&self, team: Uuid) -> PathBuf {
        self.root.join(team.to_string())
    }

    fn path(&self, team: Uuid, sha256: &str) -> PathBuf {
        let shard = sha256.get(..2).unwrap_or("00");
        self.team_dir(team).join(shard).join(sha256)
    }

    pub async fn contains(&self, team: Uuid, sha256: &str) -> bool {
        tokio::fs::try_exists(self.path(team, sha256))
            .await
            .unwrap_or(false)
    }

    /// Streams `body` into the team's store if its SHA-256 is `sha256`. True when the file is
    /// new, false when the team already had it.
    async fn store(&self, team: Uuid, sha256: &str, body: Body) -> Result<bool, AppError> {
        if self.contains(team, sha256).await {
            return Ok(false);
        }
        let path = self.path(team, sha256);
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(AppError::internal)?;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|error| storage_failed(&error))?;
        let temporary = dir.join(format!(".{sha256}.{}.part", Uuid::new_v4().simple()));
        let written = write_checked(&temporary, sha256, body).await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&temporary).await;
        }
        written?;
        tokio::fs::rename(&temporary, &path)
            .await
            .map_err(|error| storage_failed(&error))?;
        // The rename is durable once the directory is synced.
        let synced = tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
            .await
            .map_err(|_| AppError::internal())?;
        synced.map_err(|error| storage_failed(&error))?;
        Ok(true)
    }
}

/// Writes `body` to `path`, hashing as it goes; refuses a body over the limit or whose hash is
/// not `sha256`. The file is synced before this returns.
async fn write_checked(path: &Path, sha256: &str, body: Body) -> Result<(), AppError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|error| storage_failed(&error))?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk: Bytes = chunk.map_err(|error| {
            AppError::bad_request(format!("the upload was cut short or unreadable: {error}"))
        })?;
        size = size.saturating_add(chunk.len() as u64);
        if size > MAX_ATTACHMENT_BYTES {
            return Err(AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("an attachment may have at most {MAX_ATTACHMENT_BYTES} bytes"),
            ));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|error| storage_failed(&error))?;
    }
    if hex::encode(hasher.finalize()) != sha256 {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "hash_mismatch",
            "the content's SHA-256 is not the name it was sent under; nothing was kept",
        ));
    }
    file.sync_all()
        .await
        .map_err(|error| storage_failed(&error))?;
    Ok(())
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
    let created = state.attachments.store(user.team_id, &sha256, body).await?;
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
    )
)]
#[tracing::instrument(skip_all, fields(route = "attachments.get", user = %user.id))]
pub async fn get_attachment<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(user): Authenticated,
    name: Result<UrlPath<String>, PathRejection>,
) -> Result<Response, AppError> {
    let sha256 = checked_name(name)?;
    match tokio::fs::read(state.attachments.path(user.team_id, &sha256)).await {
        Ok(bytes) => Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )],
            bytes,
        )
            .into_response()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(AppError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the team has no attachment of that name; the device that recorded it has not uploaded it yet",
        )),
        Err(error) => {
            tracing::error!(%error, "cannot read an attachment");
            Err(AppError::internal())
        }
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
    let mut missing = Vec::new();
    for name in request.sha256 {
        if !state.attachments.contains(user.team_id, &name).await && !missing.contains(&name) {
            missing.push(name);
        }
    }
    Ok(Json(MissingResponse { missing }))
}
