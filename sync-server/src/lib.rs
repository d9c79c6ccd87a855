//! rf-sync-server: the team's sync server. This first part holds accounts, teams and roles and
//! the login/token API; sync, the AI and PSA proxies follow (issue 3 onwards).
#![forbid(unsafe_code)]

pub mod api;
pub mod attachments;
pub mod auth;
pub mod error;
pub mod flows;
pub mod poke;
pub mod postgres;
pub mod store;
pub mod users;

use std::future::Future;

pub use api::{ApiConfig, AppState, router};
pub use postgres::PostgresStore;
pub use store::{Role, SqliteStore, Store};

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve<S: Store>(
    listener: tokio::net::TcpListener,
    state: AppState<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let pokes = state.pokes.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Poke streams never end by themselves; end them so in-flight requests can finish.
            pokes.close();
        })
        .await
}
