//! One JSON error shape for every response, `{"error": {"code", "message"}}`. Causes are
//! logged, never sent: a client sees what it can act on.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::error::StoreError;

/// The body of every error response: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `uri_too_long`,
    /// `headers_too_large`, `unsupported_media_type`, `invalid`, `server_too_old`,
    /// `upgrade_required`, `too_many_attempts`, `too_large`, `hash_mismatch`,
    /// `storage_failed`, `storage_unavailable`, `busy`, `internal`; for the team's
    /// ConnectWise: `psa_not_connected`, `psa_check_failed`, `psa_credentials_refused`,
    /// `psa_forbidden`, `psa_refused`, `psa_bad_answer`, `psa_busy`, `psa_unavailable`,
    /// `secrets_key_missing`, `secrets_unreadable`.
    pub code: &'static str,
    /// For people: what failed and what to do.
    pub message: String,
}

/// The answers many operations share, for their OpenAPI annotations: each names them once
/// here (`responses(…, Unauthorized, Failed)`), so one wording serves every operation.
///
/// 401 for an operation that needs a bearer access token.
#[derive(Debug, utoipa::IntoResponses)]
#[response(
    status = 401,
    description = "No bearer token, or one that is not valid or has expired"
)]
pub struct Unauthorized(pub ErrorBody);

/// 500: the server failed.
#[derive(Debug, utoipa::IntoResponses)]
#[response(
    status = 500,
    description = "The server failed; the cause is in its log"
)]
pub struct Failed(pub ErrorBody);

/// 400 for a JSON body that is not JSON (or not the gzip it says it is).
#[derive(Debug, utoipa::IntoResponses)]
#[response(
    status = 400,
    description = "The body is not JSON, or not gzip as its `Content-Encoding` says"
)]
pub struct MalformedJson(pub ErrorBody);

/// 415 for a body that is not sent as JSON.
#[derive(Debug, utoipa::IntoResponses)]
#[response(
    status = 415,
    description = "The body is not sent as `application/json`, or in an encoding other than gzip"
)]
pub struct NotJson(pub ErrorBody);

/// 413 for a JSON body over the limit.
#[derive(Debug, utoipa::IntoResponses)]
#[response(
    status = 413,
    description = "The body is larger than 16 MiB (after decompression)"
)]
pub struct TooLarge(pub ErrorBody);

/// An error answered over HTTP.
#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            status,
            code,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 503 with `Retry-After`: the server is at a limit it sets itself (password work, a
    /// request that took too long); the same request may succeed in a moment.
    pub fn busy(message: impl Into<String>, retry_after_seconds: u64) -> AppError {
        AppError::unavailable("busy", message, retry_after_seconds)
    }

    /// 503 with `Retry-After`: something the server depends on cannot be reached just now.
    pub fn unavailable(
        code: &'static str,
        message: impl Into<String>,
        retry_after_seconds: u64,
    ) -> AppError {
        let mut error = AppError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        error.retry_after_seconds = Some(retry_after_seconds.max(1));
        error
    }

    pub fn internal() -> AppError {
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; try again, and tell your administrator if it persists",
        )
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> AppError {
        match error {
            StoreError::Conflict(message) => {
                AppError::new(StatusCode::CONFLICT, "conflict", message)
            }
            StoreError::Forbidden(message) => {
                AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            StoreError::NotFound(message) => {
                AppError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            StoreError::Invalid(message) => {
                AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
            }
            other => {
                tracing::error!(error = %other, "store failure");
                AppError::internal()
            }
        }
    }
}

impl From<crate::rules::push::PushRefused> for AppError {
    fn from(refused: crate::rules::push::PushRefused) -> AppError {
        use crate::rules::push::PushRefused;
        match refused {
            PushRefused::UpgradeRequired(message) => {
                AppError::new(StatusCode::UPGRADE_REQUIRED, "upgrade_required", message)
            }
            PushRefused::Forbidden(message) => {
                AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            PushRefused::TooLarge(message) => {
                AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
            }
            PushRefused::Invalid(message) => {
                AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
            }
        }
    }
}

impl From<crate::rules::auth::PasswordWorkError> for AppError {
    fn from(error: crate::rules::auth::PasswordWorkError) -> AppError {
        match error {
            crate::rules::auth::PasswordWorkError::Busy => AppError::busy(
                "the server is checking as many passwords as it can at once; try again in a second",
                1,
            ),
            crate::rules::auth::PasswordWorkError::Failed => {
                tracing::error!("password hashing failed");
                AppError::internal()
            }
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for AppError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> AppError {
        let status = rejection.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ => "bad_request",
        };
        AppError::new(status, code, rejection.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for AppError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> AppError {
        // A path segment that does not parse is the client's mistake; a route whose parameters
        // do not match its handler would be ours.
        if rejection.status() == StatusCode::BAD_REQUEST {
            AppError::bad_request(rejection.body_text())
        } else {
            tracing::error!(error = %rejection.body_text(), "path extraction failed");
            AppError::internal()
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        });
        let mut response = (self.status, body).into_response();
        if let Some(seconds) = self.retry_after_seconds
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
