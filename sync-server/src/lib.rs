//! rf-sync-server: the team's sync server. This first part holds accounts, teams and roles and
//! the login/token API; sync, the AI and PSA proxies follow (issue 3 onwards).
#![forbid(unsafe_code)]

pub mod api;
pub mod attachments;
pub mod auth;
pub mod error;
pub mod flows;
pub mod limits;
pub mod poke;
pub mod postgres;
pub mod server;
pub mod storage;
pub mod store;
pub mod users;

pub use api::{ApiConfig, AppState, router};
pub use postgres::PostgresStore;
pub use server::serve;
pub use store::{Role, SqliteStore, Store};
