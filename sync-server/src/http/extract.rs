//! What handlers take from a request: the authenticated user behind its bearer token, and
//! the clock.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::domain::users::User;
use crate::http::api::AppState;
use crate::http::error::AppError;
use crate::rules::auth::token_hash;
use crate::storage::Store;

pub(crate) fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
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
