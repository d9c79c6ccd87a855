//! The top layer: the axum router, its state and extractors, the handlers by resource, the
//! JSON error shape, request limits and the server loop. It calls the store through
//! [`crate::storage::Store`] and the rules in [`crate::rules`].

pub mod ai;
pub mod api;
pub mod attachments;
pub mod error;
pub mod extract;
pub mod limits;
pub mod login;
pub mod psa;
pub mod server;
pub mod sync;
pub mod users;

pub use api::{ApiConfig, AppState, MAX_BODY_BYTES, PsaSettings, openapi, router};
